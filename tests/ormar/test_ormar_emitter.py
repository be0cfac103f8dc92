"""ormar's per-model API (``Model.signals``, ormar's decorators) on top of dispatch."""

from __future__ import annotations

import ormar
import pytest
from ormar.exceptions import SignalDefinitionError as OrmarSignalDefinitionError
from ormar_models import signals_of

import dispatch
from ormar_integration import SignalDefinitionError, post_save, pre_save
from ormar_integration.emitter import BoundSignal, ModelEmitter
from ormar_integration.signals import OrmarStyleSignal


def labels(calls):
    return [label for label, _, _ in calls]


def test_built_in_names_are_views_of_the_module_signals(music):
    emitter = signals_of(music.Album)
    assert isinstance(emitter, ModelEmitter)
    assert isinstance(emitter, dispatch.SignalEmitter)
    assert len(emitter) == 11 + 6  # ormar's names, then the bulk and queryset ones
    assert isinstance(emitter.pre_save, BoundSignal)
    assert isinstance(emitter.pre_save, dispatch.Signal)
    assert music.Album(name="x").signals is emitter


def test_ormar_decorators_and_emitter_connects_run_exactly_once(db, music, calls):
    ormar.pre_save(music.Album)(calls.receiver("ormar_decorator"))
    signals_of(music.Album).pre_save.connect(calls.receiver("meta_connect"))
    instance_receiver = calls.receiver("instance_connect")
    music.Album(name="x").signals.pre_save.connect(instance_receiver)
    # connecting again, in either style, changes nothing
    signals_of(music.Album).pre_save.connect(instance_receiver)
    pre_save.connect(instance_receiver, sender=music.Album)
    pre_save(music.Album)(instance_receiver)

    async def scenario():
        await music.Album(name="Venice").save()
        await music.Cover(title="Blue").save()

    db.run(scenario)
    assert labels(calls) == ["ormar_decorator", "meta_connect", "instance_connect"]
    assert all(sender is music.Album for _, sender, _ in calls)
    assert all(set(kwargs) == {"instance"} for _, _, kwargs in calls)


def test_emitter_registrations_land_in_dispatch(music):
    async def before(sender, **kwargs):
        pass

    signals_of(music.Album).pre_save.connect(before)
    assert pre_save.receivers_for(music.Album) == [before]
    assert pre_save.receivers_for(music.Cover) == []
    assert signals_of(music.Album).pre_save.has_listeners()


def test_disconnect_through_the_instance(db, music, calls):
    receiver = calls.receiver("gone")
    ormar.pre_save(music.Album)(receiver)
    album = music.Album(name="x")
    assert album.signals.pre_save.disconnect(receiver) is True
    assert album.signals.pre_save.disconnect(receiver) is False

    async def scenario():
        await album.save()

    db.run(scenario)
    assert calls == []


def test_bound_methods_connect_and_disconnect_by_instance_and_function(db, music):
    class Auditor:
        def __init__(self):
            self.seen = []

        async def before_save(self, sender, instance, **kwargs):
            self.seen.append(instance.name)

    auditor = Auditor()
    ormar.pre_save(music.Album)(auditor.before_save)
    signals_of(music.Album).pre_save.connect(auditor.before_save)

    async def scenario():
        await music.Album(name="Venice").save()
        assert signals_of(music.Album).pre_save.disconnect(auditor.before_save)
        await music.Album(name="Rome").save()

    db.run(scenario)
    assert auditor.seen == ["Venice"]


def test_receivers_mapping_holds_this_models_registrations(music):
    async def one(sender, **kwargs):
        pass

    async def every(sender, **kwargs):
        pass

    class Holder:
        async def method(self, sender, **kwargs):
            pass

    holder = Holder()
    view = signals_of(music.Album).pre_save
    view.connect(one)
    view.connect(holder.method)
    pre_save()(every)
    try:
        receivers = view._receivers
        assert len(receivers) == 2
        assert receivers[id(one)] is one
        assert receivers[(id(holder), id(Holder.method))] == holder.method
        assert list(receivers) == [id(one), (id(holder), id(Holder.method))]
        assert len(signals_of(music.Cover).pre_save._receivers) == 0
        del view._receivers[id(one)]
        assert id(one) not in view._receivers
        assert pre_save.receivers_for(music.Album) == [holder.method, every]
        with pytest.raises(KeyError):
            del view._receivers[id(one)]
    finally:
        pre_save.disconnect(every)


def test_custom_signal_created_on_access_calls_ormar_style(db, music, calls):
    emitter = signals_of(music.Album)
    emitter.your_custom_signal.connect(calls.receiver("custom"))
    assert isinstance(emitter.your_custom_signal, OrmarStyleSignal)
    assert emitter.your_custom_signal is emitter["your_custom_signal"]

    async def scenario():
        await emitter.your_custom_signal.send(sender=music.Album, my_param=True)

    db.run(scenario)
    assert calls == [("custom", music.Album, {"my_param": True})]


def test_assigned_ormar_signal_becomes_a_dispatch_signal_with_its_receivers(
    db, music, calls
):
    native = ormar.Signal()
    native.connect(calls.receiver("carried"))
    emitter = signals_of(music.Album)
    emitter.your_custom_signal = native
    stored = emitter.your_custom_signal
    assert isinstance(stored, OrmarStyleSignal)
    stored.connect(calls.receiver("added"))

    async def scenario():
        await stored.send(sender=music.Album, my_param=1)

    db.run(scenario)
    assert calls == [
        ("carried", music.Album, {"my_param": 1}),
        ("added", music.Album, {"my_param": 1}),
    ]


def test_assigned_dispatch_signal_is_kept_django_style(db, music, calls):
    signal = dispatch.Signal("mine")
    emitter = signals_of(music.Album)
    emitter.mine = signal
    assert emitter.mine is signal
    signal.connect(calls.receiver("django"))

    async def scenario():
        await emitter.mine.send(sender=music.Album)

    db.run(scenario)
    assert calls == [("django", music.Album, {"signal": signal})]


@pytest.mark.parametrize("value", [1, "pre_save", object()])
def test_assigning_a_non_signal_raises_naming_it(music, value):
    emitter = signals_of(music.Album)
    with pytest.raises(SignalDefinitionError) as error:
        emitter.custom = value
    assert repr(value) in str(error.value)
    assert isinstance(error.value, OrmarSignalDefinitionError)


def test_built_in_name_takes_an_ormar_signals_receivers(db, music, calls):
    emitter = signals_of(music.Album)
    view = emitter.pre_save
    with pytest.raises(SignalDefinitionError):
        emitter.pre_save = dispatch.Signal()
    native = ormar.Signal()
    native.connect(calls.receiver("joined"))
    emitter.pre_save = native
    assert emitter.pre_save is view

    async def scenario():
        await music.Album(name="Venice").save()

    db.run(scenario)
    assert labels(calls) == ["joined"]


def test_sending_on_a_view_forwards_to_the_module_signal(db, music, calls):
    post_save.connect(calls.receiver("django"), sender=music.Album)
    ormar.post_save(music.Album)(calls.receiver("ormar"))

    async def scenario():
        await signals_of(music.Album).post_save.send(sender=music.Album, instance=1)

    db.run(scenario)
    assert [(label, set(kwargs)) for label, _, kwargs in calls] == [
        ("django", {"signal", "instance"}),
        ("ormar", {"instance"}),
    ]


def test_view_muted_and_connected_to(db, music, calls):
    view = signals_of(music.Album).pre_save
    receiver = calls.receiver("scoped")

    async def scenario():
        with view.connected_to(receiver):
            await music.Album(name="in").save()
            with view.muted():
                await music.Album(name="muted").save()
        await music.Album(name="out").save()

    db.run(scenario)
    assert [kwargs["instance"].name for _, _, kwargs in calls] == ["in"]
