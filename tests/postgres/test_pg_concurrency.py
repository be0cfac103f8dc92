"""Hundreds of concurrent operations on PostgreSQL, audited by receivers.

Every task creates an album, updates it, adds and removes a genre, (every
fourth task) bulk-updates it, and deletes it. Receivers on all eleven signals
write an ``AuditLog`` row through the same database for each send they get.
Afterwards the audit table must hold exactly the rows the tasks' operations
imply: one per (operation, signal, receiver), none missing, none doubled.

The second test also connects and disconnects receivers while the load runs.
Every row must then come from a receiver that was connected at some moment of
that operation's step, no row may be doubled, and a receiver connected for
the whole step must have written its row. Moments are counted with one shared
counter (all of this runs on one event loop), never with a clock.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from contextvars import ContextVar
from typing import Any, Callable

import ormar
import pytest

from .pg_models import POOL_SIZE, PgDatabase

from fault_scenarios import SIGNALS  # isort: skip  (on the path pg_models adds)
from ormar_models import declare_music  # isort: skip

TASKS = 240
GENRES = 5
STEPS = {
    "create": ("pre_save", "post_save"),
    "update": ("pre_update", "post_update"),
    "add": ("pre_relation_add", "post_relation_add"),
    "remove": ("pre_relation_remove", "post_relation_remove"),
    "bulk": ("post_bulk_update",),
    "delete": ("pre_delete", "post_delete"),
}
STABLE = ("ormar-style", "django-style")
CHURNING = tuple(f"churn-{n}" for n in range(6))

operation: ContextVar[int] = ContextVar("operation")


@pytest.fixture
def pg_db(postgres_url: str) -> PgDatabase:
    """A database on the session's server with an empty schema of its own."""
    return PgDatabase(postgres_url)


def steps_of(task: int) -> list[str]:
    return [s for s in STEPS if s != "bulk" or task % 4 == 0]


class Load:
    """The models, the audit receivers and the record of what happened."""

    def __init__(self, db: PgDatabase) -> None:
        self.db = db
        self.m = declare_music(db)
        self.AuditLog = db.model(
            "AuditLog",
            {
                "id": ormar.Integer(primary_key=True),
                "operation": ormar.Integer(),
                "signal": ormar.String(max_length=40),
                "receiver": ormar.String(max_length=40),
            },
            tablename="audit_log",
        )
        self.clock = itertools.count()
        # (operation, step) -> (first moment, last moment)
        self.step_spans: dict[tuple[int, str], tuple[int, int]] = {}
        self.wrong_instance: list[tuple[int, str, str, Any]] = []
        self.auditors: dict[tuple[str, str], Callable[..., Any]] = {}

    def auditor(self, signal_name: str, label: str) -> Callable[..., Any]:
        """The one receiver ``label`` connects to ``signal_name``."""
        key = (signal_name, label)
        if key not in self.auditors:
            AuditLog, wrong = self.AuditLog, self.wrong_instance

            async def audit(sender: Any, **kwargs: Any) -> None:
                op = operation.get()
                if label != STABLE[0]:
                    # Suspend first: the receivers after this one then run
                    # in Tasks of their own, overlapping their writes.
                    await asyncio.sleep(0)
                instances = kwargs.get("instances") or [kwargs["instance"]]
                if [each.name for each in instances] != [f"album-{op}"]:
                    wrong.append((op, signal_name, label, instances))
                await AuditLog(operation=op, signal=signal_name, receiver=label).save()

            audit.__name__ = f"audit_{signal_name}_{label}"
            self.auditors[key] = audit
        return self.auditors[key]

    def connect_stable(self) -> None:
        for name, signal in SIGNALS.items():
            signal(self.m.Album)(self.auditor(name, STABLE[0]))
            signal.connect(self.auditor(name, STABLE[1]), sender=self.m.Album)

    def disconnect_all(self) -> None:
        for (name, _label), audit in self.auditors.items():
            SIGNALS[name].disconnect(audit, sender=self.m.Album)

    async def step(self, task: int, name: str, action: Any) -> None:
        start = next(self.clock)
        await action
        self.step_spans[task, name] = (start, next(self.clock))

    async def work(self, task: int) -> None:
        operation.set(task)
        Album, Genre = self.m.Album, self.m.Genre
        await self.step(task, "create", Album.objects.create(name=f"album-{task}"))
        album = await Album.objects.get(name=f"album-{task}")
        await self.step(task, "update", album.update(play_count=task))
        genre = await Genre.objects.get(id=task % GENRES + 1)
        await self.step(task, "add", album.genres.add(genre))
        await self.step(task, "remove", album.genres.remove(genre))
        if "bulk" in steps_of(task):
            album.play_count = task + 1
            await self.step(task, "bulk", Album.objects.bulk_update([album]))
        await self.step(task, "delete", album.delete())

    async def prepare(self) -> None:
        for n in range(GENRES):
            await self.m.Genre(name=f"genre-{n}").save()

    async def audit_rows(self) -> Counter[tuple[int, str, str]]:
        rows = await self.db.fetch_rows(
            "SELECT operation, signal, receiver FROM audit_log"
        )
        return Counter(rows)

    async def leftovers(self) -> list[Any]:
        return await self.db.fetch_rows(
            "SELECT 'album', id FROM albums UNION ALL "
            "SELECT 'link', album FROM albums_genres"
        )


def expected_rows(labels: tuple[str, ...]) -> set[tuple[int, str, str]]:
    return {
        (task, signal, label)
        for task in range(TASKS)
        for step in steps_of(task)
        for signal in STEPS[step]
        for label in labels
    }


def test_every_send_audited_exactly_once(pg_db: PgDatabase) -> None:
    load = Load(pg_db)
    load.connect_stable()

    async def scenario() -> tuple[Counter[tuple[int, str, str]], list[Any], float]:
        await load.prepare()
        began = time.perf_counter()
        try:
            await asyncio.gather(*(load.work(task) for task in range(TASKS)))
        finally:
            load.disconnect_all()
        elapsed = time.perf_counter() - began
        return await load.audit_rows(), await load.leftovers(), elapsed

    rows, leftovers, elapsed = pg_db.run(scenario)
    expected = expected_rows(STABLE)
    doubled = {row: n for row, n in rows.items() if n > 1}
    assert doubled == {}
    assert set(rows) - expected == set()
    assert expected - set(rows) == set()
    assert load.wrong_instance == []
    assert leftovers == []
    print(
        f"\n[pg concurrency] {TASKS} tasks, {len(load.step_spans)} operations, "
        f"{sum(rows.values())} audit rows (expected {len(expected)}), "
        f"pool {POOL_SIZE}, {elapsed:.2f} s"
    )


def test_receivers_connected_and_disconnected_during_the_load(
    pg_db: PgDatabase,
) -> None:
    load = Load(pg_db)
    load.connect_stable()
    churn_events: list[tuple[int, str, str, str]] = []  # (moment, signal, label, what)
    toggles = 0

    async def churn(stop: asyncio.Event) -> None:
        nonlocal toggles
        chooser = random.Random(20240601)
        connected: set[tuple[str, str]] = set()
        while not stop.is_set():
            key = (chooser.choice(list(SIGNALS)), chooser.choice(CHURNING))
            signal, audit = SIGNALS[key[0]], load.auditor(*key)
            if key in connected:
                assert signal.disconnect(audit, sender=load.m.Album)
                connected.discard(key)
                churn_events.append((next(load.clock), *key, "disconnect"))
            else:
                signal.connect(audit, sender=load.m.Album)
                connected.add(key)
                churn_events.append((next(load.clock), *key, "connect"))
            toggles += 1
            await asyncio.sleep(0)

    async def scenario() -> tuple[Counter[tuple[int, str, str]], list[Any], float]:
        await load.prepare()
        stop = asyncio.Event()
        began = time.perf_counter()
        churner = asyncio.ensure_future(churn(stop))
        try:
            await asyncio.gather(*(load.work(task) for task in range(TASKS)))
        finally:
            stop.set()
            await churner
            load.disconnect_all()
        elapsed = time.perf_counter() - began
        return await load.audit_rows(), await load.leftovers(), elapsed

    rows, leftovers, elapsed = pg_db.run(scenario)

    # Connected spans of each churning (signal, receiver): [connect, disconnect).
    spans: dict[tuple[str, str], list[tuple[int, float]]] = {}
    opened: dict[tuple[str, str], int] = {}
    for moment, name, label, what in churn_events:
        if what == "connect":
            opened[name, label] = moment
        else:
            spans.setdefault((name, label), []).append(
                (opened.pop((name, label)), moment)
            )
    for key, moment in opened.items():
        spans.setdefault(key, []).append((moment, float("inf")))

    doubled = {row: n for row, n in rows.items() if n > 1}
    assert doubled == {}
    assert load.wrong_instance == []
    assert leftovers == []
    stable_rows = {row for row in rows if row[2] in STABLE}
    assert stable_rows == expected_rows(STABLE)

    phantom, missing, churn_rows = [], [], 0
    for task in range(TASKS):
        for step in steps_of(task):
            start, end = load.step_spans[task, step]
            for name in STEPS[step]:
                for label in CHURNING:
                    present = (task, name, label) in rows
                    churn_rows += present
                    overlaps = [
                        (c, d)
                        for c, d in spans.get((name, label), [])
                        if c < end and d > start
                    ]
                    covers = any(c < start and d > end for c, d in overlaps)
                    if present and not overlaps:
                        phantom.append((task, name, label))
                    if covers and not present:
                        missing.append((task, name, label))
    assert phantom == []
    assert missing == []
    assert churn_rows > 0, "the churning receivers never got a send: nothing was tested"
    assert set(rows) <= expected_rows(STABLE + CHURNING)
    print(
        f"\n[pg churn] {TASKS} tasks, {len(load.step_spans)} operations, "
        f"{toggles} connect/disconnect calls during the load, "
        f"{sum(rows.values())} audit rows ({len(stable_rows)} from the 2 steady "
        f"receivers, {churn_rows} from the 6 churning ones), "
        f"pool {POOL_SIZE}, {elapsed:.2f} s"
    )
