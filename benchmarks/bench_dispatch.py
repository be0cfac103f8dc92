"""How fast ``dispatch.Signal.send`` is next to Django, blinker and ormar.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_dispatch.py            # 15 repeats
    PYTHONPATH=. python benchmarks/bench_dispatch.py --quick    # a smoke run

It prints a markdown report and draws the chart that docs/benchmarks.md shows
for this Python (docs/bench_dispatch_py3XX.png).

Peers (each used the way its documentation shows):

* ``django.dispatch.Signal.asend``, plain and with ``use_caching=True``;
* ``blinker.Signal.send_async`` (sync receivers through ``_sync_wrapper``, with
  a wrapper that calls them inline, the cheapest one possible);
* ``ormar.signals.Signal.send``, one ``Signal`` per sender as ormar keeps one
  per model (ormar calls only coroutine receivers: scenario d is n/a);
* two hand-written floors: awaiting each receiver in turn, and
  ``asyncio.gather`` over them.

Scenarios a-e time one send; f times connects and measures the memory that a
registration keeps. Every implementation is first checked to call exactly the
receivers it should, once each; the run aborts otherwise.

Timing: each sample is a loop of N sends inside one running event loop, timed
with ``perf_counter_ns``, N chosen so that a sample takes about 30 ms. Within a
repeat the implementations take turns, in an order that rotates from repeat to
repeat, five times each with a fifth of their sample (``SLICES``); each
keeps its fastest slice, so that the ratios compare samples taken at the
same machine speed. Reported:
the median ns per send over the repeats, and the median over repeats of the
per-repeat ratio dispatch / fastest peer (Django, blinker, ormar) and
dispatch / floor.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import tracemalloc
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from time import perf_counter_ns
from typing import Any, Awaitable, Callable

import blinker
import django
import django.dispatch
from django.conf import settings
from ormar.signals import Signal as OrmarSignal

import dispatch

if not settings.configured:
    settings.configure()

DISPATCH = "dispatch"
DJANGO = "django"
DJANGO_CACHED = "django cached"
BLINKER = "blinker"
ORMAR = "ormar"
FLOOR_SEQUENTIAL = "floor: await each"
FLOOR_GATHER = "floor: gather"
PEERS = (DJANGO, DJANGO_CACHED, BLINKER, ORMAR)
FLOORS = (FLOOR_SEQUENTIAL, FLOOR_GATHER)
IMPLEMENTATIONS = (DISPATCH, *PEERS, *FLOORS)

Receiver = Callable[..., Any]
Runner = Callable[[int], Awaitable[int]]
"""``await runner(n)`` sends n times and returns the elapsed nanoseconds."""


class Payload:
    """What a send carries besides the sender, as ormar passes ``instance``."""


PAYLOAD = Payload()
DOCS = Path(__file__).resolve().parent.parent / "docs"


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    senders: int
    per_sender: int
    sync: bool = False

    @property
    def target(self) -> int:
        """Index of the sender that sends: the middle one."""
        return self.senders // 2


SCENARIOS = (
    Scenario("a", "no receivers", 1, 0),
    Scenario("b", "one async receiver", 1, 1),
    Scenario("c", "ten async receivers", 1, 10),
    Scenario("d", "one sync receiver", 1, 1, sync=True),
    Scenario("e", "1,000 senders, one receiver each", 1000, 1),
)


def trivial_receiver(sync: bool) -> Receiver:
    """A new function object on every call, so no two registrations coincide."""
    if sync:

        def receiver(sender: Any, **kwargs: Any) -> None:
            return None

        return receiver

    async def async_receiver(sender: Any, **kwargs: Any) -> None:
        return None

    return async_receiver


def counting_receiver(sync: bool, counts: list[int], index: int) -> Receiver:
    if sync:

        def receiver(sender: Any, **kwargs: Any) -> None:
            counts[index] += 1

        return receiver

    async def async_receiver(sender: Any, **kwargs: Any) -> None:
        counts[index] += 1

    return async_receiver


def make_senders(n: int) -> list[type]:
    """Classes, as ormar's senders are model classes (hashable, weak-referenceable)."""
    return [type(f"Model{i}", (), {}) for i in range(n)]


# Implementations: each builds its registry and returns a runner, or None (n/a).


SLICES = 5
"""A repeat's sample of each implementation is cut into this many slices.

The implementations take turns slice by slice and each keeps its fastest
slice: this machine switches between two speeds (about 2 x apart) several
times a second, and a ratio of two samples taken at different speeds says
nothing about the code.
"""


def timed(send_once: Callable[[], Awaitable[Any]]) -> Runner:
    async def run(n: int) -> int:
        start = perf_counter_ns()
        for _ in range(n):
            await send_once()
        return perf_counter_ns() - start

    return run


def build_dispatch(
    sc: Scenario, senders: list[type], receivers: list[list[Receiver]]
) -> Runner | None:
    signal = dispatch.Signal("bench")
    for sender, each in zip(senders, receivers):
        for receiver in each:
            signal.connect(receiver, sender=sender)
    send, target = signal.send, senders[sc.target]

    async def run(n: int) -> int:
        start = perf_counter_ns()
        for _ in range(n):
            await send(target, instance=PAYLOAD)
        return perf_counter_ns() - start

    return run


def build_django(use_caching: bool) -> Callable[..., Runner | None]:
    def build(
        sc: Scenario, senders: list[type], receivers: list[list[Receiver]]
    ) -> Runner | None:
        signal = django.dispatch.Signal(use_caching=use_caching)
        for sender, each in zip(senders, receivers):
            for receiver in each:
                signal.connect(receiver, sender=sender, weak=False)
        asend, target = signal.asend, senders[sc.target]

        async def run(n: int) -> int:
            start = perf_counter_ns()
            for _ in range(n):
                await asend(target, instance=PAYLOAD)
            return perf_counter_ns() - start

        return run

    return build


def inline_sync_wrapper(function: Receiver) -> Receiver:
    """blinker's ``_sync_wrapper``: the cheapest way to await a sync receiver."""

    async def call(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    return call


def build_blinker(
    sc: Scenario, senders: list[type], receivers: list[list[Receiver]]
) -> Runner | None:
    signal = blinker.Signal()
    for sender, each in zip(senders, receivers):
        for receiver in each:
            signal.connect(receiver, sender=sender, weak=False)
    send_async, target = signal.send_async, senders[sc.target]
    if sc.sync:

        async def run(n: int) -> int:
            start = perf_counter_ns()
            for _ in range(n):
                await send_async(
                    target, _sync_wrapper=inline_sync_wrapper, instance=PAYLOAD
                )
            return perf_counter_ns() - start

        return run

    async def run(n: int) -> int:
        start = perf_counter_ns()
        for _ in range(n):
            await send_async(target, instance=PAYLOAD)
        return perf_counter_ns() - start

    return run


def build_ormar(
    sc: Scenario, senders: list[type], receivers: list[list[Receiver]]
) -> Runner | None:
    if sc.sync:
        return None  # ormar gathers what receivers return: coroutine receivers only
    signals = [OrmarSignal() for _ in senders]
    for signal, each in zip(signals, receivers):
        for receiver in each:
            signal.connect(receiver)
    send, target = signals[sc.target].send, senders[sc.target]

    async def run(n: int) -> int:
        start = perf_counter_ns()
        for _ in range(n):
            await send(target, instance=PAYLOAD)
        return perf_counter_ns() - start

    return run


def build_floor_sequential(
    sc: Scenario, senders: list[type], receivers: list[list[Receiver]]
) -> Runner | None:
    rs, target = receivers[sc.target], senders[sc.target]
    if sc.sync:

        async def run(n: int) -> int:
            start = perf_counter_ns()
            for _ in range(n):
                for r in rs:
                    r(sender=target, instance=PAYLOAD)
            return perf_counter_ns() - start

        return run

    async def run(n: int) -> int:
        start = perf_counter_ns()
        for _ in range(n):
            for r in rs:
                await r(sender=target, instance=PAYLOAD)
        return perf_counter_ns() - start

    return run


def build_floor_gather(
    sc: Scenario, senders: list[type], receivers: list[list[Receiver]]
) -> Runner | None:
    if sc.sync:
        return None
    rs, target = receivers[sc.target], senders[sc.target]
    gather = asyncio.gather

    async def run(n: int) -> int:
        start = perf_counter_ns()
        for _ in range(n):
            await gather(*(r(sender=target, instance=PAYLOAD) for r in rs))
        return perf_counter_ns() - start

    return run


BUILDERS: dict[str, Callable[..., Runner | None]] = {
    DISPATCH: build_dispatch,
    DJANGO: build_django(False),
    DJANGO_CACHED: build_django(True),
    BLINKER: build_blinker,
    ORMAR: build_ormar,
    FLOOR_SEQUENTIAL: build_floor_sequential,
    FLOOR_GATHER: build_floor_gather,
}


async def check_reach(sc: Scenario, name: str) -> bool:
    """Sends once with counting receivers; aborts unless exactly the target's ran once."""
    senders = make_senders(sc.senders)
    counts = [0] * (sc.senders * sc.per_sender)
    receivers = [
        [
            counting_receiver(sc.sync, counts, s * sc.per_sender + k)
            for k in range(sc.per_sender)
        ]
        for s in range(sc.senders)
    ]
    run = BUILDERS[name](sc, senders, receivers)
    if run is None:
        return False
    await run(1)
    expected = [0] * len(counts)
    for k in range(sc.per_sender):
        expected[sc.target * sc.per_sender + k] = 1
    if counts != expected:
        got = sum(counts)
        raise SystemExit(
            f"ABORT: {name} in scenario {sc.key} called {got} receiver(s) "
            f"(distribution wrong: expected exactly the {sc.per_sender} of sender #{sc.target}, once each)"
        )
    return True


async def calibrate(run: Runner, sample_ns: int) -> int:
    await run(10)  # warm-up
    n = 1
    while True:
        elapsed = await run(n)
        if elapsed >= sample_ns / 4:
            return max(1, int(n * sample_ns / elapsed))
        n *= 4


async def time_sends(repeats: int, sample_ns: int) -> dict[str, dict[str, list[float]]]:
    """ns per send: results[scenario][implementation] = one value per repeat."""
    runners: dict[str, dict[str, Runner]] = {}
    loops: dict[str, dict[str, int]] = {}
    for sc in SCENARIOS:
        runners[sc.key], loops[sc.key] = {}, {}
        for name in IMPLEMENTATIONS:
            if not await check_reach(sc, name):
                continue
            senders = make_senders(sc.senders)
            receivers = [
                [trivial_receiver(sc.sync) for _ in range(sc.per_sender)]
                for _ in senders
            ]
            run = BUILDERS[name](sc, senders, receivers)
            assert run is not None
            runners[sc.key][name] = run
            loops[sc.key][name] = await calibrate(run, sample_ns)
    print("reach check passed for every implementation and scenario", file=sys.stderr)

    results: dict[str, dict[str, list[float]]] = {
        sc.key: {name: [] for name in runners[sc.key]} for sc in SCENARIOS
    }
    for repeat in range(repeats):
        for sc in SCENARIOS:
            names = list(runners[sc.key])
            shift = repeat % len(names)
            order = names[shift:] + names[:shift]
            fastest = {name: float("inf") for name in names}
            for _ in range(SLICES):
                for name in order:
                    n = max(1, loops[sc.key][name] // SLICES)
                    gc.collect()
                    elapsed = await runners[sc.key][name](n)
                    fastest[name] = min(fastest[name], elapsed / n)
            for name in names:
                results[sc.key][name].append(fastest[name])
        print(f"repeat {repeat + 1}/{repeats} done", file=sys.stderr)
    return results


# Scenario f: connects and memory.

CONNECT_LAYOUTS = (
    ("f1", "{count:,} senders x 1 receiver"),
    ("f2", "1 sender x {count:,} receivers"),
)


def connect_all(
    name: str, layout: str, senders: list[type], receivers: list[Receiver]
) -> Callable[[], Any]:
    """Returns ``work()`` making every registration of ``layout``; work returns the registry."""
    pairs = (
        list(zip(senders, receivers))
        if layout == "f1"
        else [(senders[0], r) for r in receivers]
    )

    if name == DISPATCH:

        def work() -> Any:
            signal = dispatch.Signal("bench")
            connect = signal.connect
            for sender, receiver in pairs:
                connect(receiver, sender=sender)
            return signal

    elif name in (DJANGO, DJANGO_CACHED):
        caching = name == DJANGO_CACHED

        def work() -> Any:
            signal = django.dispatch.Signal(use_caching=caching)
            connect = signal.connect
            for sender, receiver in pairs:
                connect(receiver, sender=sender, weak=False)
            return signal

    elif name == BLINKER:

        def work() -> Any:
            signal = blinker.Signal()
            connect = signal.connect
            for sender, receiver in pairs:
                connect(receiver, sender=sender, weak=False)
            return signal

    elif name == ORMAR:
        # ormar's per-model Signal exists whether or not anyone connects, so
        # it is made beforehand: only the registration is counted.
        n_signals = len(senders) if layout == "f1" else 1
        holder: list[list[OrmarSignal]] = []

        def work() -> Any:
            signals = (
                holder.pop() if holder else [OrmarSignal() for _ in range(n_signals)]
            )
            for index, (_, receiver) in enumerate(pairs):
                signals[index if layout == "f1" else 0].connect(receiver)
            return signals

        def prepare() -> None:
            holder.clear()
            holder.append([OrmarSignal() for _ in range(n_signals)])

        work.prepare = prepare  # type: ignore[attr-defined]
    else:
        raise ValueError(name)
    return work


CONNECT_TURNS = 3
"""Within a repeat every implementation makes all its registrations this many
times, in turns, and keeps its fastest: ``SLICES`` for connects, fewer
because Django's 10,000 connects take seconds."""


def measure_connects(
    repeats: int, count: int
) -> dict[str, dict[str, dict[str, float]]]:
    """results[layout][implementation] = {"ns": median ns/connect, "bytes": bytes/registration}."""
    names = (DISPATCH, *PEERS)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for layout, _ in CONNECT_LAYOUTS:
        senders = make_senders(count)
        receivers = [trivial_receiver(False) for _ in range(count)]
        times: dict[str, list[float]] = {name: [] for name in names}
        sizes: dict[str, list[float]] = {name: [] for name in names}
        works = {name: connect_all(name, layout, senders, receivers) for name in names}
        for repeat in range(repeats):
            shift = repeat % len(names)
            fastest = {name: float("inf") for name in names}
            for _ in range(CONNECT_TURNS):
                for name in names[shift:] + names[:shift]:
                    work = works[name]
                    prepare = getattr(work, "prepare", None)
                    if prepare:
                        prepare()
                    gc.collect()
                    start = perf_counter_ns()
                    registry = work()
                    elapsed = perf_counter_ns() - start
                    fastest[name] = min(fastest[name], elapsed / count)
                    del registry
            for name in names:
                times[name].append(fastest[name])
        for name in names:
            for _ in range(3):
                work = works[name]
                prepare = getattr(work, "prepare", None)
                if prepare:
                    prepare()
                gc.collect()
                tracemalloc.start()
                before = tracemalloc.get_traced_memory()[0]
                registry = work()
                gc.collect()
                after = tracemalloc.get_traced_memory()[0]
                tracemalloc.stop()
                sizes[name].append((after - before) / count)
                del registry
        results[layout] = {
            name: {
                "ns": statistics.median(times[name]),
                "bytes": statistics.median(sizes[name]),
            }
            for name in names
        }
        print(f"connects {layout} done", file=sys.stderr)
    return results


# Report.


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment() -> list[str]:
    return [
        f"- Python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}",
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs (shared with other work)",
        f"- Django {django.get_version()}, blinker {version('blinker')}, ormar {version('ormar')}, "
        f"asgiref {version('asgiref')}",
    ]


def fmt_ns(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def render(
    results: dict[str, dict[str, list[float]]],
    connects: dict[str, dict[str, dict[str, float]]],
    repeats: int,
    connects_count: int,
) -> tuple[str, dict[str, dict[str, float | None]]]:
    medians: dict[str, dict[str, float | None]] = {}
    lines = [
        f"### Python {platform.python_version()}",
        "",
        *environment(),
        f"- {repeats} repeats",
        "",
    ]
    lines += ["ns per send (median over repeats; lower is better)", ""]
    lines += ["| scenario | " + " | ".join(IMPLEMENTATIONS) + " |"]
    lines += ["| --- | " + " | ".join("---:" for _ in IMPLEMENTATIONS) + " |"]
    for sc in SCENARIOS:
        row = results[sc.key]
        medians[sc.key] = {
            name: statistics.median(row[name]) if name in row else None
            for name in IMPLEMENTATIONS
        }
        cells = [fmt_ns(medians[sc.key][name]) for name in IMPLEMENTATIONS]
        lines.append(f"| {sc.key}) {sc.title} | " + " | ".join(cells) + " |")

    lines += ["", "Ratios (median over repeats of the per-repeat ratio)", ""]
    lines += [
        "| scenario | fastest peer (most often) | dispatch / fastest peer | target ≤ 0.8 "
        "| dispatch / await each | dispatch / gather | target ≤ 4 × await each |"
    ]
    lines += ["| --- | --- | ---: | --- | ---: | ---: | --- |"]
    for sc in SCENARIOS:
        row = results[sc.key]
        peers = [p for p in PEERS if p in row]
        best_ratio, winners = [], []
        for i in range(repeats):
            best = min(peers, key=lambda p: row[p][i])
            winners.append(best)
            best_ratio.append(row[DISPATCH][i] / row[best][i])
        ratio = statistics.median(best_ratio)
        winner = max(set(winners), key=winners.count)
        floors = []
        for floor in FLOORS:
            if floor in row:
                floors.append(
                    statistics.median(
                        row[DISPATCH][i] / row[floor][i] for i in range(repeats)
                    )
                )
            else:
                floors.append(None)
        seq = floors[0]
        seq_target = (
            ("met" if seq is not None and seq <= 4 else "MISSED")
            if sc.key in "bc"
            else "—"
        )
        lines.append(
            f"| {sc.key} | {winner} | {ratio:.2f} | {'met' if ratio <= 0.8 else 'MISSED'} | "
            + " | ".join("n/a" if f is None else f"{f:.2f}" for f in floors)
            + f" | {seq_target} |"
        )

    lines += [
        "",
        "f) connects (ns per connect, median) and memory (bytes kept per registration, tracemalloc)",
        "",
    ]
    names = (DISPATCH, *PEERS)
    lines += [
        "| layout | "
        + " | ".join(f"{n} ns" for n in names)
        + " | "
        + " | ".join(f"{n} B" for n in names)
        + " |"
    ]
    lines += ["| --- | " + " | ".join("---:" for _ in range(2 * len(names))) + " |"]
    for layout, title in CONNECT_LAYOUTS:
        row = connects[layout]
        lines.append(
            f"| {layout}) {title.format(count=connects_count)} | "
            + " | ".join(f"{row[n]['ns']:,.0f}" for n in names)
            + " | "
            + " | ".join(f"{row[n]['bytes']:,.0f}" for n in names)
            + " |"
        )
    lines += [
        "",
        "f targets: connect no slower than blinker, fewer bytes per registration than Django",
        "",
    ]
    for layout, _ in CONNECT_LAYOUTS:
        row = connects[layout]
        fast = row[DISPATCH]["ns"] <= row[BLINKER]["ns"]
        small = row[DISPATCH]["bytes"] < min(
            row[DJANGO]["bytes"], row[DJANGO_CACHED]["bytes"]
        )
        lines.append(
            f"- {layout}: connect {row[DISPATCH]['ns'] / row[BLINKER]['ns']:.2f} × blinker "
            f"({'met' if fast else 'MISSED'}); {row[DISPATCH]['bytes']:,.0f} B vs Django "
            f"{row[DJANGO]['bytes']:,.0f} B ({'met' if small else 'MISSED'})"
        )
    return "\n".join(lines) + "\n", medians


def chart(medians: dict[str, dict[str, float | None]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 5.5))
    width = 0.8 / len(IMPLEMENTATIONS)
    for i, name in enumerate(IMPLEMENTATIONS):
        xs, ys = [], []
        for j, sc in enumerate(SCENARIOS):
            value = medians[sc.key][name]
            if value is not None:
                xs.append(j + (i - len(IMPLEMENTATIONS) / 2 + 0.5) * width)
                ys.append(value)
        ax.bar(xs, ys, width, label=name)
    ax.set_xticks(range(len(SCENARIOS)))
    ax.set_xticklabels([f"{sc.key}) {sc.title}" for sc in SCENARIOS], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("ns per send (log scale, lower is better)")
    ax.set_title(f"Signal send cost, Python {platform.python_version()}")
    ax.legend(
        fontsize=8,
        ncol=len(IMPLEMENTATIONS),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.08),
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=15, help="timed rounds (default 15)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="3 repeats, short samples: a smoke run"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="also write the markdown report to this path (default: print only)",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        default=DOCS / "bench_dispatch_py{}{}.png".format(*sys.version_info[:2]),
        help="chart path (default docs/bench_dispatch_py3XX.png, the one the "
        "Benchmarks page shows for this Python)",
    )
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else args.repeats
    sample_ns = 5_000_000 if args.quick else 30_000_000
    connects_count = 1_000 if args.quick else 10_000

    results = asyncio.run(time_sends(repeats, sample_ns))
    connects = measure_connects(3 if args.quick else min(repeats, 7), connects_count)
    report, medians = render(results, connects, repeats, connects_count)
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
        print(f"wrote {args.out}", file=sys.stderr)
    args.chart.parent.mkdir(parents=True, exist_ok=True)
    chart(medians, args.chart)
    print(f"wrote {args.chart}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
