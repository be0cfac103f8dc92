"""The fault matrix and the eleven signals on a real PostgreSQL server.

The same scenarios as ``tests/ormar/test_ormar_faults.py`` (see
``tests/ormar/fault_scenarios.py``), with asyncpg underneath and real
transactions.
"""

from __future__ import annotations

import pytest

from .pg_models import PgDatabase

from fault_scenarios import (  # isort: skip  (on the path pg_models adds)
    MATRIX,
    run_cancelled_save,
    run_eleven_signals,
    run_fault_case,
)


@pytest.fixture
def pg_db(postgres_url: str) -> PgDatabase:
    """A database on the session's server with an empty schema of its own."""
    return PgDatabase(postgres_url)


@pytest.mark.parametrize(("case", "in_transaction", "error", "style"), MATRIX)
def test_fault_matrix(pg_db, case, in_transaction, error, style):
    run_fault_case(pg_db, case, in_transaction, error, style)


@pytest.mark.parametrize(
    "in_transaction", [False, True], ids=["autocommit", "transaction"]
)
@pytest.mark.parametrize("signal_name", ["pre_save", "post_save"])
def test_save_cancelled_while_receivers_wait(pg_db, signal_name, in_transaction):
    run_cancelled_save(pg_db, signal_name, in_transaction)


def test_eleven_signals_smoke(pg_db):
    run_eleven_signals(pg_db)
