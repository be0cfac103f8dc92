"""``on_commit`` receivers and ormar transactions on a SQLite file, on every ormar line.

The scenarios shared with PostgreSQL are in ``commit_scenarios``; the forms
only ``databases`` has (ormar < 0.22: explicit ``start``/``commit``/
``rollback``, the decorator) and databases opened with ``force_rollback``
are here.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest

pytest.register_assert_rewrite("commit_scenarios", "fault_scenarios")
from commit_scenarios import (  # noqa: E402
    Rolled,
    run_failed_commit,
    run_outer_rollback,
    run_savepoints,
    run_with_heard,
)
from fault_scenarios import read_tables, skip_unless_transactions_roll_back  # noqa: E402
from ormar_models import DatabaseConnection, TestDatabase, declare_music, signals_of  # noqa: E402

import dispatch  # noqa: E402
from dispatch.testing import capture_on_commit  # noqa: E402
from ormar_integration import (  # noqa: E402
    post_bulk_create,
    post_queryset_delete,
    post_queryset_update,
    post_save,
    post_update,
    pre_queryset_delete,
    pre_save,
)

needs_databases = pytest.mark.skipif(
    DatabaseConnection is not None,
    reason="ormar's own transaction (0.22+) is an async context manager only",
)


def test_savepoints(db):
    skip_unless_transactions_roll_back(db)
    run_savepoints(db)


def test_released_savepoint_in_a_rolled_back_transaction(db):
    skip_unless_transactions_roll_back(db)
    run_outer_rollback(db)


def test_failed_commit_is_a_rollback(db):
    skip_unless_transactions_roll_back(db)
    run_failed_commit(db)


def test_outside_a_transaction_even_pre_save_waits_for_the_write(db):
    m = declare_music(db)
    seen: list[Any] = []

    async def before(sender, instance, **kwargs):
        seen.append((instance.pk, (await read_tables(db))["albums"]))

    pre_save.connect(before, sender=m.Album, on_commit=True)

    async def scenario():
        try:
            await m.Album(name="Rome").save()
        finally:
            pre_save.disconnect(before, sender=m.Album)

    db.run(scenario)
    assert seen == [(1, [(1, "Rome", 0)])]


def test_ormar_style_connects_wait_for_the_commit(db):
    m = declare_music(db)
    calls: list[tuple[str, str, bool]] = []

    def recorder(label):
        async def receive(sender, instance, **kwargs):
            calls.append((label, instance.name, "signal" in kwargs))

        return receive

    decorated, view, plain = recorder("decorator"), recorder("view"), recorder("now")
    post_save(m.Album, on_commit=True)(decorated)
    signals_of(m.Album).post_save.connect(view, on_commit=True)
    post_save(m.Album)(plain)

    async def scenario():
        try:
            async with db.database.transaction():
                await m.Album(name="Rome").save()
                calls.append(("block", "done", False))
        finally:
            for each in (decorated, view, plain):
                post_save.disconnect(each, sender=m.Album)

    db.run(scenario)
    assert calls == [
        ("now", "Rome", False),
        ("block", "done", False),
        ("decorator", "Rome", False),
        ("view", "Rome", False),
    ]


@needs_databases
def test_explicit_start_and_commit(db):
    async def body(m, events):
        transaction = await db.database.transaction()
        await m.Album(name="explicit").save()
        events.append("saved")
        await transaction.commit()
        events.append("committed")

    assert run_with_heard(db, body) == [
        "saved",
        ("explicit", ["explicit"]),
        "committed",
    ]


@needs_databases
def test_explicit_start_and_rollback(db):
    skip_unless_transactions_roll_back(db)

    async def body(m, events):
        transaction = await db.database.transaction()
        await m.Album(name="explicit").save()
        await transaction.rollback()
        await m.Album(name="after").save()

    assert run_with_heard(db, body) == [("after", ["after"])]


@needs_databases
def test_decorator_form(db):
    skip_unless_transactions_roll_back(db)

    @db.database.transaction()
    async def create(m, name, fail):
        await m.Album(name=name).save()
        if fail:
            raise Rolled

    async def body(m, events):
        await create(m, "kept", False)
        events.append("returned")
        with pytest.raises(Rolled):
            await create(m, "rolled back", True)

    assert run_with_heard(db, body) == [("kept", ["kept"]), "returned"]


@needs_databases
def test_commit_refused_by_databases_keeps_the_scope_open(db):
    """Committing the outer transaction while a savepoint is open: databases refuses.

    Nothing happened to the data, so nothing happens to the scopes: the
    transactions can still be ended in the right order.
    """

    async def body(m, events):
        outer = await db.database.transaction()
        inner = await db.database.transaction()
        await m.Album(name="inner").save()
        with pytest.raises(AssertionError):
            await outer.commit()
        events.append("refused")
        await inner.commit()
        await outer.commit()

    assert run_with_heard(db, body) == ["refused", ("inner", ["inner"])]


def force_rollback_database(db: TestDatabase) -> None:
    """Reopens ``db``'s database with ``force_rollback=True``."""
    if DatabaseConnection is not None:
        db.database = DatabaseConnection(db.database.url, force_rollback=True)
    else:
        import databases

        db.database = databases.Database(str(db.database.url), force_rollback=True)


def test_force_rollback_database_never_runs_the_queue(db):
    force_rollback_database(db)
    m = declare_music(db)
    heard: list[str] = []
    direct: list[str] = []

    async def receive(sender, instance, **kwargs):
        heard.append(instance.name)

    async def also_queues(sender, instance, **kwargs):
        dispatch.on_commit(direct.append, instance.name)

    post_save.connect(receive, sender=m.Album, on_commit=True)
    post_update.connect(receive, sender=m.Album, on_commit=True)
    post_save.connect(also_queues, sender=m.Album)

    async def elsewhere():
        # A task with a context of its own (no scope, no transaction of this
        # context): databases still writes through the global transaction.
        album = await m.Album(name="other context").save()
        await album.update(play_count=2)

    async def scenario():
        try:
            album = await m.Album(name="plain").save()
            await album.update(play_count=1)
            async with db.database.transaction():
                await m.Album(name="in a transaction").save()
                async with db.database.transaction():
                    await m.Album(name="in a savepoint").save()
            if DatabaseConnection is None:
                await contextvars.Context().run(asyncio.ensure_future, elsewhere())
            return [a.name for a in await m.Album.objects.order_by("id").all()]
        finally:
            post_save.disconnect(receive, sender=m.Album)
            post_update.disconnect(receive, sender=m.Album)
            post_save.disconnect(also_queues, sender=m.Album)

    names = db.run(scenario)
    assert names[:3] == ["plain", "in a transaction", "in a savepoint"]
    assert heard == [] and direct == []
    # The connection of the global transaction rolled everything back.
    assert asyncio.run(read_tables(db))["albums"] == []


def test_capture_on_commit_in_a_force_rollback_database(db):
    """contract section 5: capture_on_commit lists, and with execute=True runs, what it drops."""
    force_rollback_database(db)
    m = declare_music(db)
    heard: list[str] = []

    async def receive(sender, instance, **kwargs):
        heard.append(instance.name)

    async def refuse(sender, instance, **kwargs):
        if instance.name == "refused":
            raise Rolled

    post_save.connect(receive, sender=m.Album, on_commit=True)
    pre_save.connect(refuse, sender=m.Album)

    async def scenario():
        try:
            async with capture_on_commit() as listed:
                await m.Album(name="listed").save()
            assert [call.kwargs["instance"].name for call in listed] == ["listed"]
            assert [call.signal for call in listed] == [post_save]
            assert heard == []
            async with capture_on_commit(execute=True) as ran:
                await m.Album(name="run").save()
                with pytest.raises(Rolled):
                    await m.Album(name="refused").save()
                async with db.database.transaction():
                    await m.Album(name="in a transaction").save()
                    async with db.database.transaction():
                        await m.Album(name="in a savepoint").save()
                assert heard == []
            assert [call.func for call in ran] == [receive] * 3
            assert heard == ["run", "in a transaction", "in a savepoint"]
        finally:
            post_save.disconnect(receive, sender=m.Album)
            pre_save.disconnect(refuse, sender=m.Album)

    db.run(scenario)
    assert asyncio.run(read_tables(db))["albums"] == []


def test_bulk_and_queryset_signals_wait_for_the_commit(db):
    """The six bulk signals take on_commit=True; each write is a scope of its own."""
    skip_unless_transactions_roll_back(db)
    m = declare_music(db)
    heard: list[tuple[str, list[str]]] = []

    async def receive(signal, sender, instances, **kwargs):
        heard.append((signal.name, sorted(each.name for each in instances)))

    async def refuse(sender, queryset, **kwargs):
        raise Rolled

    async def before_delete(sender, queryset, **kwargs):
        heard.append(
            ("pre_queryset_delete", [album.name for album in await queryset.all()])
        )

    bulk = (post_bulk_create, post_queryset_update, post_queryset_delete)
    for signal in bulk:
        signal.connect(receive, sender=m.Album, on_commit=True)
    # Queued by the refused delete too, and dropped with it.
    pre_queryset_delete.connect(before_delete, sender=m.Album, on_commit=True)

    async def scenario():
        try:
            async with db.database.transaction():
                await m.Album.objects.bulk_create(
                    [m.Album(name="a"), m.Album(name="b")]
                )
                await m.Album.objects.filter(name="a").update(play_count=3)
                assert heard == []
            with pytest.raises(Rolled):
                async with db.database.transaction():
                    await m.Album.objects.bulk_create([m.Album(name="c")])
                    raise Rolled
            pre_queryset_delete.connect(refuse, sender=m.Album)
            async with db.database.transaction():
                with pytest.raises(Rolled):
                    await m.Album.objects.filter(name="a").delete()
                pre_queryset_delete.disconnect(refuse, sender=m.Album)
                await m.Album.objects.filter(name="b").delete()
        finally:
            pre_queryset_delete.disconnect(refuse, sender=m.Album)
            pre_queryset_delete.disconnect(before_delete, sender=m.Album)
            for signal in bulk:
                signal.disconnect(receive, sender=m.Album)

    db.run(scenario)
    assert heard == [
        ("post_bulk_create", ["a", "b"]),
        ("post_queryset_update", ["a"]),
        ("pre_queryset_delete", []),  # after the commit, "b" is gone
        ("post_queryset_delete", ["b"]),
    ]
    assert [name for _, name, _ in read_tables_now(db)] == ["a"]


def read_tables_now(db: TestDatabase) -> list[Any]:
    return db.run(lambda: read_tables(db))["albums"]
