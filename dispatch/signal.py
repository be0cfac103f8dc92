"""``Signal``: the registry of receivers and the ways to send to them.

The registry is nothing but the snapshots sends read (``snapshot.py``): one
sequence of entries for every-sender receivers, and one per sender that has
receivers of its own (merged with the every-sender ones, in connection
order); what a send reads of a snapshot is fixed once it starts. Each entry
says which sender it was connected for and under which ``dispatch_uid``, so
connect and disconnect find a registration by scanning its sender's
snapshot: a registration costs one entry, not an entry plus index records.
Only a sender with many registrations (``_INDEXED_FROM`` or more) also gets
a dict from lookup key to entry, so that connecting thousands of receivers
to one sender does not scan thousands of entries each time; from
``_GROW_FROM`` entries a connect grows a snapshot in place (iterations
already started stop at their old length), so that it does not copy them
either.

Lock discipline: ``connect``/``disconnect`` (and the clean-up of collected
weak receivers) take ``self._lock`` and publish new snapshots (or grow long
ones in place); sends never take it. A send reads one snapshot, so a
receiver that connects or disconnects during a send changes the next send
only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import FunctionType
from typing import (
    Any,
    Awaitable,
    Callable,
    ContextManager,
    Hashable,
    Iterator,
    TypeVar,
)

from asgiref.sync import async_to_sync

from .commit import OnCommitTarget
from .delivery import Result, SendMethod, call_plain, muted_signals, sending
from .errors import SignalDefinitionError
from .receivers import (
    LookupKey,
    lookup_key,
    receiver_id,
    receiver_kind,
    sender_key,
    weak_reference,
)
from .snapshot import (
    DISPATCH_UID,
    INDIRECT,
    IS_ASYNC,
    KIND,
    SENDER,
    TARGET,
    Entry,
    Snapshot,
    extended,
    unshared,
)

__all__ = ["Signal", "receiver"]

_NO_RECEIVERS: Snapshot = ()


class Signal:
    """A named event that receivers connect to and senders send.

    Receivers are called as ``receiver(signal=self, sender=sender, **named)``
    and must accept ``**kwargs``. They are held strongly unless connected with
    ``weak=True``.
    """

    _INDEXED_FROM = 32
    """Snapshot length from which a sender's registrations are found through a dict."""

    _GROW_FROM = 64
    """Snapshot length from which a connect grows a snapshot in place, uncopied."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._lock = threading.Lock()
        # Receivers connected for every sender, in connection order.
        self._for_any: Snapshot = _NO_RECEIVERS
        # id(sender) -> that sender's receivers and the every-sender ones, in
        # connection order; only senders with receivers of their own.
        self._for_sender: dict[int, Snapshot] = {}
        # sender key (None: every sender) -> {receiver key: entry}, kept only
        # for senders whose snapshot is long; see _INDEXED_FROM.
        self._index: dict[int | None, dict[Hashable, Entry]] = {}
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
        on_commit: bool = False,
    ) -> None:
        """Registers ``receiver`` for sends from ``sender`` (``None``: every sender).

        Connecting the same receiver, or the same ``dispatch_uid``, for the
        same sender again is a no-op (the first registration stands).
        ``weak=True`` holds the receiver (a bound method: its instance)
        weakly; once collected it is never called again and its registration
        goes away. ``on_commit=True``: a send inside a commit scope
        (``dispatch.commit_scope``) queues the call until the scope commits
        instead of making it. Raises ``SignalDefinitionError`` if
        ``receiver`` is not callable, does not accept ``**kwargs``,
        ``dispatch_uid`` is not hashable or ``on_commit`` is not a bool.
        """
        self._connect(receiver, sender, weak, dispatch_uid, True, on_commit)

    def _connect(
        self,
        receiver: Callable[..., Any],
        sender: object,
        weak: bool,
        dispatch_uid: Hashable | None,
        with_signal: bool,
        on_commit: bool = False,
    ) -> None:
        """``connect``, choosing whether the receiver is given ``signal=``.

        For subclasses that call receivers in another library's style.
        """
        # Two identity tests, not isinstance: a connect counts 100 fewer
        # instructions on 3.11.
        if on_commit is not False and on_commit is not True:
            raise SignalDefinitionError(
                f"on_commit must be True or False, got {on_commit!r} "
                f"(connecting {receiver!r} to {self!r})"
            )
        kind = receiver_kind(receiver, weak or on_commit, with_signal)
        if dispatch_uid is None and type(receiver) is FunctionType:
            # lookup_key's answer for a plain function, without the calls:
            # on CPython 3.13 they are 5% of a connect.
            key: LookupKey = (id(receiver), None if sender is None else id(sender))
        else:
            key = lookup_key(receiver, sender, dispatch_uid)
        target: Any = receiver
        if weak:
            target = weak_reference(receiver, self._mark_dead)
        if on_commit:
            target = OnCommitTarget(self, target, weak, kind)
        # The entry holds its sender, which keeps the sender's id from being
        # reused while it is registered.
        entry: Entry = (target, kind, dispatch_uid, sender)
        # acquire/release in try/finally: on CPython 3.11 a ``with`` block
        # costs twice as much.
        lock = self._lock
        lock.acquire()
        try:
            if self._has_dead_receivers:
                self._drop_dead()
            skey = key[1]
            index = self._index.get(skey)
            if index is not None:  # _find's dict lookup, without the call
                found = index.get(key[0])
                if found is not None and _is_live(found):
                    return
            elif self._find(key) is not None:
                return
            for_sender = self._for_sender
            if skey is None:
                self._for_any = extended(self._for_any, entry, self._GROW_FROM)
                for each in for_sender:
                    for_sender[each] = extended(
                        for_sender[each], entry, self._GROW_FROM
                    )
            else:
                old = for_sender.get(skey)
                if old is None:
                    old = unshared(self._for_any)
                for_sender[skey] = extended(old, entry, self._GROW_FROM)
            if index is not None:
                index[key[0]] = entry
            elif len(self._snapshot_of(skey)) >= self._INDEXED_FROM:
                self._reindex(skey)
        finally:
            lock.release()

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
            entry = self._find(key)
            if entry is None:
                return False
            self._withdraw(entry, key[0])
            return True

    def has_listeners(self, sender: object = None) -> bool:
        """Whether a send from ``sender`` would reach any live receiver."""
        return bool(self.receivers_for(sender))

    def receivers_for(self, sender: object) -> list[Callable[..., Any]]:
        """The live receivers a send from ``sender`` calls, in call order."""
        self._clean_if_dead()
        live = []
        for entry in self._entries_for(sender):
            receiver = receiver_of(entry)
            if receiver is not None:
                live.append(receiver)
        return live

    def _registrations_for(
        self, sender: object
    ) -> list[tuple[LookupKey, Callable[..., Any]]]:
        """Live registrations made for exactly ``sender`` (not for every sender)."""
        self._clean_if_dead()
        skey = sender_key(sender)
        return [((key, skey), receiver) for key, receiver, _ in self._own(skey)]

    def _entries_for(self, sender: object) -> Snapshot:
        return self._for_sender.get(id(sender), self._for_any)

    def _find(self, key: LookupKey) -> Entry | None:
        """The live entry registered under ``key``. Caller holds ``self._lock``.

        Scans the snapshot of the key's sender, which holds that sender's
        registrations (and the every-sender ones, told apart by their sender).
        """
        wanted, skey = key
        index = self._index.get(skey)
        if index is not None:
            entry = index.get(wanted)
            return entry if entry is not None and _is_live(entry) else None
        for receiver_key, _, entry in self._own(skey):
            if receiver_key == wanted:
                return entry
        return None

    def _own(
        self, skey: int | None
    ) -> Iterator[tuple[Hashable, Callable[..., Any], Entry]]:
        """``(receiver key, receiver, entry)`` of each live registration for sender key ``skey``.

        Not the every-sender ones a sender's snapshot also holds, unless
        ``skey`` is ``None``.
        """
        every_sender = skey is None
        for entry in self._snapshot_of(skey):
            if (entry[SENDER] is None) is every_sender:
                receiver = receiver_of(entry)
                if receiver is not None:
                    yield _receiver_key(entry, receiver), receiver, entry

    def _snapshot_of(self, skey: int | None) -> Snapshot:
        """What sender key ``skey``'s registrations are in (maybe among others)."""
        if skey is None:
            return self._for_any
        return self._for_sender.get(skey, _NO_RECEIVERS)

    def _reindex(self, skey: int | None) -> None:
        """Builds, or drops, the index of sender key ``skey`` from its snapshot."""
        if len(self._snapshot_of(skey)) >= self._INDEXED_FROM:
            self._index[skey] = {key: entry for key, _, entry in self._own(skey)}
        else:
            self._index.pop(skey, None)

    def _withdraw(self, entry: Entry, receiver_key: Hashable) -> None:
        """Publishes the snapshots holding ``entry`` without it, and unindexes it.

        Caller holds the lock. ``receiver_key`` is the key ``_find`` found it by.
        """
        owner = entry[SENDER]
        if owner is None:
            self._for_any = tuple(e for e in self._for_any if e is not entry)
            affected = list(self._for_sender)
        else:
            affected = [id(owner)]
        for each in affected:
            self._store(
                each, tuple(e for e in self._for_sender[each] if e is not entry)
            )
        index = self._index.get(sender_key(owner))
        if index is not None:
            index.pop(receiver_key, None)

    def _store(self, skey: int, entries: tuple[Entry, ...]) -> None:
        """Publishes a sender's snapshot, or drops it once no receiver of its own is left."""
        if any(e[SENDER] is not None for e in entries):
            self._for_sender[skey] = entries
        else:
            del self._for_sender[skey]
            self._index.pop(skey, None)

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
        self._for_any = tuple(e for e in self._for_any if _is_live(e))
        for skey, entries in list(self._for_sender.items()):
            self._store(skey, tuple(e for e in entries if _is_live(e)))
        for indexed in list(self._index):
            self._reindex(indexed)

    # Sending --------------------------------------------------------------

    def _live_entries(self, sender: object) -> Snapshot:
        if self in muted_signals.get():
            return _NO_RECEIVERS
        return self._entries_for(sender)

    send: SendMethod = sending(robust=False)
    """``async send(sender, **named)``: calls every receiver for ``sender``.

    Use as ``await signal.send(sender, **named)``; it returns
    ``(receiver, result)`` pairs. Plain functions are called inline; coroutine
    functions are awaited and run concurrently, each in its own copy of the
    caller's context (``docs/dispatch.md`` says exactly when a Task is made).
    Results are in connection order. If receivers raise, the others still
    finish, then the first error in connection order is raised. If the caller
    is cancelled, every running receiver is cancelled and awaited first.
    """

    send_robust: SendMethod = sending(robust=True)
    """``async send_robust(sender, **named)``: as ``send``, but a receiver's ``Exception`` becomes its result.

    Each such error keeps its ``__traceback__`` and is logged on the
    ``dispatch`` logger at ERROR; it never stops the other receivers.
    """

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
        # One iteration of the snapshot: a connect from another thread must
        # not add an async receiver between the check and the calls.
        entries = tuple(self._live_entries(sender))
        if not entries:
            return []
        if not any(entry[KIND][IS_ASYNC] for entry in entries):
            return call_plain(self, entries, sender, named, robust)
        return run_from_sync(
            self, self.send_robust if robust else self.send, sender, **named
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

    def muted(self, receiver: Callable[..., Any] | None = None) -> ContextManager[None]:
        """Calls no receivers of this signal inside the block, in this context only.

        With ``receiver``, only that receiver is left out (for every sender
        it is connected for); the others are called as usual. The mute is a
        context variable: a concurrent task or request keeps its receivers,
        and tasks started inside the block inherit the mute.
        """
        if receiver is None:
            return _muted_signal(self)
        # intercept imports this module, so it cannot be imported at the top.
        from .intercept import muted_receiver

        return muted_receiver(self, receiver)


@contextlib.contextmanager
def _muted_signal(signal: Signal) -> Iterator[None]:
    token = muted_signals.set(muted_signals.get() | {signal})
    try:
        yield
    finally:
        muted_signals.reset(token)


def run_from_sync(
    signal: Signal,
    send: Callable[..., Awaitable[list[Result]]],
    *args: Any,
    **kwargs: Any,
) -> list[Result]:
    """Runs ``send(*args, **kwargs)`` for ``send_sync``: async receivers, no running loop.

    ``asgiref.sync.async_to_sync`` runs it; from a thread whose event loop is
    running that cannot be done, and the error says what to do instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return async_to_sync(send)(*args, **kwargs)
    raise RuntimeError(
        f"{signal!r} has async receivers and this thread's event loop is "
        "running: use 'await signal.send(...)' instead of send_sync()"
    )


def receiver_of(entry: Entry) -> Callable[..., Any] | None:
    """The receiver an entry calls, or ``None`` once a weak one is collected."""
    target = entry[TARGET]
    if not entry[KIND][INDIRECT]:
        return target  # type: ignore[no-any-return]
    if type(target) is OnCommitTarget:
        return target.receiver  # type: ignore[no-any-return]
    return target()  # type: ignore[no-any-return]


def _is_live(entry: Entry) -> bool:
    return not entry[KIND][INDIRECT] or receiver_of(entry) is not None


def _receiver_key(entry: Entry, receiver: Callable[..., Any]) -> Hashable:
    """The receiver half of the lookup key ``connect`` made for ``entry``."""
    uid = entry[DISPATCH_UID]
    return ("dispatch_uid", uid) if uid is not None else receiver_id(receiver)


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
