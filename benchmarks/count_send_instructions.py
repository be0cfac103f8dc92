"""Sends N times to one sender's receivers: run under callgrind to count instructions.

Instructions per send are (count for N sends - count for 0 sends) / N, which
repeats to the instruction for the same Python, whatever else the machine is
doing. From the repository root::

    for n in 0 2000; do
        PYTHONPATH=. PYTHONHASHSEED=0 setarch -R valgrind --tool=callgrind \\
            --callgrind-out-file=/dev/null python benchmarks/count_send_instructions.py $n 1 async
    done

Arguments: N, the number of receivers, and ``async`` (coroutine receivers)
or ``plain`` (plain functions). Each send carries one keyword argument.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any, Callable

from dispatch import Signal


def make_receiver(kind: str) -> Callable[..., Any]:
    if kind == "async":

        async def receiver(sender: object, **kwargs: Any) -> None:
            return None

        return receiver

    def plain(sender: object, **kwargs: Any) -> None:
        return None

    return plain


async def send(signal: Signal, sender: object, sends: int) -> None:
    for _ in range(sends):
        await signal.send(sender, instance=1)


def main() -> None:
    sends, receivers, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    signal, sender = Signal(), object()
    for _ in range(receivers):
        signal.connect(make_receiver(kind), sender=sender)
    asyncio.run(send(signal, sender, sends))


if __name__ == "__main__":
    main()
