"""examples/fastapi_relay.py: two worker processes keep their album caches in step."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import ormar
import pytest

from .pg_models import PgDatabase
from .relay_support import WAIT

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not hasattr(ormar, "DatabaseConnection"),
    reason="the FastAPI example is written for ormar 0.22 and newer",
)


class Worker:
    def __init__(self, url: str) -> None:
        paths = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(paths),
            "ALBUMS_DATABASE_URL": url.replace(
                "postgresql://", "postgresql+asyncpg://"
            ),
        }
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("relay_example_worker.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.readline() == "ready"

    def readline(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        assert self.process.stdin is not None
        line = f"{method} {path}" + (f" {json.dumps(body)}" if body is not None else "")
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        status, answer = self.readline().split(" ", 1)
        return int(status), json.loads(answer)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=WAIT)
        finally:
            if self.process.poll() is None:
                self.process.kill()


def test_a_change_through_one_worker_refreshes_the_others_cache(postgres_url):
    asyncio.run(PgDatabase(postgres_url).create_tables())  # an empty schema
    first = Worker(postgres_url)  # creates the tables
    second = Worker(postgres_url)
    try:
        status, album = first.request("POST", "/albums", {"name": "Venice"})
        assert status == 201
        path = f"/albums/{album['id']}"
        assert second.request("GET", path) == (200, {**album, "play_count": 0})
        assert first.request("PATCH", path, {"play_count": 5})[0] == 200
        deadline = time.monotonic() + WAIT
        while second.request("GET", path)[1]["play_count"] != 5:
            assert time.monotonic() < deadline, "the second worker kept its stale page"
            time.sleep(0.02)
        assert first.request("DELETE", path)[0] == 204
        deadline = time.monotonic() + WAIT
        while second.request("GET", path)[0] != 404:
            assert time.monotonic() < deadline, "the second worker kept a deleted album"
            time.sleep(0.02)
    finally:
        first.close()
        second.close()
