"""The demo from the README: signals that keep albums' best-seller flags and an audit log.

Run it with ``python examples/albums.py`` (it makes a throw-away SQLite file,
or uses the path given as the first argument). Written for ormar 0.22 and newer.
"""

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import ormar
import sqlalchemy
from sqlalchemy.ext.asyncio import create_async_engine

from dispatch import receiver
from ormar_integration import post_delete, post_save, post_update, pre_update


def make_config(path: Path) -> ormar.OrmarConfig:
    url = f"sqlite+aiosqlite:///{path}"
    return ormar.OrmarConfig(
        database=ormar.DatabaseConnection(url),
        metadata=sqlalchemy.MetaData(),
        engine=create_async_engine(url),
    )


database_file = Path(
    sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp() + "/albums.sqlite"
)
base_config = make_config(database_file)


class Album(ormar.Model):
    ormar_config = base_config.copy(tablename="albums")

    id: int = ormar.Integer(primary_key=True)
    name: str = ormar.String(max_length=100)
    is_best_seller: bool = ormar.Boolean(default=False)
    play_count: int = ormar.Integer(default=0)


class AuditLog(ormar.Model):
    ormar_config = base_config.copy(tablename="audit_log")

    id: int = ormar.Integer(primary_key=True)
    event_type: str = ormar.String(max_length=100)
    event_log: str = ormar.Text()


@pre_update(Album)  # ormar style: the trigger from ormar's documentation
async def crown_best_sellers(
    sender: type[Album], instance: Album, **kwargs: Any
) -> None:
    if instance.play_count > 50 and not instance.is_best_seller:
        instance.is_best_seller = True
        print(f"pre_update: {instance.name!r} played {instance.play_count} times")


@receiver([post_save, post_update, post_delete], sender=Album)  # Django style
async def audit(
    signal: Any, sender: type[Album], instance: Album, **kwargs: Any
) -> None:
    await AuditLog(
        event_type=f"{sender.get_name()}.{signal.name}",
        event_log=json.dumps(instance.model_dump()),
    ).save()
    print(f"{signal.name}: audit row for {instance.name!r}")


async def main() -> list[AuditLog]:
    async with base_config.engine.begin() as connection:
        await connection.run_sync(base_config.metadata.create_all)
    async with base_config.database:
        album = await Album.objects.create(name="Venice")
        album.play_count = 30
        await album.update()
        await album.update(play_count=60)
        assert album.is_best_seller
        await album.delete()
        log = await AuditLog.objects.order_by("id").all()
    await base_config.engine.dispose()
    print(f"\n{len(log)} audit rows in {database_file}:")
    for row in log:
        print(f"  {row.event_type:20} {row.event_log}")
    return log


if __name__ == "__main__":
    asyncio.run(main())
