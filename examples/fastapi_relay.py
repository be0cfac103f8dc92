"""The FastAPI example, run as several workers whose album caches stay in step.

Each worker of ``examples/fastapi_app.py`` caches rendered albums in its own
memory and drops an entry when *it* updates or deletes that album. Behind
several workers (or machines) the others would go on serving the old page.
Here every worker forwards its album updates and deletes through
``PostgresRelay`` and drops the entries the others announce; after a
reconnect (events may have been missed) it drops its whole cache.

This example needs PostgreSQL (LISTEN/NOTIFY) and asyncpg
(``pip install ormar-signals[postgres]``); it refuses to start on SQLite.
Run two workers against one database, from the repository root::

    export ALBUMS_DATABASE_URL=postgresql+asyncpg://user:password@localhost/albums
    uvicorn examples.fastapi_relay:app --port 8001 &
    uvicorn examples.fastapi_relay:app --port 8002 &
    curl -X POST localhost:8001/albums -H 'content-type: application/json' -d '{"name": "Venice"}'
    curl localhost:8002/albums/1        # cached by worker 8002: play_count 0
    curl -X PATCH localhost:8001/albums/1 -H 'content-type: application/json' -d '{"play_count": 5}'
    curl localhost:8002/albums/1        # worker 8002 dropped its copy: play_count 5

(``uvicorn ... --workers 2`` works the same once the tables exist: each
worker process imports this module and runs its own relay.)
"""

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI

from dispatch import receiver
from ormar_integration import post_delete, post_update
from ormar_integration.relay import PostgresRelay

from .fastapi_app import DATABASE_URL, Album, album_pages, app

if not DATABASE_URL.startswith("postgresql"):
    raise RuntimeError(
        "examples/fastapi_relay.py needs PostgreSQL: set ALBUMS_DATABASE_URL to a "
        f"postgresql+asyncpg:// URL (it is {DATABASE_URL!r})"
    )

# This worker already drops its own entries (fastapi_app's receiver), so it
# only needs to hear the other workers.
relay = PostgresRelay(DATABASE_URL, channel="albums", include_self=False)
relay.forward(post_update, sender=Album)
relay.forward(post_delete, sender=Album)


@receiver([relay.remote(post_update), relay.remote(post_delete)], sender=Album)
def drop_page_changed_elsewhere(instance: Album, **kwargs: Any) -> None:
    album_pages.pop(instance.pk, None)


@receiver(relay.gap)
def drop_every_page(**kwargs: Any) -> None:
    album_pages.clear()


serve_albums = app.router.lifespan_context


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with serve_albums(app), relay:
        yield


app.router.lifespan_context = lifespan
