"""The six bulk and queryset signals on a real PostgreSQL server.

The same scenarios as ``tests/ormar/test_ormar_bulk.py`` (see
``tests/ormar/bulk_scenarios.py``), with asyncpg underneath: the rows come
from ``RETURNING`` on every ormar line, or, with ``read-back``, from reads
in the write's transaction.
"""

from __future__ import annotations

import pytest

from ormar_integration import compat

from .pg_models import PgDatabase

pytest.register_assert_rewrite("bulk_scenarios")
import bulk_scenarios as scenarios  # noqa: E402  isort: skip  (on the path pg_models adds)
from fault_scenarios import run_fault_case  # noqa: E402  isort: skip


@pytest.fixture
def pg_db(postgres_url: str) -> PgDatabase:
    """A database on the session's server with an empty schema of its own."""
    return PgDatabase(postgres_url)


@pytest.fixture(params=["returning", "read-back"])
def rows_from(request, monkeypatch):
    if request.param == "read-back":
        monkeypatch.setattr(compat, "returns_rows", lambda database: False)
    return request.param


def test_postgres_takes_returning(pg_db):
    assert compat.returns_rows(pg_db.database)


@pytest.mark.parametrize("style", ["django", "ormar"])
def test_bulk_create_gives_back_primary_keys(pg_db, rows_from, style):
    scenarios.run_bulk_create_gives_back_primary_keys(pg_db, style)


def test_pre_bulk_create_changes_are_written(pg_db, rows_from):
    scenarios.run_pre_bulk_create_changes_are_written(pg_db)


def test_bulk_create_key_kinds_and_server_defaults(pg_db, rows_from):
    scenarios.run_bulk_create_key_kinds(pg_db)


@pytest.mark.parametrize("matching", list(scenarios.FILTERS))
def test_update_gives_back_rows_after(pg_db, rows_from, matching):
    scenarios.run_update_gives_back_rows_after(pg_db, matching)


def test_update_values_from_receivers(pg_db, rows_from):
    scenarios.run_update_values_from_receivers(pg_db)


def test_update_key_kinds_and_server_defaults(pg_db, rows_from):
    scenarios.run_update_key_kinds(pg_db)


def test_many_rows(pg_db, rows_from):
    scenarios.run_many_rows(pg_db)


@pytest.mark.parametrize("matching", list(scenarios.FILTERS))
def test_delete_gives_back_rows_before(pg_db, rows_from, matching):
    scenarios.run_delete_gives_back_rows_before(pg_db, matching)


def test_delete_call_forms(pg_db, rows_from):
    scenarios.run_delete_call_forms(pg_db)


@pytest.mark.parametrize("style", ["django", "ormar"])
def test_every_model_receivers_and_the_eleven_stay_silent(pg_db, style):
    scenarios.run_every_model_receivers(pg_db, style)


@pytest.mark.parametrize(
    "case",
    [
        "bulk-create-other-model",
        "bulk-create-not-a-model",
        "update-unknown-column",
        "update-reverse-relation",
    ],
)
def test_bad_input_writes_nothing(pg_db, case):
    scenarios.run_bad_input(pg_db, case)


@pytest.mark.parametrize(("case", "in_transaction", "error", "style"), scenarios.MATRIX)
def test_fault_matrix(pg_db, case, in_transaction, error, style):
    run_fault_case(pg_db, case, in_transaction, error, style)
