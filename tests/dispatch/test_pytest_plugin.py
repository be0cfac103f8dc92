"""The pytest plugin as users get it: registered by installing the package (contract §5).

Each test runs pytest in a subprocess on a test file of its own (pytester),
with plugins loaded from their entry points as in any project that installed
ormar-signals; tox installs the wheel, so these tests check the packaging too.
pytest-asyncio and anyio are installed alongside (tox.ini).
"""

from __future__ import annotations

import sys
from importlib import metadata

import pytest

pytest_plugins = ["pytester"]


def pytest_entry_points() -> list[metadata.EntryPoint]:
    found = metadata.entry_points()
    if sys.version_info >= (3, 10):
        return list(found.select(group="pytest11"))
    return list(found.get("pytest11", []))  # type: ignore[attr-defined]


def test_installing_the_package_registers_the_plugin() -> None:
    ours = [ep for ep in pytest_entry_points() if ep.name == "dispatch"]
    assert ours, (
        "no pytest11 entry point named 'dispatch': install the package "
        "(tox does) rather than putting it on PYTHONPATH"
    )
    assert [ep.value for ep in ours] == ["dispatch.pytest_plugin"]


CONFTEST = """
import pytest
from dispatch import Signal

heard = []
signal = Signal("signal")
other = Signal("other")


def receiver(sender, **kwargs):
    heard.append(sender)


signal.connect(receiver)
other.connect(receiver)


@pytest.fixture
def anyio_backend():
    return "asyncio"
"""


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error::pytest.PytestUnraisableExceptionWarning\n"
    )
    pytester.makepyfile(source)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_captured_signals_in_sync_and_async_tests(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
import asyncio
import pytest
from dispatch import Signal
from dispatch.testing import Sent
from conftest import heard, other, signal


def test_sync(captured_signals):
    signal.send_sync("sync", n=1)
    other.send_robust_sync("sync")
    assert captured_signals == [Sent(signal, "sync", {"n": 1}), Sent(other, "sync", {})]
    assert heard[-2:] == ["sync", "sync"]  # recorded, not muted


@pytest.mark.asyncio
async def test_pytest_asyncio(captured_signals):
    await signal.send("a")
    await asyncio.create_task(other.send_robust("b"))
    assert [(s.signal, s.sender) for s in captured_signals] == [(signal, "a"), (other, "b")]


@pytest.mark.anyio
async def test_anyio(captured_signals):
    await signal.send("c")
    assert [s.sender for s in captured_signals] == ["c"]


def test_then_nothing_is_captured_any_more():
    assert Signal.send.__module__ == "dispatch.delivery"
""",
    )
    result.assert_outcomes(passed=4)


def test_captured_signals_with_anyio_and_an_async_fixture_set_up_first(
    pytester: pytest.Pytester,
) -> None:
    # anyio runs the test in the task its module-scoped fixture started,
    # whose context was copied before captured_signals was set up.
    result = run(
        pytester,
        """
import pytest
from conftest import heard, signal


@pytest.fixture(scope="module")
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
async def database():
    yield "db"


@pytest.mark.anyio
async def test_first(database, captured_signals):
    await signal.send("first")
    assert [s.sender for s in captured_signals] == ["first"]


@pytest.mark.anyio
@pytest.mark.muted_signals(signal)
async def test_second(database, captured_signals):
    heard.clear()
    await signal.send("second")
    assert [s.sender for s in captured_signals] == ["second"]
    assert heard == []


@pytest.mark.anyio
async def test_third_hears_again(database):
    heard.clear()
    await signal.send("third")
    assert heard == ["third"]
""",
    )
    result.assert_outcomes(passed=3)


def test_muted_signals_marker(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
import asyncio
import pytest
from conftest import heard, other, signal

pytestmark = pytest.mark.muted_signals(other)


@pytest.fixture(autouse=True)
def clear():
    heard.clear()


@pytest.mark.muted_signals(signal)
def test_sync():
    assert signal.send_sync("s") == []
    assert other.send_sync("o") == []
    assert heard == []


@pytest.mark.muted_signals(signal)
@pytest.mark.asyncio
async def test_pytest_asyncio():
    await signal.send("s")
    await asyncio.create_task(signal.send("task"))
    assert heard == []


@pytest.mark.muted_signals(signal)
@pytest.mark.anyio
async def test_anyio():
    await signal.send("s")
    assert heard == []


def test_only_the_module_mark():
    signal.send_sync("heard")
    other.send_sync("muted")
    assert heard == ["heard"]


@pytest.mark.muted_signals("post_save")
def test_bad_marker():
    pass
""",
    )
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*takes dispatch Signal objects, got 'post_save'*"])


def test_the_plugin_also_records_muted_sends(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        """
import pytest
from conftest import heard, signal


@pytest.mark.muted_signals(signal)
def test_sync(captured_signals):
    heard.clear()
    signal.send_sync("s")
    assert [s.sender for s in captured_signals] == ["s"]
    assert heard == []
""",
    )
    result.assert_outcomes(passed=1)
