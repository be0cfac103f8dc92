"""Helpers for tests of code that sends signals: record sends, mute them, see ``on_commit`` calls.

``capture`` records the sends of the current context (and of the tasks
started inside it), so tests running concurrently never see each other's.
``capture_on_commit`` lists the calls queued to run after a commit and, on
request, runs them even where the test database never commits. Neither costs
a send anything while no capture is active (``intercept.py``).
"""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator, Callable, Iterator, NamedTuple

from .commit import (
    CommitScope,
    _current,
    _Queued,
    _QueuedSend,
    outermost_watcher,
    run_queue,
)
from .intercept import intercepting, recorders
from .signal import Signal
from .snapshot import GETS_SIGNAL, KIND, TARGET

__all__ = ["OnCommitCall", "Sent", "capture", "capture_on_commit"]


class Sent(NamedTuple):
    """One send: the signal, its sender and the named arguments (not ``sender``)."""

    signal: Signal
    sender: Any
    kwargs: dict[str, Any]


class _Capture:
    """What one ``capture`` block records, and whether it mutes what it records."""

    __slots__ = ("active", "mute", "sender", "sent", "signals")

    def __init__(self, signals: tuple[Signal, ...], sender: object, mute: bool) -> None:
        self.signals = signals
        self.sender = sender
        self.mute = mute
        self.sent: list[Sent] = []
        self.active = True

    def observe(self, signal: Signal, sender: object, named: dict[str, Any]) -> bool:
        if not self.active:  # a task that outlived the block
            return False
        if self.signals and not any(signal is each for each in self.signals):
            return False
        if self.sender is not None and sender is not self.sender:
            return False
        self.sent.append(Sent(signal, sender, named))
        return self.mute

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[Sent]]:
        """Records the sends of the current context into ``self.sent`` for the block."""
        with intercepting():
            token = recorders.set((*recorders.get(), self))
            try:
                yield self.sent
            finally:
                recorders.reset(token)


@contextlib.contextmanager
def capture(
    *signals: Signal, sender: object = None, mute: bool = False
) -> Iterator[list[Sent]]:
    """Records, as ``Sent`` items in send order, the sends made inside the block.

    Only sends of ``signals`` (none named: every ``Signal``) from ``sender``
    (``None``: any sender), made by ``send``, ``send_robust``, ``send_sync``
    or ``send_robust_sync`` in the current context or a task started inside
    it. A send is recorded when it starts, whether or not any receiver is
    connected or the signal is muted. ``mute=True``: the sends recorded here
    call no receiver (and return ``[]``). Sends on a model emitter's views
    of the ``ormar_integration`` signals are recorded under the module-level
    signal.
    """
    for each in signals:
        if not isinstance(each, Signal):
            raise TypeError(f"capture() takes Signal objects, got {each!r}")
    recorder = _Capture(signals, sender, mute)
    try:
        with recorder.recording() as sent:
            yield sent
    finally:
        recorder.active = False


class OnCommitCall(NamedTuple):
    """One call queued to run after a commit: ``func(*args, **kwargs)``.

    For a receiver connected with ``on_commit=True``: ``func`` is the
    receiver, ``args`` is empty, ``kwargs`` what it is called with
    (``sender``, the sent arguments and, connected Django's way, ``signal``)
    and ``signal`` the signal whose send queued it. For
    ``dispatch.on_commit(func, *args, **kwargs)``: those, and ``signal`` is
    ``None``.
    """

    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    signal: Signal | None


def _calls(item: _Queued) -> list[OnCommitCall]:
    """The calls one queued item stands for: one per receiver of a queued send."""
    if not isinstance(item, _QueuedSend):
        return [OnCommitCall(item.func, tuple(item.args), dict(item.kwargs), None)]
    signal = item.signal
    assert isinstance(signal, Signal)
    calls = []
    for entry in item.entries:
        kwargs = {"sender": item.sender, **item.named}
        if entry[KIND][GETS_SIGNAL]:
            kwargs = {"signal": signal, **kwargs}
        calls.append(OnCommitCall(entry[TARGET], (), kwargs, signal))
    return calls


def _open_chain() -> list[CommitScope]:
    """The open scopes of this context, innermost first."""
    chain = []
    scope = _current.get()
    while scope is not None:
        if scope.is_open:
            chain.append(scope)
        scope = scope._parent
    return chain


class _OnCommitCapture:
    """What one ``capture_on_commit`` block has seen, and what it still owes a run.

    A queued call leaves the scopes of this context in one of three ways:
    an outermost scope runs it on commit, or drops it on a forced rollback
    (``CommitScope.commit(forced_rollback=True)``), or a rollback drops it
    for good. The first two pass through ``reached_outermost``; what is
    still queued on a scope open around the block is found there when the
    block ends, past where each scope's queue stood when it began.
    """

    def __init__(self, parent: Any, execute: bool) -> None:
        self.parent = parent
        self.execute = execute
        # (queued item, whether it has yet to run), in the order seen.
        self.seen: list[tuple[_Queued, bool]] = []
        self.starts = {id(scope): len(scope._queue) for scope in _open_chain()}

    def reached_outermost(self, queue: list[_Queued], forced_rollback: bool) -> None:
        self.seen.extend((item, forced_rollback) for item in queue)

    def take_from_scopes(self) -> list[_Queued]:
        """What was queued during the block on the scopes still open; removed if executing."""
        found: list[_Queued] = []
        for scope in reversed(_open_chain()):
            start = self.starts.get(id(scope), 0)
            found.extend(scope._queue[start:])
            if self.execute:
                del scope._queue[start:]
        return found

    async def finish(self) -> list[OnCommitCall]:
        """Runs what is owed (if executing); returns every call seen, in order."""
        listed: list[_Queued] = []
        while True:
            seen, self.seen = self.seen, []
            on_scopes = self.take_from_scopes()
            listed += [item for item, _ in seen] + on_scopes
            if not self.execute:
                # An enclosing block sees what this one saw, as a savepoint
                # hands on its queue; what is still queued on the open
                # scopes it finds there itself.
                self._hand_on(seen)
                break
            owed = [item for item, pending in seen if pending] + on_scopes
            if not owed:
                self._hand_on([(item, False) for item in listed])
                break
            # What these queue in turn is seen, and run, on the next round.
            await run_queue(owed)
        return [call for item in listed for call in _calls(item)]

    def _hand_on(self, seen: list[tuple[_Queued, bool]]) -> None:
        if self.parent is not None:
            self.parent.seen.extend(seen)


@contextlib.asynccontextmanager
async def capture_on_commit(execute: bool = False) -> AsyncIterator[list[OnCommitCall]]:
    """Lists the calls queued inside the block to run after a commit.

    The list is filled when the block ends, with an ``OnCommitCall`` for each
    receiver call and ``on_commit()`` call queued inside it, in the order
    they were queued, that a commit has run or will run: not those a
    rollback dropped. Calls that ran at once, with no commit scope open,
    were never queued and are not listed.

    ``execute=True``: when the block ends, every listed call that has not
    run yet runs, as an outermost commit would run it, including calls
    queued under a transaction rolled back whatever happens (a test
    database opened with ``force_rollback=True``) and calls still queued on
    a scope open around the block (taken off it, so they never run twice).
    Calls they queue in turn are listed and run too. With
    ``execute=False`` nothing runs that would not have run anyway.
    """
    watcher = _OnCommitCapture(outermost_watcher.get(), execute)
    calls: list[OnCommitCall] = []
    token = outermost_watcher.set(watcher)
    try:
        yield calls
        calls.extend(await watcher.finish())
    finally:
        outermost_watcher.reset(token)
