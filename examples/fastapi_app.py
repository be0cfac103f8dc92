"""A FastAPI app on ormar whose audit log and cache follow the models' signals.

Every write through the API goes through ormar, so the receivers below see it:
one writes an audit row per change, another drops cached album pages, and the
welcome mail to a new member goes out only once the signup is committed (a
signup that fails rolls back and sends nothing). Run
it with ``uvicorn examples.fastapi_app:app``; ``tests/examples`` drives it
through httpx. Written for ormar 0.22 and newer; SQLite by default, any URL
in ``ALBUMS_DATABASE_URL``.
"""

import json
import logging
import os
import tempfile
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Dict, List, Optional

import ormar
import sqlalchemy
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch import receiver
from ormar_integration import post_delete, post_save, post_update

logger = logging.getLogger("fastapi_app")

DATABASE_URL = os.environ.get(
    "ALBUMS_DATABASE_URL",
    f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/fastapi_albums.sqlite",
)
base_config = ormar.OrmarConfig(
    database=ormar.DatabaseConnection(DATABASE_URL),
    metadata=sqlalchemy.MetaData(),
    engine=create_async_engine(DATABASE_URL),
)


class Album(ormar.Model):
    ormar_config = base_config.copy(tablename="albums")

    id: int = ormar.Integer(primary_key=True)
    name: str = ormar.String(max_length=100)
    play_count: int = ormar.Integer(default=0)


class AuditLog(ormar.Model):
    ormar_config = base_config.copy(tablename="audit_log")

    id: int = ormar.Integer(primary_key=True)
    event_type: str = ormar.String(max_length=100)
    album_id: int = ormar.Integer()
    event_log: str = ormar.Text()


class Member(ormar.Model):
    ormar_config = base_config.copy(tablename="members")

    id: int = ormar.Integer(primary_key=True)
    email: str = ormar.String(max_length=200)
    favourite: Optional[Album] = ormar.ForeignKey(Album, nullable=True)


album_pages: Dict[int, Dict[str, Any]] = {}
"""A cache of rendered albums, which any change to an album must invalidate."""


@receiver([post_save, post_update, post_delete], sender=Album)
async def audit(signal: Any, instance: Album, **kwargs: Any) -> None:
    await AuditLog(
        event_type=signal.name,
        album_id=instance.pk,
        event_log=json.dumps(instance.model_dump()),
    ).save()


@receiver([post_update, post_delete], sender=Album)
def invalidate_album_page(instance: Album, **kwargs: Any) -> None:
    album_pages.pop(instance.pk, None)


@post_save(Member, on_commit=True)
async def send_welcome_mail(sender: Any, instance: Member, **kwargs: Any) -> None:
    # Runs once the signup's transaction has committed, never for one that
    # rolled back: nobody gets welcomed to an account that does not exist.
    logger.info("welcome mail sent to %s", instance.email)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with base_config.engine.begin() as connection:
        await connection.run_sync(base_config.metadata.create_all)
    async with base_config.database:
        yield
    await base_config.engine.dispose()


app = FastAPI(lifespan=lifespan)


class AlbumIn(BaseModel):
    name: str
    play_count: int = 0


class PlayCount(BaseModel):
    play_count: int


@app.post("/albums", status_code=201)
async def create_album(album: AlbumIn) -> Dict[str, Any]:
    created = await Album.objects.create(**album.model_dump())
    return created.model_dump()


@app.get("/albums/{album_id}")
async def read_album(album_id: int) -> Dict[str, Any]:
    if album_id not in album_pages:
        album = await Album.objects.get_or_none(id=album_id)
        if album is None:
            raise HTTPException(status_code=404, detail="album not found")
        album_pages[album_id] = album.model_dump()
    return album_pages[album_id]


@app.patch("/albums/{album_id}")
async def play(album_id: int, change: PlayCount) -> Dict[str, Any]:
    album = await Album.objects.get(id=album_id)
    await album.update(play_count=change.play_count)
    return album.model_dump()


@app.delete("/albums/{album_id}", status_code=204)
async def delete_album(album_id: int) -> None:
    album = await Album.objects.get(id=album_id)
    await album.delete()


class Signup(BaseModel):
    email: str
    favourite_album: Optional[int] = None


@app.post("/members", status_code=201)
async def sign_up(signup: Signup) -> Dict[str, Any]:
    async with base_config.database.transaction():
        member = await Member(email=signup.email).save()
        if signup.favourite_album is not None:
            album = await Album.objects.get_or_none(id=signup.favourite_album)
            if album is None:
                # Leaving the block with an error rolls the member back.
                raise HTTPException(status_code=404, detail="album not found")
            await member.update(favourite=album)
    return {"id": member.id, "email": member.email}


@app.get("/audit")
async def audit_log() -> List[Dict[str, Any]]:
    rows = await AuditLog.objects.order_by("id").all()
    return [row.model_dump() for row in rows]
