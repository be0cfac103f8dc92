"""``Signal``: the registry of receivers and the ways to send to them.

Lock discipline: ``connect``/``disconnect`` (and the clean-up of collected
weak receivers) take ``self._lock`` and publish new immutable snapshots;
sends never take it. A send reads one snapshot tuple, so a receiver that
connects or disconnects during a send changes the next send only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from contextvars import ContextVar
from itertools import count
from typing import (
    Any,
    Callable,
    Coroutine,
    Hashable,
    Iterator,
    TypeVar,
)

from asgiref.sync import async_to_sync, markcoroutinefunction

from .delivery import Entry, Result, deliver
from .errors import SignalDefinitionError
from .receivers import (
    LookupKey,
    checked_is_async,
    lookup_key,
    sender_key,
    weak_reference,
)

__all__ = ["Signal", "receiver"]

_muted: ContextVar[frozenset[Signal]] = ContextVar(
    "dispatch_muted", default=frozenset()
)

_NO_RECEIVERS: tuple[Entry, ...] = ()


class _Registration:
    """One connect call: what to call and how, plus what keeps the ids valid."""

    __slots__ = ("entry", "order", "sender")

    def __init__(self, entry: Entry, order: int, sender: object) -> None:
        self.entry = entry
        self.order = order
        # Holding the sender keeps its id from being reused while registered.
        self.sender = sender

    def receiver(self) -> Callable[..., Any] | None:
        target, weak = self.entry[0], self.entry[1]
        return target() if weak else target  # type: ignore[no-any-return]


class Signal:
    """A named event that receivers connect to and senders send.

    Receivers are called as ``receiver(signal=self, sender=sender, **named)``
    and must accept ``**kwargs``. They are held strongly unless connected with
    ``weak=True``.
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._order = count()
        # sender key (None: every sender) -> {lookup key: registration}, in order.
        self._by_sender: dict[int | None, dict[LookupKey, _Registration]] = {}
        # Published snapshots: what a send from a sender calls, in order.
        self._for_any: tuple[Entry, ...] = _NO_RECEIVERS
        self._for_sender: dict[int, tuple[Entry, ...]] = {}
        self._has_dead_receivers = False

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<{type(self).__name__}{name} at {id(self):#x}>"

    # Registry -----------------------------------------------------------

    def connect(
        self,
        receiver: Callable[..., Any],
        sender: object = None,
        weak: bool = False,
        dispatch_uid: Hashable | None = None,
    ) -> None:
        """Registers ``receiver`` for sends from ``sender`` (``None``: every sender).

        Connecting the same receiver, or the same ``dispatch_uid``, for the
        same sender again is a no-op. ``weak=True`` holds the receiver (a
        bound method: its instance) weakly; once collected it is never called
        again and its registration goes away. Raises
        ``SignalDefinitionError`` if ``receiver`` is not callable, does not
        accept ``**kwargs``, or ``dispatch_uid`` is not hashable.
        """
        self._connect(receiver, sender, weak, dispatch_uid, with_signal=True)

    def _connect(
        self,
        receiver: Callable[..., Any],
        sender: object,
        weak: bool,
        dispatch_uid: Hashable | None,
        with_signal: bool,
    ) -> None:
        """``connect``, choosing whether the receiver is given ``signal=``.

        For subclasses that call receivers in another library's style.
        """
        receiver_is_async = checked_is_async(receiver)
        key = lookup_key(receiver, sender, dispatch_uid)
        target: Any = weak_reference(receiver, self._mark_dead) if weak else receiver
        entry: Entry = (target, weak, receiver_is_async, with_signal)
        with self._lock:
            self._drop_dead()
            registrations = self._by_sender.setdefault(key[1], {})
            if key in registrations:
                return
            registrations[key] = _Registration(entry, next(self._order), sender)
            self._append(key[1], entry)

    def disconnect(
        self,
        receiver: Callable[..., Any] | None = None,
        sender: object = None,
        dispatch_uid: Hashable | None = None,
    ) -> bool:
        """Removes the registration ``connect`` made with the same arguments.

        Returns whether there was one to remove.
        """
        return self._disconnect_key(lookup_key(receiver, sender, dispatch_uid))

    def _disconnect_key(self, key: LookupKey) -> bool:
        """Removes the registration with this lookup key; every removal ends here."""
        with self._lock:
            self._drop_dead()
            registrations = self._by_sender.get(key[1])
            if registrations is None or registrations.pop(key, None) is None:
                return False
            if not registrations:
                del self._by_sender[key[1]]
            self._publish(key[1])
            return True

    def has_listeners(self, sender: object = None) -> bool:
        """Whether a send from ``sender`` would reach any live receiver."""
        return bool(self.receivers_for(sender))

    def receivers_for(self, sender: object) -> list[Callable[..., Any]]:
        """The live receivers a send from ``sender`` calls, in call order."""
        self._clean_if_dead()
        live = []
        for target, weak, _, _ in self._entries_for(sender):
            receiver = target() if weak else target
            if receiver is not None:
                live.append(receiver)
        return live

    def _registrations_for(
        self, sender: object
    ) -> list[tuple[LookupKey, Callable[..., Any]]]:
        """Live registrations made for exactly ``sender`` (not for every sender)."""
        self._clean_if_dead()
        registrations = self._by_sender.get(sender_key(sender), {})
        pairs = []
        for key, registration in list(registrations.items()):
            receiver = registration.receiver()
            if receiver is not None:
                pairs.append((key, receiver))
        return pairs

    def _entries_for(self, sender: object) -> tuple[Entry, ...]:
        return self._for_sender.get(id(sender), self._for_any)

    def _publish(self, key: int | None) -> None:
        """Rebuilds the snapshots a change for sender key ``key`` affects.

        Caller holds ``self._lock``.
        """
        any_sender = self._by_sender.get(None, {})
        if key is None:
            self._for_any = tuple(r.entry for r in any_sender.values())
            for each in self._by_sender:
                if each is not None:
                    self._for_sender[each] = self._merged(each, any_sender)
        elif key in self._by_sender:
            self._for_sender[key] = self._merged(key, any_sender)
        else:
            self._for_sender.pop(key, None)

    def _append(self, key: int | None, entry: Entry) -> None:
        """Publishes a new registration: it is the newest, so it goes last.

        Caller holds ``self._lock``. Copies each affected snapshot once, in C,
        instead of rebuilding it from the registrations.
        """
        if key is None:
            self._for_any += (entry,)
            for_sender = self._for_sender
            for each in for_sender:
                for_sender[each] += (entry,)
        else:
            self._for_sender[key] = (*self._for_sender.get(key, self._for_any), entry)

    def _merged(
        self, key: int, any_sender: dict[LookupKey, _Registration]
    ) -> tuple[Entry, ...]:
        """This sender's receivers and every-sender ones, in connection order."""
        registrations = list(self._by_sender[key].values())
        if any_sender:
            registrations.extend(any_sender.values())
            registrations.sort(key=lambda r: r.order)
        return tuple(r.entry for r in registrations)

    def _mark_dead(self, _reference: object) -> None:
        # Called by the garbage collector, maybe while this thread holds the
        # lock: only raise a flag, the next registry call cleans up.
        self._has_dead_receivers = True

    def _clean_if_dead(self) -> None:
        if self._has_dead_receivers:
            with self._lock:
                self._drop_dead()

    def _drop_dead(self) -> None:
        """Forgets collected weak receivers. Caller holds ``self._lock``."""
        if not self._has_dead_receivers:
            return
        self._has_dead_receivers = False
        for key, registrations in list(self._by_sender.items()):
            dead = [k for k, r in registrations.items() if r.receiver() is None]
            for lookup in dead:
                del registrations[lookup]
            if not registrations:
                del self._by_sender[key]
            if dead:
                self._publish(key)

    # Sending --------------------------------------------------------------

    def _live_entries(self, sender: object) -> tuple[Entry, ...]:
        muted = _muted.get()
        if muted and self in muted:
            return _NO_RECEIVERS
        return self._for_sender.get(id(sender), self._for_any)

    # ``send`` and ``send_robust`` are plain functions returning the delivery
    # coroutine: one coroutine per send instead of two. They are marked as
    # coroutine functions, which is what calling them amounts to.
    @markcoroutinefunction
    def send(self, sender: object, **named: Any) -> Coroutine[Any, Any, list[Result]]:
        """Calls every receiver for ``sender`` and returns ``(receiver, result)`` pairs.

        Use as ``await signal.send(sender, **named)``. Plain functions are
        called inline; coroutine functions are awaited and run concurrently,
        each in its own copy of the caller's context (``docs/dispatch.md``
        says exactly when a Task is made). Results are in connection order.
        If receivers raise, the others still finish, then the first error in
        connection order is raised. If the caller is cancelled, every running
        receiver is cancelled and awaited first.
        """
        entries = self._for_sender.get(id(sender), self._for_any)
        if not entries:
            return _no_results()
        muted = _muted.get()
        if muted and self in muted:
            return _no_results()
        return deliver(self, entries, sender, named, False)

    @markcoroutinefunction
    def send_robust(
        self, sender: object, **named: Any
    ) -> Coroutine[Any, Any, list[Result]]:
        """As ``send``, but a receiver's ``Exception`` becomes its result.

        Each such error keeps its ``__traceback__`` and is logged on the
        ``dispatch`` logger at ERROR; it never stops the other receivers.
        """
        entries = self._live_entries(sender)
        if not entries:
            return _no_results()
        return deliver(self, entries, sender, named, True)

    def send_sync(self, sender: object, **named: Any) -> list[Result]:
        """``send`` from synchronous code.

        With only plain-function receivers no event loop is involved; with
        coroutine receivers, ``asgiref.sync.async_to_sync`` runs them, which
        cannot be done from a thread whose event loop is running.
        """
        return self._send_from_sync(sender, named, False)

    def send_robust_sync(self, sender: object, **named: Any) -> list[Result]:
        """``send_robust`` from synchronous code, on the terms of ``send_sync``."""
        return self._send_from_sync(sender, named, True)

    def _send_from_sync(
        self, sender: object, named: dict[str, Any], robust: bool
    ) -> list[Result]:
        entries = self._live_entries(sender)
        if not entries:
            return []
        if not any(entry[2] for entry in entries):
            return _run_without_loop(deliver(self, entries, sender, named, robust))
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return async_to_sync(deliver)(self, entries, sender, named, robust)
        raise RuntimeError(
            f"{self!r} has async receivers and this thread's event loop is "
            "running: use 'await signal.send(...)' instead of send_sync()"
        )

    # Scoped helpers -------------------------------------------------------

    @contextlib.contextmanager
    def connected_to(
        self, receiver: Callable[..., Any], sender: object = None
    ) -> Iterator[None]:
        """Connects ``receiver`` for the block only, disconnecting on any exit."""
        self.connect(receiver, sender=sender)
        try:
            yield
        finally:
            self.disconnect(receiver, sender=sender)

    @contextlib.contextmanager
    def muted(self) -> Iterator[None]:
        """Calls no receivers of this signal inside the block, in this context only.

        The flag is a context variable: a concurrent task or request keeps
        its receivers, and tasks started inside the block inherit the mute.
        """
        token = _muted.set(_muted.get() | {self})
        try:
            yield
        finally:
            _muted.reset(token)


async def _no_results() -> list[Result]:
    return []


def _run_without_loop(coro: Any) -> list[Result]:
    """Runs a delivery that has no coroutine receivers, which never suspends."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a delivery without coroutine receivers suspended")


F = TypeVar("F", bound=Callable[..., Any])


def receiver(
    signal_or_signals: Signal | list[Signal] | tuple[Signal, ...],
    **connect_kwargs: Any,
) -> Callable[[F], F]:
    """Decorator: connects the function to one signal or each of a list of them.

    ``connect_kwargs`` are passed to ``Signal.connect``; the function is
    returned unchanged.
    """
    signals = (
        list(signal_or_signals)
        if isinstance(signal_or_signals, (list, tuple))
        else [signal_or_signals]
    )
    for each in signals:
        if not isinstance(each, Signal):
            raise SignalDefinitionError(
                f"receiver() needs Signal objects, got {each!r}"
            )

    def decorator(func: F) -> F:
        for each in signals:
            each.connect(func, **connect_kwargs)
        return func

    return decorator
