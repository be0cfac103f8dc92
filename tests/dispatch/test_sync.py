"""``send_sync`` and ``send_robust_sync``: sending from synchronous code."""

from __future__ import annotations

import asyncio
import asyncio.base_events
import threading
from typing import Any, Callable

import pytest
from asgiref.sync import sync_to_async

from dispatch import Signal

SENDER = object()


def running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@pytest.fixture
def loops_created(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every event loop constructed while the test runs.

    Every asyncio loop (selector, proactor, whatever ``asyncio.run`` or
    asgiref picks) is built through ``BaseEventLoop.__init__``, so counting
    its calls is a direct check that no loop was made, whichever API would
    have made it.
    """
    created: list[object] = []
    original = asyncio.base_events.BaseEventLoop.__init__

    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        created.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "__init__", counting_init)
    return created


def in_thread(work: Callable[[], Any]) -> Any:
    """Runs ``work`` in a fresh thread, which has no event loop of its own."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # pragma: no cover - re-raised below
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_plain_receivers_run_without_an_event_loop(loops_created: list[object]) -> None:
    signal = Signal()
    loops_seen: list[Any] = []

    def plain(**kwargs: Any) -> str:
        loops_seen.append(running_loop())
        return "plain"

    signal.connect(plain)

    assert in_thread(lambda: signal.send_sync(SENDER)) == [(plain, "plain")]
    assert in_thread(lambda: signal.send_robust_sync(SENDER)) == [(plain, "plain")]
    assert signal.send_sync(SENDER) == [(plain, "plain")]
    assert loops_seen == [None, None, None]
    assert loops_created == []


def test_async_receivers_from_sync_code_run_through_async_to_sync(
    loops_created: list[object],
) -> None:
    signal = Signal()
    loops_seen: list[Any] = []

    def plain(**kwargs: Any) -> str:
        loops_seen.append(running_loop())
        return "plain"

    async def coroutine(**kwargs: Any) -> str:
        loops_seen.append(running_loop())
        await asyncio.sleep(0)
        return f"coroutine {kwargs['value']}"

    signal.connect(plain)
    signal.connect(coroutine)

    results = in_thread(lambda: signal.send_sync(SENDER, value=1))

    assert results == [(plain, "plain"), (coroutine, "coroutine 1")]
    # Both ran inside the loop asgiref started (which the probe above saw).
    assert loops_seen[0] is not None
    assert loops_seen[0] is loops_seen[1]
    assert len(loops_created) >= 1


def test_send_sync_awaits_sync_to_async_receivers() -> None:
    signal = Signal()

    def blocking(**kwargs: Any) -> str:
        return "blocking result"

    wrapped = sync_to_async(blocking)
    signal.connect(wrapped)

    assert in_thread(lambda: signal.send_sync(SENDER)) == [(wrapped, "blocking result")]


def test_send_sync_with_async_receivers_inside_a_running_loop_is_refused() -> None:
    signal = Signal()
    calls: list[str] = []

    def plain(**kwargs: Any) -> None:
        calls.append("plain")

    async def coroutine(**kwargs: Any) -> None:
        calls.append("coroutine")

    signal.connect(plain)
    signal.connect(coroutine)

    async def main() -> None:
        with pytest.raises(RuntimeError, match=r"await signal\.send\(\.\.\.\)"):
            signal.send_sync(SENDER)
        with pytest.raises(RuntimeError, match=r"await signal\.send\(\.\.\.\)"):
            signal.send_robust_sync(SENDER)

    asyncio.run(main())
    assert calls == []


def test_send_sync_with_plain_receivers_works_inside_a_running_loop() -> None:
    signal = Signal()

    def plain(**kwargs: Any) -> Any:
        return running_loop()

    signal.connect(plain)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        assert signal.send_sync(SENDER) == [(plain, loop)]
        assert signal.send_robust_sync(SENDER) == [(plain, loop)]

    asyncio.run(main())


def test_send_sync_runs_every_plain_receiver_then_raises_the_first_error() -> None:
    signal = Signal()
    calls: list[str] = []

    def first_failure(**kwargs: Any) -> None:
        calls.append("first")
        raise ValueError("first")

    def second_failure(**kwargs: Any) -> None:
        calls.append("second")
        raise KeyError("second")

    def last(**kwargs: Any) -> None:
        calls.append("last")

    for each in (first_failure, second_failure, last):
        signal.connect(each)

    with pytest.raises(ValueError, match="first"):
        signal.send_sync(SENDER)
    assert calls == ["first", "second", "last"]


@pytest.mark.parametrize("with_async", [False, True])
def test_send_robust_sync_turns_exceptions_into_results(with_async: bool) -> None:
    signal = Signal()

    def failing(**kwargs: Any) -> None:
        raise ValueError("broken")

    def fine(**kwargs: Any) -> str:
        return "fine"

    async def coroutine(**kwargs: Any) -> str:
        return "coroutine"

    signal.connect(failing)
    signal.connect(fine)
    if with_async:
        signal.connect(coroutine)

    results = in_thread(lambda: signal.send_robust_sync(SENDER))

    assert [receiver for receiver, _ in results] == [failing, fine] + (
        [coroutine] if with_async else []
    )
    error = results[0][1]
    assert isinstance(error, ValueError)
    assert str(error) == "broken"
    assert error.__traceback__ is not None
    assert [result for _, result in results[1:]] == ["fine"] + (
        ["coroutine"] if with_async else []
    )


def test_send_robust_sync_lets_base_exceptions_through() -> None:
    signal = Signal()

    def interrupting(**kwargs: Any) -> None:
        raise KeyboardInterrupt

    signal.connect(interrupting)
    with pytest.raises(KeyboardInterrupt):
        signal.send_robust_sync(SENDER)


def test_send_sync_with_no_receivers_returns_an_empty_list() -> None:
    assert Signal().send_sync(SENDER) == []
    assert Signal().send_robust_sync(SENDER) == []


def test_send_sync_respects_muted() -> None:
    signal = Signal()
    calls: list[str] = []

    def plain(**kwargs: Any) -> None:
        calls.append("plain")

    async def coroutine(**kwargs: Any) -> None:
        calls.append("coroutine")

    signal.connect(plain)
    signal.connect(coroutine)

    with signal.muted():
        assert signal.send_sync(SENDER) == []
        assert signal.send_robust_sync(SENDER) == []
    assert calls == []
