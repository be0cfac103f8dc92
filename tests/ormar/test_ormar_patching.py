"""install / uninstall / is_installed, and models declared on either side of them."""

from __future__ import annotations

from typing import Any

import ormar
import pytest
from ormar.signals import SignalEmitter as OrmarSignalEmitter
from ormar_models import TestDatabase, declare_music, signals_of

from ormar_integration import compat, install, is_installed, pre_save, uninstall
from ormar_integration.emitter import ModelEmitter
from ormar_integration.patching import PATCHES


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
    assert len(PATCHES) == 9 + 1  # the nine methods above and that hook


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
