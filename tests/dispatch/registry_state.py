"""What a signal's registry holds, read from its snapshots (tests only)."""

from __future__ import annotations

from dispatch import Signal
from dispatch.snapshot import SENDER


def registrations(signal: Signal) -> int:
    """How many registrations ``signal`` holds, live or not yet cleaned up.

    Every-sender receivers are counted once, though each sender's snapshot
    repeats them; a sender's own receivers are the entries naming a sender.
    """
    own = sum(
        1
        for entries in signal._for_sender.values()
        for entry in entries
        if entry[SENDER] is not None
    )
    return len(signal._for_any) + own
