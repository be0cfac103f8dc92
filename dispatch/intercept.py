"""Send methods that look before sending, swapped into ``Signal`` only while needed.

``dispatch.testing.capture`` records sends and ``Signal.muted(receiver=...)``
leaves one receiver out, each in one context (a context variable). No send
pays for either while neither is in use anywhere in the process: the first
one to start swaps the versions below of ``send``, ``send_robust`` and
``_send_from_sync`` (behind ``send_sync`` and ``send_robust_sync``) into
``Signal``, and the last one to end puts the originals back. While they are
in, a send from a context where neither is active goes straight on to the
original.

A bound method taken before the swap (``send = signal.send``) keeps calling
the original: sends through it are not recorded and mute no receiver.
"""

from __future__ import annotations

import contextlib
import threading
from contextvars import ContextVar
from typing import Any, Callable, Iterator, Protocol, Tuple

from .delivery import Result, call_plain, deliver, muted_signals
from .receivers import ReceiverId, receiver_id
from .signal import Signal, receiver_of, run_from_sync
from .snapshot import IS_ASYNC, KIND, Entry, Snapshot

__all__ = ["Recorder", "intercepting", "muted_receiver", "recorders"]


class Recorder(Protocol):
    """What ``capture`` puts in ``recorders``."""

    def observe(self, signal: Signal, sender: object, named: dict[str, Any]) -> bool:
        """Records the send if it is one to record; ``True``: call none of its receivers."""


recorders: ContextVar[tuple[Recorder, ...]] = ContextVar(
    "dispatch_recorders", default=()
)
"""The active captures of this context, outermost first."""

_Mute = Tuple[Signal, ReceiverId, Callable[..., Any]]
"""(signal, the muted receiver's id, the receiver, which keeps that id its own)."""

_muted_receivers: ContextVar[tuple[_Mute, ...]] = ContextVar(
    "dispatch_muted_receivers", default=()
)

_SWAPPED = ("send", "send_robust", "_send_from_sync")
_ORIGINALS: dict[str, Any] = {name: Signal.__dict__[name] for name in _SWAPPED}
_lock = threading.Lock()
_users = 0  # captures and receiver mutes active now, in every thread and context


@contextlib.contextmanager
def intercepting() -> Iterator[None]:
    """Keeps the looking send methods in ``Signal`` for the block."""
    global _users
    with _lock:
        if not _users:
            for name in _SWAPPED:
                setattr(Signal, name, _LOOKING[name])
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if not _users:
                for name in _SWAPPED:
                    setattr(Signal, name, _ORIGINALS[name])


@contextlib.contextmanager
def muted_receiver(signal: Signal, receiver: Callable[..., Any]) -> Iterator[None]:
    """``signal.muted(receiver)``: the sends of ``signal`` in this context skip ``receiver``."""
    if not callable(receiver):
        raise TypeError(
            f"{signal!r}.muted() takes the receiver to mute, got {receiver!r}"
        )
    with intercepting():
        mute = (signal, receiver_id(receiver), receiver)
        token = _muted_receivers.set((*_muted_receivers.get(), mute))
        try:
            yield
        finally:
            _muted_receivers.reset(token)


def _entries(signal: Signal, sender: object, named: dict[str, Any]) -> Snapshot:
    """Records the send for the captures that want it; the entries it is to call."""
    silenced = False
    for recorder in recorders.get():
        if recorder.observe(signal, sender, named):
            silenced = True
    if silenced or signal in muted_signals.get():
        return ()
    entries = signal._entries_for(sender)
    muted = [rid for each, rid, _ in _muted_receivers.get() if each is signal]
    if muted:
        entries = tuple(entry for entry in entries if _id_of(entry) not in muted)
    return entries


def _id_of(entry: Entry) -> ReceiverId | None:
    receiver = receiver_of(entry)
    return None if receiver is None else receiver_id(receiver)


def _looking_send(robust: bool) -> Any:
    original = _ORIGINALS["send_robust" if robust else "send"]

    async def send(self: Signal, sender: object, **named: Any) -> list[Result]:
        if not recorders.get() and not _muted_receivers.get():
            return await original(self, sender, **named)  # type: ignore[no-any-return]
        entries = _entries(self, sender, named)
        if not entries:
            return []
        return await deliver(self, entries, sender, named, robust)

    send.__qualname__ = original.__qualname__
    send.__name__ = original.__name__
    send.__doc__ = original.__doc__
    return send


def _send_from_sync(
    self: Signal, sender: object, named: dict[str, Any], robust: bool
) -> list[Result]:
    if not recorders.get() and not _muted_receivers.get():
        return _ORIGINALS["_send_from_sync"](self, sender, named, robust)  # type: ignore[no-any-return]
    entries = tuple(_entries(self, sender, named))
    if not entries:
        return []
    if not any(entry[KIND][IS_ASYNC] for entry in entries):
        return call_plain(self, entries, sender, named, robust)
    return run_from_sync(self, deliver, self, entries, sender, named, robust)


_LOOKING: dict[str, Any] = {
    "send": _looking_send(robust=False),
    "send_robust": _looking_send(robust=True),
    "_send_from_sync": _send_from_sync,
}
