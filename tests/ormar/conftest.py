from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from ormar_models import TestDatabase, declare_music

import ormar_integration  # noqa: F401  (importing installs the integration)


@pytest.fixture
def db(tmp_path: Path) -> TestDatabase:
    return TestDatabase(tmp_path / "test.sqlite")


@pytest.fixture
def music(db: TestDatabase) -> SimpleNamespace:
    return declare_music(db)


class Calls(list):  # type: ignore[type-arg]
    """Receivers that record (label, sender, kwargs) in call order."""

    def receiver(self, label: str) -> Any:
        async def receive(sender: Any, **kwargs: Any) -> None:
            self.append((label, sender, kwargs))

        receive.__name__ = f"receive_{label}"
        return receive


@pytest.fixture
def calls() -> Calls:
    return Calls()
