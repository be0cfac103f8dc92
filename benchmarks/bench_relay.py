"""PostgresRelay against raw NOTIFY/LISTEN: 1 writer, 3 listener processes.

Both sides run on a throw-away server (tests/postgres/server.py), in the
same run, alternating:

- floor: in an ormar transaction, ``SELECT pg_notify`` with raw asyncpg on
  the transaction's own connection (BEGIN and COMMIT through ormar, as for
  the relay); listeners hear it with a bare asyncpg callback.
- relay: in an ormar transaction, ``post_save.send(Album, instance=...)``
  forwarded by ``PostgresRelay``; listeners hear it through
  ``relay.remote(post_save)`` with the instance rebuilt.

Both send payloads of the same length. Throughput: a burst of events sent
back to back, from the first send until every listener has heard the last.
Latency: paced events (one every 5 ms), from just after COMMIT returned in
the writer to the receiver running in each listener (CLOCK_MONOTONIC is one
clock for every process of the machine). Needs ormar >= 0.22 and asyncpg:
``python benchmarks/bench_relay.py [--burst N] [--paced N] [--rounds N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import ormar
import sqlalchemy

from ormar_integration import post_save
from ormar_integration.relay import PostgresRelay

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "postgres"))
from server import running_server

LISTENERS = 3
FLOOR_CHANNEL, RELAY_CHANNEL = "bench floor", "bench relay"


def declare_album(url: str) -> tuple[Any, Any]:
    database = ormar.DatabaseConnection(
        url.replace("postgresql://", "postgresql+asyncpg://")
    )

    class Album(ormar.Model):
        ormar_config = ormar.OrmarConfig(
            database=database, metadata=sqlalchemy.MetaData(), tablename="albums"
        )
        id: int = ormar.Integer(primary_key=True)
        name: str = ormar.String(max_length=100)
        play_count: int = ormar.Integer(default=0)

    return database, Album


# Listener process --------------------------------------------------------


async def listen(url: str) -> None:
    _, Album = declare_album(url)
    heard: list[tuple[str, str, int, float]] = []
    expected: dict[str, int] = {}
    quit = asyncio.Event()

    def record(mode: str, phase: str, seq: int) -> None:
        heard.append((mode, phase, seq, time.monotonic()))
        if seq == expected.get(phase, -1):
            print(f"done {phase}", flush=True)

    def on_floor(connection: Any, pid: int, channel: str, payload: str) -> None:
        phase, seq, _ = payload.split(":", 2)
        if phase == "quit":
            quit.set()
        elif phase == "expect":
            name, last = seq.split("=")
            expected[name] = int(last)
            print("ok", flush=True)
        else:
            record("floor", phase, int(seq))

    def on_relay(instance: Any, **kwargs: Any) -> None:
        record("relay", instance.name, instance.play_count)

    relay = PostgresRelay(url, RELAY_CHANNEL)
    relay.remote(post_save).connect(on_relay, sender=Album)
    connection = await asyncpg.connect(url)
    await connection.add_listener(FLOOR_CHANNEL, on_floor)
    async with relay:
        print("listening", flush=True)
        await quit.wait()
    await connection.close()
    print(json.dumps(heard), flush=True)


# Writer ------------------------------------------------------------------


class Bench:
    def __init__(self, url: str) -> None:
        self.url = url
        self.database, self.Album = declare_album(url)
        self.relay = PostgresRelay(url, RELAY_CHANNEL)
        self.relay.forward(post_save, sender=self.Album)
        self.commits: dict[str, list[float]] = {}
        self.started: dict[str, float] = {}
        self.listeners: list[subprocess.Popen[str]] = []
        probe = self.Album(id=10**6, name="relay-burst-0", play_count=10**6)
        from ormar_integration.relay_events import encode_event

        self.payload_size = len(
            encode_event("post_save", self.Album, {"instance": probe})
        )

    async def control(self, message: str) -> None:
        connection = await asyncpg.connect(self.url)
        try:
            await connection.execute("SELECT pg_notify($1, $2)", FLOOR_CHANNEL, message)
        finally:
            await connection.close()

    def await_lines(self, line: str) -> None:
        for listener in self.listeners:
            assert listener.stdout is not None
            got = listener.stdout.readline().strip()
            assert got == line, (got, line)

    async def phase(self, mode: str, name: str, count: int, pace: float) -> None:
        await self.control(f"expect:{name}={count - 1}:")
        self.await_lines("ok")
        commits = self.commits[name] = []
        self.started[name] = time.monotonic()
        for seq in range(count):
            async with self.database.transaction():
                if mode == "floor":
                    connection = self.database.get_transaction_connection()
                    adapted = (await connection.get_raw_connection()).dbapi_connection
                    # SQLAlchemy sends BEGIN with the transaction's first
                    # statement; begin here as it would, so that BEGIN and
                    # COMMIT cost the floor what they cost the relay.
                    await adapted._start_transaction()
                    await adapted.driver_connection.execute(
                        "SELECT pg_notify($1, $2)",
                        FLOOR_CHANNEL,
                        f"{name}:{seq}:".ljust(self.payload_size, "x"),
                    )
                else:
                    album = self.Album(id=seq, name=name, play_count=seq)
                    await post_save.send(self.Album, instance=album)
            commits.append(time.monotonic())
            if pace:
                await asyncio.sleep(pace)
        self.await_lines(f"done {name}")

    async def run(
        self, burst: int, paced: int, rounds: int
    ) -> list[tuple[str, str, int, float]]:
        here = Path(__file__).resolve()
        self.listeners = [
            subprocess.Popen(
                [sys.executable, str(here), "listen", self.url],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(LISTENERS)
        ]
        self.await_lines("listening")
        async with self.database:
            for r in range(rounds):
                for mode in ("floor", "relay"):
                    await self.phase(mode, f"{mode}-burst-{r}", burst, 0)
                for mode in ("floor", "relay"):
                    await self.phase(mode, f"{mode}-paced-{r}", paced, 0.005)
        await self.control("quit::")
        heard: list[tuple[str, str, int, float]] = []
        for listener in self.listeners:
            out, _ = listener.communicate(timeout=60)
            heard += [tuple(event) for event in json.loads(out)]  # type: ignore[misc]
        return heard


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(
    bench: Bench, heard: list[tuple[str, str, int, float]], rounds: int, burst: int
) -> None:
    by_phase: dict[str, list[tuple[int, float]]] = {}
    for _mode, phase, seq, at in heard:
        by_phase.setdefault(phase, []).append((seq, at))
    figures: dict[str, dict[str, float]] = {}
    for mode in ("floor", "relay"):
        rates, sent, latencies = [], [], []
        for r in range(rounds):
            name = f"{mode}-burst-{r}"
            last = max(at for _seq, at in by_phase[name])
            rates.append(burst / (last - bench.started[name]))
            sent.append(burst / (bench.commits[name][-1] - bench.started[name]))
            name = f"{mode}-paced-{r}"
            commits = bench.commits[name]
            latencies += [at - commits[seq] for seq, at in by_phase[name]]
        figures[mode] = {
            "events/s": statistics.median(rates),
            "sent/s": statistics.median(sent),
            "p50 ms": 1000 * percentile(latencies, 0.50),
            "p99 ms": 1000 * percentile(latencies, 0.99),
        }
    floor, relay = figures["floor"], figures["relay"]
    print(
        f"Python {sys.version.split()[0]}, ormar {ormar.__version__}, asyncpg {asyncpg.__version__}, "
        f"{LISTENERS} listener processes, payload {bench.payload_size} bytes"
    )
    print(f"{'':8}{'events/s':>10}{'sent/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for mode, row in figures.items():
        print(
            f"{mode:8}{row['events/s']:10.0f}{row['sent/s']:9.0f}"
            f"{row['p50 ms']:9.2f}{row['p99 ms']:9.2f}"
        )
    throughput = relay["events/s"] / floor["events/s"]
    latency = relay["p99 ms"] / floor["p99 ms"]
    print(
        f"relay/floor: throughput {throughput:.2f} x (target >= 0.5), "
        f"p99 latency {latency:.2f} x (target <= 2)"
    )


def main() -> None:
    if sys.argv[1:2] == ["listen"]:
        asyncio.run(listen(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--paced", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with running_server() as server:
        bench = Bench(server.url)
        heard = asyncio.run(bench.run(options.burst, options.paced, options.rounds))
        report(bench, heard, options.rounds, options.burst)


if __name__ == "__main__":
    main()
