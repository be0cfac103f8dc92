"""Commit scopes: receivers and calls that wait until the data is committed.

A ``CommitScope`` stands for a unit of work that will either commit or roll
back: a database transaction, a savepoint, one ORM operation. While one is
open in a context, a send does not call the receivers connected with
``on_commit=True``; it queues them on the innermost open scope, and
``on_commit(func)`` queues any call there. An inner scope that commits hands
its queue to its parent; the outermost one runs it; a scope that rolls back
drops it. The current scope is a context variable, so a concurrent task has
its own and a task started inside a scope queues on it.

How a send queues without costing sends that queue nothing: an ``on_commit``
registration's entry is *indirect* (like a weak one) and holds an
``OnCommitTarget``. The send calls it for the receiver to call; with a scope
open it gives a call that raises ``delivery.Queued`` instead, and the send's
exception handler, which costs nothing until something raises, puts the
receiver on the scope and goes on with the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from contextvars import ContextVar
from typing import Any, AsyncIterator, Callable, Protocol, Union

from .delivery import Queued, deliver
from .snapshot import AWAITS_ANY, GETS_SIGNAL, IS_ASYNC, KINDS, Entry, Kind

__all__ = [
    "CommitScope",
    "CommitScopeError",
    "OnCommitTarget",
    "commit_scope",
    "on_commit",
]

logger = logging.getLogger("dispatch")

_current: ContextVar[CommitScope | None] = ContextVar(
    "dispatch_commit_scope", default=None
)
"""The innermost scope opened in this context (it may have closed since)."""


class OutermostWatcher(Protocol):
    """What ``dispatch.testing.capture_on_commit`` puts in ``outermost_watcher``."""

    def reached_outermost(self, queue: list[_Queued], forced_rollback: bool) -> None:
        """Sees a queue an outermost scope is about to run (or, forced, to drop)."""


outermost_watcher: ContextVar[OutermostWatcher | None] = ContextVar(
    "dispatch_outermost_watcher", default=None
)
"""The innermost ``capture_on_commit`` block of this context."""

_NEW, _OPEN, _COMMITTED, _ROLLED_BACK = "new", "open", "committed", "rolled back"


class CommitScopeError(RuntimeError):
    """A commit scope was opened, committed or rolled back out of turn."""


class CommitScope:
    """One unit of work whose ``on_commit`` calls wait for it to commit.

    ``open()`` makes it the current scope of this context (a savepoint of
    the scope already open there, if any); ``await commit()`` or
    ``rollback()`` closes it, from the same context, while it is the
    innermost open scope. ``commit_scope()`` does all three for an
    ``async with`` block.
    """

    __slots__ = ("_parent", "_queue", "_state", "_token")

    def __init__(self) -> None:
        self._state = _NEW
        self._parent: CommitScope | None = None
        self._queue: list[_Queued] = []

    def __repr__(self) -> str:
        return (
            f"<CommitScope at {id(self):#x}: {self._state}, {len(self._queue)} queued>"
        )

    @property
    def is_open(self) -> bool:
        return self._state is _OPEN

    def open(self) -> CommitScope:
        """Makes this the innermost scope of the current context; returns it."""
        if self._state is not _NEW:
            raise CommitScopeError(f"{self!r} cannot be opened again")
        self._parent = _current.get()
        self._token = _current.set(self)
        self._state = _OPEN
        return self

    async def commit(self, forced_rollback: bool = False) -> None:
        """Closes the scope, handing its queue to the parent or, outermost, running it.

        The queue runs in send order, one queued send (its receivers called
        as ``send_robust`` calls them) or ``on_commit`` call after another,
        before ``commit`` returns. Errors are logged, never raised: the data
        is committed. If the task is cancelled meanwhile, the running calls
        are cancelled and awaited, the rest are dropped with a WARNING, and
        the cancellation propagates.

        ``forced_rollback=True``: the work is done, but inside a transaction
        that will be rolled back whatever happens (a test database's
        ``force_rollback=True``). The queue goes to the parent as on any
        commit; an outermost scope drops it instead of running it, except
        that a ``dispatch.testing.capture_on_commit`` block keeps it.
        """
        self._close(_COMMITTED)
        queue, self._queue = self._queue, []
        parent = _open_scope(self._parent)
        if parent is not None:
            if parent._state is _OPEN:
                parent._queue.extend(queue)
        elif queue:
            watcher = outermost_watcher.get()
            if watcher is not None:
                watcher.reached_outermost(queue, forced_rollback)
            if not forced_rollback:
                await run_queue(queue)

    def rollback(self) -> None:
        """Closes the scope and drops everything queued on it."""
        self._close(_ROLLED_BACK)
        self._queue.clear()

    def _close(self, state: str) -> None:
        verb = "commit" if state is _COMMITTED else "roll back"
        if self._state is not _OPEN:
            raise CommitScopeError(f"cannot {verb} {self!r}: it is not open")
        current = _current.get()
        if current is not self:
            raise CommitScopeError(
                f"cannot {verb} {self!r}: {current!r} is the innermost scope "
                "of this context (close inner scopes first, from the context "
                "that opened them)"
            )
        try:
            _current.reset(self._token)
        except ValueError:
            raise CommitScopeError(
                f"cannot {verb} {self!r} from another context than the one "
                "that opened it"
            ) from None
        self._state = state

    def queue_send(
        self,
        send: object,
        signal: object,
        receiver: Any,
        kind: Kind,
        kwargs: dict[str, Any],
    ) -> None:
        """Queues one receiver of a send; the receivers of one send stay together.

        ``send`` is an object unique to the send that queues.
        """
        queue = self._queue
        last = queue[-1] if queue else None
        if type(last) is _QueuedSend and last.send is send:
            batch = last
        else:
            batch = _QueuedSend(send, signal, kwargs)
            queue.append(batch)
        batch.entries.append((receiver, kind, None, None))


def _open_scope(scope: CommitScope | None) -> CommitScope | None:
    """The scope a call made under ``scope`` belongs to: ``None`` means run it now.

    A task started inside a scope may send after that scope closed: what a
    committed savepoint held belongs to its parent. A rolled-back scope is
    returned as it is, and what is queued there is dropped.
    """
    while scope is not None and scope._state is _COMMITTED:
        scope = scope._parent
    return scope


class _QueuedSend:
    """The receivers one send queued, and what they are to be called with."""

    __slots__ = ("entries", "named", "send", "sender", "signal")

    def __init__(self, send: object, signal: object, kwargs: dict[str, Any]) -> None:
        self.send = send
        self.signal = signal
        self.sender = kwargs["sender"]
        self.named = {
            key: value
            for key, value in kwargs.items()
            if key != "sender" and key != "signal"
        }
        self.entries: list[Entry] = []

    async def run(self) -> None:
        await deliver(self.signal, tuple(self.entries), self.sender, self.named)


class _QueuedCall:
    """An ``on_commit(func, *args, **kwargs)`` call."""

    __slots__ = ("args", "func", "kwargs")

    def __init__(self, func: Callable[..., Any], args: Any, kwargs: Any) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs

    async def run(self) -> None:
        try:
            result = self.func(*self.args, **self.kwargs)
        except Exception as error:
            _log_failure(self.func, error)
            return
        if inspect.isawaitable(result):
            await _awaited(self.func, result)


_Queued = Union[_QueuedSend, _QueuedCall]


async def run_queue(queue: list[_Queued]) -> None:
    """Runs queued sends and calls one after another, as an outermost commit does."""
    for done, item in enumerate(queue):
        try:
            await item.run()
        except asyncio.CancelledError:
            dropped = len(queue) - done - 1
            if dropped:
                logger.warning(
                    "Running the on_commit queue was cancelled: %d queued "
                    "call(s) after the cancelled one were dropped",
                    dropped,
                )
            raise


@contextlib.asynccontextmanager
async def commit_scope() -> AsyncIterator[CommitScope]:
    """A ``CommitScope`` for the block: committed on a clean exit, else rolled back."""
    scope = CommitScope().open()
    try:
        yield scope
    except BaseException:
        if scope.is_open:
            scope.rollback()
        raise
    await scope.commit()


def on_commit(func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Calls ``func(*args, **kwargs)`` once the current commit scope commits.

    As Django's ``transaction.on_commit``: nothing happens if the scope
    rolls back. With no scope open, ``func`` runs now: a plain function
    before ``on_commit`` returns, a coroutine function as a Task of the
    running event loop. Its errors are logged on the ``dispatch`` logger,
    never raised.
    """
    if not callable(func):
        raise TypeError(f"on_commit() needs a callable, got {func!r}")
    scope = _open_scope(_current.get())
    if scope is None:
        _call_now(func, args, kwargs)
    elif scope._state is _OPEN:
        scope._queue.append(_QueuedCall(func, args, kwargs))


def _call_now(func: Callable[..., Any], args: Any, kwargs: Any) -> None:
    try:
        result = func(*args, **kwargs)
    except Exception as error:
        _log_failure(func, error)
        return
    if not inspect.isawaitable(result):
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        if asyncio.iscoroutine(result):
            result.close()
        raise RuntimeError(
            f"on_commit({func!r}) outside any commit scope needs a running "
            "event loop to run what it returned"
        ) from None
    task = loop.create_task(_awaited(func, result))
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _awaited(func: Callable[..., Any], awaitable: Any) -> None:
    try:
        await awaitable
    except Exception as error:
        _log_failure(func, error)


def _log_failure(func: Callable[..., Any], error: Exception) -> None:
    logger.error(
        "Error calling %r on commit",
        func,
        exc_info=(type(error), error, error.__traceback__),
    )


_running: set[asyncio.Task[None]] = set()
"""``on_commit`` coroutines started with no scope open, kept alive until done."""


class OnCommitTarget:
    """What an ``on_commit=True`` entry holds: gives a send the receiver, or a queuer.

    With no scope open (or only committed ones up to the outermost) the send
    calls the receiver like any other. With a scope open it gets a call that
    raises ``Queued``; under a rolled-back scope, or once a weak receiver is
    collected, ``None``, which a send skips.
    """

    __slots__ = ("_kind", "_signal", "_weak", "target")

    def __init__(self, signal: object, target: Any, weak: bool, kind: Kind) -> None:
        self._signal = signal
        self.target = target
        self._weak = weak
        # How the receiver itself is called once the scope commits.
        self._kind = KINDS[False][kind[GETS_SIGNAL]][kind[IS_ASYNC]][kind[AWAITS_ANY]]

    @property
    def receiver(self) -> Any:
        """The receiver, or ``None`` once a weak one is collected."""
        return self.target() if self._weak else self.target

    def __call__(self) -> Any:
        receiver = self.receiver
        if receiver is None:
            return None
        scope = _open_scope(_current.get())
        if scope is None:
            return receiver
        if scope._state is not _OPEN:
            return None
        signal, kind = self._signal, self._kind

        def queue(**kwargs: Any) -> None:
            raise Queued(scope, signal, receiver, kind, kwargs)

        return queue
