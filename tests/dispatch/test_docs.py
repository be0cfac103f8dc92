"""Every ```python block in docs/dispatch.md runs, and its assertions hold.

Blocks run one by one, each in a fresh namespace. A block that uses ``await``
at top level is compiled with ``PyCF_ALLOW_TOP_LEVEL_AWAIT``, which turns it
into a coroutine, and run with ``asyncio.run``: the same as wrapping it in an
``async def``, without changing how its names are scoped.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "dispatch.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[tuple[int, str]]:
    """(first line number, source) of each python block, in document order."""
    text = DOC.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start(1)) + 1, match.group(1))
        for match in BLOCK.finditer(text)
    ]


def test_the_guide_has_its_examples() -> None:
    # Guards against the extraction silently finding nothing.
    assert len(python_blocks()) >= 12


@pytest.mark.parametrize(
    "source",
    [source for _, source in python_blocks()],
    ids=[f"line-{line}" for line, _ in python_blocks()],
)
def test_code_block_runs(source: str) -> None:
    code = compile(
        source,
        str(DOC),
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    with warnings.catch_warnings():
        # An example that leaves a coroutine un-awaited is a wrong example.
        warnings.simplefilter("error", RuntimeWarning)
        if code.co_flags & inspect.CO_COROUTINE:
            asyncio.run(eval(code, namespace))
        else:
            exec(code, namespace)
