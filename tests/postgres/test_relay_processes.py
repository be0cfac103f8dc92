"""Several listener processes, several concurrent writer processes, one server.

Three writers run 100 transactions each (two events per transaction, every
fifth rolled back, every seventh written without a transaction) while three
listeners LISTEN. Each listener must hear exactly the committed events, once
each, and each writer's in the order it committed them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ormar_integration import post_save
from ormar_integration.relay import PostgresRelay

from .pg_models import PgDatabase
from .relay_process import END, committed
from .relay_support import WAIT, declare_models

LISTENERS = 3
WRITERS = 3
TRANSACTIONS = 100
CHANNEL = "relay processes"
TESTS_DIR = Path(__file__).resolve().parents[1]


def spawn(*args: object) -> subprocess.Popen[str]:
    """``python -m postgres.relay_process ARGS`` with this interpreter and path."""
    paths = [str(TESTS_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    return subprocess.Popen(
        [sys.executable, "-m", "postgres.relay_process", *map(str, args)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)},
    )


def test_every_listener_hears_exactly_the_committed_events_in_order(postgres_url):
    db = PgDatabase(postgres_url)
    m = declare_models(db)
    asyncio.run(db.create_tables())
    listeners = [spawn("listen", postgres_url, CHANNEL) for _ in range(LISTENERS)]
    try:
        for listener in listeners:
            assert listener.stdout is not None
            assert listener.stdout.readline().strip() == "listening"
        writers = [
            spawn("write", postgres_url, CHANNEL, writer, TRANSACTIONS)
            for writer in range(WRITERS)
        ]
        for writer in writers:
            assert writer.wait(timeout=120) == 0

        async def end() -> None:
            relay = PostgresRelay(postgres_url, CHANNEL)
            relay.forward(post_save, sender=m.Album)
            async with db.database:
                await m.Album(name=END).save()

        asyncio.run(end())
        outputs = [listener.communicate(timeout=WAIT)[0] for listener in listeners]
    finally:
        for process in listeners:
            if process.poll() is None:
                process.kill()
                process.wait()
    for output in outputs:
        heard = [event[:3] for event in json.loads(output)]
        assert heard[-1] == ["post_save", END, 0]
        for writer in range(WRITERS):
            prefix = f"w{writer}-"
            from_writer = [event for event in heard if event[1].startswith(prefix)]
            assert from_writer == committed(writer, TRANSACTIONS)
        assert len(heard) == 1 + sum(
            len(committed(w, TRANSACTIONS)) for w in range(WRITERS)
        )
        assert "gap" not in [event[0] for event in heard]


pytestmark = pytest.mark.timeout(180)
