"""Snapshots: the sequences of entries that sends iterate, fixed once a send starts.

A connect publishes a snapshot one entry longer, and the sends still reading
the old one go on seeing exactly what they started with. While a snapshot is
short it is a tuple, the cheapest thing to iterate; a tuple has to be copied
whole to be extended, though, so 10,000 connects to one sender would copy 50
million entries. From ``grow_from`` entries on (``Signal._GROW_FROM``), a
snapshot is a ``Growing``: a list that only ever grows at its end, and how
many of its entries are published. A connect appends and publishes one
more; an iteration stops at the length it started with, so a send that
began before the connect never sees the new receiver, exactly as with
tuples. Such a sender has so many receivers that the few hundred
nanoseconds a ``Growing`` adds to a send do not show.
"""

from __future__ import annotations

from itertools import islice
from typing import Any, Final, Hashable, Iterator, Tuple, Union

Kind = Tuple[bool, bool, bool, bool]
"""How a send calls a receiver: (indirect, gets_signal, is_async, awaits_any).

``indirect``: the entry holds not the receiver but something to call with no
arguments for the receiver to call this time: a weak reference to it, or an
``OnCommitTarget`` (``commit.py``) that gives the receiver when no commit scope
is open and a call that queues it when one is. Either gives ``None`` when
there is nothing to call. ``gets_signal``: it is called with ``signal=``
(Django's style). ``is_async``: calling it gives an awaitable.
``awaits_any``: that awaitable may be something other than a coroutine. The
flags are plain booleans because testing them is the cheapest branch CPython
has; ``KINDS`` holds one tuple per combination, so an entry pays for a
pointer, not a tuple.
"""

Entry = Tuple[Any, Kind, Hashable, object]
"""(target: the receiver or what gives it, kind, dispatch_uid or None, sender or None).

The last two only matter to the registry, which finds registrations by them.
Entries and kinds are plain tuples, read through the field positions below:
the send loop unpacks them, and CPython unpacks only an exact tuple by its
fast path (a ``NamedTuple`` made that loop about three times slower).
"""

# Field positions in an ``Entry``.
TARGET: Final = 0
KIND: Final = 1
DISPATCH_UID: Final = 2
SENDER: Final = 3

# Field positions in a ``Kind``.
INDIRECT: Final = 0
GETS_SIGNAL: Final = 1
IS_ASYNC: Final = 2
AWAITS_ANY: Final = 3

KINDS = tuple(
    tuple(
        tuple(
            tuple(
                (indirect, gets_signal, is_async, awaits_any)
                for awaits_any in (False, True)
            )
            for is_async in (False, True)
        )
        for gets_signal in (False, True)
    )
    for indirect in (False, True)
)
"""Every ``Kind``, as ``KINDS[indirect][gets_signal][is_async][awaits_any]``.

Entries of one kind share its tuple; indexing by the flags, unlike a dict
keyed by them, builds and hashes no tuple.
"""


class Growing:
    """A long snapshot: the first ``len(self)`` entries of a list that only grows.

    ``extended`` appends to it in place, so one ``Growing`` must never be
    published in two places of a registry (see ``unshared``).
    """

    __slots__ = ("_entries", "_length")

    def __init__(self, entries: list[Entry]) -> None:
        self._entries = entries
        self._length = len(entries)

    def __iter__(self) -> Iterator[Entry]:
        return islice(self._entries, self._length)

    def __len__(self) -> int:
        return self._length


Snapshot = Union[Tuple[Entry, ...], Growing]


def extended(snapshot: Snapshot, entry: Entry, grow_from: int) -> Snapshot:
    """``snapshot`` followed by ``entry``; iterations already started are unchanged.

    A ``Growing`` grows in place and is returned. A shorter tuple is
    concatenated, which copies it once (unpacking into a new tuple copies
    twice); one of ``grow_from`` entries or more is copied into a ``Growing``.
    """
    if isinstance(snapshot, Growing):
        snapshot._entries.append(entry)
        snapshot._length += 1
        return snapshot
    if len(snapshot) < grow_from:
        return snapshot + (entry,)  # noqa: RUF005
    return Growing([*snapshot, entry])


def unshared(snapshot: Snapshot) -> Snapshot:
    """The entries of ``snapshot``, in a snapshot ``extended`` may grow on its own."""
    if isinstance(snapshot, Growing):
        return Growing(list(snapshot))
    return snapshot
