"""The pytest plugin installed with the package (entry point ``pytest11``, name ``dispatch``).

It gives tests the ``captured_signals`` fixture (a ``capture()`` of every
signal for the test) and the ``muted_signals(*signals)`` marker. Only this
module imports pytest; ``dispatch`` itself never does.

Both are context variables, set in the context pytest runs the test's
fixtures in, which pytest-asyncio carries into async tests. anyio runs an
async test in a task that may have copied its context before the test began
(for an async fixture of a wider scope), so an async test is also wrapped:
inside it, the capture and the mutes are entered again where missing.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from typing import Any, Callable, Generator, Iterator

import pytest

from .delivery import muted_signals
from .intercept import recorders
from .signal import Signal
from .testing import Sent, _Capture

MARKER = "muted_signals"

_capture_key = pytest.StashKey[_Capture]()
_muted_key = pytest.StashKey["list[Signal]"]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*signals): dispatch signals whose receivers the test does "
        "not call (in its own context, as Signal.muted())",
    )


@pytest.fixture
def captured_signals(request: pytest.FixtureRequest) -> Iterator[list[Sent]]:
    """Every send of every signal the test makes, as ``dispatch.testing.Sent`` items."""
    recorder = _Capture((), None, False)
    request.node.stash[_capture_key] = recorder
    try:
        with recorder.recording() as sent:
            yield sent
    finally:
        recorder.active = False


@pytest.fixture(autouse=True)
def _dispatch_muted_signals(request: pytest.FixtureRequest) -> Iterator[None]:
    """Mutes the signals of the test's ``muted_signals`` markers."""
    signals = [
        signal for marker in request.node.iter_markers(MARKER) for signal in marker.args
    ]
    for signal in signals:
        if not isinstance(signal, Signal):
            raise TypeError(
                f"@pytest.mark.{MARKER}() takes dispatch Signal objects, got {signal!r}"
            )
    request.node.stash[_muted_key] = signals
    with _entered(None, signals):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> Generator[None, Any, None]:
    test = pyfuncitem.obj
    recorder = pyfuncitem.stash.get(_capture_key, None)
    signals = pyfuncitem.stash.get(_muted_key, [])
    if not inspect.iscoroutinefunction(test) or (recorder is None and not signals):
        yield
        return
    pyfuncitem.obj = _entering(test, recorder, signals)
    try:
        yield
    finally:
        pyfuncitem.obj = test


def _entering(
    test: Callable[..., Any], recorder: _Capture | None, signals: list[Signal]
) -> Callable[..., Any]:
    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> Any:
        with _entered(recorder, signals):
            return await test(*args, **kwargs)

    return run


@contextlib.contextmanager
def _entered(recorder: _Capture | None, signals: list[Signal]) -> Iterator[None]:
    """The capture and the mutes, entered in the current context where not yet in force."""
    with contextlib.ExitStack() as stack:
        if recorder is not None and recorder not in recorders.get():
            stack.enter_context(recorder.recording())
        for signal in signals:
            if signal not in muted_signals.get():
                stack.enter_context(signal.muted())
        yield
