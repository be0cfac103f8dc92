"""Each of the eleven signals: when it is sent, with exactly which arguments."""

from __future__ import annotations

import ormar
import pytest
from ormar.exceptions import SignalDefinitionError as OrmarSignalDefinitionError
from ormar_models import signals_of

import dispatch
import ormar_integration
from ormar_integration import (
    ModelSignal,
    SignalDefinitionError,
    post_bulk_update,
    post_delete,
    post_relation_add,
    post_relation_remove,
    post_save,
    post_update,
    pre_delete,
    pre_relation_add,
    pre_relation_remove,
    pre_save,
    pre_update,
)

ALL = [
    pre_save,
    post_save,
    pre_update,
    post_update,
    pre_delete,
    post_delete,
    pre_relation_add,
    post_relation_add,
    pre_relation_remove,
    post_relation_remove,
    post_bulk_update,
]


def test_the_eleven_signals_are_model_signals():
    assert len({id(signal) for signal in ALL}) == 11
    for signal in ALL:
        assert isinstance(signal, ModelSignal)
        assert isinstance(signal, dispatch.Signal)
        assert getattr(ormar_integration, signal.name) is signal


def test_every_signal_sends_exactly_its_documented_arguments(db, music, calls):
    for signal in ALL:
        signal(music.Album)(calls.receiver(signal.name))

    async def scenario():
        album = await music.Album(name="Venice").save()
        await album.update(play_count=3)
        genre = await music.Genre(name="Jazz").save()
        await album.genres.add(genre, note="first")
        await album.genres.remove(genre)
        await music.Album.objects.bulk_update([album])
        await album.delete()
        return album, genre

    album, genre = db.run(scenario)
    relation = {"instance": album, "child": genre, "relation_name": "genres"}
    assert calls == [
        ("pre_save", music.Album, {"instance": album}),
        ("post_save", music.Album, {"instance": album}),
        (
            "pre_update",
            music.Album,
            {"instance": album, "passed_args": {"play_count": 3}},
        ),
        ("post_update", music.Album, {"instance": album}),
        (
            "pre_relation_add",
            music.Album,
            {**relation, "passed_kwargs": {"note": "first"}},
        ),
        (
            "post_relation_add",
            music.Album,
            {**relation, "passed_kwargs": {"note": "first"}},
        ),
        ("pre_relation_remove", music.Album, relation),
        ("post_relation_remove", music.Album, relation),
        ("post_bulk_update", music.Album, {"instances": [album]}),
        ("pre_delete", music.Album, {"instance": album}),
        ("post_delete", music.Album, {"instance": album}),
    ]


def test_django_style_receivers_also_get_the_signal(db, music, calls):
    for signal in ALL:
        signal.connect(calls.receiver(signal.name), sender=music.Album)

    async def scenario():
        album = await music.Album(name="Venice").save()
        await album.update(play_count=3)
        track = await music.Track(title="Intro").save()
        await album.tracks.add(track)
        await album.tracks.remove(track)
        await music.Album.objects.bulk_update([album])
        await album.delete()

    db.run(scenario)
    assert [label for label, _, _ in calls] == [signal.name for signal in ALL[:4]] + [
        signal.name for signal in ALL[6:]
    ] + ["pre_delete", "post_delete"]
    for label, _, kwargs in calls:
        assert kwargs["signal"] is getattr(ormar_integration, label)


def test_dispatch_receiver_decorator_and_sync_receivers(db, music):
    seen = []

    @dispatch.receiver([pre_save, post_save], sender=music.Album)
    def sync_receiver(sender, instance, signal, **kwargs):
        seen.append((signal.name, sender, instance.name))

    async def scenario():
        await music.Album(name="Venice").save()

    db.run(scenario)
    assert seen == [
        ("pre_save", music.Album, "Venice"),
        ("post_save", music.Album, "Venice"),
    ]


def test_decorator_with_a_list_and_with_no_senders(db, music, calls):
    pre_update([music.Album, music.Track])(calls.receiver("listed"))
    every = calls.receiver("every")
    pre_save()(every)
    try:

        async def scenario():
            album = await music.Album(name="Venice").save()
            track = await music.Track(title="Intro").save()
            await album.update(name="Rome")
            await track.update(title="Outro")
            await music.Cover(title="Blue").save()

        db.run(scenario)
    finally:
        assert pre_save.disconnect(every)
    assert [(label, sender) for label, sender, _ in calls] == [
        ("every", music.Album),
        ("every", music.Track),
        ("listed", music.Album),
        ("listed", music.Track),
        ("every", music.Cover),
    ]
    assert all("signal" not in kwargs for _, _, kwargs in calls)


def test_tuple_of_senders(db, music, calls):
    post_save((music.Album, music.Cover))(calls.receiver("tuple"))

    async def scenario():
        await music.Album(name="Venice").save()
        await music.Cover(title="Blue").save()
        await music.Genre(name="Jazz").save()

    db.run(scenario)
    assert [sender for _, sender, _ in calls] == [music.Album, music.Cover]


def test_decorator_returns_the_function_unchanged(music):
    async def receiver(sender, **kwargs):
        pass

    assert pre_save(music.Album)(receiver) is receiver


@pytest.mark.parametrize(
    "senders", ["Album", 1, [object], ormar.Model.__mro__[-1], (int,)]
)
def test_bad_senders_raise_naming_the_culprit(senders):
    with pytest.raises(SignalDefinitionError) as error:
        pre_save(senders)
    culprit = senders[0] if isinstance(senders, (list, tuple)) else senders
    assert repr(culprit) in str(error.value)


def test_decorating_without_calling_names_the_function():
    async def receiver(sender, **kwargs):
        pass

    with pytest.raises(SignalDefinitionError, match="receiver"):
        pre_save(receiver)


def test_definition_errors_are_ormars_and_dispatchs(music):
    with pytest.raises(OrmarSignalDefinitionError):
        pre_save(music.Album)("not callable")
    with pytest.raises(dispatch.SignalDefinitionError):
        pre_save(music.Album)("not callable")
    with pytest.raises(SignalDefinitionError, match="without_kwargs"):

        @post_save(music.Album)
        def without_kwargs(sender, instance):
            pass

    with pytest.raises(SignalDefinitionError):
        post_save.connect(42, sender=music.Album)
    with pytest.raises(SignalDefinitionError):
        signals_of(music.Album).pre_save.connect(lambda sender: None)
    assert issubclass(SignalDefinitionError, TypeError)


def test_muted_signal_calls_nobody_in_this_context(db, music, calls):
    pre_save(music.Album)(calls.receiver("pre"))
    post_save(music.Album)(calls.receiver("post"))

    async def scenario():
        with post_save.muted():
            await music.Album(name="Venice").save()
        await music.Album(name="Rome").save()

    db.run(scenario)
    assert [label for label, _, _ in calls] == ["pre", "pre", "post"]


def test_not_sent_for_bulk_create_queryset_update_and_delete(db, music, calls):
    for signal in ALL:
        signal(music.Album)(calls.receiver(signal.name))

    async def scenario():
        await music.Album.objects.bulk_create(
            [music.Album(name="a"), music.Album(name="b")]
        )
        await music.Album.objects.filter(name="a").update(play_count=2)
        await music.Album.objects.delete(name="b")

    db.run(scenario)
    assert calls == []


def test_paths_through_save_and_update_send_once(db, music, calls):
    for signal in (pre_save, post_save, pre_update, post_update):
        signal(music.Album)(calls.receiver(signal.name))

    async def scenario():
        await music.Album.objects.create(name="created")
        album = await music.Album(name="upserted").upsert()
        await album.upsert(name="upserted again")
        await music.Album.objects.get_or_create(name="got")
        await music.Album.objects.update_or_create(name="new one")

    db.run(scenario)
    assert [label for label, _, _ in calls] == [
        "pre_save",
        "post_save",
        "pre_save",
        "post_save",
        "pre_update",
        "post_update",
        "pre_save",
        "post_save",
        "pre_save",
        "post_save",
    ]
