"""The six bulk and queryset signals, as plain functions both back ends run.

``tests/ormar/test_ormar_bulk.py`` runs them on a SQLite file on every ormar
line, ``tests/postgres/test_pg_bulk.py`` on a PostgreSQL server. Rows are
checked against what a connection of the test's own (``sqlite3`` or
``asyncpg``, never ormar) reads from the tables.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Awaitable, Callable

import ormar
import pytest
from fault_scenarios import (
    BASELINE,
    Case,
    changed,
    load_baseline,
    matrix,
    read_tables,
)
from ormar_models import DatabaseConnection, TestDatabase, declare_music

import ormar_integration
from ormar_integration import (
    post_bulk_create,
    post_queryset_delete,
    post_queryset_update,
    pre_bulk_create,
    pre_queryset_delete,
    pre_queryset_update,
)

SIX = {
    "pre_bulk_create": pre_bulk_create,
    "post_bulk_create": post_bulk_create,
    "pre_queryset_update": pre_queryset_update,
    "post_queryset_update": post_queryset_update,
    "pre_queryset_delete": pre_queryset_delete,
    "post_queryset_delete": post_queryset_delete,
}


def declare_models(db: TestDatabase) -> SimpleNamespace:
    """The music models, plus a text and a UUID primary key and a server default."""
    m = declare_music(db)
    m.Ticket = db.model(
        "Ticket",
        {
            "code": ormar.String(primary_key=True, max_length=20),
            "seat": ormar.Integer(),
            "status": ormar.String(max_length=20, server_default="draft"),
        },
        tablename="tickets",
    )
    m.Badge = db.model(
        "Badge",
        {
            "id": ormar.UUID(primary_key=True, default=uuid.uuid4),
            "label": ormar.String(max_length=20),
        },
        tablename="badges",
    )
    m.Note = db.model(
        "Note",
        {
            "id": ormar.Integer(primary_key=True),
            "text": ormar.String(max_length=20),
            "status": ormar.String(max_length=20, server_default="draft"),
        },
        tablename="notes",
    )
    return m


async def fetch(db: Any, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql``, read outside ormar."""
    fetch_rows = getattr(db, "fetch_rows", None)
    if fetch_rows is not None:
        return list(await fetch_rows(sql))
    connection = sqlite3.connect(db.engine.url.database)
    try:
        return list(connection.execute(sql).fetchall())
    finally:
        connection.close()


class Heard(list):  # type: ignore[type-arg]
    """Receivers recording (label, sender, kwargs) in call order.

    ``listen`` connects one; ``disconnect_all`` removes every one of them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.connected: list[tuple[Any, Any, Any]] = []

    def listen(
        self, signal: Any, label: str, sender: Any = None, style: str = "django"
    ) -> None:
        async def receive(sender: Any, **kwargs: Any) -> None:
            assert ("signal" in kwargs) == (style == "django"), kwargs
            kwargs.pop("signal", None)
            self.append((label, sender, kwargs))

        if style == "django":
            signal.connect(receive, sender=sender)
        else:
            signal(sender)(receive)
        self.connected.append((signal, receive, sender))

    def listen_to_all(self, sender: Any = None) -> None:
        """One recorder per signal, labelled with its name."""
        for name, signal in SIX.items():
            self.listen(signal, name, sender)

    def disconnect_all(self) -> None:
        for signal, receive, sender in self.connected:
            signal.disconnect(receive, sender=sender)

    def labels(self) -> list[str]:
        return [label for label, _, _ in self]

    def kwargs(self, label: str) -> dict[str, Any]:
        (found,) = [kwargs for each, _, kwargs in self if each == label]
        return found


def albums_of(instances: list[Any]) -> list[tuple[Any, ...]]:
    return [(each.pk, each.name, each.play_count) for each in instances]


ALBUMS = "SELECT id, name, play_count FROM albums ORDER BY id"


# bulk_create --------------------------------------------------------------------


def run_bulk_create_gives_back_primary_keys(db: TestDatabase, style: str) -> None:
    """post_bulk_create gets the very instances, with database keys, marked saved."""
    m = declare_models(db)
    heard = Heard()
    heard.listen(pre_bulk_create, "pre", m.Album, style)
    heard.listen(
        post_bulk_create,
        "post",
        [m.Album, m.Track] if style == "ormar" else m.Album,
        style,
    )
    if style == "django":
        heard.listen(post_bulk_create, "post", m.Track, style)
    albums = [m.Album(name="Rome"), m.Album(name="Oslo", play_count=4)]
    seen_before: list[Any] = []

    async def remember(sender: Any, instances: list[Any], **kwargs: Any) -> None:
        seen_before.extend((each.pk, each.saved) for each in instances)

    async def scenario() -> list[tuple[Any, ...]]:
        await load_baseline(m)
        await m.Album.objects.bulk_create(albums)
        await m.Track.objects.bulk_create([m.Track(title="Coda")])
        return await fetch(db, ALBUMS)

    pre_bulk_create.connect(remember, sender=m.Album)
    try:
        rows = db.run(scenario)
    finally:
        pre_bulk_create.disconnect(remember, sender=m.Album)
        heard.disconnect_all()
    assert seen_before == [(None, False), (None, False)]
    assert heard.labels() == ["pre", "post", "post"]
    (_, sender, pre), (_, _, post), (_, track_sender, track_post) = heard
    assert sender is m.Album and track_sender is m.Track
    assert pre["instances"] is albums and post["instances"] is albums
    assert rows == [(1, "Venice", 1), (2, "Lisbon", 0), (3, "Rome", 0), (4, "Oslo", 4)]
    assert albums_of(albums) == rows[2:]
    assert all(each.saved for each in albums)
    (track,) = track_post["instances"]
    assert (track.pk, track.title, track.saved) == (3, "Coda", True)


def run_pre_bulk_create_changes_are_written(db: TestDatabase) -> None:
    """A pre_bulk_create receiver changes an instance and adds one: both written."""
    m = declare_models(db)

    async def amend(sender: Any, instances: list[Any], **kwargs: Any) -> None:
        instances[0].name = "Roma"
        instances.append(m.Album(name="Added", play_count=2))

    heard = Heard()
    heard.listen(post_bulk_create, "post", m.Album)

    async def scenario() -> list[tuple[Any, ...]]:
        await m.Album.objects.bulk_create([m.Album(name="Rome")])
        return await fetch(db, ALBUMS)

    pre_bulk_create.connect(amend, sender=m.Album)
    try:
        rows = db.run(scenario)
    finally:
        pre_bulk_create.disconnect(amend, sender=m.Album)
        heard.disconnect_all()
    assert rows == [(1, "Roma", 0), (2, "Added", 2)]
    assert albums_of(heard.kwargs("post")["instances"]) == rows


def run_bulk_create_key_kinds(db: TestDatabase) -> None:
    """Text and UUID keys as given; database defaults filled in, as ``save`` does.

    (ormar takes the columns of a bulk INSERT from its first instance, so
    each list here sets the same fields on every instance.)
    """
    m = declare_models(db)
    heard = Heard()
    for model in (m.Ticket, m.Badge, m.Note):
        heard.listen(post_bulk_create, model.__name__, model)
    tickets = [m.Ticket(code="B-2", seat=2), m.Ticket(code="A-1", seat=1)]
    badges = [m.Badge(label="one"), m.Badge(label="two")]
    notes = [m.Note(text="x"), m.Note(text="y")]
    kept = [m.Note(text="z", status="kept")]

    async def scenario() -> dict[str, list[tuple[Any, ...]]]:
        await m.Note(text="first").save()
        await m.Ticket.objects.bulk_create(tickets)
        await m.Badge.objects.bulk_create(badges)
        await m.Note.objects.bulk_create(notes)
        await m.Note.objects.bulk_create(kept)
        return {
            "tickets": await fetch(db, "SELECT code, seat, status FROM tickets"),
            "notes": await fetch(db, "SELECT id, text, status FROM notes ORDER BY id"),
            "badges": await fetch(db, "SELECT label FROM badges ORDER BY label"),
        }

    try:
        tables = db.run(scenario)
    finally:
        heard.disconnect_all()
    assert sorted(tables["tickets"]) == [("A-1", 1, "draft"), ("B-2", 2, "draft")]
    assert heard.labels() == ["Ticket", "Badge", "Note", "Note"]
    assert heard[0][2]["instances"] is tickets
    assert [(t.code, t.seat, t.status, t.saved) for t in tickets] == [
        ("B-2", 2, "draft", True),
        ("A-1", 1, "draft", True),
    ]
    assert tables["notes"] == [
        (1, "first", "draft"),
        (2, "x", "draft"),
        (3, "y", "draft"),
        (4, "z", "kept"),
    ]
    assert [(n.pk, n.text, n.status) for n in notes + kept] == tables["notes"][1:]
    assert tables["badges"] == [("one",), ("two",)]
    assert heard[1][2]["instances"] is badges
    assert all(isinstance(b.pk, uuid.UUID) and b.saved for b in badges)


# update -------------------------------------------------------------------------

FILTERS: dict[str, tuple[Callable[[SimpleNamespace], Any], int]] = {
    "none": (lambda m: m.Album.objects.filter(name="Nowhere"), 0),
    "one": (lambda m: m.Album.objects.filter(name="Lisbon"), 1),
    "many": (lambda m: m.Album.objects.filter(play_count__lt=5), 2),
    "exclude": (lambda m: m.Album.objects.exclude(name="Venice"), 2),
}
"""A queryset per kind of filter, and how many of the three albums it selects."""


def run_update_gives_back_rows_after(db: TestDatabase, matching: str) -> None:
    """post_queryset_update: every updated row, read as it is after the update.

    The update changes the column the filter tests, so reading the filter
    again after the write would find none of them.
    """
    m = declare_models(db)
    select, expected_count = FILTERS[matching]
    heard = Heard()
    heard.listen_to_all(m.Album)

    async def scenario() -> tuple[Any, ...]:
        await load_baseline(m)
        await m.Album(name="Paris", play_count=9).save()
        before = await fetch(db, ALBUMS)
        queryset = select(m)
        count = await queryset.update(play_count=5)
        assert heard.kwargs("pre_queryset_update")["queryset"] is queryset
        return count, before, await fetch(db, ALBUMS)

    try:
        count, before, after = db.run(scenario)
    finally:
        heard.disconnect_all()
    written = [row for row in after if row not in before]
    assert len(written) == count == expected_count
    assert heard.labels() == ["pre_queryset_update", "post_queryset_update"]
    assert heard.kwargs("pre_queryset_update")["values"] == {"play_count": 5}
    post = heard.kwargs("post_queryset_update")
    assert set(post) == {"values", "instances"}
    assert post["values"] == {"play_count": 5}
    assert sorted(albums_of(post["instances"])) == written
    assert all(isinstance(each, m.Album) and each.saved for each in post["instances"])


def run_update_values_from_receivers(db: TestDatabase) -> None:
    """What pre_queryset_update receivers leave in ``values`` is what is written."""
    m = declare_models(db)

    async def amend(sender: Any, values: dict[str, Any], **kwargs: Any) -> None:
        values["name"] = values.pop("play_count") * "x"

    heard = Heard()
    heard.listen(post_queryset_update, "post", m.Album, "ormar")

    async def scenario() -> list[tuple[Any, ...]]:
        await load_baseline(m)
        # ormar leaves out names that are no field; so do the signals.
        await m.Album.objects.filter(id=2).update(play_count=3, no_such_field=1)
        return await fetch(db, ALBUMS)

    pre_queryset_update(m.Album)(amend)
    try:
        rows = db.run(scenario)
    finally:
        pre_queryset_update.disconnect(amend, sender=m.Album)
        heard.disconnect_all()
    assert rows == [(1, "Venice", 1), (2, "xxx", 0)]
    post = heard.kwargs("post")
    assert post["values"] == {"name": "xxx"}
    assert albums_of(post["instances"]) == [(2, "xxx", 0)]


def run_update_key_kinds(db: TestDatabase) -> None:
    """Rows with a text key and a server default come back whole."""
    m = declare_models(db)
    heard = Heard()
    heard.listen(post_queryset_update, "post", m.Ticket)

    async def scenario() -> list[tuple[Any, ...]]:
        await m.Ticket(code="A-1", seat=1).save()
        await m.Ticket(code="B-2", seat=2, status="paid").save()
        await m.Ticket(code="C-3", seat=3).save()
        await m.Ticket.objects.filter(seat__gte=2).update(seat=7)
        return await fetch(db, "SELECT code, seat, status FROM tickets ORDER BY code")

    try:
        rows = db.run(scenario)
    finally:
        heard.disconnect_all()
    assert rows == [("A-1", 1, "draft"), ("B-2", 7, "paid"), ("C-3", 7, "draft")]
    instances = heard.kwargs("post")["instances"]
    assert sorted((t.code, t.seat, t.status) for t in instances) == rows[1:]


def run_many_rows(db: TestDatabase) -> None:
    """More rows than one ``IN (...)`` read takes: every one comes back, once."""
    m = declare_models(db)
    heard = Heard()
    heard.listen_to_all(m.Album)
    count = 1234

    async def scenario() -> list[tuple[Any, ...]]:
        await m.Album.objects.bulk_create([m.Album(name=f"a{i}") for i in range(count)])
        await m.Album.objects.filter(play_count=0).update(play_count=2)
        await m.Album.objects.delete(each=True)
        return await fetch(db, ALBUMS)

    try:
        assert db.run(scenario) == []
    finally:
        heard.disconnect_all()
    expected = [(pk, f"a{pk - 1}", 0) for pk in range(1, count + 1)]
    assert albums_of(heard.kwargs("post_bulk_create")["instances"]) == expected
    for signal_name in ("post_queryset_update", "post_queryset_delete"):
        rows = sorted(albums_of(heard.kwargs(signal_name)["instances"]))
        assert rows == [(pk, title, 2) for pk, title, _ in expected]


# delete -------------------------------------------------------------------------


def run_delete_gives_back_rows_before(db: TestDatabase, matching: str) -> None:
    """post_queryset_delete: every deleted row, as it was."""
    m = declare_models(db)
    select, expected_count = FILTERS[matching]
    heard = Heard()
    heard.listen_to_all(m.Album)

    async def scenario() -> tuple[Any, ...]:
        await m.Album(name="Venice", play_count=1).save()
        await m.Album(name="Lisbon").save()
        await m.Album(name="Paris", play_count=9).save()
        before = await fetch(db, ALBUMS)
        queryset = select(m)
        count = await queryset.delete()
        assert heard.kwargs("pre_queryset_delete")["queryset"] is queryset
        return count, before, await fetch(db, ALBUMS)

    try:
        count, before, after = db.run(scenario)
    finally:
        heard.disconnect_all()
    deleted = [row for row in before if row not in after]
    assert len(deleted) == count == expected_count
    assert heard.labels() == ["pre_queryset_delete", "post_queryset_delete"]
    assert set(heard.kwargs("pre_queryset_delete")) == {"queryset"}
    post = heard.kwargs("post_queryset_delete")
    assert set(post) == {"instances"}
    assert sorted(albums_of(post["instances"])) == deleted


def run_delete_call_forms(db: TestDatabase) -> None:
    """``delete(name=...)`` and ``delete(each=True)`` send once each; text keys too."""
    m = declare_models(db)
    heard = Heard()
    heard.listen(post_queryset_delete, "albums", m.Album, "ormar")
    heard.listen(post_queryset_delete, "tickets", m.Ticket, "ormar")

    async def scenario() -> tuple[Any, ...]:
        await load_baseline(m)
        await m.Ticket(code="A-1", seat=1).save()
        by_kwargs = await m.Album.objects.delete(name="Lisbon")
        every = await m.Ticket.objects.delete(each=True)
        return by_kwargs, every, await fetch(db, ALBUMS)

    try:
        by_kwargs, every, rows = db.run(scenario)
    finally:
        heard.disconnect_all()
    assert (by_kwargs, every) == (1, 1)
    assert rows == [(1, "Venice", 1)]
    assert heard.labels() == ["albums", "tickets"]
    assert albums_of(heard.kwargs("albums")["instances"]) == [(2, "Lisbon", 0)]
    (ticket,) = heard.kwargs("tickets")["instances"]
    assert (ticket.code, ticket.seat, ticket.status) == ("A-1", 1, "draft")


# Every model, and only these six ---------------------------------------------


async def run_three_writes(m: SimpleNamespace) -> None:
    await m.Album.objects.bulk_create([m.Album(name="Rome")])
    await m.Album.objects.filter(name="Rome").update(play_count=3)
    await m.Album.objects.filter(name="Rome").delete()
    await m.Ticket.objects.bulk_create([m.Ticket(code="A-1", seat=1)])
    await m.Ticket.objects.update(each=True, seat=2)
    await m.Ticket.objects.delete(each=True)


def run_every_model_receivers(db: TestDatabase, style: str) -> None:
    """Receivers for every model hear each model's writes, and the eleven stay silent."""
    m = declare_models(db)
    heard = Heard()
    for name, signal in SIX.items():
        heard.listen(signal, name, None, style)
    eleven = Heard()
    for name in ormar_integration.signals.MODEL_SIGNALS:
        if name not in SIX:
            eleven.listen(getattr(ormar_integration, name), name)

    async def scenario() -> None:
        await load_baseline(m)
        del eleven[:]
        await run_three_writes(m)

    try:
        db.run(scenario)
    finally:
        heard.disconnect_all()
        eleven.disconnect_all()
    assert eleven == []
    assert [(label, sender) for label, sender, _ in heard] == [
        (name, model) for model in (m.Album, m.Ticket) for name in SIX
    ]


def run_emitter_views(db: TestDatabase, signals_of: Callable[[Any], Any]) -> None:
    """``Model.signals.pre_bulk_create`` is a view of the module-level signal."""
    m = declare_models(db)
    heard = Heard()
    record = heard.append

    async def receive(sender: Any, **kwargs: Any) -> None:
        record(("view", sender, kwargs))

    signals_of(m.Album).post_queryset_delete.connect(receive)
    assert post_queryset_delete.receivers_for(m.Album) == [receive]

    async def scenario() -> None:
        await load_baseline(m)
        await m.Album.objects.filter(id=2).delete()

    try:
        db.run(scenario)
    finally:
        signals_of(m.Album).post_queryset_delete.disconnect(receive)
    assert [(label, sender) for label, sender, _ in heard] == [("view", m.Album)]
    assert "signal" not in heard[0][2]


# Bad input ------------------------------------------------------------------------


def run_bad_input(db: TestDatabase, case: str) -> None:
    """A receiver that hands over what cannot be written: a clear error, nothing written."""
    m = declare_models(db)

    async def add_a_track(sender: Any, instances: list[Any], **kwargs: Any) -> None:
        instances.append(m.Track(title="stray"))

    async def add_a_string(sender: Any, instances: list[Any], **kwargs: Any) -> None:
        instances.insert(0, "Lima")

    async def unknown_column(
        sender: Any, values: dict[str, Any], **kwargs: Any
    ) -> None:
        values["colour"] = "blue"

    async def reverse_relation(
        sender: Any, values: dict[str, Any], **kwargs: Any
    ) -> None:
        values["tracks"] = 1

    cases = {
        "bulk-create-other-model": (
            pre_bulk_create,
            add_a_track,
            "instances[1]",
            TypeError,
        ),
        "bulk-create-not-a-model": (pre_bulk_create, add_a_string, "'Lima'", TypeError),
        "update-unknown-column": (
            pre_queryset_update,
            unknown_column,
            "'colour'",
            ormar.exceptions.QueryDefinitionError,
        ),
        "update-reverse-relation": (
            pre_queryset_update,
            reverse_relation,
            "'tracks'",
            ormar.exceptions.QueryDefinitionError,
        ),
    }
    signal, receiver, named, error = cases[case]

    async def operate() -> None:
        if signal is pre_bulk_create:
            await m.Album.objects.bulk_create([m.Album(name="Rome")])
        else:
            await m.Album.objects.filter(id=2).update(name="Lima")

    async def scenario() -> Any:
        await load_baseline(m)
        with pytest.raises(error) as caught:
            await operate()
        return caught.value, await read_tables(db)

    signal.connect(receiver, sender=m.Album)
    try:
        raised, tables = db.run(scenario)
    finally:
        signal.disconnect(receiver, sender=m.Album)
    assert named in str(raised) and "Album" in str(raised)
    assert "nothing was written" in str(raised)
    assert tables == BASELINE


# The fault matrix, for the six ----------------------------------------------------


@dataclass(frozen=True)
class BulkCase(Case):
    @property
    def signal(self) -> ormar_integration.ModelSignal:
        return SIX[self.signal_name]


async def bulk_create(m: SimpleNamespace) -> Any:
    return await m.Album.objects.bulk_create(
        [m.Album(name="Rome"), m.Album(name="Oslo")]
    )


async def queryset_update(m: SimpleNamespace) -> Any:
    return await m.Album.objects.filter(play_count=0).update(play_count=7)


async def queryset_delete(m: SimpleNamespace) -> Any:
    return await m.Album.objects.filter(id=2).delete()


CREATED = changed(
    BASELINE, albums=[*BASELINE["albums"], (3, "Rome", 0), (4, "Oslo", 0)]
)
UPDATED = changed(BASELINE, albums=[(1, "Venice", 1), (2, "Lisbon", 7)])
DELETED = changed(BASELINE, albums=[(1, "Venice", 1)])

CASES = [
    BulkCase(name, operation, run, written)
    for operation, run, written in (
        ("bulk_create", bulk_create, CREATED),
        ("queryset_update", queryset_update, UPDATED),
        ("queryset_delete", queryset_delete, DELETED),
    )
    for name in (f"pre_{operation}", f"post_{operation}")
]
assert {case.signal_name for case in CASES} == set(SIX)

MATRIX = matrix(CASES)
"""Every combination, as ``fault_scenarios.MATRIX``."""


# Zero cost when unused: the very same statements ---------------------------------


class StatementTrace:
    """The SQL statements a SQLite connection receives, from its trace callback.

    Every statement of the operations must go through the one connection
    traced: ``databases`` (ormar < 0.22) runs a task's queries on the
    connection it holds open; ormar's own ``DatabaseConnection`` runs them
    on the connection of the transaction they are in.
    """

    def __init__(self, db: TestDatabase) -> None:
        self.db = db
        self.statements: list[str] = []

    async def run(self, operation: Callable[[], Awaitable[Any]]) -> list[str]:
        del self.statements[:]
        database = self.db.database
        if DatabaseConnection is None:
            async with database.connection() as connection:
                await self._traced(connection.raw_connection, operation)
        else:
            async with database.transaction() as transaction:
                raw = await transaction._connection.get_raw_connection()
                await self._traced(raw.driver_connection, operation)
        return list(self.statements)

    async def _traced(
        self, aiosqlite_connection: Any, operation: Callable[[], Awaitable[Any]]
    ) -> None:
        await aiosqlite_connection.set_trace_callback(self.statements.append)
        try:
            await operation()
        finally:
            await aiosqlite_connection.set_trace_callback(None)


async def four_writes(m: SimpleNamespace) -> None:
    await m.Album.objects.bulk_create([m.Album(name="Rome"), m.Album(name="Oslo")])
    await m.Album.objects.filter(play_count=0).update(play_count=7)
    await m.Album.objects.filter(name="Oslo").delete()
    await m.Album.objects.delete(name="Rome")


def run_statements_installed_and_not(
    db: TestDatabase, listening: str
) -> tuple[list[str], list[str]]:
    """The statements of ``four_writes`` with the integration installed, then not.

    ``listening``: which receivers are connected meanwhile: ``"nothing"``,
    ``"other-model"`` (all six, for Track) or ``"album"`` (all six, for Album).
    """
    m = declare_models(db)
    heard = Heard()
    if listening == "other-model":
        heard.listen_to_all(m.Track)
    elif listening == "album":
        heard.listen_to_all(m.Album)
    trace = StatementTrace(db)

    async def scenario() -> tuple[list[str], list[str]]:
        await load_baseline(m)
        installed = await trace.run(lambda: four_writes(m))
        ormar_integration.uninstall()
        try:
            uninstalled = await trace.run(lambda: four_writes(m))
        finally:
            ormar_integration.install()
        return installed, uninstalled

    try:
        return db.run(scenario)
    finally:
        heard.disconnect_all()
