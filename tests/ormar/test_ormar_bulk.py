"""The six bulk and queryset signals on SQLite, on every ormar line.

The scenarios live in ``bulk_scenarios`` so that ``tests/postgres`` runs the
same ones on PostgreSQL.
"""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy

# Failed assertions inside the shared scenarios show their values too.
pytest.register_assert_rewrite("bulk_scenarios", "fault_scenarios")
import bulk_scenarios as scenarios  # noqa: E402
from fault_scenarios import run_fault_case  # noqa: E402
from ormar_models import signals_of  # noqa: E402

from ormar_integration import compat  # noqa: E402

WRITES = ("INSERT", "UPDATE", "DELETE")
SQLALCHEMY_2 = int(sqlalchemy.__version__.split(".")[0]) >= 2


@pytest.fixture(params=["native", "read-back"])
def rows_from(request, monkeypatch):
    """Each scenario twice: rows as this line gets them, and read back in a transaction.

    ``read-back`` makes RETURNING look unavailable, so the lines that have
    it test the other way too.
    """
    if request.param == "read-back":
        monkeypatch.setattr(compat, "returns_rows", lambda database: False)
    return request.param


@pytest.mark.parametrize("style", ["django", "ormar"])
def test_bulk_create_gives_back_primary_keys(db, rows_from, style):
    scenarios.run_bulk_create_gives_back_primary_keys(db, style)


def test_pre_bulk_create_changes_are_written(db, rows_from):
    scenarios.run_pre_bulk_create_changes_are_written(db)


def test_bulk_create_key_kinds_and_server_defaults(db, rows_from):
    scenarios.run_bulk_create_key_kinds(db)


@pytest.mark.parametrize("matching", list(scenarios.FILTERS))
def test_update_gives_back_rows_after(db, rows_from, matching):
    scenarios.run_update_gives_back_rows_after(db, matching)


def test_update_values_from_receivers(db, rows_from):
    scenarios.run_update_values_from_receivers(db)


def test_update_key_kinds_and_server_defaults(db, rows_from):
    scenarios.run_update_key_kinds(db)


def test_many_rows(db, rows_from):
    scenarios.run_many_rows(db)


@pytest.mark.parametrize("matching", list(scenarios.FILTERS))
def test_delete_gives_back_rows_before(db, rows_from, matching):
    scenarios.run_delete_gives_back_rows_before(db, matching)


def test_delete_call_forms(db, rows_from):
    scenarios.run_delete_call_forms(db)


@pytest.mark.parametrize("style", ["django", "ormar"])
def test_every_model_receivers_and_the_eleven_stay_silent(db, style):
    scenarios.run_every_model_receivers(db, style)


def test_model_emitter_views(db):
    scenarios.run_emitter_views(db, signals_of)


@pytest.mark.parametrize(
    "case",
    [
        "bulk-create-other-model",
        "bulk-create-not-a-model",
        "update-unknown-column",
        "update-reverse-relation",
    ],
)
def test_bad_input_writes_nothing(db, case):
    scenarios.run_bad_input(db, case)


@pytest.mark.parametrize(("case", "in_transaction", "error", "style"), scenarios.MATRIX)
def test_fault_matrix(db, rows_from, case, in_transaction, error, style):
    run_fault_case(db, case, in_transaction, error, style)


@pytest.mark.parametrize("listening", ["nothing", "other-model"])
def test_unheard_writes_send_ormars_statements(db, listening):
    installed, uninstalled = scenarios.run_statements_installed_and_not(db, listening)
    assert len(uninstalled) >= 4
    assert installed == uninstalled


def test_heard_writes_send_statements_of_their_own(db):
    """The control for the test above: receivers change what is sent, as documented."""
    installed, uninstalled = scenarios.run_statements_installed_and_not(db, "album")
    writes = [each for each in installed if each.split()[0] in WRITES]
    returning = [each for each in writes if " RETURNING " in each]
    # SQLAlchemy 1.4 (ormar up to 0.20) cannot compile RETURNING for SQLite.
    if SQLALCHEMY_2 and sqlite3.sqlite_version_info >= (3, 35):
        assert returning == writes
        assert len(installed) == len(uninstalled)  # no read besides
    else:
        assert returning == []
        assert len(installed) > len(uninstalled)  # the reads
        assert [each.split()[0] for each in installed if each not in writes] != []
