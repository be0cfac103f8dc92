"""Snapshots: the immutable sequences of entries that sends iterate.

A connect publishes a new snapshot one entry longer and leaves the old one to
the sends still reading it. While a snapshot is short it is a tuple, the
cheapest thing to iterate; a tuple has to be copied whole to be extended,
though, so 10,000 connects to one sender would copy 50 million entries.
From ``chunk`` entries on (``Signal._CHUNK``), a snapshot is a ``Chunked``:
full chunks that successive snapshots share, and a tail of fewer than
``chunk`` entries. A connect then copies the tail, and once every ``chunk``
connects the list of chunks. Such a sender has so many receivers that the few hundred
nanoseconds a ``Chunked`` adds to a send do not show.
"""

from __future__ import annotations

from itertools import chain, product
from typing import Any, Hashable, Iterator, Tuple, Union

Kind = Tuple[bool, bool, bool, bool]
"""How a send calls a receiver: (weak, gets_signal, is_async, awaits_any).

``weak``: the entry holds a weak reference to the receiver. ``gets_signal``:
it is called with ``signal=`` (Django's style). ``is_async``: calling it gives
an awaitable. ``awaits_any``: that awaitable may be something other than a
coroutine. The flags are plain booleans because testing them is the cheapest
branch CPython has; ``KINDS`` holds one tuple per combination, so an entry
pays for a pointer, not a tuple.
"""

Entry = Tuple[Any, Kind, Hashable, object]
"""(receiver or weak reference to it, kind, dispatch_uid or None, sender or None).

The last two only matter to the registry, which finds registrations by them.
"""

WEAK, IS_ASYNC = 0, 2
"""Positions in a ``Kind``, for code outside the send loop."""

KINDS: dict[Kind, Kind] = {
    (weak, gets_signal, is_async, awaits_any): (weak, gets_signal, is_async, awaits_any)
    for weak, gets_signal, is_async, awaits_any in product((False, True), repeat=4)
}
"""Every ``Kind``, mapped to the one tuple that entries of that kind share.

Look one up as ``KINDS[weak, gets_signal, is_async, awaits_any]``, with
``awaits_any`` true only for an async receiver.
"""


class Chunked:
    """A long snapshot: ``chunks`` (shared, never changed) then ``tail``."""

    __slots__ = ("_chunks", "_length", "_tail")

    def __init__(
        self,
        chunks: tuple[tuple[Entry, ...], ...],
        tail: tuple[Entry, ...],
        length: int,
    ) -> None:
        self._chunks = chunks
        self._tail = tail
        self._length = length

    def __iter__(self) -> Iterator[Entry]:
        return chain(chain.from_iterable(self._chunks), self._tail)

    def __len__(self) -> int:
        return self._length


Snapshot = Union[Tuple[Entry, ...], Chunked]


def extended(snapshot: Snapshot, entry: Entry, chunk: int) -> Snapshot:
    """``snapshot`` followed by ``entry``, as a new snapshot; ``snapshot`` is unchanged.

    ``chunk`` is the length from which a snapshot is a ``Chunked``.

    Tuples are extended by concatenation, which copies them once (unpacking
    into a new tuple copies twice).
    """
    if isinstance(snapshot, tuple):
        if len(snapshot) < chunk:
            return snapshot + (entry,)  # noqa: RUF005
        return Chunked((snapshot,), (entry,), len(snapshot) + 1)
    tail = snapshot._tail + (entry,)  # noqa: RUF005
    if len(tail) < chunk:
        return Chunked(snapshot._chunks, tail, snapshot._length + 1)
    return Chunked(snapshot._chunks + (tail,), (), snapshot._length + 1)  # noqa: RUF005
