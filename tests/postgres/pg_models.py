"""``TestDatabase`` on the session's PostgreSQL server instead of a SQLite file.

Each ``PgDatabase`` starts from an empty ``public`` schema, so every test
creates its own tables. ormar 0.22 onward talks to the server through its own
``DatabaseConnection`` (SQLAlchemy + asyncpg), older lines through
``databases`` (asyncpg) and create the tables with SQLAlchemy's psycopg2 engine.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy

# The shared models and scenarios live in tests/ormar, which is no package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ormar"))
# Failed assertions inside the shared scenarios show their values too.
pytest.register_assert_rewrite("fault_scenarios")

from ormar_models import DatabaseConnection, TestDatabase  # noqa: E402

import ormar_integration  # noqa: E402,F401  (importing installs the integration)

POOL_SIZE = 20
"""Connections a test may hold at once; the server allows 100."""


class PgDatabase(TestDatabase):
    """A ``TestDatabase`` on PostgreSQL with a pool of ``pool_size`` connections."""

    __test__ = False

    def __init__(self, url: str, pool_size: int = POOL_SIZE) -> None:
        self.url = url
        self.metadata = sqlalchemy.MetaData()
        if DatabaseConnection is not None:
            from sqlalchemy.ext.asyncio import create_async_engine

            async_url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
            # Waiting for a free connection is how the load queues up; the
            # default 30 s pool timeout is not a limit this test means to test.
            self.database: Any = DatabaseConnection(
                async_url, pool_size=pool_size, max_overflow=0, pool_timeout=600
            )
            self.engine: Any = create_async_engine(async_url)
        else:
            import databases

            self.database = databases.Database(url, min_size=1, max_size=pool_size)
            self.engine = sqlalchemy.create_engine(url)

    async def create_tables(self) -> None:
        connection = await asyncpg.connect(self.url)
        try:
            await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await connection.close()
        await super().create_tables()
        if DatabaseConnection is None:
            self.engine.dispose()

    async def fetch_rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` read on a connection of their own, outside ormar."""
        connection = await asyncpg.connect(self.url)
        try:
            return [tuple(row) for row in await connection.fetch(sql)]
        finally:
            await connection.close()
