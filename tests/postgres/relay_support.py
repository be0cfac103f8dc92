"""What the relay tests share: models, a record of what was heard, waiting."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import asyncpg
import ormar

from ormar_integration.relay_listener import APPLICATION_NAME

from .pg_models import PgDatabase

from ormar_models import declare_music  # isort: skip  (on the path pg_models adds)

WAIT = 20.0
"""Seconds a test waits for something that must happen; never reached when it works."""


def declare_models(db: PgDatabase) -> Any:
    """The music models, plus ``Note`` whose text can outgrow a NOTIFY payload."""
    models = declare_music(db)
    models.Note = db.model(
        "Note",
        {"id": ormar.Integer(primary_key=True), "text": ormar.Text()},
        tablename="notes",
    )
    return models


async def until(
    condition: Callable[[], bool], what: str, timeout: float = WAIT
) -> None:
    """Waits until ``condition()`` holds; fails naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Heard:
    """Records every remote send and gap a receiver gets, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def receiver(self, label: str) -> Callable[..., None]:
        def record(sender: Any, **kwargs: Any) -> None:
            self.events.append((label, {"sender": sender, **kwargs}))

        return record

    def labels(self) -> list[str]:
        return [label for label, _ in self.events]

    def names(self, label: str) -> list[str]:
        return [kw["instance"].name for lab, kw in self.events if lab == label]


async def listening_backends(url: str) -> list[int]:
    """Server pids of the relay connections currently open."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
            APPLICATION_NAME,
        )
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


async def terminate_listeners(url: str) -> int:
    """Kills every relay connection on the server; returns how many."""
    connection = await asyncpg.connect(url)
    try:
        killed = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1",
            APPLICATION_NAME,
        )
    finally:
        await connection.close()
    return len(killed)
