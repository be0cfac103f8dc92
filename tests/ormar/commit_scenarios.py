"""``on_commit`` receivers around ormar transactions, as plain functions both back ends run.

``tests/ormar/test_ormar_on_commit.py`` runs them on a SQLite file on every
ormar line, ``tests/postgres/test_pg_on_commit.py`` on PostgreSQL. The
receiver under test reads the albums through a connection of its own
(``fault_scenarios.read_tables``), so each record says what was committed
when it ran.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Awaitable, Callable

import pytest
from fault_scenarios import read_tables
from ormar_models import DatabaseConnection, TestDatabase, declare_music

import ormar_integration  # noqa: F401  (importing installs the integration)
from ormar_integration import post_save


class Rolled(Exception):
    """Raised inside a block to roll it back."""


class Heard:
    """The on_commit receiver: records (album name, committed album names) per call."""

    def __init__(self, db: Any, events: list[Any]) -> None:
        self.db = db
        self.events = events

    async def __call__(self, sender: Any, instance: Any, **kwargs: Any) -> None:
        albums = (await read_tables(self.db))["albums"]
        self.events.append((instance.name, [row[1] for row in albums]))


def run_with_heard(
    db: TestDatabase, body: Callable[[SimpleNamespace, list[Any]], Awaitable[None]]
) -> list[Any]:
    """Runs ``body(models, events)`` with ``Heard`` on ``post_save`` of Album (on_commit)."""
    m = declare_music(db)
    events: list[Any] = []
    heard = Heard(db, events)
    post_save.connect(heard, sender=m.Album, on_commit=True)

    async def scenario() -> None:
        try:
            await body(m, events)
        finally:
            post_save.disconnect(heard, sender=m.Album)

    db.run(scenario)
    return events


def run_savepoints(db: TestDatabase) -> None:
    """Savepoints: one rolled back, one released, inside a transaction that commits.

    Nothing runs at a RELEASE: the released savepoint's receivers wait for
    the outer COMMIT; the rolled-back one's never run.
    """

    async def body(m: SimpleNamespace, events: list[Any]) -> None:
        async with db.database.transaction():
            await m.Album(name="outer").save()
            try:
                async with db.database.transaction():
                    await m.Album(name="rolled back").save()
                    raise Rolled
            except Rolled:
                pass
            async with db.database.transaction():
                await m.Album(name="released").save()
            events.append("savepoints done")
        events.append("committed")

    committed = ["outer", "released"]
    assert run_with_heard(db, body) == [
        "savepoints done",
        ("outer", committed),
        ("released", committed),
        "committed",
    ]


def run_outer_rollback(db: TestDatabase) -> None:
    """A released savepoint inside a transaction that rolls back: nothing runs."""

    async def body(m: SimpleNamespace, events: list[Any]) -> None:
        with pytest.raises(Rolled):
            async with db.database.transaction():
                async with db.database.transaction():
                    await m.Album(name="released").save()
                await m.Album(name="outer").save()
                raise Rolled
        await m.Album(name="after").save()

    assert run_with_heard(db, body) == [("after", ["after"])]


async def execute_sql(db: Any, sql: str) -> None:
    """Runs raw SQL through the model's database (inside its current transaction)."""
    if DatabaseConnection is not None:
        import sqlalchemy

        async with db.database.get_query_executor() as executor:
            await executor.execute(sqlalchemy.text(sql))
    else:
        await db.database.execute(sql)


def run_failed_commit(db: TestDatabase) -> None:
    """A COMMIT the database refuses (a deferred foreign key) is a rollback.

    The receivers of the writes in it never run, and the error reaches the
    caller.
    """

    async def body(m: SimpleNamespace, events: list[Any]) -> None:
        await execute_sql(
            db,
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, album INTEGER "
            "REFERENCES albums (id) DEFERRABLE INITIALLY DEFERRED)",
        )
        transaction = db.database.transaction()
        with pytest.raises(Exception) as caught:
            async with transaction:
                await m.Album(name="doomed").save()
                await execute_sql(db, "INSERT INTO notes (id, album) VALUES (1, 99)")
                events.append("block done")
        assert "foreign key" in str(caught.value).lower()
        if DatabaseConnection is None:
            # databases' Transaction.commit gives its connection back only
            # once COMMIT succeeded: give it back here, or the connection,
            # and the process with it, never ends.
            await transaction._connection.__aexit__()
        events.append(("albums", (await read_tables(db))["albums"]))

    if DatabaseConnection is None and getattr(db, "fetch_rows", None) is None:
        # SQLite checks foreign keys only on a connection that asked for it
        # (ormar's own layer asks on every connection, databases never): keep
        # one connection, asking, for the whole scenario.
        inner = body

        async def body(m: SimpleNamespace, events: list[Any]) -> None:
            async with db.database.connection() as connection:
                await connection.execute("PRAGMA foreign_keys=ON")
                await inner(m, events)

    assert run_with_heard(db, body) == ["block done", ("albums", [])]
