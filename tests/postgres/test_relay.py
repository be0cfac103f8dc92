"""``PostgresRelay`` in one process, against the session's real server.

Each test publishes through ormar's own database (``databases`` on ormar
0.12, ``DatabaseConnection`` on the newest line) and listens with a relay of
its own; what the remote receivers get is compared with what was committed.
The tests with several processes are in ``test_relay_processes.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from signal import SIGCONT, SIGSTOP
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

import dispatch
from ormar_integration import (
    post_bulk_update,
    post_relation_add,
    post_save,
    post_update,
    pre_save,
)
from ormar_integration.relay import PostgresRelay, RelayConnectionError
from ormar_integration.relay_events import MAX_PAYLOAD_BYTES, encode_event
from ormar_integration.relay_listener import backoff_delays

from .pg_models import PgDatabase
from .relay_support import (
    Heard,
    declare_models,
    listening_backends,
    terminate_listeners,
    until,
)
from .server import free_loopback_port


@pytest.fixture
def pg_db(postgres_url: str) -> PgDatabase:
    return PgDatabase(postgres_url)


def listening_relay(
    db: PgDatabase, m: Any, **options: Any
) -> tuple[PostgresRelay, Heard]:
    """A relay forwarding and hearing Album's post_save and post_update, and gaps."""
    relay = PostgresRelay(db.url, **options)
    heard = Heard()
    for signal in (post_save, post_update):
        relay.forward(signal, sender=m.Album)
        relay.remote(signal).connect(heard.receiver(signal.name), sender=m.Album)
    relay.gap.connect(heard.receiver("gap"))
    return relay, heard


class Rollback(Exception):
    pass


def test_committed_heard_rolled_back_not(pg_db):
    """Inside transactions: heard at COMMIT, never for a ROLLBACK or a rolled-back savepoint."""
    m = declare_models(pg_db)

    async def scenario() -> None:
        relay, heard = listening_relay(pg_db, m)
        async with relay:
            with pytest.raises(Rollback):
                async with pg_db.database.transaction():
                    await m.Album(name="rolled back").save()
                    raise Rollback
            async with pg_db.database.transaction():
                await m.Album(name="kept").save()
                with pytest.raises(Rollback):
                    async with pg_db.database.transaction():
                        await m.Album(name="in a rolled-back savepoint").save()
                        raise Rollback
                await m.Album(name="kept too").save()
                # Not before COMMIT: PostgreSQL holds the event until then.
                await asyncio.sleep(0.2)
                assert heard.events == []
            await m.Album(name="marker").save()
            await until(lambda: "marker" in heard.names("post_save"), "the marker")
        assert heard.names("post_save") == ["kept", "kept too", "marker"]

    pg_db.run(scenario)


def test_outside_a_transaction_the_notify_takes_effect(pg_db):
    """No transaction: the NOTIFY must run where it commits, not on a pooled
    connection that is rolled back when handed back (which drops it silently)."""
    m = declare_models(pg_db)

    async def scenario() -> None:
        relay, heard = listening_relay(pg_db, m)
        async with relay:
            album = await m.Album(name="autocommit").save()
            await album.update(play_count=7)
            await until(lambda: len(heard.events) == 2, "two events")
        assert [
            (label, kw["instance"].name, kw["instance"].play_count)
            for label, kw in heard.events
        ] == [
            ("post_save", "autocommit", 0),
            ("post_update", "autocommit", 7),
        ]

    pg_db.run(scenario)


def test_identical_sends_are_two_events(pg_db):
    """PostgreSQL folds identical notifications of one transaction; events are never identical."""
    m = declare_models(pg_db)

    async def scenario() -> None:
        relay, heard = listening_relay(pg_db, m)
        async with relay:
            album = await m.Album(name="twice").save()
            async with pg_db.database.transaction():
                await post_update.send(m.Album, instance=album)
                await post_update.send(m.Album, instance=album)
            await m.Album(name="marker").save()
            await until(lambda: "marker" in heard.names("post_save"), "the marker")
        assert heard.names("post_update") == ["twice", "twice"]

    pg_db.run(scenario)


def test_remote_receivers_get_the_rebuilt_instance_and_arguments(pg_db):
    m = declare_models(pg_db)

    async def scenario() -> None:
        relay = PostgresRelay(pg_db.url)
        heard = Heard()
        for signal in (post_save, post_relation_add, post_bulk_update):
            relay.forward(signal)
            relay.remote(signal).connect(heard.receiver(signal.name))
        async with relay:
            cover = await m.Cover(title="Blue").save()
            album = await m.Album(name="Kind of", cover=cover, play_count=3).save()
            genre = await m.Genre(name="Jazz").save()
            await album.genres.add(genre, note="modal")
            # Track, not Album: ormar 0.12's bulk_update fails on PostgreSQL
            # for a model with a many-to-many field.
            track = await m.Track(title="So What", album=album).save()
            track.title = "Blue in Green"
            await m.Track.objects.bulk_update([track])
            await until(lambda: "post_bulk_update" in heard.labels(), "the bulk update")
        saves = [kw for label, kw in heard.events if label == "post_save"]
        album_save = next(kw for kw in saves if kw["sender"] is m.Album)
        rebuilt = album_save["instance"]
        assert type(rebuilt) is m.Album and rebuilt is not album
        assert (rebuilt.pk, rebuilt.name, rebuilt.play_count) == (
            album.pk,
            "Kind of",
            3,
        )
        assert rebuilt.cover.pk == cover.pk
        assert album_save["partial"] is False
        assert album_save["origin"] == saves[0]["origin"]
        (add,) = [kw for label, kw in heard.events if label == "post_relation_add"]
        assert add["sender"] is m.Album
        assert (add["instance"].pk, add["child"].pk, add["child"].name) == (
            album.pk,
            genre.pk,
            "Jazz",
        )
        assert (add["relation_name"], add["passed_kwargs"]) == (
            "genres",
            {"note": "modal"},
        )
        (bulk,) = [kw for label, kw in heard.events if label == "post_bulk_update"]
        assert bulk["sender"] is m.Track
        assert [(each.pk, each.title, each.album.pk) for each in bulk["instances"]] == [
            (track.pk, "Blue in Green", album.pk)
        ]

    pg_db.run(scenario)


def test_an_instance_too_big_for_notify_goes_as_its_primary_key(pg_db):
    m = declare_models(pg_db)

    async def scenario() -> None:
        relay = PostgresRelay(pg_db.url)
        heard = Heard()
        relay.forward(post_save, sender=m.Note)
        relay.remote(post_save).connect(heard.receiver("post_save"), sender=m.Note)
        async with relay:
            small = await m.Note(text="x" * 100).save()
            big = await m.Note(text="é" * MAX_PAYLOAD_BYTES).save()
            await until(lambda: len(heard.events) == 2, "two notes")
        (_, first), (_, second) = heard.events
        assert (first["partial"], first["instance"].pk, first["instance"].text) == (
            False,
            small.pk,
            "x" * 100,
        )
        assert (second["partial"], second["instance"].pk) == (True, big.pk)
        assert type(second["instance"]) is m.Note

    pg_db.run(scenario)


def test_include_self_false_skips_this_process(pg_db):
    m = declare_models(pg_db)

    async def scenario() -> None:
        everyone, heard = listening_relay(pg_db, m)  # forwards Album's sends
        others_only = PostgresRelay(pg_db.url, include_self=False)
        skipped = Heard()
        others_only.remote(post_save).connect(skipped.receiver("post_save"))
        async with others_only, everyone:
            await m.Album(name="mine").save()
            await until(lambda: heard.names("post_save") == ["mine"], "the event")
            await asyncio.sleep(0.2)
        assert skipped.events == []

    pg_db.run(scenario)


def test_a_failing_remote_receiver_is_logged_and_the_listener_goes_on(pg_db, caplog):
    m = declare_models(pg_db)

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver broke")

    async def scenario() -> None:
        relay = PostgresRelay(pg_db.url)
        relay.forward(post_save, sender=m.Album)
        heard = Heard()
        relay.remote(post_save).connect(broken)
        relay.remote(post_save).connect(heard.receiver("post_save"))
        async with relay:
            await m.Album(name="one").save()
            await m.Album(name="two").save()
            await until(lambda: len(heard.events) == 2, "both events")
        assert heard.names("post_save") == ["one", "two"]

    with caplog.at_level(logging.ERROR):
        pg_db.run(scenario)
    failures = [
        r
        for r in caplog.records
        if r.exc_info and "receiver broke" in str(r.exc_info[1])
    ]
    assert len(failures) == 2


def test_slow_receivers_keep_memory_bounded_and_hear_a_gap(pg_db):
    """At ``max_pending`` waiting events, newer ones are dropped and counted;
    an ``overflow`` gap takes their place, then delivery goes on."""
    m = declare_models(pg_db)
    bound, burst = 5, 12

    async def scenario() -> None:
        relay, heard = listening_relay(pg_db, m, max_pending=bound)
        blocked, release = asyncio.Event(), asyncio.Event()

        async def slow(instance: Any, **kwargs: Any) -> None:
            if instance.name == "first":
                blocked.set()
                await release.wait()

        relay.remote(post_save).connect(slow, sender=m.Album)
        most_pending = 0

        def watch() -> bool:
            nonlocal most_pending
            most_pending = max(most_pending, relay.pending)
            return relay.dropped == burst - bound

        async with relay:
            await m.Album(name="first").save()
            await until(blocked.is_set, "the slow receiver")
            async with pg_db.database.transaction():
                for n in range(burst):
                    await m.Album(name=f"burst-{n}").save()
            await until(watch, "the burst to arrive")
            release.set()
            await m.Album(name="after").save()
            await until(lambda: "after" in heard.names("post_save"), "the event after")
        assert relay.dropped == 0  # counted per start(); stopped now
        assert most_pending <= bound + 1
        kept = [f"burst-{n}" for n in range(bound)]
        assert heard.names("post_save") == ["first", *kept, "after"]
        gaps = [kw for label, kw in heard.events if label == "gap"]
        assert [(g["reason"], g["missed"], g["sender"]) for g in gaps] == [
            ("overflow", burst - bound, relay)
        ]
        assert heard.labels().index("gap") == 1 + bound

    pg_db.run(scenario)


def test_a_killed_connection_reconnects_sends_gap_and_hears_what_follows(pg_db):
    m = declare_models(pg_db)

    async def scenario() -> None:
        relay, heard = listening_relay(pg_db, m)
        async with relay:
            await m.Album(name="before").save()
            await until(
                lambda: heard.names("post_save") == ["before"], "the first event"
            )
            assert "gap" not in heard.labels()  # never on the first start
            assert await terminate_listeners(pg_db.url) == 1
            await until(lambda: "gap" in heard.labels(), "the gap")
            await m.Album(name="after").save()
            await until(lambda: "after" in heard.names("post_save"), "the event after")
        assert heard.labels() == ["post_save", "gap", "post_save"]
        assert heard.events[1][1]["reason"] == "reconnect"

    pg_db.run(scenario)


def test_reconnect_retries_with_backoff_until_the_server_accepts_again(pg_db, caplog):
    """While logins are refused every attempt fails and is logged; the one gap
    comes once the relay listens again."""
    m = declare_models(pg_db)
    user_url = pg_db.url.replace("postgres@", "relay_user@", 1)

    async def as_admin(sql: str) -> None:
        connection = await asyncpg.connect(pg_db.url)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    async def scenario() -> None:
        await as_admin("DROP ROLE IF EXISTS relay_user; CREATE ROLE relay_user LOGIN")
        relay = PostgresRelay(user_url, reconnect_delay=0.05, max_reconnect_delay=0.2)
        heard = Heard()
        relay.forward(post_save, sender=m.Album)
        relay.remote(post_save).connect(heard.receiver("post_save"), sender=m.Album)
        relay.gap.connect(heard.receiver("gap"))
        async with relay:
            await as_admin("ALTER ROLE relay_user NOLOGIN")
            await terminate_listeners(pg_db.url)
            await until(lambda: len(retries()) >= 3, "three failed attempts")
            assert heard.events == []
            await as_admin("ALTER ROLE relay_user LOGIN")
            await until(lambda: heard.labels() == ["gap"], "the gap")
            await m.Album(name="after").save()
            await until(
                lambda: heard.names("post_save") == ["after"], "the event after"
            )
        assert heard.labels() == ["gap", "post_save"]

    def retries() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "retrying" in r.getMessage()]

    with caplog.at_level(logging.WARNING, logger="ormar_integration.relay"):
        pg_db.run(scenario)
    assert "relay_user" in retries()[0].getMessage()


def test_backoff_doubles_up_to_its_cap():
    assert list(itertools.islice(backoff_delays(0.1, 1.0), 6)) == [
        0.1,
        0.2,
        0.4,
        0.8,
        1.0,
        1.0,
    ]


def test_stop_leaves_no_task_and_no_connection(pg_db):
    declare_models(pg_db)

    async def scenario() -> None:
        relay = PostgresRelay(pg_db.url)
        before = asyncio.all_tasks()
        await relay.start()
        assert relay.listening and len(await listening_backends(pg_db.url)) == 1
        with pytest.raises(RuntimeError, match="already listening"):
            await relay.start()
        await relay.stop()
        await relay.stop()
        assert not relay.listening
        assert asyncio.all_tasks() == before
        assert await listening_backends(pg_db.url) == []
        async with relay:  # and it starts again
            assert len(await listening_backends(pg_db.url)) == 1
        assert await listening_backends(pg_db.url) == []

    pg_db.run(scenario)


def test_a_channel_name_that_needs_quoting_works(pg_db):
    m = declare_models(pg_db)

    async def scenario() -> None:
        relay, heard = listening_relay(pg_db, m, channel='Ormar "Signals"; é')
        async with relay:
            await m.Album(name="quoted").save()
            await until(lambda: heard.names("post_save") == ["quoted"], "the event")

    pg_db.run(scenario)


@pytest.mark.parametrize(
    "channel",
    ["", "c" * 64, "é" * 32, "nul\x00"],
    ids=["empty", "64-bytes", "64-utf8-bytes", "nul"],
)
def test_a_channel_postgres_would_reject_or_truncate_fails_at_creation(channel):
    with pytest.raises(ValueError, match="channel") as error:
        PostgresRelay("postgresql://localhost/db", channel=channel)
    assert repr(channel) in str(error.value)


def test_a_channel_of_63_bytes_is_accepted():
    assert (
        PostgresRelay("postgresql://localhost/db", channel="c" * 63).channel == "c" * 63
    )


def bad_dsns(url: str) -> list[tuple[str, list[str]]]:
    """(dsn, what the error must name)."""
    closed_port = free_loopback_port()
    base, _, _ = url.rpartition("/")
    return [
        (
            f"postgresql://postgres@127.0.0.1:{closed_port}/ormar_signals",
            ["127.0.0.1", f"port {closed_port}"],
        ),
        (f"{base}/no_such_database", ["'no_such_database'", "does not exist"]),
        ("postgresql://postgres@10.255.255.1:5432/db", ["10.255.255.1", "port 5432"]),
    ]


def test_a_bad_dsn_fails_at_start_naming_the_server(postgres_url):
    async def scenario() -> None:
        for dsn, named in bad_dsns(postgres_url):
            relay = PostgresRelay(dsn, connect_timeout=1.0)
            started = asyncio.get_running_loop().time()
            with pytest.raises(RelayConnectionError) as error:
                await relay.start()
            elapsed = asyncio.get_running_loop().time() - started
            assert elapsed < 10, (dsn, elapsed)
            for part in named:
                assert part in str(error.value), (part, str(error.value))
            assert not relay.listening
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(scenario())


def test_bad_arguments_name_what_was_wrong(pg_db):
    m = declare_models(pg_db)
    relay = PostgresRelay(pg_db.url)
    with pytest.raises(
        TypeError, match=r"sender must be an ormar model class.*'Album'"
    ):
        relay.forward(post_save, sender="Album")
    unnamed = dispatch.Signal()
    with pytest.raises(TypeError, match=r"named dispatch\.Signal"):
        relay.forward(unnamed, sender=m.Album)
    with pytest.raises(TypeError, match=r"named dispatch\.Signal"):
        relay.remote(unnamed)
    with pytest.raises(ValueError, match="max_pending must be >= 1, got 0"):
        PostgresRelay(pg_db.url, max_pending=0)
    with pytest.raises(TypeError, match="dsn must be a str, got None"):
        PostgresRelay(None)  # type: ignore[arg-type]
    assert relay.remote(post_save) is relay.remote(post_save)


def test_outside_a_transaction_a_failed_write_publishes_nothing(pg_db):
    """A forwarded ``pre_save`` is published once the row is written: never
    for an INSERT the database refused."""
    m = declare_models(pg_db)

    async def scenario() -> None:
        relay = PostgresRelay(pg_db.url)
        heard = Heard()
        relay.forward(pre_save, sender=m.Album)
        relay.remote(pre_save).connect(heard.receiver("pre_save"), sender=m.Album)
        async with relay:
            await m.Album(id=1, name="first").save()
            with pytest.raises(Exception, match="duplicate key"):
                await m.Album(id=1, name="refused").save()
            await m.Album(id=2, name="second").save()
            await until(lambda: "second" in heard.names("pre_save"), "the second save")
        assert heard.names("pre_save") == ["first", "second"]

    pg_db.run(scenario)


def test_payloads_that_cannot_be_rebuilt_are_logged_and_skipped(pg_db, caplog):
    m = declare_models(pg_db)
    unknown_model = encode_event("post_save", m.Album, {}).replace(
        "ormar_models:Album", "nowhere:Gone"
    )

    async def scenario() -> None:
        relay, heard = listening_relay(pg_db, m)
        async with relay:
            connection = await asyncpg.connect(pg_db.url)
            try:
                for payload in ("not json", '{"v": 99}', unknown_model):
                    await connection.execute(
                        "SELECT pg_notify($1, $2)", relay.channel, payload
                    )
            finally:
                await connection.close()
            await m.Album(name="after").save()
            await until(lambda: heard.names("post_save") == ["after"], "the event")

    with caplog.at_level(logging.ERROR, logger="ormar_integration.relay"):
        pg_db.run(scenario)
    skipped = [
        r.getMessage() for r in caplog.records if "skipped an event" in r.getMessage()
    ]
    assert len(skipped) == 3
    assert "not an ormar-signals event: 'not json'" in skipped[0]
    assert "no ormar model named 'nowhere:Gone'" in skipped[2]


def test_a_connection_that_stops_answering_is_replaced(pg_db):
    """No FIN, no error: the server process just stops (SIGSTOP). The
    keep-alive query times out, the relay reconnects and sends ``gap``."""
    m = declare_models(pg_db)

    async def scenario() -> None:
        relay, heard = listening_relay(pg_db, m, keepalive=0.2)
        async with relay:
            (stalled,) = await listening_backends(pg_db.url)
            os.kill(stalled, SIGSTOP)
            try:
                await until(lambda: "gap" in heard.labels(), "the gap")
            finally:
                os.kill(stalled, SIGCONT)
            await m.Album(name="after").save()
            await until(lambda: "after" in heard.names("post_save"), "the event")
            assert stalled not in await listening_backends(pg_db.url)
        assert heard.labels() == ["gap", "post_save"]

    pg_db.run(scenario)


def test_in_a_transaction_the_notify_goes_with_the_commit(pg_db):
    """Sent on the transaction's own connection, before COMMIT: PostgreSQL
    names the backend that sent a notification, and it is the one that wrote
    the row; and it is heard before anything queued for after the commit
    runs, so it was not published after the COMMIT."""
    m = declare_models(pg_db)

    async def backend_pid() -> int:
        database = pg_db.database
        if hasattr(database, "get_query_executor"):  # ormar 0.22+
            async with database.get_query_executor() as executor:
                return int(await executor.fetch_val(text("SELECT pg_backend_pid()")))
        return int(await database.fetch_val("SELECT pg_backend_pid()"))

    async def scenario() -> None:
        relay = PostgresRelay(pg_db.url)
        relay.forward(post_save, sender=m.Album)
        senders: list[int] = []
        heard_before_after_commit_calls: list[bool] = []

        async def first_after_commit() -> None:
            try:
                await until(lambda: bool(senders), "the notification", timeout=5)
            except AssertionError:
                heard_before_after_commit_calls.append(False)
            else:
                heard_before_after_commit_calls.append(True)

        listener = await asyncpg.connect(pg_db.url)
        try:
            await listener.add_listener(
                relay.channel, lambda _c, pid, _channel, _payload: senders.append(pid)
            )
            async with pg_db.database.transaction():
                dispatch.on_commit(first_after_commit)
                writer = await backend_pid()
                await m.Album(name="in a transaction").save()
            await until(lambda: len(senders) == 1, "the notification")
        finally:
            await listener.close()
        assert senders == [writer]
        assert heard_before_after_commit_calls == [True]

    pg_db.run(scenario)


def test_a_send_forwarded_for_its_model_and_for_every_model_is_published_once(
    pg_db,
):
    m = declare_models(pg_db)

    async def scenario() -> None:
        relay = PostgresRelay(pg_db.url)
        heard = Heard()
        relay.forward(post_save, sender=m.Album)
        relay.forward(post_save)
        relay.forward(post_save, sender=m.Album)
        relay.remote(post_save).connect(heard.receiver("post_save"), sender=m.Album)
        async with relay:
            await m.Album(name="once").save()
            await m.Album(name="marker").save()
            await until(lambda: "marker" in heard.names("post_save"), "the marker")
        assert heard.names("post_save") == ["once", "marker"]

    pg_db.run(scenario)
