"""A listener or a writer process for the relay tests and benchmark.

``python -m postgres.relay_process listen URL CHANNEL`` prints ``listening``
once its relay listens, records every remote ``post_save``/``post_update``
of ``Album`` and every gap, and on hearing the album named ``end`` prints
what it heard as one JSON line and exits.

``python -m postgres.relay_process write URL CHANNEL WRITER TRANSACTIONS``
runs that writer's transactions (see ``plan``) and exits. The tables exist
already: the test creates them.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from ormar_integration import post_save, post_update
from ormar_integration.relay import PostgresRelay

from .pg_models import PgDatabase
from .relay_support import declare_models

END = "end"


class Rollback(Exception):
    pass


def plan(writer: int, transactions: int) -> list[tuple[int, str]]:
    """(i, how) per transaction: every fifth rolled back, every seventh without one."""
    steps = []
    for i in range(transactions):
        if i % 5 == 4:
            steps.append((i, "rolled back"))
        elif i % 7 == 3:
            steps.append((i, "autocommit"))
        else:
            steps.append((i, "transaction"))
    return steps


def committed(writer: int, transactions: int) -> list[list[Any]]:
    """What every listener must hear from ``writer``, in this order."""
    heard: list[list[Any]] = []
    for i, how in plan(writer, transactions):
        if how != "rolled back":
            name = f"w{writer}-{i}"
            heard += [["post_save", name, 0], ["post_update", name, i]]
    return heard


async def listen(url: str, channel: str) -> None:
    db = PgDatabase(url)
    m = declare_models(db)
    relay = PostgresRelay(url, channel)
    heard: list[list[Any]] = []
    done = asyncio.Event()

    def record(signal: Any, instance: Any, **kwargs: Any) -> None:
        heard.append(
            [
                signal.name.split()[-1],
                instance.name,
                instance.play_count,
                time.monotonic(),
            ]
        )
        if instance.name == END:
            done.set()

    relay.remote(post_save).connect(record, sender=m.Album)
    relay.remote(post_update).connect(record, sender=m.Album)
    relay.gap.connect(
        lambda reason, **kwargs: heard.append(["gap", reason, 0, time.monotonic()])
    )
    async with relay:
        print("listening", flush=True)
        await done.wait()
    print(json.dumps(heard), flush=True)


async def write(url: str, channel: str, writer: int, transactions: int) -> None:
    db = PgDatabase(url, pool_size=2)
    m = declare_models(db)
    relay = PostgresRelay(url, channel)
    relay.forward(post_save, sender=m.Album)
    relay.forward(post_update, sender=m.Album)
    async with db.database:
        for i, how in plan(writer, transactions):
            name = f"w{writer}-{i}"
            if how == "autocommit":
                album = await m.Album(name=name).save()
                await album.update(play_count=i)
                continue
            try:
                async with db.database.transaction():
                    album = await m.Album(name=name).save()
                    await album.update(play_count=i)
                    if how == "rolled back":
                        raise Rollback
            except Rollback:
                pass


def main(argv: list[str]) -> None:
    if argv[0] == "listen":
        asyncio.run(listen(argv[1], argv[2]))
    elif argv[0] == "write":
        asyncio.run(write(argv[1], argv[2], int(argv[3]), int(argv[4])))
    else:
        raise SystemExit(f"unknown mode {argv[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
