"""``on_commit`` receivers on a real PostgreSQL server: savepoints, a refused COMMIT, load.

The shared scenarios are in ``tests/ormar/commit_scenarios.py``. The load
test runs 200 concurrent tasks, each writing in a transaction of its own; a
fifth of them roll back. Every committed row must be heard exactly once by
its ``on_commit`` receiver, already visible to a connection of the
receiver's own, and no rolled-back row heard at all.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import asyncpg
import pytest

from .pg_models import PgDatabase

from commit_scenarios import (  # isort: skip  (on the path pg_models adds)
    Rolled,
    run_failed_commit,
    run_outer_rollback,
    run_savepoints,
)
from ormar_models import declare_music  # isort: skip
from ormar_integration import post_save, post_update  # isort: skip

TASKS = 200


@pytest.fixture
def pg_db(postgres_url: str) -> PgDatabase:
    return PgDatabase(postgres_url)


def test_savepoints(pg_db):
    run_savepoints(pg_db)


def test_released_savepoint_in_a_rolled_back_transaction(pg_db):
    run_outer_rollback(pg_db)


def test_failed_commit_is_a_rollback(pg_db):
    run_failed_commit(pg_db)


def test_concurrent_transactions_each_heard_once_iff_committed(pg_db):
    m = declare_music(pg_db)
    heard: Counter[tuple[str, str]] = Counter()
    invisible: list[tuple[str, str]] = []
    pools: list[Any] = []

    def rolls_back(task: int) -> bool:
        return task % 5 == 0

    async def receive(sender: Any, signal: Any, instance: Any, **kwargs: Any) -> None:
        async with pools[0].acquire() as connection:
            row = await connection.fetchrow(
                "SELECT name, play_count FROM albums WHERE id = $1", instance.pk
            )
        expected = (instance.name, instance.play_count)
        if row is None or tuple(row) != expected:
            invisible.append((signal.name, instance.name))
        heard[signal.name, instance.name] += 1

    async def work(task: int) -> None:
        try:
            async with pg_db.database.transaction():
                album = await m.Album(name=f"album-{task}").save()
                await asyncio.sleep(0)
                await album.update(play_count=task)
                if rolls_back(task):
                    raise Rolled
        except Rolled:
            pass

    post_save.connect(receive, sender=m.Album, on_commit=True)
    post_update.connect(receive, sender=m.Album, on_commit=True)

    async def scenario() -> list[Any]:
        pools.append(await asyncpg.create_pool(pg_db.url, min_size=1, max_size=5))
        try:
            await asyncio.gather(*(work(task) for task in range(TASKS)))
        finally:
            post_save.disconnect(receive, sender=m.Album)
            post_update.disconnect(receive, sender=m.Album)
            await pools[0].close()
        return await pg_db.fetch_rows("SELECT name FROM albums")

    rows = pg_db.run(scenario)
    committed = {f"album-{task}" for task in range(TASKS) if not rolls_back(task)}
    assert {name for (name,) in rows} == committed
    assert heard == Counter(
        {
            (signal, name): 1
            for name in committed
            for signal in ("post_save", "post_update")
        }
    )
    assert invisible == []
