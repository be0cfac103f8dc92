"""``dispatch.testing``: capture, per-receiver mutes and capture_on_commit (contract §5)."""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any, Callable, Coroutine

import pytest

from dispatch import CommitScope, Signal, commit_scope, on_commit
from dispatch.testing import OnCommitCall, Sent, capture, capture_on_commit


def in_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Runs an async test in a fresh event loop (no async pytest plugin needed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


SWAPPED = ("send", "send_robust", "_send_from_sync")


def originals() -> dict[str, object]:
    return {name: Signal.__dict__[name] for name in SWAPPED}


ORIGINALS = originals()


@pytest.fixture(autouse=True)
def _no_capture_left_behind() -> Any:
    """Each test starts and ends with the plain send methods in ``Signal``."""
    assert originals() == ORIGINALS
    yield
    assert originals() == ORIGINALS


class Log:
    """A receiver (plain, async or for on_commit) that notes who called it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, dict[str, Any]]] = []

    def plain(self, sender: Any, **kwargs: Any) -> str:
        self.calls.append(("plain", sender, kwargs))
        return "plain"

    async def coro(self, sender: Any, **kwargs: Any) -> str:
        await asyncio.sleep(0)
        self.calls.append(("coro", sender, kwargs))
        return "coro"

    def senders(self) -> list[Any]:
        return [sender for _, sender, _ in self.calls]


# capture -----------------------------------------------------------------


def test_capture_records_every_kind_of_send_in_order() -> None:
    signal, log = Signal("s"), Log()
    signal.connect(log.plain)
    with capture() as sent:
        signal.send_sync("a", x=1)
        signal.send_robust_sync("b", x=2)
        asyncio.run(signal.send("c", x=3))
        asyncio.run(signal.send_robust("d", x=4))
    assert sent == [
        Sent(signal, "a", {"x": 1}),
        Sent(signal, "b", {"x": 2}),
        Sent(signal, "c", {"x": 3}),
        Sent(signal, "d", {"x": 4}),
    ]
    assert log.senders() == ["a", "b", "c", "d"]  # receivers still called
    signal.send_sync("after")
    assert len(sent) == 4


def test_sends_without_receivers_and_muted_sends_are_recorded() -> None:
    lonely, muted = Signal("lonely"), Signal("muted")
    log = Log()
    muted.connect(log.plain)
    with capture() as sent, muted.muted():
        assert lonely.send_sync(1) == []
        assert muted.send_sync(2) == []
    assert [(s.signal, s.sender) for s in sent] == [(lonely, 1), (muted, 2)]
    assert log.calls == []


def test_capture_filters_by_signal_and_sender() -> None:
    first, second, third = Signal("1"), Signal("2"), Signal("3")
    sender = object()
    with capture(first, second, sender=sender) as sent:
        first.send_sync(sender)
        first.send_sync(object())  # another sender
        third.send_sync(sender)  # another signal
        second.send_sync(sender, n=2)
    assert sent == [Sent(first, sender, {}), Sent(second, sender, {"n": 2})]


def test_mute_calls_no_receiver_of_the_recorded_sends_only() -> None:
    quiet, loud, log = Signal("quiet"), Signal("loud"), Log()
    quiet.connect(log.plain)
    quiet.connect(log.coro)
    loud.connect(log.plain)
    with capture(quiet, mute=True) as sent:
        assert quiet.send_sync("q1") == []
        assert asyncio.run(quiet.send("q2")) == []
        assert asyncio.run(quiet.send_robust("q3")) == []
        assert loud.send_sync("l") == [(log.plain, "plain")]
    assert [s.sender for s in sent] == ["q1", "q2", "q3"]
    assert log.senders() == ["l"]


def test_mute_follows_the_sender_filter() -> None:
    signal, log = Signal(), Log()
    signal.connect(log.plain)
    with capture(signal, sender="muted", mute=True):
        signal.send_sync("muted")
        signal.send_sync("heard")
    assert log.senders() == ["heard"]


def test_nested_captures_each_record() -> None:
    signal = Signal()
    with capture() as outer:
        signal.send_sync(1)
        with capture(signal) as inner:
            signal.send_sync(2)
        signal.send_sync(3)
    assert [s.sender for s in outer] == [1, 2, 3]
    assert [s.sender for s in inner] == [2]


def test_a_send_with_async_receivers_from_sync_code_is_recorded_once() -> None:
    # send_sync with coroutine receivers goes through async_to_sync: the
    # capture must not see the send a second time on the way.
    signal, log = Signal(), Log()
    signal.connect(log.coro)
    with capture() as sent:
        assert signal.send_sync("s") == [(log.coro, "coro")]
        assert signal.send_robust_sync("r") == [(log.coro, "coro")]
    assert [s.sender for s in sent] == ["s", "r"]
    assert log.senders() == ["s", "r"]


@in_loop
async def test_capture_sees_its_context_and_its_tasks_only() -> None:
    signal = Signal()
    started = asyncio.Event()
    release = asyncio.Event()

    async def other_test() -> list[Sent]:
        with capture() as sent:
            started.set()
            await release.wait()
            await signal.send("other")
        return sent

    other = asyncio.ensure_future(other_test())
    await started.wait()
    with capture() as mine:
        await signal.send("mine")
        await asyncio.gather(
            signal.send("task"), asyncio.create_task(signal.send("t2"))
        )
        release.set()
        theirs = await other
    await signal.send("after")
    assert mine[0].sender == "mine"
    assert sorted(s.sender for s in mine[1:]) == ["t2", "task"]
    assert [s.sender for s in theirs] == ["other"]


def test_captures_in_two_threads_do_not_mix_and_restore_the_send_methods() -> None:
    signal = Signal()
    barrier = threading.Barrier(2)
    results: dict[str, list[Any]] = {}

    def run(name: str) -> None:
        with capture() as sent:
            barrier.wait()
            for i in range(50):
                signal.send_sync((name, i))
            barrier.wait()
        results[name] = [s.sender for s in sent]

    threads = [threading.Thread(target=run, args=(n,)) for n in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: [(n, i) for i in range(50)] for n in "ab"}


def test_the_send_methods_are_swapped_only_while_needed() -> None:
    signal = Signal()
    with capture():
        assert originals() != ORIGINALS
        with capture():
            pass
        assert originals() != ORIGINALS  # the outer capture is still active
    assert originals() == ORIGINALS
    with signal.muted(receiver=print):
        assert originals() != ORIGINALS
    assert originals() == ORIGINALS
    with signal.muted():  # muting a whole signal swaps nothing
        assert originals() == ORIGINALS


def test_a_send_outside_any_capture_while_another_context_captures() -> None:
    signal, log = Signal(), Log()
    signal.connect(log.plain)
    inside = threading.Event()
    leave = threading.Event()

    def capturing() -> None:
        with capture(mute=True):
            inside.set()
            leave.wait()

    thread = threading.Thread(target=capturing)
    thread.start()
    inside.wait()
    try:
        assert originals() != ORIGINALS
        assert signal.send_sync(1) == [(log.plain, "plain")]
        assert asyncio.run(signal.send(2)) == [(log.plain, "plain")]
    finally:
        leave.set()
        thread.join()
    assert log.senders() == [1, 2]


def test_capture_rejects_what_is_not_a_signal() -> None:
    with pytest.raises(TypeError, match="'post_save'"):
        with capture("post_save"):  # type: ignore[arg-type]
            pass


def test_a_send_with_a_payload_named_signal_still_fails_under_capture() -> None:
    signal = Signal()
    signal.connect(Log().plain)
    with capture() as sent, pytest.raises(TypeError, match="'signal'"):
        signal.send_sync(1, signal=2)
    assert len(sent) == 1


# Signal.muted(receiver=...) ------------------------------------------------


@in_loop
async def test_muting_one_receiver_leaves_the_others() -> None:
    signal, log, other = Signal(), Log(), Log()
    signal.connect(log.plain)
    signal.connect(log.coro, sender="s")
    signal.connect(other.plain)
    with signal.muted(receiver=log.plain):
        assert await signal.send("s") == [(log.coro, "coro"), (other.plain, "plain")]
        assert signal.send_sync("t") == [(other.plain, "plain")]
        with signal.muted(receiver=log.coro):
            assert await signal.send_robust("s") == [(other.plain, "plain")]
        assert await signal.send("s") == [(log.coro, "coro"), (other.plain, "plain")]
    assert await signal.send("u") == [(log.plain, "plain"), (other.plain, "plain")]


@in_loop
async def test_a_receiver_muted_on_one_signal_still_hears_another() -> None:
    first, second, log = Signal(), Signal(), Log()
    first.connect(log.plain)
    second.connect(log.plain)
    with first.muted(receiver=log.plain):
        await first.send(1)
        await second.send(2)
    assert log.senders() == [2]


@in_loop
async def test_a_receiver_mute_holds_in_its_context_and_tasks_only() -> None:
    signal, log = Signal(), Log()
    signal.connect(log.plain)
    started, release = asyncio.Event(), asyncio.Event()

    async def concurrent_request() -> None:
        started.set()
        await release.wait()
        await signal.send("concurrent")

    request = asyncio.ensure_future(concurrent_request())
    await started.wait()
    with signal.muted(receiver=log.plain):
        await asyncio.create_task(signal.send("task inside"))
        release.set()
        await request
    assert log.senders() == ["concurrent"]


def test_a_muted_async_receiver_from_sync_code() -> None:
    signal, log = Signal(), Log()
    signal.connect(log.coro)
    signal.connect(log.plain)
    with signal.muted(receiver=log.coro):
        assert signal.send_sync("x") == [(log.plain, "plain")]
    with signal.muted(receiver=log.plain):
        assert signal.send_sync("y") == [(log.coro, "coro")]


@in_loop
async def test_a_muted_on_commit_receiver_is_not_queued() -> None:
    signal, log = Signal(), Log()
    signal.connect(log.plain, on_commit=True)
    signal.connect(log.coro, on_commit=True)
    async with capture_on_commit() as queued:
        async with commit_scope():
            with signal.muted(receiver=log.plain):
                await signal.send("s")
    assert [call.func for call in queued] == [log.coro]
    assert log.senders() == ["s"]


def test_muted_rejects_a_receiver_that_is_not_callable() -> None:
    signal = Signal("named")
    with pytest.raises(TypeError, match=r"'named'.*42"):
        with signal.muted(receiver=42):  # type: ignore[arg-type]
            pass


def test_a_weak_receiver_collected_during_a_mute() -> None:
    signal, log = Signal(), Log()

    class Holder:
        def method(self, sender: Any, **kwargs: Any) -> None:
            log.calls.append(("weak", sender, kwargs))

    holder = Holder()
    signal.connect(holder.method, weak=True)
    signal.connect(log.plain)
    with signal.muted(receiver=log.plain):
        del holder
        assert signal.send_sync(1) == []


# CommitScope.commit(forced_rollback=True) ----------------------------------


@in_loop
async def test_a_forced_rollback_drops_the_queue_of_an_outermost_scope() -> None:
    ran: list[str] = []
    scope = CommitScope().open()
    on_commit(ran.append, "dropped")
    await scope.commit(forced_rollback=True)
    assert ran == []
    assert not scope.is_open


@in_loop
async def test_a_forced_rollback_hands_an_inner_queue_to_its_parent() -> None:
    ran: list[str] = []
    async with commit_scope():
        inner = CommitScope().open()
        on_commit(ran.append, "inner")
        await inner.commit(forced_rollback=True)
        assert ran == []
    assert ran == ["inner"]
    outer = CommitScope().open()
    inner = CommitScope().open()
    on_commit(ran.append, "rolled back with its parent")
    await inner.commit(forced_rollback=True)
    outer.rollback()
    assert ran == ["inner"]


# capture_on_commit ---------------------------------------------------------


@in_loop
async def test_capture_on_commit_lists_queued_receivers_and_calls() -> None:
    django_style, ormar_style = Signal("django"), Signal("ormar")
    log = Log()
    django_style.connect(log.plain, on_commit=True)
    ormar_style._connect(log.coro, None, False, None, False, True)

    def note(*args: Any, **kwargs: Any) -> None:
        log.calls.append(("note", args, kwargs))

    async with capture_on_commit() as queued:
        async with commit_scope():
            await django_style.send("d", n=1)
            on_commit(note, 1, 2, key="v")
            await ormar_style.send("o", n=2)
            assert queued == []  # filled when the block ends
    assert queued == [
        OnCommitCall(
            log.plain, (), {"signal": django_style, "sender": "d", "n": 1}, django_style
        ),
        OnCommitCall(note, (1, 2), {"key": "v"}, None),
        OnCommitCall(log.coro, (), {"sender": "o", "n": 2}, ormar_style),
    ]
    # Ran once, by the commit, not again by the block.
    assert [who for who, _, _ in log.calls] == ["plain", "note", "coro"]


@in_loop
async def test_calls_a_rollback_dropped_are_not_listed() -> None:
    signal, log = Signal(), Log()
    signal.connect(log.plain, on_commit=True)
    async with capture_on_commit(execute=True) as queued:
        async with commit_scope():
            await signal.send("kept")
            with pytest.raises(ZeroDivisionError):
                async with commit_scope():
                    await signal.send("dropped")
                    on_commit(log.plain, "dropped too")
                    1 / 0
    assert [call.kwargs["sender"] for call in queued] == ["kept"]
    assert log.senders() == ["kept"]


@in_loop
async def test_no_scope_open_means_nothing_queued_and_nothing_listed() -> None:
    signal, log = Signal(), Log()
    signal.connect(log.plain, on_commit=True)
    async with capture_on_commit(execute=True) as queued:
        await signal.send("at once")
    assert queued == []
    assert log.senders() == ["at once"]


@in_loop
async def test_execute_runs_calls_a_forced_rollback_would_drop() -> None:
    signal, log = Signal(), Log()
    signal.connect(log.plain, on_commit=True)
    signal.connect(log.coro, on_commit=True)
    async with capture_on_commit(execute=True) as queued:
        scope = CommitScope().open()  # as a test database's transaction
        await signal.send("write")
        await scope.commit(forced_rollback=True)
        assert log.calls == []
    assert [call.func for call in queued] == [log.plain, log.coro]
    assert log.senders() == ["write", "write"]


@in_loop
async def test_without_execute_a_forced_rollback_still_drops() -> None:
    signal, log = Signal(), Log()
    signal.connect(log.plain, on_commit=True)
    async with capture_on_commit() as queued:
        scope = CommitScope().open()
        await signal.send("write")
        await scope.commit(forced_rollback=True)
    assert [call.kwargs["sender"] for call in queued] == ["write"]
    assert log.calls == []


@in_loop
async def test_execute_takes_calls_off_a_scope_open_around_the_block() -> None:
    signal, log = Signal(), Log()
    signal.connect(log.plain, on_commit=True)
    async with commit_scope():
        await signal.send("before the block")
        async with capture_on_commit(execute=True) as queued:
            await signal.send("in the block")
            async with commit_scope():
                on_commit(log.plain, "savepoint")
        assert log.senders() == ["in the block", "savepoint"]
        assert [call.kwargs.get("sender") for call in queued] == [
            "in the block",
            None,
        ]
    # The outer commit runs what was queued before the block, and nothing twice.
    assert log.senders() == ["in the block", "savepoint", "before the block"]


@in_loop
async def test_without_execute_calls_stay_on_the_scope_around_the_block() -> None:
    signal, log = Signal(), Log()
    signal.connect(log.plain, on_commit=True)
    async with commit_scope():
        async with capture_on_commit() as queued:
            await signal.send("queued")
        assert len(queued) == 1
        assert log.calls == []
    assert log.senders() == ["queued"]


@in_loop
async def test_execute_runs_what_the_executed_calls_queue() -> None:
    log = Log()

    def first() -> None:
        log.calls.append(("first", None, {}))
        on_commit(second)  # the forced scope is closed: queued on the outer one

    def second() -> None:
        log.calls.append(("second", None, {}))

    outer = CommitScope().open()
    async with capture_on_commit(execute=True) as queued:
        scope = CommitScope().open()
        on_commit(first)
        await scope.commit(forced_rollback=True)
    assert [who for who, _, _ in log.calls] == ["first", "second"]
    assert [call.func for call in queued] == [first, second]
    outer.rollback()


@in_loop
async def test_nested_capture_on_commit_blocks() -> None:
    log = Log()
    async with capture_on_commit(execute=True) as outer:
        scope = CommitScope().open()
        on_commit(log.plain, "outer")
        async with capture_on_commit() as inner:
            on_commit(log.plain, "inner")
        await scope.commit(forced_rollback=True)
    assert [call.args for call in inner] == [("inner",)]
    assert [call.args for call in outer] == [("outer",), ("inner",)]
    assert log.senders() == ["outer", "inner"]

    async with capture_on_commit() as outer:
        scope = CommitScope().open()
        async with capture_on_commit(execute=True) as inner:
            inner_scope = CommitScope().open()
            on_commit(log.plain, "forced")
            await inner_scope.commit(forced_rollback=True)
        scope.rollback()
    assert log.senders() == ["outer", "inner", "forced"]
    assert [call.args for call in outer] == [("forced",)]


@in_loop
async def test_capture_on_commit_sees_its_context_only() -> None:
    log = Log()
    started, release = asyncio.Event(), asyncio.Event()

    async def concurrent() -> None:
        scope = CommitScope().open()
        started.set()
        await release.wait()
        on_commit(log.plain, "concurrent")
        await scope.commit(forced_rollback=True)

    other = asyncio.ensure_future(concurrent())
    await started.wait()
    async with capture_on_commit(execute=True) as queued:
        scope = CommitScope().open()
        on_commit(log.plain, "mine")
        release.set()
        await other
        await scope.commit(forced_rollback=True)
    assert [call.args for call in queued] == [("mine",)]
    assert log.senders() == ["mine"]


@in_loop
async def test_a_failing_executed_call_is_logged_and_the_rest_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = Log()

    def boom() -> None:
        raise RuntimeError("boom")

    async with capture_on_commit(execute=True):
        scope = CommitScope().open()
        on_commit(boom)
        on_commit(log.plain, "after")
        await scope.commit(forced_rollback=True)
    assert log.senders() == ["after"]
    assert "boom" in caplog.text
