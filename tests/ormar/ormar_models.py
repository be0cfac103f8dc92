"""Declares test models the same way on every ormar line.

ormar < 0.20 configures a model with an inner ``class Meta``; 0.20 onward
with ``ormar_config``; 0.22 onward brings its own ``DatabaseConnection``
instead of ``databases.Database``. Tests call ``TestDatabase.model`` and
never see the difference.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Awaitable, Callable, TypeVar

import ormar
import sqlalchemy

NEW_API = hasattr(ormar, "OrmarConfig")
try:
    from ormar.databases.connection import DatabaseConnection
except ImportError:  # ormar < 0.22
    DatabaseConnection = None
    import databases

HAS_EMIT_PARENT_SIGNALS = NEW_API and "emit_parent_signals" in (
    ormar.OrmarConfig.__init__.__code__.co_varnames
)

T = TypeVar("T")


class TestDatabase:
    """A SQLite file with its own metadata; models declared on it share both."""

    __test__ = False

    def __init__(self, path: Path) -> None:
        self.metadata = sqlalchemy.MetaData()
        if DatabaseConnection is not None:
            from sqlalchemy.ext.asyncio import create_async_engine

            url = f"sqlite+aiosqlite:///{path}"
            self.database: Any = DatabaseConnection(url)
            self.engine: Any = create_async_engine(url)
        else:
            url = f"sqlite:///{path}"
            self.database = databases.Database(url)
            self.engine = sqlalchemy.create_engine(url)

    def model(
        self,
        name: str,
        fields: dict[str, Any] | None = None,
        bases: tuple[type, ...] = (ormar.Model,),
        **options: Any,
    ) -> Any:
        """Declares an ormar model class; ``options`` are its config settings."""
        namespace: dict[str, Any] = {"__module__": __name__, **(fields or {})}
        settings = {"metadata": self.metadata, "database": self.database, **options}
        if NEW_API:
            namespace["ormar_config"] = ormar.OrmarConfig(
                engine=self.engine, **settings
            )
        else:
            namespace["Meta"] = type("Meta", (), settings)
        return type(name, bases, namespace)

    async def create_tables(self) -> None:
        if DatabaseConnection is not None:
            async with self.engine.begin() as connection:
                await connection.run_sync(self.metadata.create_all)
            await self.engine.dispose()
        else:
            self.metadata.create_all(self.engine)

    def run(self, scenario: Callable[[], Awaitable[T]]) -> T:
        """Runs ``scenario`` in a fresh event loop, tables created, database connected."""

        async def main() -> T:
            await self.create_tables()
            async with self.database:
                return await scenario()

        return asyncio.run(main())


def declare_music(db: TestDatabase) -> SimpleNamespace:
    """The models most tests use: a foreign key each way, m2m with a through model."""
    Cover = db.model(
        "Cover",
        {"id": ormar.Integer(primary_key=True), "title": ormar.String(max_length=100)},
        tablename="covers",
    )
    Genre = db.model(
        "Genre",
        {"id": ormar.Integer(primary_key=True), "name": ormar.String(max_length=100)},
        tablename="genres",
    )
    AlbumGenre = db.model(
        "AlbumGenre",
        {
            "id": ormar.Integer(primary_key=True),
            "note": ormar.String(max_length=100, nullable=True),
        },
        tablename="albums_genres",
    )
    Album = db.model(
        "Album",
        {
            "id": ormar.Integer(primary_key=True),
            "name": ormar.String(max_length=100),
            "is_best_seller": ormar.Boolean(default=False),
            "play_count": ormar.Integer(default=0),
            "cover": ormar.ForeignKey(Cover, nullable=True),
            "genres": ormar.ManyToMany(Genre, through=AlbumGenre),
        },
        tablename="albums",
    )
    Track = db.model(
        "Track",
        {
            "id": ormar.Integer(primary_key=True),
            "album": ormar.ForeignKey(Album, nullable=True),
            "title": ormar.String(max_length=100),
        },
        tablename="tracks",
    )
    return SimpleNamespace(
        Cover=Cover, Genre=Genre, AlbumGenre=AlbumGenre, Album=Album, Track=Track
    )


def config_of(model: Any) -> Any:
    """``Model.ormar_config``, or ``Model.Meta`` before 0.20."""
    return model.ormar_config if NEW_API else model.Meta


def signals_of(model: Any) -> Any:
    return config_of(model).signals
