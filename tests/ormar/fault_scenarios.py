"""The fault matrix, as plain functions both database back ends run.

``tests/ormar/test_ormar_faults.py`` runs it on a SQLite file on every ormar
line; ``tests/postgres/test_pg_faults.py`` runs the very same functions on a
real PostgreSQL server. Each case starts from one known set of rows, runs one
operation with a receiver that raises (or, as a control, does not), and then
reads every table back through a connection of its own (``sqlite3`` or
``asyncpg``, never ormar) and compares it, row by row and value by value, with
what the contract says must be there.

Each case also has an ``on_commit`` receiver on the same signal. It must run
exactly once if the write it heard is committed, never otherwise, and only
after the commit: it reads the tables itself, through a connection of its
own, and must already see them as they are at the end.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import tempfile
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Awaitable, Callable, Dict, List, Tuple

import pytest
from ormar_models import DatabaseConnection, TestDatabase, declare_music

import ormar_integration
from ormar_integration import (
    post_bulk_update,
    post_delete,
    post_relation_add,
    post_relation_remove,
    post_save,
    post_update,
    pre_delete,
    pre_relation_add,
    pre_relation_remove,
    pre_save,
    pre_update,
)

Tables = Dict[str, List[Tuple[Any, ...]]]

QUERIES = {
    "covers": "SELECT id, title FROM covers ORDER BY id",
    "albums": "SELECT id, name, play_count FROM albums ORDER BY id",
    "genres": "SELECT id, name FROM genres ORDER BY id",
    "albums_genres": "SELECT album, genre FROM albums_genres ORDER BY album, genre",
    "tracks": "SELECT id, title, album FROM tracks ORDER BY id",
}

BASELINE: Tables = {
    "covers": [],
    "albums": [(1, "Venice", 1), (2, "Lisbon", 0)],
    "genres": [(1, "Jazz"), (2, "Rock")],
    "albums_genres": [(1, 2)],
    "tracks": [(1, "Intro", None), (2, "Outro", 1)],
}
"""The rows every case starts from."""

IN_TRANSACTION_MARK = (1, "written inside the transaction")
"""A cover each transactional case writes before its operation, to show the
whole block (not only the failed operation) commits or rolls back."""


class Boom(Exception):
    """What a faulty receiver raises."""


# Reading the tables back ------------------------------------------------------


async def read_tables(db: Any) -> Tables:
    """Every observed table, read outside ormar.

    A database object with a ``fetch_rows(sql)`` coroutine (the PostgreSQL
    one) is asked; otherwise the SQLite file is opened with ``sqlite3``.
    """
    fetch = getattr(db, "fetch_rows", None)
    if fetch is not None:
        return {name: await fetch(sql) for name, sql in QUERIES.items()}
    connection = sqlite3.connect(db.engine.url.database)
    try:
        return {
            name: [tuple(row) for row in connection.execute(sql)]
            for name, sql in QUERIES.items()
        }
    finally:
        connection.close()


def changed(tables: Tables, **replacements: list[tuple[Any, ...]]) -> Tables:
    return {**tables, **replacements}


async def load_baseline(m: SimpleNamespace) -> None:
    jazz = await m.Genre(name="Jazz").save()
    rock = await m.Genre(name="Rock").save()
    venice = await m.Album(name="Venice", play_count=1).save()
    await m.Album(name="Lisbon").save()
    await venice.genres.add(rock)
    await m.Track(title="Intro").save()
    await m.Track(title="Outro", album=venice).save()
    assert jazz.pk == 1 and rock.pk == 2


@functools.lru_cache(maxsize=None)
def databases_sqlite_rolls_back() -> bool:
    """Whether ``databases`` on SQLite rolls a transaction back, asked without ormar.

    ``databases`` 0.5.5 (the pin of ormar 0.10) does not once the connection
    has run a statement outside a transaction: what the transaction wrote
    stays. Nothing above ``databases`` can change that.
    """
    import databases

    async def probe(path: str) -> int:
        async with databases.Database(f"sqlite:///{path}") as database:
            await database.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            await database.execute("INSERT INTO t (id) VALUES (1)")
            try:
                async with database.transaction():
                    await database.execute("INSERT INTO t (id) VALUES (2)")
                    raise LookupError
            except LookupError:
                pass
            return int(await database.fetch_val("SELECT count(*) FROM t"))

    with tempfile.TemporaryDirectory() as directory:
        return asyncio.run(probe(f"{directory}/probe.sqlite")) == 1


def skip_unless_transactions_roll_back(db: TestDatabase) -> None:
    if getattr(db, "fetch_rows", None) is not None or DatabaseConnection is not None:
        return
    if not databases_sqlite_rolls_back():
        pytest.skip(
            "this databases release does not roll back a SQLite transaction after "
            "an earlier statement on the connection (shown without ormar by "
            "databases_sqlite_rolls_back)"
        )


# The cases ----------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One signal and the operation that sends it."""

    signal_name: str
    operation: str
    run: Callable[[SimpleNamespace], Awaitable[Any]]
    written: Tables
    """The tables once the operation has written (BASELINE if it never ran)."""

    @property
    def id(self) -> str:
        return f"{self.signal_name}-{self.operation}"

    @property
    def signal(self) -> ormar_integration.ModelSignal:
        return SIGNALS[self.signal_name]

    @property
    def is_pre(self) -> bool:
        return self.signal_name.startswith("pre_")


SIGNALS = {
    "pre_save": pre_save,
    "post_save": post_save,
    "pre_update": pre_update,
    "post_update": post_update,
    "pre_delete": pre_delete,
    "post_delete": post_delete,
    "pre_relation_add": pre_relation_add,
    "post_relation_add": post_relation_add,
    "pre_relation_remove": pre_relation_remove,
    "post_relation_remove": post_relation_remove,
    "post_bulk_update": post_bulk_update,
}


async def save(m: SimpleNamespace) -> Any:
    return await m.Album(name="Rome").save()


async def update(m: SimpleNamespace) -> Any:
    album = await m.Album.objects.get(id=1)
    return await album.update(name="Paris", play_count=5)


async def delete(m: SimpleNamespace) -> Any:
    album = await m.Album.objects.get(id=2)
    return await album.delete()


async def add_genre(m: SimpleNamespace) -> Any:
    album = await m.Album.objects.get(id=1)
    genre = await m.Genre.objects.get(id=1)
    return await album.genres.add(genre)


async def add_track(m: SimpleNamespace) -> Any:
    album = await m.Album.objects.get(id=1)
    track = await m.Track.objects.get(id=1)
    return await album.tracks.add(track)


async def remove_genre(m: SimpleNamespace) -> Any:
    album = await m.Album.objects.select_related("genres").get(id=1)
    (genre,) = [each for each in album.genres if each.pk == 2]
    return await album.genres.remove(genre)


async def remove_track(m: SimpleNamespace) -> Any:
    album = await m.Album.objects.select_related("tracks").get(id=1)
    (track,) = [each for each in album.tracks if each.pk == 2]
    return await album.tracks.remove(track)


async def bulk_update(m: SimpleNamespace) -> Any:
    albums = await m.Album.objects.order_by("id").all()
    for album in albums:
        album.name = f"bulk {album.pk}"
    return await m.Album.objects.bulk_update(albums)


SAVED = changed(BASELINE, albums=[*BASELINE["albums"], (3, "Rome", 0)])
UPDATED = changed(BASELINE, albums=[(1, "Paris", 5), (2, "Lisbon", 0)])
DELETED = changed(BASELINE, albums=[(1, "Venice", 1)])
GENRE_ADDED = changed(BASELINE, albums_genres=[(1, 1), (1, 2)])
TRACK_ADDED = changed(BASELINE, tracks=[(1, "Intro", 1), (2, "Outro", 1)])
GENRE_REMOVED = changed(BASELINE, albums_genres=[])
TRACK_REMOVED = changed(BASELINE, tracks=[(1, "Intro", None), (2, "Outro", None)])
BULK_UPDATED = changed(BASELINE, albums=[(1, "bulk 1", 1), (2, "bulk 2", 0)])

CASES = [
    Case("pre_save", "save", save, SAVED),
    Case("post_save", "save", save, SAVED),
    Case("pre_update", "update", update, UPDATED),
    Case("post_update", "update", update, UPDATED),
    Case("pre_delete", "delete", delete, DELETED),
    Case("post_delete", "delete", delete, DELETED),
    Case("pre_relation_add", "m2m", add_genre, GENRE_ADDED),
    Case("pre_relation_add", "fk", add_track, TRACK_ADDED),
    Case("post_relation_add", "m2m", add_genre, GENRE_ADDED),
    Case("post_relation_add", "fk", add_track, TRACK_ADDED),
    Case("pre_relation_remove", "m2m", remove_genre, GENRE_REMOVED),
    Case("pre_relation_remove", "fk", remove_track, TRACK_REMOVED),
    Case("post_relation_remove", "m2m", remove_genre, GENRE_REMOVED),
    Case("post_relation_remove", "fk", remove_track, TRACK_REMOVED),
    Case("post_bulk_update", "bulk", bulk_update, BULK_UPDATED),
]
assert {case.signal_name for case in CASES} == set(SIGNALS)

# How the faulty receiver is written and what it raises.
ERRORS = {"none": None, "error": Boom, "cancelled": asyncio.CancelledError}
STYLES = ("sync", "async", "async-suspending")


def matrix(cases: list[Any]) -> list[Any]:
    """(case, in a transaction, error kind, receiver style): every combination."""
    return [
        pytest.param(
            case, in_transaction, error, style, id=f"{case.id}-{where}-{error}-{style}"
        )
        for case in cases
        for in_transaction, where in ((False, "autocommit"), (True, "transaction"))
        for error in ERRORS
        for style in (STYLES if error != "none" else ("async",))
    ]


MATRIX = matrix(CASES)


def faulty_receiver(error: type[BaseException] | None, style: str) -> Any:
    if style == "sync":

        def receive(sender: Any, **kwargs: Any) -> str:
            if error is not None:
                raise error("from a sync receiver")
            return "sync"

        return receive

    async def receive_async(sender: Any, **kwargs: Any) -> str:
        if style == "async-suspending":
            await asyncio.sleep(0)
        if error is not None:
            raise error(f"from an {style} receiver")
        return style

    return receive_async


def expected_tables(case: Case, in_transaction: bool, error: str) -> Tables:
    """What the contract says the tables hold afterwards."""
    if error == "none":
        tables = case.written
        if in_transaction:
            tables = changed(tables, covers=[IN_TRANSACTION_MARK])
        return tables
    if in_transaction:
        # The error leaves the ``async with`` block, which rolls everything back.
        return BASELINE
    return BASELINE if case.is_pre else case.written


def is_committed(case: Case, in_transaction: bool, error: str) -> bool:
    """Whether the operation's write ends up committed."""
    if error == "none":
        return True
    return not in_transaction and not case.is_pre


class AfterCommit:
    """An ``on_commit`` receiver that records, for each call, the tables it reads.

    ``events`` is shared with the scenario, so the order of the call and the
    scenario's own steps shows when it ran.
    """

    def __init__(self, db: Any, events: list[Any]) -> None:
        self.db = db
        self.events = events

    async def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.events.append(("on_commit", await read_tables(self.db)))


def run_fault_case(
    db: TestDatabase, case: Case, in_transaction: bool, error: str, style: str
) -> None:
    """One cell of the matrix: run the operation, check the error and every row.

    And that the ``on_commit`` receiver ran once, after the commit, if and
    only if the write is committed.
    """
    if in_transaction and error != "none":
        skip_unless_transactions_roll_back(db)
    m = declare_music(db)
    raised = ERRORS[error]
    faulty = faulty_receiver(raised, style)
    after: list[str] = []
    events: list[Any] = []
    after_commit = AfterCommit(db, events)

    async def bystander(sender: Any, **kwargs: Any) -> None:
        # Connected after the faulty receiver: a raising receiver never stops
        # the others, so this one runs to the end in every case, however long
        # it stays suspended.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        after.append(case.signal_name)

    async def operate() -> None:
        if in_transaction:
            async with db.database.transaction():
                await m.Cover(title=IN_TRANSACTION_MARK[1]).save()
                await case.run(m)
                events.append("operation returned")
            events.append("transaction closed")
        else:
            await case.run(m)
            events.append("operation returned")

    async def scenario() -> Tables:
        await load_baseline(m)
        assert await read_tables(db) == BASELINE
        case.signal.connect(faulty, sender=m.Album)
        case.signal.connect(bystander, sender=m.Album)
        case.signal.connect(after_commit, sender=m.Album, on_commit=True)
        try:
            if raised is None:
                await operate()
            else:
                with pytest.raises(raised) as caught:
                    await operate()
                assert "receiver" in str(caught.value)
        finally:
            case.signal.disconnect(faulty, sender=m.Album)
            case.signal.disconnect(bystander, sender=m.Album)
            case.signal.disconnect(after_commit, sender=m.Album)
        assert after == [case.signal_name]
        return await read_tables(db)

    expected = expected_tables(case, in_transaction, error)
    assert db.run(scenario) == expected
    heard = (
        [("on_commit", expected)] if is_committed(case, in_transaction, error) else []
    )
    if error != "none":
        assert events == heard
    elif in_transaction:
        assert events == ["operation returned", *heard, "transaction closed"]
    else:
        assert events == [*heard, "operation returned"]


# Cancellation of a running operation ------------------------------------------


def run_cancelled_save(
    db: TestDatabase, signal_name: str, in_transaction: bool
) -> None:
    """A ``save()`` task cancelled while its receivers await an ``asyncio.Event``.

    Three async receivers block: the first suspends inside the caller's task,
    the other two in Tasks of their own. Cancelling the save must propagate,
    cancel every receiver (their ``finally`` blocks run), leave no task
    behind, and write nothing if the receivers were ``pre_save`` ones (for
    ``post_save`` the row was written before the send and stays, unless the
    cancellation leaves a transaction, which then rolls back). An
    ``on_commit`` receiver runs, seeing the row, if and only if it stays.
    """
    if in_transaction:
        skip_unless_transactions_roll_back(db)
    m = declare_music(db)
    signal = SIGNALS[signal_name]
    started: list[str] = []
    finished: list[str] = []
    gates: list[asyncio.Event] = []  # made inside the loop (Python < 3.10 binds one)

    def blocking(label: str) -> Any:
        async def receive(sender: Any, **kwargs: Any) -> None:
            started.append(label)
            try:
                await gates[0].wait()
            finally:
                finished.append(label)

        return receive

    receivers = [blocking(label) for label in ("first", "second", "third")]
    events: list[Any] = []
    after_commit = AfterCommit(db, events)

    async def operate() -> None:
        if in_transaction:
            async with db.database.transaction():
                await m.Cover(title=IN_TRANSACTION_MARK[1]).save()
                await m.Album(name="Rome").save()
        else:
            await m.Album(name="Rome").save()

    async def scenario() -> tuple[Tables, set]:
        gates.append(asyncio.Event())
        await load_baseline(m)
        for each in receivers:
            signal.connect(each, sender=m.Album)
        signal.connect(after_commit, sender=m.Album, on_commit=True)
        try:
            task = asyncio.ensure_future(operate())
            while len(started) < len(receivers):
                await asyncio.sleep(0)
                assert not task.done(), task
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            left = asyncio.all_tasks() - {asyncio.current_task()}
        finally:
            for each in receivers:
                signal.disconnect(each, sender=m.Album)
            signal.disconnect(after_commit, sender=m.Album)
        return await read_tables(db), left

    tables, left = db.run(scenario)
    assert left == set()
    assert sorted(started) == sorted(finished) == ["first", "second", "third"]
    if signal_name == "pre_save" or in_transaction:
        assert tables == BASELINE
        assert events == []
    else:
        assert tables == SAVED
        assert events == [("on_commit", SAVED)]


# All eleven signals, once each ---------------------------------------------


def run_eleven_signals(db: TestDatabase) -> None:
    """Every signal fires exactly once per operation, with its documented arguments.

    One receiver per signal connected ormar's way, one Django's way.
    """
    m = declare_music(db)
    heard: list[tuple[str, str, Any, frozenset]] = []

    def recorder(name: str, style: str) -> Any:
        async def receive(sender: Any, **kwargs: Any) -> None:
            assert ("signal" in kwargs) == (style == "django"), kwargs
            kwargs.pop("signal", None)
            heard.append((name, style, sender, frozenset(kwargs)))

        return receive

    connected = []
    for name, signal in SIGNALS.items():
        ormar_style, django_style = recorder(name, "ormar"), recorder(name, "django")
        signal(m.Album)(ormar_style)
        signal.connect(django_style, sender=m.Album)
        connected += [(signal, ormar_style), (signal, django_style)]

    async def scenario() -> Tables:
        await load_baseline(m)
        assert await read_tables(db) == BASELINE
        del heard[:]
        try:
            for case in (
                CASES[0],
                CASES[2],
                CASES[4],
                CASES[6],
                CASES[7],
                CASES[10],
                CASES[11],
                CASES[14],
            ):
                await case.run(m)
        finally:
            for signal, each in connected:
                signal.disconnect(each, sender=m.Album)
        return await read_tables(db)

    tables = db.run(scenario)
    expected_names = [
        ("pre_save", {"instance"}),
        ("post_save", {"instance"}),
        ("pre_update", {"instance", "passed_args"}),
        ("post_update", {"instance"}),
        ("pre_delete", {"instance"}),
        ("post_delete", {"instance"}),
        ("pre_relation_add", {"instance", "child", "relation_name", "passed_kwargs"}),
        ("post_relation_add", {"instance", "child", "relation_name", "passed_kwargs"}),
        ("pre_relation_add", {"instance", "child", "relation_name", "passed_kwargs"}),
        ("post_relation_add", {"instance", "child", "relation_name", "passed_kwargs"}),
        ("pre_relation_remove", {"instance", "child", "relation_name"}),
        ("post_relation_remove", {"instance", "child", "relation_name"}),
        ("pre_relation_remove", {"instance", "child", "relation_name"}),
        ("post_relation_remove", {"instance", "child", "relation_name"}),
        ("post_bulk_update", {"instances"}),
    ]
    expected = [
        (name, style, m.Album, frozenset(keys))
        for name, keys in expected_names
        for style in ("ormar", "django")
    ]
    assert heard == expected
    assert tables == {
        "covers": [],
        "albums": [(1, "bulk 1", 5), (3, "bulk 3", 0)],
        "genres": [(1, "Jazz"), (2, "Rock")],
        "albums_genres": [(1, 1)],
        "tracks": [(1, "Intro", 1), (2, "Outro", None)],
    }
