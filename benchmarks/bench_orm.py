"""What signals cost ormar's writes on SQLite: ``create`` and ``update``, then bulk writes.

Run from the repository root (ormar 0.22 or newer, aiosqlite)::

    PYTHONPATH=. python benchmarks/bench_orm.py
    PYTHONPATH=. python benchmarks/bench_orm.py --quick
    PYTHONPATH=. python benchmarks/bench_orm.py --part bulk

Four states, p50 microseconds per operation, and the median over rounds of
each state's p50 divided by plain's p50 in the same round (the ratio the
targets are stated in):

* ``plain``: ormar as released, no receivers;
* ``integration``: ``ormar_integration`` installed, no receivers;
* ``native receiver``: integration not installed, one receiver connected to
  pre/post save and pre/post update through ormar's own per-model signals;
* ``integration receiver``: the same receiver through ``ormar_integration``
  (``pre_save(Model)(receiver)``, the ormar-style decorator).

Every operation runs inside one transaction per chunk on a SQLite file, rolled
back at the end of the chunk so the table never grows. The states take turns
in chunks, in an order that rotates each round, so drift of a shared machine
hits them alike. Before timing, each state is checked to call the receiver
exactly as often as it should (4 times per create + update pair, or never).

After commit: a second table times ``create`` inside a transaction of its own
that commits, with the integration installed and one ``post_save`` receiver
for the model, connected ordinarily (``receiver``) or with ``on_commit=True``
(``on_commit receiver``, which runs after the COMMIT); the ratio is the
second over the first. The rows are deleted after each chunk, untimed.

The bulk table times ``QuerySet.bulk_create`` of 100 rows, then ``update``
and ``delete`` of those 100 rows by filter, in the states ``plain``,
``integration`` (no receivers), ``bulk receivers`` (one receiver on each of
``post_bulk_create``, ``post_queryset_update`` and ``post_queryset_delete``:
the rows come from ``RETURNING``) and ``bulk receivers, read back`` (the same,
with the rows read in the write's transaction, the way taken where
``RETURNING`` is not available).

``--postgres`` runs the same on a throw-away PostgreSQL server
(``tests/postgres/server.py``; needs asyncpg and PostgreSQL's binaries).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path
from time import perf_counter_ns
from typing import Any, Dict, List

import ormar
import sqlalchemy
from sqlalchemy.ext.asyncio import create_async_engine

PLAIN = "plain"
INTEGRATION = "integration"
NATIVE_RECEIVER = "native receiver"
INTEGRATION_RECEIVER = "integration receiver"
STATES = (PLAIN, INTEGRATION, NATIVE_RECEIVER, INTEGRATION_RECEIVER)
SIGNAL_NAMES = ("pre_save", "post_save", "pre_update", "post_update")

# --postgres runs this script again with the server's URL here.
DATABASE_URL = os.environ.get("BENCH_ORM_DATABASE_URL") or (
    f"sqlite+aiosqlite:///{tempfile.mkdtemp(prefix='bench_orm_')}/bench.sqlite"
)
DRIVER = DATABASE_URL.split("://")[0].split("+")[-1]
"""The database driver package: aiosqlite, or asyncpg with ``--postgres``."""
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


calls = [0]


async def on_signal(sender: Any, instance: Any, **kwargs: Any) -> None:
    calls[0] += 1


try:
    import ormar_integration
except ImportError as missing:  # written by another engineer; may not exist yet
    ormar_integration = None  # type: ignore[assignment]
    integration_missing: str | None = str(missing)
else:
    integration_missing = None


def enter(state: str) -> None:
    """Puts ormar in ``state``; ``leave`` undoes what this connected."""
    if ormar_integration is not None:
        if state in (INTEGRATION, INTEGRATION_RECEIVER):
            ormar_integration.install()
        else:
            ormar_integration.uninstall()
    if state == NATIVE_RECEIVER:
        for name in SIGNAL_NAMES:
            getattr(Album.ormar_config.signals, name).connect(on_signal)
    elif state == INTEGRATION_RECEIVER:
        for name in SIGNAL_NAMES:
            getattr(ormar_integration, name)(Album)(on_signal)


def leave(state: str) -> None:
    if state == NATIVE_RECEIVER:
        for name in SIGNAL_NAMES:
            getattr(Album.ormar_config.signals, name).disconnect(on_signal)
    elif state == INTEGRATION_RECEIVER:
        for name in SIGNAL_NAMES:
            getattr(ormar_integration, name).disconnect(on_signal, sender=Album)


async def chunk(size: int) -> tuple[list[float], list[float]]:
    """``size`` creates then ``size`` updates in one rolled-back transaction (µs each)."""
    creates: list[float] = []
    updates: list[float] = []
    async with base_config.database.transaction(force_rollback=True):
        albums = []
        for i in range(size):
            start = perf_counter_ns()
            album = await Album.objects.create(name=f"album {i}", play_count=i)
            creates.append((perf_counter_ns() - start) / 1000)
            albums.append(album)
        for album in albums:
            start = perf_counter_ns()
            await album.update(play_count=album.play_count + 1)
            updates.append((perf_counter_ns() - start) / 1000)
    return creates, updates


async def check(state: str) -> None:
    enter(state)
    try:
        calls[0] = 0
        await chunk(3)
    finally:
        leave(state)
    expected = 12 if state in (NATIVE_RECEIVER, INTEGRATION_RECEIVER) else 0
    if calls[0] != expected:
        raise SystemExit(
            f"ABORT: state {state!r} called the receiver {calls[0]} times, expected {expected}"
        )


COMMITTED_STATES = ("receiver", "on_commit receiver")


async def committed_chunk(state: str, size: int) -> list[float]:
    """``size`` creates, each in a transaction that commits (µs each)."""
    assert ormar_integration is not None
    post_save = ormar_integration.post_save
    post_save.connect(on_signal, sender=Album, on_commit=state == "on_commit receiver")
    database = base_config.database
    creates: list[float] = []
    try:
        for i in range(size):
            start = perf_counter_ns()
            async with database.transaction():
                await Album.objects.create(name=f"album {i}", play_count=i)
            creates.append((perf_counter_ns() - start) / 1000)
    finally:
        post_save.disconnect(on_signal, sender=Album)
    await Album.objects.delete(each=True)
    return creates


async def run_committed(rounds: int, size: int) -> dict[str, list[list[float]]]:
    """The after-commit table's samples; each state's receiver is checked first."""
    for state in COMMITTED_STATES:
        calls[0] = 0
        await committed_chunk(state, 3)
        if calls[0] != 3:
            raise SystemExit(
                f"ABORT: {state!r} called the receiver {calls[0]} times, expected 3"
            )
    samples: dict[str, list[list[float]]] = {s: [] for s in COMMITTED_STATES}
    for round_ in range(rounds + 1):
        order = COMMITTED_STATES if round_ % 2 else COMMITTED_STATES[::-1]
        for state in order:
            creates = await committed_chunk(state, size)
            if round_:
                samples[state].append(creates)
    return samples


def render_committed(
    samples: dict[str, list[list[float]]], rounds: int, size: int
) -> str:
    ordinary, deferred = (samples[state] for state in COMMITTED_STATES)
    ratio = statistics.median(
        statistics.median(d) / statistics.median(o) for o, d in zip(ordinary, deferred)
    )
    p50 = {
        state: statistics.median(t for chunk_ in samples[state] for t in chunk_)
        for state in COMMITTED_STATES
    }
    return (
        "\n".join(
            [
                f"### After commit: create in a committed transaction, Python {platform.python_version()}",
                "",
                f"- {rounds} rounds x {size} creates per state, each in its own transaction",
                "",
                "| post_save receiver | create p50 µs |",
                "| --- | ---: |",
                *(f"| {state} | {p50[state]:,.0f} |" for state in COMMITTED_STATES),
                "",
                f"on_commit receiver / receiver: {ratio:.3f} (median over rounds of the "
                "per-round p50 ratio; target ≤ 1.05)",
            ]
        )
        + "\n"
    )


Samples = Dict[str, Dict[str, List[List[float]]]]
"""samples[state][operation] = one list of µs per round."""


samples_committed: dict[str, list[list[float]]] = {}


async def run(rounds: int, size: int, states: list[str]) -> Samples:
    database = base_config.database
    await database.connect()
    async with base_config.engine.begin() as connection:
        await connection.run_sync(base_config.metadata.create_all)
    try:
        for state in states:
            await check(state)
        print("receiver reach checked for every state", file=sys.stderr)
        samples: Samples = {s: {"create": [], "update": []} for s in states}
        for round_ in range(rounds + 1):  # round 0 warms up and is discarded
            shift = round_ % len(states)
            for state in states[shift:] + states[:shift]:
                enter(state)
                try:
                    creates, updates = await chunk(size)
                finally:
                    leave(state)
                if round_:
                    samples[state]["create"].append(creates)
                    samples[state]["update"].append(updates)
        if ormar_integration is not None:
            ormar_integration.install()
            samples_committed.update(await run_committed(rounds, size))
        return samples
    finally:
        if ormar_integration is not None:
            ormar_integration.install()
        await database.disconnect()
        await base_config.engine.dispose()


def overall_p50(samples: Samples, state: str, op: str) -> float:
    return statistics.median(t for each_round in samples[state][op] for t in each_round)


def ratio_to_plain(samples: Samples, state: str, op: str) -> float:
    """Median over rounds of this state's p50 / plain's p50 in the same round."""
    return statistics.median(
        statistics.median(mine) / statistics.median(plain)
        for mine, plain in zip(samples[state][op], samples[PLAIN][op])
    )


def render(samples: Samples, rounds: int, size: int) -> str:
    lines = [
        f"### ormar create / update, Python {platform.python_version()}",
        "",
        f"- {platform.platform()}; ormar {version('ormar')}, SQLAlchemy {version('sqlalchemy')}, "
        f"{DRIVER} {version(DRIVER)}",
        f"- {rounds} rounds x {size} creates + {size} updates per state, "
        "in one rolled-back transaction per chunk",
        "",
        "p50: over every operation of the run; Δ: against plain's p50; ratio: the "
        "median over rounds of the state's p50 / plain's p50 in the same round.",
        "",
        "| state | create p50 µs | update p50 µs | create Δ vs plain µs | update Δ vs plain µs "
        "| create ratio | update ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    operations = ("create", "update")
    p50_plain = {op: overall_p50(samples, PLAIN, op) for op in operations}
    for state in STATES:
        if state not in samples:
            lines.append(f"| {state} | n/a | n/a | n/a | n/a | n/a | n/a |")
            continue
        p50 = {op: overall_p50(samples, state, op) for op in operations}
        ratio = {op: ratio_to_plain(samples, state, op) for op in operations}
        lines.append(
            f"| {state} | {p50['create']:,.0f} | {p50['update']:,.0f} | "
            f"{p50['create'] - p50_plain['create']:+,.0f} | "
            f"{p50['update'] - p50_plain['update']:+,.0f} | "
            f"{ratio['create']:.2f} | {ratio['update']:.2f} |"
        )
    if integration_missing:
        lines += ["", f"(integration states n/a: {integration_missing})"]
    return "\n".join(lines) + "\n"


# Bulk and queryset writes ---------------------------------------------------------

BULK_RECEIVERS = "bulk receivers"
BULK_READ_BACK = "bulk receivers, read back"
BULK_STATES = (PLAIN, INTEGRATION, BULK_RECEIVERS, BULK_READ_BACK)
BULK_SIGNAL_NAMES = ("post_bulk_create", "post_queryset_update", "post_queryset_delete")
BULK_OPERATIONS = ("bulk_create", "update", "delete")
BULK_ROWS = 100


class Batch(ormar.Model):
    ormar_config = base_config.copy(tablename="batches")

    id: int = ormar.Integer(primary_key=True)
    batch: int = ormar.Integer()
    name: str = ormar.String(max_length=100)
    play_count: int = ormar.Integer(default=0)


bulk_calls = [0]


async def on_bulk_signal(sender: Any, instances: Any, **kwargs: Any) -> None:
    bulk_calls[0] += len(instances)


def always_read_back(database: Any) -> bool:
    return False


def enter_bulk(state: str) -> None:
    assert ormar_integration is not None
    if state == PLAIN:
        ormar_integration.uninstall()
        return
    ormar_integration.install()
    if state in (BULK_RECEIVERS, BULK_READ_BACK):
        for name in BULK_SIGNAL_NAMES:
            getattr(ormar_integration, name)(Batch)(on_bulk_signal)
    if state == BULK_READ_BACK:
        ormar_integration.compat.returns_rows = always_read_back  # type: ignore[assignment]


def leave_bulk(state: str, returns_rows: Any) -> None:
    assert ormar_integration is not None
    for name in BULK_SIGNAL_NAMES:
        getattr(ormar_integration, name).disconnect(on_bulk_signal, sender=Batch)
    ormar_integration.compat.returns_rows = returns_rows


async def bulk_chunk(size: int) -> dict[str, list[float]]:
    """``size`` times: create, update and delete 100 rows (µs each), rolled back."""
    timings: dict[str, list[float]] = {op: [] for op in BULK_OPERATIONS}
    async with base_config.database.transaction(force_rollback=True):
        for batch in range(size):
            rows = [Batch(batch=batch, name=f"row {i}") for i in range(BULK_ROWS)]
            start = perf_counter_ns()
            await Batch.objects.bulk_create(rows)
            timings["bulk_create"].append((perf_counter_ns() - start) / 1000)
            start = perf_counter_ns()
            await Batch.objects.filter(batch=batch).update(play_count=1)
            timings["update"].append((perf_counter_ns() - start) / 1000)
            start = perf_counter_ns()
            await Batch.objects.filter(batch=batch).delete()
            timings["delete"].append((perf_counter_ns() - start) / 1000)
    return timings


BulkSamples = Dict[str, Dict[str, List[List[float]]]]


async def run_bulk(rounds: int, size: int) -> BulkSamples:
    assert ormar_integration is not None
    returns_rows = ormar_integration.compat.returns_rows
    database = base_config.database
    await database.connect()
    async with base_config.engine.begin() as connection:
        await connection.run_sync(base_config.metadata.create_all)
    try:
        for state in BULK_STATES:
            enter_bulk(state)
            try:
                bulk_calls[0] = 0
                await bulk_chunk(1)
            finally:
                leave_bulk(state, returns_rows)
            expected = 3 * BULK_ROWS if state in (BULK_RECEIVERS, BULK_READ_BACK) else 0
            if bulk_calls[0] != expected:
                raise SystemExit(
                    f"ABORT: state {state!r} reported {bulk_calls[0]} rows, expected {expected}"
                )
        print("bulk receivers' reach checked for every state", file=sys.stderr)
        samples: BulkSamples = {
            s: {op: [] for op in BULK_OPERATIONS} for s in BULK_STATES
        }
        for round_ in range(rounds + 1):  # round 0 warms up and is discarded
            shift = round_ % len(BULK_STATES)
            for state in BULK_STATES[shift:] + BULK_STATES[:shift]:
                enter_bulk(state)
                try:
                    timings = await bulk_chunk(size)
                finally:
                    leave_bulk(state, returns_rows)
                if round_:
                    for op in BULK_OPERATIONS:
                        samples[state][op].append(timings[op])
        return samples
    finally:
        ormar_integration.install()
        await database.disconnect()
        await base_config.engine.dispose()


def render_bulk(samples: BulkSamples, rounds: int, size: int) -> str:
    lines = [
        f"### ormar bulk_create / update / delete of {BULK_ROWS} rows, "
        f"Python {platform.python_version()}",
        "",
        f"- {platform.platform()}; ormar {version('ormar')}, SQLAlchemy "
        f"{version('sqlalchemy')}, {DRIVER} {version(DRIVER)}",
        f"- {rounds} rounds x {size} of each write per state, in one rolled-back "
        "transaction per chunk; ratio as above",
        "",
        "| state | bulk_create p50 µs | update p50 µs | delete p50 µs "
        "| bulk_create ratio | update ratio | delete ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for state in BULK_STATES:
        p50 = [overall_p50(samples, state, op) for op in BULK_OPERATIONS]
        ratio = [ratio_to_plain(samples, state, op) for op in BULK_OPERATIONS]
        lines.append(
            f"| {state} | "
            + " | ".join(f"{each:,.0f}" for each in p50)
            + " | "
            + " | ".join(f"{each:.3f}" for each in ratio)
            + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds",
        "--repeats",
        dest="rounds",
        type=int,
        default=30,
        help="timed rounds (default 30)",
    )
    parser.add_argument(
        "--chunk", type=int, default=50, help="operations of each kind per chunk"
    )
    parser.add_argument(
        "--quick", action="store_true", help="3 rounds of 10: a smoke run"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the path given to bench_dispatch.py: the ORM table is written next to it as "
        "<stem>_orm.md (default: print only)",
    )
    parser.add_argument(
        "--part",
        choices=("all", "single", "bulk"),
        default="all",
        help="single: create / update only; bulk: the bulk writes only",
    )
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="on a throw-away PostgreSQL server instead of a SQLite file",
    )
    args = parser.parse_args(argv)
    if args.postgres:
        given = sys.argv[1:] if argv is None else argv
        return on_postgres([each for each in given if each != "--postgres"])
    rounds, size = (3, 10) if args.quick else (args.rounds, args.chunk)
    states = [
        s
        for s in STATES
        if ormar_integration is not None or s in (PLAIN, NATIVE_RECEIVER)
    ]
    report = ""
    if args.part != "bulk":
        samples = asyncio.run(run(rounds, size, states))
        report = render(samples, rounds, size)
        if samples_committed:
            report += "\n" + render_committed(samples_committed, rounds, size)
    if args.part != "single" and ormar_integration is not None:
        bulk_size = max(1, size // 10)
        bulk_samples = asyncio.run(run_bulk(rounds, bulk_size))
        report += "\n" + render_bulk(bulk_samples, rounds, bulk_size)
    print(report)
    if args.out:
        path = args.out.with_name(args.out.stem + "_orm.md")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report)
        print(f"wrote {path}", file=sys.stderr)
    return 0


def on_postgres(argv: list[str]) -> int:
    """Runs this script again with ``argv``, on a server of its own."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "postgres"))
    from server import running_server

    with running_server() as server:
        url = server.url.replace("postgresql://", "postgresql+asyncpg://", 1)
        env = {**os.environ, "BENCH_ORM_DATABASE_URL": url}
        return subprocess.run([sys.executable, __file__, *argv], env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
