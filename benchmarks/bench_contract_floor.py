"""What the send contract costs at the least, next to the sequential floor.

``bench_dispatch.py`` holds ``dispatch`` to 4 x ``for r in rs: await r(...)``
in scenarios b and c. This script asks whether any implementation of the
contract can get there: it times, side by side in one event loop,

- ``floor``: ``for r in rs: await r(sender=s, instance=p)``;
- ``contract minimum``: the least a send can do and keep the contract (one
  coroutine per send, a payload dict with ``signal=``, each coroutine receiver
  started by hand inside the caller's task, in its own ``copy_context()``,
  through a generator that appends its ``(receiver, result)`` pair, as
  ``dispatch`` does), with nothing for weak receivers, sync receivers,
  errors, suspension, muting or sender lookup;
- the same without the context copy (which the contract requires);
- the same stepping every receiver through one generator per send instead
  of one per receiver (``_stepping``): fewer instructions per receiver, more
  per send;
- ``dispatch``: ``dispatch.Signal.send``.

It prints the median of per-repeat ratios to the floor for 1 and 10
receivers; within a repeat the implementations take turns, ``SLICES`` times,
and each keeps its fastest turn. Usage: ``PYTHONPATH=. python benchmarks/bench_contract_floor.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import types
from contextvars import copy_context
from time import perf_counter_ns
from typing import Any, Awaitable, Callable, Generator

import dispatch

SLICES = 5
"""Each repeat times every implementation in this many turns and keeps its fastest.

As in ``bench_dispatch.py``: this machine switches between two speeds several
times a second, and only samples taken at the same speed compare.
"""

_DONE = object()
PAYLOAD = object()


class Sender:
    pass


@types.coroutine
def _into(coro: Any, results: list[Any], receiver: Any) -> Generator[Any, Any, None]:
    results.append((receiver, (yield from coro)))


@types.coroutine
def _stepping(
    results: list[Any], coro: Any, receiver: Any
) -> Generator[Any, Any, None]:
    """Runs ``coro``, then each ``(coroutine, receiver)`` sent to it, until ``None``.

    It yields ``_DONE`` after each receiver, so the caller can step the next
    one in another context; ``next(stepping, None)`` ends it without raising.
    """
    while True:
        results.append((receiver, (yield from coro)))
        following = yield _DONE
        if following is None:
            return
        coro, receiver = following


class SharedStepping:
    """The contract minimum, with one stepping generator for the whole send."""

    def __init__(self, receivers: list[Callable[..., Any]]) -> None:
        self.receivers = receivers

    async def send(self, sender: object, **named: Any) -> list[Any]:
        kwargs = {"signal": self, "sender": sender, **named}
        results: list[Any] = []
        stepping = None
        for receiver in self.receivers:
            coro = receiver(**kwargs)
            if stepping is None:
                stepping = _stepping(results, coro, receiver)
                yielded = copy_context().run(next, stepping, _DONE)
                step = stepping.send
            else:
                yielded = copy_context().run(step, (coro, receiver))
            if yielded is not _DONE:
                raise RuntimeError("this minimum handles no suspending receiver")
        if stepping is not None:
            next(stepping, None)
        return results


class ContractMinimum:
    """A send that keeps only what the contract demands for coroutine receivers."""

    def __init__(self, receivers: list[Callable[..., Any]], copy: bool) -> None:
        self.receivers = receivers
        self.copy = copy

    async def send(self, sender: object, **named: Any) -> list[Any]:
        kwargs = {"signal": self, "sender": sender, **named}
        results: list[Any] = []
        for receiver in self.receivers:
            step = _into(receiver(**kwargs), results, receiver)
            if self.copy:
                yielded = copy_context().run(next, step, _DONE)
            else:
                yielded = next(step, _DONE)
            if yielded is not _DONE:
                raise RuntimeError("this minimum handles no suspending receiver")
        return results


def make_receiver() -> Callable[..., Awaitable[None]]:
    async def receiver(sender: Any, **kwargs: Any) -> None:
        return None

    return receiver


def runners(count: int) -> dict[str, Callable[[int], Awaitable[int]]]:
    receivers = [make_receiver() for _ in range(count)]
    signal = dispatch.Signal("floor")
    for receiver in receivers:
        signal.connect(receiver, sender=Sender)
    minimum = ContractMinimum(receivers, copy=True)
    without_copy = ContractMinimum(receivers, copy=False)

    async def floor(n: int) -> int:
        start = perf_counter_ns()
        for _ in range(n):
            for receiver in receivers:
                await receiver(sender=Sender, instance=PAYLOAD)
        return perf_counter_ns() - start

    def timing(send: Callable[..., Awaitable[Any]]) -> Callable[[int], Awaitable[int]]:
        async def run(n: int) -> int:
            start = perf_counter_ns()
            for _ in range(n):
                await send(Sender, instance=PAYLOAD)
            return perf_counter_ns() - start

        return run

    return {
        "floor": floor,
        "contract minimum": timing(minimum.send),
        "minimum without context copy": timing(without_copy.send),
        "minimum, one stepping generator": timing(SharedStepping(receivers).send),
        "dispatch": timing(signal.send),
    }


async def measure(count: int, repeats: int, sends: int) -> dict[str, list[float]]:
    runs = runners(count)
    names = list(runs)
    ratios: dict[str, list[float]] = {name: [] for name in names[1:]}
    for repeat in range(repeats):
        shift = repeat % len(names)
        took = {name: float("inf") for name in names}
        for _ in range(SLICES):
            for name in names[shift:] + names[:shift]:
                took[name] = min(took[name], await runs[name](sends // SLICES))
        for name in names[1:]:
            ratios[name].append(took[name] / took["floor"])
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--sends", type=int, default=20_000)
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}, {args.repeats} repeats")
    print("| receivers | implementation | median ratio to the floor |")
    print("| ---: | --- | ---: |")
    for count in (1, 10):
        ratios = asyncio.run(measure(count, args.repeats, args.sends // count))
        for name, values in ratios.items():
            print(f"| {count} | {name} | {statistics.median(values):.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
