"""Every ```python block of docs/testing.md runs, and its assertions hold.

A block whose first line names a test file (``# test_something.py``) is a
test module: pytester writes it out and runs pytest on it in a subprocess,
with the installed pytest plugin (tox installs the wheel), and every test in
it must pass. Any other block runs as a script in a fresh namespace.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
TEST_FILE = re.compile(r"# (test_\w+\.py)\n")

# The example that relies on ormar transactions ending their commit scopes
# (contract §3, ormar_integration/transactions.py); strict, so it must pass
# once they are there.


def python_blocks() -> list[tuple[int, str]]:
    text = DOC.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start(1)) + 1, match.group(1))
        for match in BLOCK.finditer(text)
    ]


def test_the_page_has_its_examples() -> None:
    blocks = [source for _, source in python_blocks()]
    assert len(blocks) >= 6
    assert sum(bool(TEST_FILE.match(source)) for source in blocks) >= 4


def cases() -> list[Any]:
    return [pytest.param(source, id=f"line-{line}") for line, source in python_blocks()]


@pytest.mark.parametrize("source", cases())
def test_code_block(source: str, pytester: pytest.Pytester) -> None:
    named = TEST_FILE.match(source)
    if named is None:
        exec(compile(source, str(DOC), "exec"), {"__name__": "docs_example"})
        return
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(**{named.group(1)[: -len(".py")]: source})
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    tests = len(re.findall(r"^(?:async )?def test_", source, re.MULTILINE))
    result.assert_outcomes(passed=tests)
