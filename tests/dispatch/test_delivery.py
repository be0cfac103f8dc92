"""The order, concurrency, error and cancellation contract of ``Signal.send``."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from dispatch import Signal

SENDER = object()
EAGER_TASKS = sys.version_info >= (3, 12)

request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "request_id", default="unset"
)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def other_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


def test_results_come_in_connection_order_for_mixed_receivers() -> None:
    signal = Signal()

    async def slow(**kwargs: Any) -> str:
        await asyncio.sleep(0.02)
        return "slow"

    def plain(**kwargs: Any) -> str:
        return "plain"

    async def quick(**kwargs: Any) -> str:
        return "quick"

    async def slower(**kwargs: Any) -> str:
        await asyncio.sleep(0.01)
        return "slower"

    for receiver in (slow, plain, quick, slower):
        signal.connect(receiver)

    results = run(signal.send(SENDER))

    assert results == [
        (slow, "slow"),
        (plain, "plain"),
        (quick, "quick"),
        (slower, "slower"),
    ]


def test_receivers_get_signal_sender_and_payload() -> None:
    signal = Signal()
    seen: list[dict[str, Any]] = []

    async def receiver(**kwargs: Any) -> None:
        seen.append(kwargs)

    signal.connect(receiver)
    run(signal.send(SENDER, instance=1, extra="x"))

    assert seen == [{"signal": signal, "sender": SENDER, "instance": 1, "extra": "x"}]


def test_receivers_that_never_suspend_run_in_the_callers_task_and_make_no_task() -> (
    None
):
    signal = Signal()
    observed: list[tuple[Any, int]] = []

    async def receiver(**kwargs: Any) -> None:
        observed.append((asyncio.current_task(), len(asyncio.all_tasks())))

    for _ in range(3):
        signal.connect(receiver, dispatch_uid=object())

    async def main() -> Any:
        caller = asyncio.current_task()
        await signal.send(SENDER)
        return caller

    caller = run(main())

    assert observed == [(caller, 1)] * 3


def test_after_a_receiver_suspends_later_ones_run_in_their_own_tasks() -> None:
    signal = Signal()
    starts: list[str] = []
    tasks: dict[str, Any] = {}

    async def first(**kwargs: Any) -> None:
        starts.append("first")
        tasks["first-before"] = asyncio.current_task()
        await asyncio.sleep(0)
        tasks["first-after"] = asyncio.current_task()

    async def second(**kwargs: Any) -> None:
        starts.append("second")
        tasks["second"] = asyncio.current_task()
        await asyncio.sleep(0)

    def third(**kwargs: Any) -> None:
        starts.append("third")

    for receiver in (first, second, third):
        signal.connect(receiver)

    async def main() -> Any:
        await signal.send(SENDER)
        assert not other_tasks()
        return asyncio.current_task()

    caller = run(main())

    assert tasks["first-before"] is caller
    assert tasks["first-after"] is caller
    assert tasks["second"] is not caller
    if EAGER_TASKS:
        assert starts == ["first", "second", "third"]
    else:
        assert starts == ["first", "third", "second"]


def test_each_async_receiver_runs_in_its_own_copy_of_the_callers_context() -> None:
    signal = Signal()
    seen: list[str] = []

    async def first(**kwargs: Any) -> None:
        seen.append(request_id.get())
        request_id.set("first")
        await asyncio.sleep(0)
        seen.append(request_id.get())

    async def second(**kwargs: Any) -> None:
        seen.append(request_id.get())
        request_id.set("second")
        await asyncio.sleep(0)
        seen.append(request_id.get())

    async def third(**kwargs: Any) -> None:
        seen.append(request_id.get())

    for receiver in (first, second, third):
        signal.connect(receiver)

    async def main() -> str:
        request_id.set("caller")
        await signal.send(SENDER)
        return request_id.get()

    assert run(main()) == "caller"
    assert sorted(seen) == sorted(["caller", "first", "caller", "second", "caller"])
    assert seen[0] == "caller"


def test_receivers_waiting_on_io_overlap() -> None:
    signal = Signal()
    count = 3
    started = 0

    async def main() -> list[Any]:
        all_started = asyncio.Event()

        async def waiter(**kwargs: Any) -> str:
            nonlocal started
            started += 1
            if started == count:
                all_started.set()
            # Sequential awaiting would never get here for the first receiver.
            await asyncio.wait_for(all_started.wait(), timeout=5)
            return "done"

        for _ in range(count):
            signal.connect(waiter, dispatch_uid=object())
        return await signal.send(SENDER)

    results = run(main())

    assert [value for _, value in results] == ["done"] * count


@pytest.mark.parametrize("timed_out_position", [0, 1])
def test_a_timeout_inside_a_receiver_affects_only_that_receiver(
    timed_out_position: int,
) -> None:
    signal = Signal()
    finished: list[str] = []

    async def impatient(**kwargs: Any) -> None:
        await asyncio.wait_for(asyncio.sleep(10), timeout=0.01)

    async def patient(**kwargs: Any) -> str:
        await asyncio.sleep(0.05)
        finished.append("patient")
        return "patient"

    receivers = [patient, patient]
    receivers[timed_out_position] = impatient
    for receiver in receivers:
        signal.connect(receiver, dispatch_uid=object())

    async def main() -> list[Any]:
        results = await signal.send_robust(SENDER)
        # The caller was not cancelled: it can still await.
        await asyncio.sleep(0)
        return results

    results = run(main())

    assert isinstance(results[timed_out_position][1], asyncio.TimeoutError)
    assert results[1 - timed_out_position][1] == "patient"
    assert finished == ["patient"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is 3.11+")
def test_asyncio_timeout_in_the_suspended_receiver_spares_the_caller() -> None:
    signal = Signal()

    async def bounded(**kwargs: Any) -> str:
        try:
            async with asyncio.timeout(0.01):  # type: ignore[attr-defined]
                await asyncio.sleep(10)
        except TimeoutError:
            return "timed out"
        return "not reached"

    async def after(**kwargs: Any) -> str:
        await asyncio.sleep(0.03)
        return "after"

    signal.connect(bounded)
    signal.connect(after)

    async def main() -> tuple[list[Any], int]:
        results = await signal.send(SENDER)
        return results, asyncio.current_task().cancelling()  # type: ignore[union-attr]

    results, cancelling = run(main())

    assert [value for _, value in results] == ["timed out", "after"]
    assert cancelling == 0


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TaskGroup is 3.11+")
def test_a_task_group_failing_inside_a_receiver_stays_inside_it() -> None:
    signal = Signal()

    async def grouped(**kwargs: Any) -> None:
        async def fail() -> None:
            await asyncio.sleep(0)
            raise KeyError("inner")

        async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined]
            group.create_task(fail())
            group.create_task(asyncio.sleep(10))

    async def other(**kwargs: Any) -> str:
        await asyncio.sleep(0.02)
        return "other"

    signal.connect(grouped)
    signal.connect(other)

    async def main() -> list[Any]:
        results = await signal.send_robust(SENDER)
        assert not other_tasks()
        return results

    results = run(main())

    assert type(results[0][1]).__name__ == "ExceptionGroup"
    assert results[1][1] == "other"


def test_a_raising_plain_receiver_does_not_stop_the_later_ones() -> None:
    signal = Signal()
    called: list[str] = []

    def broken(**kwargs: Any) -> None:
        called.append("broken")
        raise ValueError("plain")

    async def later(**kwargs: Any) -> None:
        called.append("later")

    def last(**kwargs: Any) -> None:
        called.append("last")

    for receiver in (broken, later, last):
        signal.connect(receiver)

    with pytest.raises(ValueError, match="plain"):
        run(signal.send(SENDER))
    assert called == ["broken", "later", "last"]


def test_all_receivers_finish_then_the_first_error_in_connection_order_is_raised() -> (
    None
):
    signal = Signal()
    finished: list[str] = []

    async def fails_late(**kwargs: Any) -> None:
        await asyncio.sleep(0.03)
        finished.append("fails_late")
        raise ValueError("first in order")

    async def fails_early(**kwargs: Any) -> None:
        await asyncio.sleep(0)
        finished.append("fails_early")
        raise KeyError("second in order")

    async def succeeds_last(**kwargs: Any) -> None:
        await asyncio.sleep(0.06)
        finished.append("succeeds_last")

    for receiver in (fails_late, fails_early, succeeds_last):
        signal.connect(receiver)

    async def main() -> None:
        with pytest.raises(ValueError, match="first in order"):
            await signal.send(SENDER)
        assert not other_tasks()

    run(main())
    assert finished == ["fails_early", "fails_late", "succeeds_last"]


def test_cancelling_the_caller_cancels_and_awaits_every_running_receiver() -> None:
    signal = Signal()
    cleaned_up: list[str] = []
    started = 0

    async def long_running(**kwargs: Any) -> None:
        nonlocal started
        started += 1
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0)  # a clean-up that itself awaits
            cleaned_up.append("cancelled")
            raise
        cleaned_up.append("ran to the end")  # only if nobody cancelled it

    for _ in range(3):
        signal.connect(long_running, dispatch_uid=object())

    async def main() -> None:
        sending = asyncio.ensure_future(signal.send(SENDER))
        while started < 3:
            await asyncio.sleep(0)
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        assert not other_tasks()

    run(main())
    assert cleaned_up == ["cancelled"] * 3


def test_cancellation_while_waiting_for_tasks_after_the_first_receiver_ended() -> None:
    signal = Signal()
    cancelled: list[str] = []

    async def short(**kwargs: Any) -> None:
        await asyncio.sleep(0)

    async def long(**kwargs: Any) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append("long")
            raise

    signal.connect(short)
    signal.connect(long)

    async def main() -> None:
        sending = asyncio.ensure_future(signal.send(SENDER))
        await asyncio.sleep(0.02)
        sending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sending
        assert not other_tasks()

    run(main())
    assert cancelled == ["long"]


def test_send_robust_turns_errors_into_results_and_logs_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signal = Signal("robust")

    def plain_failure(**kwargs: Any) -> None:
        raise ValueError("plain")

    async def async_failure(**kwargs: Any) -> None:
        await asyncio.sleep(0)
        raise KeyError("async")

    async def fine(**kwargs: Any) -> str:
        return "fine"

    for receiver in (plain_failure, async_failure, fine):
        signal.connect(receiver)

    with caplog.at_level(logging.ERROR, logger="dispatch"):
        results = run(signal.send_robust(SENDER))

    assert [receiver for receiver, _ in results] == [plain_failure, async_failure, fine]
    assert isinstance(results[0][1], ValueError)
    assert isinstance(results[1][1], KeyError)
    assert results[0][1].__traceback__ is not None
    assert results[1][1].__traceback__ is not None
    assert results[2][1] == "fine"
    errors = [r for r in caplog.records if r.name == "dispatch"]
    assert [r.levelno for r in errors] == [logging.ERROR, logging.ERROR]
    assert all(r.exc_info is not None for r in errors)
    assert "plain_failure" in errors[0].getMessage()


def test_sync_to_async_receivers_are_awaited() -> None:
    signal = Signal()

    def blocking(**kwargs: Any) -> str:
        return f"ran for {kwargs['sender']}"

    signal.connect(sync_to_async(blocking))

    results = run(signal.send("album"))

    assert results[0][1] == "ran for album"


def test_a_receiver_that_connects_or_disconnects_changes_the_next_send_only() -> None:
    signal = Signal()
    calls: list[str] = []

    def added(**kwargs: Any) -> None:
        calls.append("added")

    def disconnects_itself_and_adds(**kwargs: Any) -> None:
        calls.append("self")
        signal.disconnect(disconnects_itself_and_adds)
        signal.connect(added)

    def stays(**kwargs: Any) -> None:
        calls.append("stays")

    signal.connect(disconnects_itself_and_adds)
    signal.connect(stays)

    run(signal.send(SENDER))
    assert calls == ["self", "stays"]
    run(signal.send(SENDER))
    assert calls == ["self", "stays", "stays", "added"]


def test_muting_applies_to_the_current_task_only() -> None:
    signal = Signal()
    heard: list[str] = []

    async def receiver(sender: str, **kwargs: Any) -> None:
        heard.append(sender)

    signal.connect(receiver)

    async def muted_request(both_inside: asyncio.Event) -> None:
        with signal.muted():
            both_inside.set()
            await asyncio.sleep(0.01)
            await signal.send("muted")
            # A task started inside the block inherits the mute.
            await asyncio.ensure_future(signal.send("muted child"))

    async def normal_request(both_inside: asyncio.Event) -> None:
        await both_inside.wait()
        await signal.send("normal")

    async def main() -> None:
        both_inside = asyncio.Event()
        await asyncio.gather(muted_request(both_inside), normal_request(both_inside))
        await signal.send("after")

    run(main())
    assert heard == ["normal", "after"]


def test_muting_one_signal_leaves_the_others_alone() -> None:
    muted, loud = Signal(), Signal()
    heard: list[Signal] = []

    def receiver(signal: Signal, **kwargs: Any) -> None:
        heard.append(signal)

    muted.connect(receiver)
    loud.connect(receiver)

    async def main() -> None:
        with muted.muted():
            await muted.send(SENDER)
            await loud.send(SENDER)

    run(main())
    assert heard == [loud]


def test_a_receiver_cancelling_itself_is_an_error_the_others_outlive() -> None:
    signal = Signal()
    finished: list[str] = []

    async def gives_up(**kwargs: Any) -> None:
        await asyncio.sleep(0)
        raise asyncio.CancelledError("gave up")

    async def bystander(**kwargs: Any) -> None:
        await asyncio.sleep(0.01)
        finished.append("bystander")

    signal.connect(gives_up)
    signal.connect(bystander)

    async def main() -> None:
        with pytest.raises(asyncio.CancelledError):
            await signal.send(SENDER)
        assert not other_tasks()

    run(main())
    assert finished == ["bystander"]
