"""What receivers can rely on: changes are written, errors abort or surface."""

from __future__ import annotations

import ormar
import pytest
from ormar_models import HAS_EMIT_PARENT_SIGNALS, TestDatabase, config_of, signals_of

from ormar_integration import (
    install,
    post_delete,
    post_relation_add,
    post_save,
    post_update,
    pre_delete,
    pre_relation_add,
    pre_relation_remove,
    pre_save,
    pre_update,
    uninstall,
)


class Refused(Exception):
    pass


async def refuse(sender, **kwargs):
    raise Refused(sender.__name__)


def test_pre_save_change_is_written(db, music):
    @pre_save(music.Album)
    async def name_it(sender, instance, **kwargs):
        instance.name = instance.name.upper()

    async def scenario():
        await music.Album(name="venice").save()
        return await music.Album.objects.get()

    assert db.run(scenario).name == "VENICE"


def test_pre_update_sees_kwargs_applied_and_its_change_is_written(db, music):
    seen = []

    @pre_update(music.Album)
    async def best_seller(sender, instance, passed_args, **kwargs):
        seen.append((instance.play_count, dict(passed_args)))
        if instance.play_count > 50:
            instance.is_best_seller = True
            instance.name = "changed by receiver"

    async def scenario():
        album = await music.Album.objects.create(name="Venice")
        await album.update(play_count=30)
        await album.update(play_count=60, name="from kwargs")
        return await music.Album.objects.get()

    album = db.run(scenario)
    assert seen == [
        (30, {"play_count": 30}),
        (60, {"play_count": 60, "name": "from kwargs"}),
    ]
    assert album.is_best_seller
    assert album.name == "changed by receiver"
    assert album.play_count == 60


def test_update_with_columns_writes_only_those(db, music):
    @pre_update(music.Album)
    async def touch(sender, instance, **kwargs):
        instance.name = "not written"

    async def scenario():
        album = await music.Album.objects.create(name="Venice")
        await album.update(_columns=["play_count"], play_count=7)
        return await music.Album.objects.get()

    album = db.run(scenario)
    assert (album.name, album.play_count) == ("Venice", 7)


def test_update_of_unsaved_model_raises_before_any_signal(db, music, calls):
    pre_update(music.Album)(calls.receiver("pre"))

    async def scenario():
        with pytest.raises(ormar.exceptions.ModelPersistenceError):
            await music.Album(name="never saved").update(play_count=1)

    db.run(scenario)
    assert calls == []


def test_raising_pre_receivers_abort_before_anything_is_written(db, music, calls):
    post_save(music.Album)(calls.receiver("post_save"))

    async def scenario():
        pre_save.connect(refuse, sender=music.Album)
        with pytest.raises(Refused):
            await music.Album(name="Venice").save()
        assert await music.Album.objects.count() == 0
        pre_save.disconnect(refuse, sender=music.Album)

        album = await music.Album(name="Venice").save()
        pre_update(music.Album)(refuse)
        with pytest.raises(Refused):
            await album.update(name="Rome")
        assert (await music.Album.objects.get()).name == "Venice"

        pre_delete(music.Album)(refuse)
        with pytest.raises(Refused):
            await album.delete()
        assert await music.Album.objects.count() == 1

        genre = await music.Genre(name="Jazz").save()
        pre_relation_add(music.Album)(refuse)
        with pytest.raises(Refused):
            await album.genres.add(genre)
        assert await music.AlbumGenre.objects.count() == 0

        track = await music.Track(title="Intro", album=album).save()
        await album.load_all()
        pre_relation_remove(music.Album)(refuse)
        with pytest.raises(Refused):
            await album.tracks.remove(track)
        assert (await music.Track.objects.get()).album.pk == album.pk

    db.run(scenario)
    assert [label for label, _, _ in calls] == ["post_save"]


def test_raising_post_receivers_reach_the_caller_after_the_write(db, music):
    async def scenario():
        post_save(music.Album)(refuse)
        with pytest.raises(Refused):
            await music.Album(name="Venice").save()
        album = await music.Album.objects.get()

        post_update(music.Album)(refuse)
        with pytest.raises(Refused):
            await album.update(name="Rome")
        assert (await music.Album.objects.get()).name == "Rome"

        post_delete(music.Album)(refuse)
        with pytest.raises(Refused):
            await album.delete()
        assert await music.Album.objects.count() == 0

    db.run(scenario)


def test_pre_relation_add_may_remove_through_kwargs(db, music):
    @pre_relation_add(music.Album)
    async def drop_note(sender, passed_kwargs, **kwargs):
        passed_kwargs.pop("note")

    async def scenario():
        album = await music.Album(name="Venice").save()
        genre = await music.Genre(name="Jazz").save()
        await album.genres.add(genre, note="dropped")
        return await music.AlbumGenre.objects.get()

    assert db.run(scenario).note is None


def test_relation_signals_for_reverse_foreign_key(db, music, calls):
    for signal in (pre_relation_add, post_relation_add):
        signal(music.Album)(calls.receiver(signal.name))
    pre_update(music.Track)(calls.receiver("track_pre_update"))
    pre_save(music.Track)(calls.receiver("track_pre_save"))

    async def scenario():
        album = await music.Album(name="Venice").save()
        track = await music.Track(title="Intro").save()
        await album.tracks.add(track, position=1)
        return album, track

    album, track = db.run(scenario)
    assert [label for label, _, _ in calls] == [
        "track_pre_save",
        "pre_relation_add",
        "track_pre_update",
        "post_relation_add",
    ]
    assert calls[1][2] == {
        "instance": album,
        "child": track,
        "relation_name": "tracks",
        "passed_kwargs": {"position": 1},
    }


def test_through_model_rows_send_save_signals(db, music, calls):
    pre_save(music.AlbumGenre)(calls.receiver("pre"))
    post_save(music.AlbumGenre)(calls.receiver("post"))

    async def scenario():
        album = await music.Album(name="Venice").save()
        genre = await music.Genre(name="Jazz").save()
        await album.genres.add(genre, note="n")

    db.run(scenario)
    assert [(label, sender) for label, sender, _ in calls] == [
        ("pre", music.AlbumGenre),
        ("post", music.AlbumGenre),
    ]
    assert calls[0][2]["instance"].note == "n"


def test_abstract_parents_send_for_the_concrete_class_only(db, calls):
    Base = db.model(
        "Base",
        {"id": ormar.Integer(primary_key=True), "name": ormar.String(max_length=50)},
        abstract=True,
    )
    Child = db.model(
        "Child",
        {"extra": ormar.Integer(default=0)},
        bases=(Base,),
        tablename="children",
    )
    Middle = db.model(
        "Middle", {"more": ormar.Integer(default=0)}, bases=(Base,), abstract=True
    )
    GrandChild = db.model("GrandChild", {}, bases=(Middle,), tablename="grandchildren")
    pre_save(Child)(calls.receiver("child"))
    pre_save(GrandChild)(calls.receiver("grandchild"))
    with pytest.raises(ormar.exceptions.SignalDefinitionError):
        pre_save(object)

    @pre_save(Child)
    async def rename(sender, instance, **kwargs):
        instance.name = "renamed"

    async def scenario():
        await Child(name="c").save()
        await GrandChild(name="g").save()
        return await Child.objects.get()

    assert db.run(scenario).name == "renamed"
    assert [(label, sender) for label, sender, _ in calls] == [
        ("child", Child),
        ("grandchild", GrandChild),
    ]


def test_custom_primary_key_and_column_alias(db, calls):
    Label = db.model(
        "Label",
        {
            "code": ormar.String(primary_key=True, max_length=10),
            "title": ormar.String(max_length=50, name="label_title"),
        },
        tablename="labels",
    )
    pre_update(Label)(calls.receiver("pre_update"))

    @pre_save(Label)
    async def retitle(sender, instance, **kwargs):
        instance.title = instance.title.title()

    async def scenario():
        label = await Label(code="blue", title="blue note").save()
        await label.update(title="verve")
        await label.delete()
        await Label(code="ecm", title="ecm records").save()
        return await Label.objects.get(code="ecm")

    label = db.run(scenario)
    assert label.title == "Ecm Records"
    assert calls[0][2]["passed_args"] == {"title": "verve"}


def test_sync_receiver_modifies_instance(db, music):
    @pre_save(music.Album)
    def plain(sender, instance, **kwargs):
        instance.play_count = 99

    async def scenario():
        await music.Album(name="Venice").save()
        return await music.Album.objects.get()

    assert db.run(scenario).play_count == 99


def test_receiver_saving_other_models_gets_their_signals(db, music, calls):
    post_save(music.Cover)(calls.receiver("cover_saved"))

    @pre_save(music.Album)
    async def give_cover(sender, instance, **kwargs):
        instance.cover = await music.Cover(title=instance.name).save()

    async def scenario():
        await music.Album(name="Venice").save()
        return await music.Album.objects.select_related("cover").get()

    assert db.run(scenario).cover.title == "Venice"
    assert [label for label, _, _ in calls] == ["cover_saved"]


@pytest.mark.skipif(
    not HAS_EMIT_PARENT_SIGNALS,
    reason="emit_parent_signals exists from ormar 0.25 on",
)
def test_emit_parent_signals_sends_once_per_concrete_ancestor(db, calls):
    Animal = db.model(
        "Animal",
        {"id": ormar.Integer(primary_key=True), "name": ormar.String(max_length=50)},
        tablename="animals",
    )
    Dog = db.model("Dog", {}, bases=(Animal,), proxy=True, emit_parent_signals=True)
    for model in (Animal, Dog):
        pre_save(model)(calls.receiver(f"pre_save_{model.__name__}"))
        post_delete(model)(calls.receiver(f"post_delete_{model.__name__}"))
    every = calls.receiver("every")
    pre_update()(every)
    try:

        async def scenario():
            dog = await Dog(name="Rex").save()
            await dog.update(name="Max")
            await dog.delete()

        db.run(scenario)
    finally:
        pre_update.disconnect(every)
    assert [(label, sender) for label, sender, _ in calls] == [
        ("pre_save_Dog", Dog),
        ("pre_save_Animal", Animal),
        ("every", Dog),
        ("every", Animal),
        ("post_delete_Dog", Dog),
        ("post_delete_Animal", Animal),
    ]
    assert signals_of(Dog) is not signals_of(Animal)


LIFECYCLE = [
    f"{when}_{operation}"
    for operation in ("save", "update", "delete")
    for when in ("pre", "post")
]
"""The six signals of a model's own rows, in the order one row's life sends them."""


@pytest.mark.skipif(
    not HAS_EMIT_PARENT_SIGNALS,
    reason="emit_parent_signals exists from ormar 0.25 on",
)
def test_emit_parent_signals_skips_abstract_ancestors(tmp_path, calls):
    def dog_lifecycle(db):
        """Saves, updates, deletes a Dog; returns the models and what was sent."""
        Base = db.model(
            "Base",
            {
                "id": ormar.Integer(primary_key=True),
                "name": ormar.String(max_length=50),
            },
            abstract=True,
        )
        Animal = db.model(
            "Animal",
            {"legs": ormar.Integer(default=4)},
            bases=(Base,),
            tablename="animals",
        )
        Dog = db.model("Dog", {}, bases=(Animal,), proxy=True, emit_parent_signals=True)
        # ormar's own decorators, so the native run connects the same way.
        for name in LIFECYCLE:
            getattr(ormar, name)([Base, Animal, Dog])(calls.receiver(name))

        async def scenario():
            dog = await Dog(name="Rex").save()
            await dog.update(name="Max")
            await dog.delete()

        db.run(scenario)
        sent = [(label, sender) for label, sender, _ in calls]
        calls.clear()
        return Animal, Dog, sent

    uninstall()
    try:
        *_, native = dog_lifecycle(TestDatabase(tmp_path / "native.sqlite"))
    finally:
        install()
    Animal, Dog, sent = dog_lifecycle(TestDatabase(tmp_path / "dispatch.sqlite"))

    # Dog itself, then each concrete ancestor: Animal (the table Dog proxies).
    # Base is abstract (no table of its own), and ormar skips abstract
    # ancestors, so a receiver connected to Base never hears a Dog.
    assert sent == [(name, model) for name in LIFECYCLE for model in (Dog, Animal)]
    assert [(label, sender.__name__) for label, sender in native] == [
        (label, sender.__name__) for label, sender in sent
    ]


def test_save_related_sends_save_signals_once_per_saved_row(db, music, calls):
    models = [music.Cover, music.Genre, music.AlbumGenre, music.Album, music.Track]
    for signal in (pre_save, post_save, pre_update, post_update):
        signal(models)(calls.receiver(signal.name))

    def sent_for(instance):
        return [label for label, _, kwargs in calls if kwargs["instance"] is instance]

    cover = music.Cover(title="Blue")
    genres = [music.Genre(name="Jazz"), music.Genre(name="Soul")]
    album = music.Album(name="Venice", cover=cover, genres=genres)
    tracks = [music.Track(title=title, album=album) for title in ("Intro", "Outro")]
    created = [cover, album, *tracks, *genres]

    async def save_graph():
        saved = await album.save_related()
        return saved, await music.AlbumGenre.objects.count()

    saved, through_rows = db.run(save_graph)
    # save_related saves every unsaved instance of the graph through save(),
    # and each many-to-many link through a save() of an AlbumGenre row.
    assert saved == len(created)
    assert through_rows == len(genres)
    for instance in created:
        assert sent_for(instance) == ["pre_save", "post_save"]
    links = [
        kwargs["instance"]
        for label, sender, kwargs in calls
        if sender is music.AlbumGenre and label == "pre_save"
    ]
    assert len({id(link) for link in links}) == len(genres)
    for link in links:
        assert sent_for(link) == ["pre_save", "post_save"]
    assert len(calls) == 2 * (len(created) + len(genres))

    calls.clear()
    changed = tracks[0]
    changed.title = "Intro (live)"

    async def save_change():
        return await album.save_related()

    # Saved rows are left alone; the changed one exists, so ormar updates it.
    assert db.run(save_change) == 1
    assert [(label, kwargs["instance"]) for label, _, kwargs in calls] == [
        ("pre_update", changed),
        ("post_update", changed),
    ]


def test_two_databases_do_not_interfere(tmp_path, calls):
    first, second = (
        TestDatabase(tmp_path / "a.sqlite"),
        TestDatabase(tmp_path / "b.sqlite"),
    )
    fields = {"id": ormar.Integer(primary_key=True)}
    A = first.model("A", dict(fields), tablename="things")
    B = second.model("B", {"id": ormar.Integer(primary_key=True)}, tablename="things")
    pre_save(A)(calls.receiver("a"))

    async def scenario():
        await B().save()

    second.run(scenario)
    assert calls == []


def test_through_model_copies_for_inheriting_models_share_receivers(db, calls):
    Tag = db.model(
        "Tag",
        {"id": ormar.Integer(primary_key=True), "name": ormar.String(max_length=20)},
        tablename="tags",
    )
    Tagging = db.model(
        "Tagging", {"id": ormar.Integer(primary_key=True)}, tablename="taggings"
    )
    ormar.pre_save(Tagging)(calls.receiver("before_child"))
    Taggable = db.model(
        "Taggable",
        {
            "id": ormar.Integer(primary_key=True),
            "tags": ormar.ManyToMany(Tag, through=Tagging, related_name="items"),
        },
        abstract=True,
    )
    Post = db.model("Post", {}, bases=(Taggable,), tablename="posts")
    signals_of(Tagging).pre_save.connect(calls.receiver("after_child"))
    through = config_of(Post).model_fields["tags"].through
    assert through is not Tagging

    async def scenario():
        post = await Post().save()
        await post.tags.add(await Tag(name="jazz").save())

    db.run(scenario)
    assert [(label, sender) for label, sender, _ in calls] == [
        ("before_child", through),
        ("after_child", through),
    ]
