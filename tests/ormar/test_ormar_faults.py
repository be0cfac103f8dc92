"""The fault matrix on SQLite: raising receivers for each of the eleven signals.

The scenarios live in ``fault_scenarios`` so that ``tests/postgres`` runs the
same ones on PostgreSQL; ``docs/reliability.md`` explains what they prove.
"""

from __future__ import annotations

import pytest

# Failed assertions inside the shared scenarios show their values too.
pytest.register_assert_rewrite("fault_scenarios")
from fault_scenarios import (  # noqa: E402
    MATRIX,
    run_cancelled_save,
    run_eleven_signals,
    run_fault_case,
)


@pytest.mark.parametrize(("case", "in_transaction", "error", "style"), MATRIX)
def test_fault_matrix(db, case, in_transaction, error, style):
    run_fault_case(db, case, in_transaction, error, style)


@pytest.mark.parametrize(
    "in_transaction", [False, True], ids=["autocommit", "transaction"]
)
@pytest.mark.parametrize("signal_name", ["pre_save", "post_save"])
def test_save_cancelled_while_receivers_wait(db, signal_name, in_transaction):
    run_cancelled_save(db, signal_name, in_transaction)


def test_eleven_signals_smoke(db):
    run_eleven_signals(db)
