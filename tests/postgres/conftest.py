"""The session-wide PostgreSQL server for tests/postgres.

Where PostgreSQL is not installed the tests are skipped, except on CI or with
REQUIRE_POSTGRES set, where a missing server is a failure: CI must not go green
without having run them.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

from .server import PostgresNotInstalled, find_bindir, running_server


def _is_set(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql://postgres@127.0.0.1:PORT/ormar_signals`` of a fresh server."""
    try:
        find_bindir()
    except PostgresNotInstalled as missing:
        if _is_set("CI") or _is_set("REQUIRE_POSTGRES"):
            pytest.fail(f"{missing} (required here: CI or REQUIRE_POSTGRES is set)")
        pytest.skip(f"{missing}; these tests need a local PostgreSQL server")
    with running_server() as server:
        yield server.url
