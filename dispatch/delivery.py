"""Calling one snapshot of receivers: the order, concurrency and errors of a send.

Receivers start in connection order inside the caller's task. A coroutine
receiver is stepped by hand, in its own copy of the caller's context, and costs
no Task as long as it finishes without suspending. The first one that suspends
keeps running in the caller's task; every coroutine receiver after it gets a
Task of its own (started eagerly where Python allows), so that receivers
waiting on I/O overlap. Nothing outlives the send: errors are raised only after
every receiver has finished, and a cancelled caller cancels and awaits them all.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import types
from contextvars import Context, copy_context
from typing import Any, Awaitable, Callable, Generator, Hashable, Tuple

logger = logging.getLogger("dispatch")
_CoroutineType = types.CoroutineType

Entry = Tuple[Any, int, Hashable, object]
"""(receiver or weak reference to it, kind bits, dispatch_uid or None, sender or None).

The last two only matter to the registry, which finds registrations by them.
"""

ASYNC = 1
"""Kind bit: calling the receiver gives an awaitable."""
SIGNAL = 2
"""Kind bit: the receiver is called with ``signal=`` (Django's style)."""
WEAK = 4
"""Kind bit: the entry holds a weak reference to the receiver."""

Result = Tuple[Callable[..., Any], Any]
_Suspended = Tuple[int, Callable[..., Any], Any, Context, Any]
"""(result index, receiver, its coroutine, its context, its first yielded value)."""
_Started = Tuple[int, Callable[..., Any], "asyncio.Task[Any]"]


class _Resume:
    """Finishes a coroutine that suspended on its first step, in the awaiting task.

    Each later step runs inside the receiver's own context, exactly as a Task
    would run it, but ``asyncio.current_task()`` stays the caller's for the
    receiver's whole run. ``caller_cancelled`` tells a cancellation of the
    caller, thrown in from outside, from a receiver raising CancelledError
    of its own accord.
    """

    __slots__ = ("_context", "_coro", "_yielded", "caller_cancelled")

    def __init__(self, coro: Any, context: Context, yielded: Any) -> None:
        self._coro = coro
        self._context = context
        self._yielded = yielded
        self.caller_cancelled = False

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, run, yielded = self._coro, self._context.run, self._yielded
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as thrown:
                if isinstance(thrown, asyncio.CancelledError):
                    self.caller_cancelled = True
                try:
                    yielded = run(coro.throw, thrown)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = run(coro.send, sent)
                except StopIteration as stop:
                    return stop.value


_DONE = object()
"""What ``next(step, _DONE)`` gives when a receiver finished on its first step."""


@types.coroutine
def _into(
    coro: Any, results: list[Any], index: int, receiver: Any
) -> Generator[Any, Any, None]:
    """Runs ``coro`` and stores ``(receiver, result)`` at ``results[index]``.

    Stepping this generator instead of the coroutine lets a receiver that
    finishes at once end with ``next``'s default rather than a raised
    ``StopIteration``, the costliest part of a send.
    """
    results[index] = (receiver, (yield from coro))


async def _awaiting(awaitable: Awaitable[Any]) -> Any:
    """Makes a coroutine of any other awaitable a receiver returned."""
    return await awaitable


def _start_task(coro: Any, context: Context) -> asyncio.Task[Any]:
    loop = asyncio.get_running_loop()
    if sys.version_info >= (3, 12):
        return asyncio.Task(coro, loop=loop, context=context, eager_start=True)
    if sys.version_info >= (3, 11):
        return loop.create_task(coro, context=context)
    return context.run(loop.create_task, coro)


async def _settle(tasks: list[asyncio.Task[Any]]) -> None:
    """Waits for every task; if cancelled meanwhile, cancels and awaits them all."""
    if not tasks:
        return
    try:
        await asyncio.wait(tasks)
    except asyncio.CancelledError:
        await _cancel_all(tasks)
        raise


async def _cancel_all(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancels the tasks and waits, however often cancelled, until all are done."""
    for task in tasks:
        task.cancel()
    while not all(task.done() for task in tasks):
        try:
            await asyncio.wait(tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()


async def deliver(
    signal: object,
    entries: tuple[Entry, ...],
    sender: object,
    named: dict[str, Any],
    robust: bool,
) -> list[Result]:
    """Calls ``entries`` for one send and returns ``(receiver, result)`` pairs in order.

    With ``robust`` an ``Exception`` becomes the receiver's result (and is
    logged); otherwise the first error in connection order is raised once all
    receivers have finished.
    """
    if "signal" in named:
        raise TypeError(f"send() to {signal!r} got a payload named 'signal'")
    with_signal: dict[str, Any] | None = None
    without_signal: dict[str, Any] | None = None
    coroutine_type = _CoroutineType
    results: list[Any] = []
    failures: list[tuple[int, BaseException]] = []
    suspended: _Suspended | None = None
    tasks: list[_Started] = []

    for target, kind, _, _ in entries:
        # The kind bits are peeled off from the highest: on CPython a
        # comparison and a subtraction cost less than an ``&``.
        if kind >= WEAK:
            receiver = target()
            if receiver is None:
                continue
            kind -= WEAK
        else:
            receiver = target
        if kind >= SIGNAL:
            kind -= SIGNAL
            if with_signal is None:
                with_signal = {"signal": signal, "sender": sender, **named}
            kwargs = with_signal
        else:
            if without_signal is None:
                without_signal = {"sender": sender, **named}
            kwargs = without_signal
        try:
            value = receiver(**kwargs)
            if kind:  # only ASYNC is left
                if type(value) is not coroutine_type:
                    value = _awaiting(value)
                context = copy_context()
                index = len(results)
                results.append(None)
                if suspended is None:
                    step = _into(value, results, index, receiver)
                    try:
                        yielded = context.run(next, step, _DONE)
                    except BaseException as error:
                        value = _failed(
                            signal, receiver, error, robust, index, failures
                        )
                        results[index] = (receiver, value)
                        continue
                    if yielded is not _DONE:
                        suspended = (index, receiver, step, context, yielded)
                else:
                    task = _start_task(value, context)
                    tasks.append((index, receiver, task))
                continue
        except BaseException as error:
            value = _failed(signal, receiver, error, robust, len(results), failures)
        results.append((receiver, value))

    if suspended is not None:
        await _finish(signal, suspended, tasks, robust, results, failures)
    if failures:
        raise min(failures, key=lambda failure: failure[0])[1]
    return results


async def _finish(
    signal: object,
    suspended: _Suspended,
    tasks: list[_Started],
    robust: bool,
    results: list[Any],
    failures: list[tuple[int, BaseException]],
) -> None:
    """Awaits the receiver that suspended, then the Tasks started after it."""
    index, receiver, coro, context, yielded = suspended
    resuming = _Resume(coro, context, yielded)
    try:
        await resuming  # _into stores the result
    except asyncio.CancelledError as error:
        if not resuming.caller_cancelled:
            # The receiver cancelled itself: an error like any other.
            results[index] = (
                receiver,
                _failed(signal, receiver, error, robust, index, failures),
            )
        else:
            await _cancel_all([task for _, _, task in tasks])
            raise
    except BaseException as error:
        results[index] = (
            receiver,
            _failed(signal, receiver, error, robust, index, failures),
        )

    await _settle([task for _, _, task in tasks if not task.done()])
    for index, receiver, task in tasks:
        if task.cancelled():
            outcome: BaseException | None = asyncio.CancelledError()
        else:
            outcome = task.exception()
        if outcome is None:
            value = task.result()
        else:
            value = _failed(signal, receiver, outcome, robust, index, failures)
        results[index] = (receiver, value)


def _failed(
    signal: object,
    receiver: object,
    error: BaseException,
    robust: bool,
    index: int,
    failures: list[tuple[int, BaseException]],
) -> Any:
    """What a failed receiver's result is: the error when robust, else recorded."""
    if robust and isinstance(error, Exception):
        logger.error(
            "Error calling %r in signal %r",
            receiver,
            signal,
            exc_info=(type(error), error, error.__traceback__),
        )
        return error
    failures.append((index, error))
    return None
