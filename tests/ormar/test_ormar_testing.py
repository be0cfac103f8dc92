"""``dispatch.testing`` with ormar models: model signals, emitter views, mutes (contract §5)."""

from __future__ import annotations

from ormar_models import signals_of

from dispatch.testing import Sent, capture
from ormar_integration import (
    post_delete,
    post_save,
    post_update,
    pre_delete,
    pre_relation_add,
    pre_save,
    pre_update,
)
from ormar_integration.signals import OrmarStyleSignal


def test_capture_records_a_save_once_per_signal_with_the_instance(db, music):
    async def scenario():
        album = music.Album(name="Venice")
        with capture(post_save, sender=music.Album) as sent:
            await album.save()
            await music.Cover(title="Blue").save()  # another sender
        assert [(s.signal, s.sender) for s in sent] == [(post_save, music.Album)]
        assert sent[0].kwargs["instance"] is album

    db.run(scenario)


def test_capture_of_every_signal_sees_each_operation_once(db, music):
    # ormar's own sends on the emitter views, which the integration
    # ignores while its operation runs, are not sends and not recorded.
    async def scenario():
        with capture() as sent:
            album = await music.Album(name="Venice").save()
            await album.update(play_count=3)
            genre = await music.Genre(name="Jazz").save()
            await album.genres.add(genre, note="n")
            await album.delete()
        return album, genre, sent

    album, genre, sent = db.run(scenario)
    seen = [(s.signal.name, s.sender.__name__) for s in sent]
    assert seen == [
        ("pre_save", "Album"),
        ("post_save", "Album"),
        ("pre_update", "Album"),
        ("post_update", "Album"),
        ("pre_save", "Genre"),
        ("post_save", "Genre"),
        ("pre_relation_add", "Album"),
        ("pre_save", "AlbumGenre"),
        ("post_save", "AlbumGenre"),
        ("post_relation_add", "Album"),
        ("pre_delete", "Album"),
        ("post_delete", "Album"),
    ]
    assert [s.signal for s in sent[:4]] == [
        pre_save,
        post_save,
        pre_update,
        post_update,
    ]
    assert sent[2].kwargs == {"instance": album, "passed_args": {"play_count": 3}}
    add = sent[6]
    assert add.signal is pre_relation_add
    assert add.kwargs["child"] is genre
    assert add.kwargs["relation_name"] == "genres"
    assert add.kwargs["passed_kwargs"] == {"note": "n"}
    assert [s.signal for s in sent[-2:]] == [pre_delete, post_delete]


def test_a_send_on_an_emitter_view_is_recorded_as_the_module_signal(db, music):
    async def scenario():
        view = signals_of(music.Album).post_save
        custom = signals_of(music.Album).custom_signal
        with capture() as sent:
            await view.send(sender=music.Album, instance="i")
            view.send_sync(sender=music.Album, instance="j")
            await custom.send(sender=music.Album, flag=True)
        return custom, sent

    custom, sent = db.run(scenario)
    assert isinstance(custom, OrmarStyleSignal)
    assert sent == [
        Sent(post_save, music.Album, {"instance": "i"}),
        Sent(post_save, music.Album, {"instance": "j"}),
        Sent(custom, music.Album, {"flag": True}),
    ]


def test_mute_calls_no_receiver_however_connected_and_still_writes(db, music, calls):
    signals_of(music.Album).pre_save.connect(calls.receiver("view"))
    pre_save(music.Album)(calls.receiver("ormar_style"))
    pre_save.connect(calls.receiver("django_style"), sender=music.Album)
    post_save.connect(calls.receiver("post"), sender=music.Album)

    async def scenario():
        with capture(pre_save, mute=True) as sent:
            await music.Album(name="Quiet").save()
        await music.Album(name="Loud").save()
        return sent, [album.name for album in await music.Album.objects.all()]

    sent, names = db.run(scenario)
    assert [s.kwargs["instance"].name for s in sent] == ["Quiet"]
    assert names == ["Quiet", "Loud"]
    assert [label for label, _, _ in calls] == [
        "post",
        "view",
        "ormar_style",
        "django_style",
        "post",
    ]


def test_muting_one_receiver_through_a_view_or_the_module_signal(db, music, calls):
    mail = calls.receiver("mail")
    audit = calls.receiver("audit")
    signals_of(music.Album).post_save.connect(mail)
    post_save.connect(audit, sender=music.Album)

    async def scenario():
        with signals_of(music.Album).post_save.muted(receiver=mail):
            await music.Album(name="A").save()
        with post_save.muted(receiver=audit):
            await music.Album(name="B").save()
        await music.Album(name="C").save()

    db.run(scenario)
    heard = [(label, kwargs["instance"].name) for label, _, kwargs in calls]
    assert heard == [
        ("audit", "A"),
        ("mail", "B"),
        ("mail", "C"),
        ("audit", "C"),
    ]


def test_a_factory_with_a_muted_receiver(db, music, calls):
    welcome = calls.receiver("welcome_mail")
    post_save.connect(welcome, sender=music.Album)

    async def album_factory(**fields):
        with post_save.muted(receiver=welcome):
            return await music.Album(**fields).save()

    async def scenario():
        with capture(post_save) as sent:
            await album_factory(name="Fixture")
        await music.Album(name="Real").save()
        return sent

    sent = db.run(scenario)
    assert [s.kwargs["instance"].name for s in sent] == ["Fixture"]
    assert [kwargs["instance"].name for _, _, kwargs in calls] == ["Real"]


def test_capture_ends_before_an_update_and_misses_it(db, music):
    async def scenario():
        with capture(post_update) as sent:
            album = await music.Album(name="x").save()
        await album.update(name="y")
        return sent

    assert db.run(scenario) == []
