"""install / uninstall / is_installed, and models declared on either side of them."""

from __future__ import annotations

from typing import Any

import ormar
import pytest
from ormar.signals import SignalEmitter as OrmarSignalEmitter
from ormar_models import DatabaseConnection, TestDatabase, declare_music, signals_of

import dispatch
from ormar_integration import compat, install, is_installed, pre_save, uninstall
from ormar_integration.emitter import ModelEmitter
from ormar_integration.patching import PATCHES

if DatabaseConnection is None:
    import databases.core
else:
    import ormar.databases.transaction


def current_attributes() -> list[Any]:
    return [vars(owner)[name] for owner, name, _ in PATCHES]


@pytest.fixture
def uninstalled():
    uninstall()
    try:
        yield
    finally:
        install()


def test_importing_installs():
    assert is_installed()


def test_uninstall_restores_every_original_by_identity(music):
    installed = current_attributes()
    emitter = signals_of(music.Album)
    assert isinstance(emitter, ModelEmitter)
    uninstall()
    try:
        originals = current_attributes()
        assert not is_installed()
        assert all(a is not b for a, b in zip(installed, originals))
        assert not any(hasattr(each, "__wrapped__") for each in originals)
        native = signals_of(music.Album)
        assert type(native) is OrmarSignalEmitter
        assert native is emitter.native
        uninstall()  # idempotent
        assert current_attributes() == originals
        install()
        reinstalled = current_attributes()
        assert all(a is not b for a, b in zip(reinstalled, originals))
        assert isinstance(signals_of(music.Album), ModelEmitter)
        install()  # idempotent
        assert all(a is b for a, b in zip(current_attributes(), reinstalled))
        uninstall()
        assert all(a is b for a, b in zip(current_attributes(), originals))
        assert signals_of(music.Album) is native
    finally:
        install()


def test_patches_name_every_replaced_attribute():
    names = {(getattr(owner, "__name__", owner), name) for owner, name, _ in PATCHES}
    assert ("Model", "save") in names
    assert ("Model", "update") in names
    assert ("Model", "delete") in names
    assert ("QuerySet", "bulk_update") in names
    assert ("QuerySet", "bulk_create") in names
    assert ("QuerySet", "update") in names
    assert ("QuerySet", "delete") in names
    assert ("RelationProxy", "add") in names
    assert ("RelationProxy", "remove") in names
    hook = (compat.METACLASS_MODULE.__name__, compat.SIGNAL_REGISTRATION_HOOK)
    assert hook in names  # where ormar gives each new model its emitter
    # Where transactions begin and end (commit scopes): databases' start,
    # commit and rollback, or ormar's own transaction as a context manager.
    if DatabaseConnection is None:
        transaction_methods = {"start", "commit", "rollback"}
        assert compat.TRANSACTION is databases.core.Transaction
    else:
        transaction_methods = {"__aenter__", "__aexit__"}
        assert compat.TRANSACTION is ormar.databases.transaction.Transaction
    for name in transaction_methods:
        assert ("Transaction", name) in names
    # the nine methods above, that hook, and the transaction methods
    assert len(PATCHES) == 9 + 1 + len(transaction_methods)


def test_uninstall_restores_transactions_that_open_no_commit_scope(db, uninstalled):
    heard: list[str] = []

    async def scenario():
        async with db.database.transaction():
            dispatch.on_commit(heard.append, "uninstalled")
            heard.append("inside")
        install()
        try:
            async with db.database.transaction():
                dispatch.on_commit(heard.append, "installed")
                heard.append("inside")
        finally:
            uninstall()

    db.run(scenario)
    # Uninstalled, no scope is open: on_commit calls at once.
    assert heard == ["uninstalled", "inside", "inside", "installed"]


def test_uninstalled_ormar_sends_natively_and_dispatch_receivers_are_silent(
    db, calls, uninstalled
):
    music = declare_music(db)
    ormar.pre_save(music.Album)(calls.receiver("native"))
    pre_save.connect(calls.receiver("dispatch"), sender=music.Album)

    async def scenario():
        await music.Album(name="Venice").save()

    db.run(scenario)
    assert [label for label, _, _ in calls] == ["native"]


def test_model_declared_before_install_keeps_its_receivers_once(db, calls):
    uninstall()
    try:
        music = declare_music(db)
        ormar.pre_save(music.Album)(calls.receiver("before"))
        signals_of(music.Album).custom.connect(calls.receiver("custom"))
    finally:
        install()
    ormar.pre_save(music.Album)(calls.receiver("after"))

    async def scenario():
        album = await music.Album(name="Venice").save()
        await signals_of(music.Album).custom.send(sender=music.Album, instance=album)

    db.run(scenario)
    assert [label for label, _, _ in calls] == ["before", "after", "custom"]
    assert all("signal" not in kwargs for _, _, kwargs in calls)


def test_model_declared_after_install_gets_a_model_emitter(db):
    music = declare_music(db)
    for model in vars(music).values():
        assert isinstance(signals_of(model), ModelEmitter)


def test_reinstall_does_not_duplicate_receivers(db, calls):
    music = declare_music(db)
    ormar.pre_save(music.Album)(calls.receiver("once"))
    uninstall()
    install()

    async def scenario():
        await music.Album(name="Venice").save()

    db.run(scenario)
    assert len(calls) == 1


def test_models_declared_while_uninstalled_join_on_install(db, calls):
    uninstall()
    try:
        music = declare_music(db)
    finally:
        install()
    assert isinstance(signals_of(music.Album), ModelEmitter)
    pre_save.connect(calls.receiver("django"), sender=music.Album)

    async def scenario():
        await music.Album(name="Venice").save()

    db.run(scenario)
    assert [label for label, _, _ in calls] == ["django"]


def test_install_reaches_models_of_another_database(tmp_path):
    other = TestDatabase(tmp_path / "other.sqlite")
    Thing = other.model("Thing", {"id": ormar.Integer(primary_key=True)})
    assert isinstance(signals_of(Thing), ModelEmitter)
