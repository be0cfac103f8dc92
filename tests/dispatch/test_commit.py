"""Commit scopes: ``on_commit`` receivers and calls wait for the commit (contract §3)."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest

import dispatch
from dispatch import (
    CommitScope,
    CommitScopeError,
    Signal,
    SignalDefinitionError,
    commit_scope,
    on_commit,
    receiver,
)

SENDER = object()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class Recorder:
    """Receivers that append what they were called with to one shared log."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []

    def plain(self, name: str) -> Any:
        def receiver(sender: object, **kwargs: Any) -> str:
            self.log.append((name, kwargs.get("n")))
            return name

        receiver.__name__ = name
        return receiver

    def coroutine(self, name: str) -> Any:
        async def receiver(sender: object, **kwargs: Any) -> str:
            await asyncio.sleep(0)
            self.log.append((name, kwargs.get("n")))
            return name

        receiver.__name__ = name
        return receiver


def test_without_a_scope_on_commit_receivers_are_called_by_the_send() -> None:
    signal, rec = Signal(), Recorder()
    now, later = rec.plain("now"), rec.coroutine("later")
    signal.connect(now)
    signal.connect(later, on_commit=True)
    results = run(signal.send(SENDER, n=1))
    assert results == [(now, "now"), (later, "later")]
    assert rec.log == [("now", 1), ("later", 1)]


def test_inside_a_scope_the_call_waits_for_the_commit_and_is_not_a_result() -> None:
    signal, rec = Signal(), Recorder()
    now, later = rec.plain("now"), rec.coroutine("later")
    signal.connect(now)
    signal.connect(later, on_commit=True)

    async def main() -> None:
        async with commit_scope():
            results = await signal.send(SENDER, n=1)
            assert results == [(now, "now")]
            assert rec.log == [("now", 1)]
        assert rec.log == [("now", 1), ("later", 1)]

    run(main())


def test_the_queue_runs_in_send_order_with_on_commit_calls_in_between() -> None:
    signal, rec = Signal(), Recorder()
    signal.connect(rec.plain("a"), on_commit=True)
    signal.connect(rec.coroutine("b"), on_commit=True)

    async def main() -> None:
        async with commit_scope():
            await signal.send(SENDER, n=1)
            on_commit(rec.log.append, ("call", "x"))
            await signal.send(SENDER, n=2)
            assert rec.log == []

    run(main())
    assert rec.log == [("a", 1), ("b", 1), ("call", "x"), ("a", 2), ("b", 2)]


def test_two_identical_sends_queue_two_calls() -> None:
    signal, rec = Signal(), Recorder()
    signal.connect(rec.plain("a"), on_commit=True)

    async def main() -> None:
        async with commit_scope():
            await signal.send(SENDER, n=1)
            await signal.send(SENDER, n=1)

    run(main())
    assert rec.log == [("a", 1), ("a", 1)]


def test_the_receivers_of_one_queued_send_run_concurrently_as_send_robust_runs_them() -> (
    None
):
    # Each waits for the other: run one after the other, they would time out.
    signal = Signal()
    events: dict[str, asyncio.Event] = {}
    done: list[str] = []

    async def left(sender: object, **kwargs: Any) -> None:
        events["left"].set()
        await asyncio.wait_for(events["right"].wait(), 5)
        done.append("left")

    async def right(sender: object, **kwargs: Any) -> None:
        events["right"].set()
        await asyncio.wait_for(events["left"].wait(), 5)
        done.append("right")

    signal.connect(left, on_commit=True)
    signal.connect(right, on_commit=True)

    async def main() -> None:
        events.update(left=asyncio.Event(), right=asyncio.Event())
        async with commit_scope():
            await signal.send(SENDER)

    run(main())
    assert sorted(done) == ["left", "right"]


def test_django_style_receivers_get_signal_and_other_styles_do_not() -> None:
    signal = Signal("s")
    seen: list[tuple[str, dict[str, Any]]] = []

    def django(**kwargs: Any) -> None:
        seen.append(("django", kwargs))

    def ormar_style(**kwargs: Any) -> None:
        seen.append(("ormar", kwargs))

    signal.connect(django, on_commit=True)
    signal._connect(ormar_style, None, False, None, False, True)

    async def main() -> None:
        async with commit_scope():
            await signal.send(SENDER, instance=1)

    run(main())
    assert seen == [
        ("django", {"signal": signal, "sender": SENDER, "instance": 1}),
        ("ormar", {"sender": SENDER, "instance": 1}),
    ]


def test_a_rolled_back_scope_drops_its_queue_and_the_error_propagates() -> None:
    signal, rec = Signal(), Recorder()
    signal.connect(rec.plain("a"), on_commit=True)

    async def main() -> None:
        with pytest.raises(KeyError):
            async with commit_scope():
                await signal.send(SENDER, n=1)
                on_commit(rec.log.append, ("call", 1))
                raise KeyError("boom")

    run(main())
    assert rec.log == []


def test_savepoints_hand_their_queue_to_the_parent_or_drop_it() -> None:
    signal, rec = Signal(), Recorder()
    signal.connect(rec.plain("a"), on_commit=True)

    async def main() -> None:
        async with commit_scope():
            await signal.send(SENDER, n=1)
            async with commit_scope():
                await signal.send(SENDER, n=2)
            assert rec.log == []  # a committed savepoint runs nothing yet
            with pytest.raises(ValueError):
                async with commit_scope():
                    await signal.send(SENDER, n=3)
                    raise ValueError
            await signal.send(SENDER, n=4)

    run(main())
    assert rec.log == [("a", 1), ("a", 2), ("a", 4)]


def test_an_outer_rollback_drops_what_committed_savepoints_handed_it() -> None:
    signal, rec = Signal(), Recorder()
    signal.connect(rec.plain("a"), on_commit=True)

    async def main() -> None:
        outer = CommitScope().open()
        async with commit_scope():
            await signal.send(SENDER, n=1)
        outer.rollback()

    run(main())
    assert rec.log == []


def test_explicit_open_commit_and_rollback() -> None:
    signal, rec = Signal(), Recorder()
    signal.connect(rec.plain("a"), on_commit=True)

    async def main() -> None:
        scope = CommitScope().open()
        assert scope.is_open
        await signal.send(SENDER, n=1)
        await scope.commit()
        assert not scope.is_open
        assert rec.log == [("a", 1)]
        # The scope is closed: sends call at once again.
        await signal.send(SENDER, n=2)
        assert rec.log == [("a", 1), ("a", 2)]
        other = CommitScope().open()
        await signal.send(SENDER, n=3)
        other.rollback()

    run(main())
    assert rec.log == [("a", 1), ("a", 2)]


def test_a_task_started_inside_a_scope_queues_on_it() -> None:
    signal, rec = Signal(), Recorder()
    signal.connect(rec.plain("a"), on_commit=True)

    async def main() -> None:
        async with commit_scope():
            await asyncio.create_task(signal.send(SENDER, n=1))
            assert rec.log == []
        assert rec.log == [("a", 1)]

    run(main())


def test_concurrent_tasks_have_scopes_of_their_own() -> None:
    signal, rec = Signal(), Recorder()
    signal.connect(rec.plain("a"), on_commit=True)

    async def request(n: int, fail: bool) -> None:
        async with commit_scope():
            await signal.send(SENDER, n=n)
            await asyncio.sleep(0.01)
            if fail:
                raise RuntimeError(n)

    async def main() -> None:
        results = await asyncio.gather(
            *(request(n, n % 3 == 0) for n in range(1, 10)),
            return_exceptions=True,
        )
        assert [type(r) for r in results].count(RuntimeError) == 3

    run(main())
    assert sorted(rec.log) == [("a", n) for n in range(1, 10) if n % 3 != 0]


def test_a_send_from_a_task_that_outlived_its_committed_scope_runs_at_once() -> None:
    signal, rec = Signal(), Recorder()
    signal.connect(rec.plain("a"), on_commit=True)

    async def main() -> None:
        go = asyncio.Event()

        async def late() -> None:
            await go.wait()
            await signal.send(SENDER, n=2)

        async with commit_scope():
            task = asyncio.create_task(late())
            await asyncio.sleep(0)
        go.set()
        await task
        assert rec.log == [("a", 2)]

    run(main())


def test_a_send_from_a_task_that_outlived_its_rolled_back_scope_calls_nothing() -> None:
    signal, rec = Signal(), Recorder()
    signal.connect(rec.plain("a"), on_commit=True)
    signal.connect(rec.plain("b"))

    async def main() -> None:
        go = asyncio.Event()

        async def late() -> Any:
            await go.wait()
            return await signal.send(SENDER, n=2)

        scope = CommitScope().open()
        task = asyncio.create_task(late())
        await asyncio.sleep(0)
        scope.rollback()
        go.set()
        results = await task
        assert [r for r, _ in results] == [signal.receivers_for(SENDER)[1]]

    run(main())
    assert rec.log == [("b", 2)]


def test_errors_after_commit_are_logged_never_raised_and_never_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signal = Signal("s")
    calls: list[str] = []

    def broken(**kwargs: Any) -> None:
        calls.append("broken")
        raise ValueError("receiver failed")

    async def broken_async(**kwargs: Any) -> None:
        calls.append("broken_async")
        raise KeyError("async receiver failed")

    def fine(**kwargs: Any) -> None:
        calls.append("fine")

    def broken_call() -> None:
        calls.append("broken_call")
        raise LookupError("call failed")

    signal.connect(broken, on_commit=True)
    signal.connect(broken_async, on_commit=True)
    signal.connect(fine, on_commit=True)

    async def main() -> None:
        async with commit_scope():
            await signal.send(SENDER)
            on_commit(broken_call)
            on_commit(calls.append, "after")

    with caplog.at_level(logging.ERROR, logger="dispatch"):
        run(main())
    assert calls == ["broken", "broken_async", "fine", "broken_call", "after"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.exc_info[1].args[0] for r in errors if r.exc_info] == [
        "receiver failed",
        "async receiver failed",
        "call failed",
    ]


def test_cancelling_the_committing_task_cancels_the_running_call_and_drops_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signal = Signal()
    events: list[str] = []

    async def slow(**kwargs: Any) -> None:
        events.append("started")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    def never(**kwargs: Any) -> None:
        events.append("never")

    signal.connect(slow, on_commit=True)

    async def committer() -> None:
        async with commit_scope():
            await signal.send(SENDER)
            on_commit(never)
            on_commit(never)

    async def main() -> None:
        task = asyncio.create_task(committer())
        while not events:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.WARNING, logger="dispatch"):
        run(main())
    assert events == ["started", "cancelled"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2 queued call(s)" in warnings[0]


def test_on_commit_outside_a_scope_calls_at_once() -> None:
    calls: list[Any] = []
    on_commit(calls.append, 1)
    assert calls == [1]

    async def coroutine(value: int) -> None:
        calls.append(value)

    async def main() -> None:
        on_commit(coroutine, 2)
        assert calls == [1]  # started as a task
        await asyncio.sleep(0)
        assert calls == [1, 2]

    run(main())


def test_on_commit_with_a_coroutine_and_no_loop_is_a_clear_error() -> None:
    async def coroutine() -> None:
        raise AssertionError("never runs")

    with pytest.raises(RuntimeError, match="coroutine"):
        on_commit(coroutine)


def test_on_commit_needs_a_callable() -> None:
    with pytest.raises(TypeError, match="42"):
        on_commit(42)  # type: ignore[arg-type]


def test_a_muted_signal_queues_nothing() -> None:
    signal, rec = Signal(), Recorder()
    signal.connect(rec.plain("a"), on_commit=True)

    async def main() -> None:
        async with commit_scope():
            with signal.muted():
                await signal.send(SENDER, n=1)

    run(main())
    assert rec.log == []


def test_send_sync_inside_a_scope_queues_plain_on_commit_receivers() -> None:
    signal, rec = Signal(), Recorder()
    signal.connect(rec.plain("a"), on_commit=True)
    signal.connect(rec.plain("b"))

    async def main() -> None:
        async with commit_scope():
            results = signal.send_sync(SENDER, n=1)
            assert [value for _, value in results] == ["b"]
            assert rec.log == [("b", 1)]

    run(main())
    assert rec.log == [("b", 1), ("a", 1)]


def test_every_way_of_connecting_takes_on_commit_and_disconnect_works() -> None:
    signal, rec = Signal(), Recorder()
    a, b = rec.plain("a"), rec.plain("b")
    receiver(signal, on_commit=True)(a)
    signal.connect(b, sender=SENDER, on_commit=True, dispatch_uid="b")
    assert signal.receivers_for(SENDER) == [a, b]
    assert signal.has_listeners(SENDER)
    assert signal.disconnect(a)
    assert signal.disconnect(dispatch_uid="b", sender=SENDER)
    assert not signal.has_listeners(SENDER)


def test_connecting_again_with_another_on_commit_is_a_no_op() -> None:
    signal, rec = Signal(), Recorder()
    a = rec.plain("a")
    signal.connect(a)
    signal.connect(a, on_commit=True)

    async def main() -> None:
        async with commit_scope():
            assert await signal.send(SENDER, n=1) == [(a, "a")]

    run(main())
    assert rec.log == [("a", 1)]


def test_a_weak_on_commit_receiver_is_never_called_once_collected() -> None:
    signal = Signal()
    calls: list[str] = []

    class Listener:
        def heard(self, **kwargs: Any) -> None:
            calls.append("heard")

    listener = Listener()
    signal.connect(listener.heard, weak=True, on_commit=True)

    async def main() -> None:
        async with commit_scope():
            await signal.send(SENDER)
        assert calls == ["heard"]
        assert signal.has_listeners(SENDER)

    run(main())
    del listener
    gc.collect()
    assert not signal.has_listeners(SENDER)
    run(signal.send(SENDER))
    assert calls == ["heard"]


@pytest.mark.parametrize("value", [1, "yes", None, 0.0])
def test_a_non_bool_on_commit_is_refused_naming_it(value: Any) -> None:
    signal = Signal("named")

    def heard(**kwargs: Any) -> None: ...

    with pytest.raises(SignalDefinitionError, match=repr(value)) as caught:
        signal.connect(heard, on_commit=value)
    assert "heard" in str(caught.value)
    assert not signal.has_listeners()


def test_closing_a_scope_out_of_turn_is_a_clear_error() -> None:
    async def main() -> None:
        scope = CommitScope()
        with pytest.raises(CommitScopeError, match="not open"):
            await scope.commit()
        with pytest.raises(CommitScopeError, match="not open"):
            scope.rollback()
        scope.open()
        with pytest.raises(CommitScopeError, match="opened again"):
            scope.open()
        inner = CommitScope().open()
        with pytest.raises(CommitScopeError, match="innermost"):
            await scope.commit()
        inner.rollback()

        async def from_a_task() -> None:
            await scope.commit()

        with pytest.raises(CommitScopeError, match="another context"):
            await asyncio.create_task(from_a_task())
        assert scope.is_open
        await scope.commit()
        with pytest.raises(CommitScopeError, match="not open"):
            await scope.commit()

    run(main())


def test_scopes_are_exported() -> None:
    assert {"CommitScope", "commit_scope", "on_commit"} <= set(dispatch.__all__)
