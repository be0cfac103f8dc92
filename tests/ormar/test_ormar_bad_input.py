"""Everything invalid a user can hand the ormar integration, and what happens then.

Each bad call raises ``ormar_integration.SignalDefinitionError`` (also
``dispatch``'s and ormar's) naming the culprit, or works as documented, and
never corrupts the registry: afterwards a save still sends ``pre_save`` and
``post_save`` exactly once to exactly the receivers connected before.
Switching the integration off and on (twice, or in the middle of a send) is
here too.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import ormar
import pytest
from ormar_models import signals_of

import dispatch
import ormar_integration
from ormar_integration import (
    SignalDefinitionError,
    install,
    is_installed,
    post_save,
    pre_save,
    uninstall,
)


@pytest.fixture
def heard(music: Any) -> list[tuple[str, str]]:
    """Receivers on pre_save / post_save of Album, one per connection style."""
    calls: list[tuple[str, str]] = []

    def recorder(label: str) -> Callable[..., Any]:
        async def receive(sender: Any, instance: Any, **kwargs: Any) -> None:
            calls.append((label, instance.name))

        return receive

    receivers = [
        (pre_save, recorder("pre_save/ormar-style")),
        (post_save, recorder("post_save/django-style")),
    ]
    pre_save(music.Album)(receivers[0][1])
    post_save.connect(receivers[1][1], sender=music.Album)
    yield calls
    for signal, receive in receivers:
        signal.disconnect(receive, sender=music.Album)


def assert_intact(db: Any, music: Any, heard: list[tuple[str, str]]) -> None:
    """A save still reaches exactly the receivers connected before, once each."""
    del heard[:]

    async def scenario() -> tuple[int, list[str]]:
        before = await music.Album.objects.count()
        await music.Album(name="after").save()
        names = [a.name for a in await music.Album.objects.order_by("id").all()]
        return before, names

    before, names = db.run(scenario)
    assert names[before:] == ["after"]
    assert heard == [
        ("pre_save/ormar-style", "after"),
        ("post_save/django-style", "after"),
    ]


def no_kwargs(sender: Any) -> None:
    pass


async def good(sender: Any, **kwargs: Any) -> None:
    pass


class NotAModel:
    pass


SENDERS: list[tuple[str, Callable[[Any], Any], str]] = [
    ("plain-class", lambda m: NotAModel, "NotAModel"),
    ("int", lambda m: 42, "42"),
    ("model-name-string", lambda m: "Album", "'Album'"),
    ("model-instance", lambda m: m.Album(name="an instance"), "an instance"),
    ("list-with-one-bad", lambda m: [m.Album, NotAModel], "NotAModel"),
    ("tuple-with-one-bad", lambda m: (m.Album, m.Track, 42), "42"),
    ("nested-list", lambda m: [[m.Album]], "Album"),
    ("ormar-Model-instance-of-dict", lambda m: {m.Album: 1}, "Album"),
]


@pytest.mark.parametrize(
    ("senders", "names"),
    [pytest.param(get, names, id=id_) for id_, get, names in SENDERS],
)
def test_model_signal_decorator_rejects_non_model_senders(
    db: Any, music: Any, heard: list[tuple[str, str]], senders: Any, names: str
) -> None:
    with pytest.raises(SignalDefinitionError) as caught:
        pre_save(senders(music))(good)
    assert isinstance(caught.value, dispatch.SignalDefinitionError)
    assert isinstance(caught.value, ormar.exceptions.SignalDefinitionError)
    assert names in str(caught.value)
    assert "pre_save" in str(caught.value)
    # Nothing of a half-valid list got connected.
    assert good not in pre_save.receivers_for(music.Album)
    assert_intact(db, music, heard)


BAD_RECEIVERS: list[tuple[str, Callable[[Any], Any], str]] = [
    ("decorator-non-callable", lambda m: pre_save(m.Album)(42), "42"),
    ("decorator-no-kwargs", lambda m: pre_save(m.Album)(no_kwargs), "no_kwargs"),
    (
        "django-style-no-kwargs",
        lambda m: pre_save.connect(no_kwargs, sender=m.Album),
        "no_kwargs",
    ),
    (
        "view-non-callable",
        lambda m: signals_of(m.Album).pre_save.connect("receiver"),
        "'receiver'",
    ),
    (
        "view-lambda-without-kwargs",
        lambda m: signals_of(m.Album).post_update.connect(lambda sender: None),
        "<lambda>",
    ),
    (
        "view-unhashable-dispatch-uid",
        lambda m: signals_of(m.Album).pre_save.connect(good, dispatch_uid={"a": 1}),
        "{'a': 1}",
    ),
    (
        "ormar-decorator-no-kwargs",
        lambda m: ormar.pre_save(m.Album)(no_kwargs),
        "no_kwargs",
    ),
    (
        "custom-signal-no-kwargs",
        lambda m: signals_of(m.Album).my_custom.connect(no_kwargs),
        "no_kwargs",
    ),
]


@pytest.mark.parametrize(
    ("bad_call", "names"),
    [pytest.param(call, names, id=id_) for id_, call, names in BAD_RECEIVERS],
)
def test_bad_receivers_are_rejected_by_every_connection_path(
    db: Any, music: Any, heard: list[tuple[str, str]], bad_call: Any, names: str
) -> None:
    with pytest.raises(SignalDefinitionError) as caught:
        bad_call(music)
    assert isinstance(caught.value, ormar.exceptions.SignalDefinitionError)
    assert names in str(caught.value)
    assert_intact(db, music, heard)


ON_COMMIT_PATHS: list[tuple[str, Callable[[Any, Any], Any]]] = [
    ("django-style", lambda m, v: post_save.connect(good, m.Album, on_commit=v)),
    (
        "dispatch-receiver",
        lambda m, v: dispatch.receiver(post_save, sender=m.Album, on_commit=v)(good),
    ),
    ("ormar-style-decorator", lambda m, v: post_save(m.Album, on_commit=v)(good)),
    ("ormar-style-every-model", lambda m, v: post_save(on_commit=v)(good)),
    (
        "emitter-view",
        lambda m, v: signals_of(m.Album).post_save.connect(good, on_commit=v),
    ),
    (
        "custom-signal",
        lambda m, v: signals_of(m.Album).custom.connect(good, on_commit=v),
    ),
]


@pytest.mark.parametrize("value", [1, 0, "yes", None], ids=repr)
@pytest.mark.parametrize(
    "connect", [pytest.param(c, id=id_) for id_, c in ON_COMMIT_PATHS]
)
def test_a_non_bool_on_commit_is_rejected_by_every_connection_path(
    db: Any, music: Any, heard: list[tuple[str, str]], connect: Any, value: Any
) -> None:
    with pytest.raises(SignalDefinitionError) as caught:
        connect(music, value)
    assert isinstance(caught.value, ormar.exceptions.SignalDefinitionError)
    assert f"on_commit must be True or False, got {value!r}" in str(caught.value)
    assert "good" in str(caught.value)
    assert good not in post_save.receivers_for(music.Album)
    assert good not in signals_of(music.Album).custom.receivers_for(music.Album)
    assert_intact(db, music, heard)


@pytest.mark.parametrize(
    ("name", "value", "names"),
    [
        ("custom", 42, "42"),
        ("custom", None, "None"),
        ("custom", "pre_save", "'pre_save'"),
        ("custom", good, "good"),
        ("pre_save", 42, "42"),
        ("pre_save", dispatch.Signal("mine"), "mine"),
        ("post_save", object, "object"),
    ],
    ids=[
        "custom-int",
        "custom-None",
        "custom-str",
        "custom-function",
        "builtin-int",
        "builtin-dispatch-Signal",
        "builtin-type",
    ],
)
def test_assigning_a_non_signal_on_a_model_emitter_names_it(
    db: Any, music: Any, heard: list[tuple[str, str]], name: str, value: Any, names: str
) -> None:
    emitter = signals_of(music.Album)
    view = emitter.get(name)
    with pytest.raises(SignalDefinitionError) as caught:
        setattr(emitter, name, value)
    assert names in str(caught.value)
    assert f"'{name}'" in str(caught.value)
    if view is None:
        assert name not in emitter
    else:
        assert emitter[name] is view
    assert_intact(db, music, heard)


def test_a_non_model_django_sender_is_accepted_and_never_matches_a_model(
    db: Any, music: Any, heard: list[tuple[str, str]]
) -> None:
    # Django-style senders are any object, compared by identity (as in Django).
    stray: list[Any] = []

    async def by_name(sender: Any, **kwargs: Any) -> None:
        stray.append(sender)

    pre_save.connect(by_name, sender="Album")
    try:
        assert_intact(db, music, heard)
    finally:
        assert pre_save.disconnect(by_name, sender="Album")
    assert stray == []


# install / uninstall -------------------------------------------------------------


def test_install_and_uninstall_twice_are_no_ops(
    db: Any, music: Any, heard: list[tuple[str, str]]
) -> None:
    emitter = signals_of(music.Album)
    try:
        install()
        assert is_installed()
        assert signals_of(music.Album) is emitter
        assert_intact(db, music, heard)

        uninstall()
        native = signals_of(music.Album)
        uninstall()
        assert not is_installed()
        assert signals_of(music.Album) is native
        assert not isinstance(native, dispatch.SignalEmitter)
        del heard[:]

        async def saved_while_off() -> str:
            await music.Album(name="off").save()
            return (await music.Album.objects.order_by("-id").first()).name

        assert db.run(saved_while_off) == "off"
        assert heard == []
    finally:
        install()
        install()
    assert is_installed()
    assert isinstance(signals_of(music.Album), dispatch.SignalEmitter)
    del heard[:]

    async def saved_again() -> list[str]:
        await music.Album(name="on again").save()
        return [a.name for a in await music.Album.objects.order_by("id").all()]

    assert db.run(saved_again) == ["after", "off", "on again"]
    assert heard == [
        ("pre_save/ormar-style", "on again"),
        ("post_save/django-style", "on again"),
    ]


def test_custom_signal_receivers_survive_uninstall_and_install(music: Any) -> None:
    """Receivers connected while installed run again after the next ``install()``.

    (``uninstall``'s docstring; the contract: "install() again re-enables
    everything".) That holds for the built-in signals; it must hold for a
    custom signal created on the model's emitter too.
    """
    heard_custom: list[int] = []

    async def on_custom(sender: Any, n: int, **kwargs: Any) -> None:
        heard_custom.append(n)

    signals_of(music.Album).my_custom.connect(on_custom)

    async def scenario() -> None:
        await signals_of(music.Album).my_custom.send(sender=music.Album, n=1)
        try:
            uninstall()
        finally:
            install()
        await signals_of(music.Album).my_custom.send(sender=music.Album, n=2)

    asyncio.run(scenario())
    assert heard_custom == [1, 2]


def test_uninstall_while_a_send_is_running(
    db: Any, music: Any, heard: list[tuple[str, str]]
) -> None:
    """The operation in flight finishes as it began: written, each receiver once.

    The next operation runs on ormar's own emitters (no dispatch receivers);
    after ``install()`` they are back.
    """
    gates: list[asyncio.Event] = []
    entered: list[str] = []

    async def blocking(sender: Any, instance: Any, **kwargs: Any) -> None:
        entered.append(instance.name)
        if instance.name == "in flight":
            await gates[0].wait()

    pre_save.connect(blocking, sender=music.Album)

    async def scenario() -> tuple[
        list[str], list[tuple[str, str]], list[tuple[str, str]]
    ]:
        gates.append(asyncio.Event())
        del heard[:]
        flight = asyncio.ensure_future(music.Album(name="in flight").save())
        while not entered:
            await asyncio.sleep(0)
        uninstall()
        try:
            gates[0].set()
            await flight
            in_flight = list(heard)
            del heard[:]
            await music.Album(name="while off").save()
            while_off = list(heard)
        finally:
            install()
        names = [a.name for a in await music.Album.objects.order_by("id").all()]
        return names, in_flight, while_off

    try:
        names, in_flight, while_off = db.run(scenario)
    finally:
        pre_save.disconnect(blocking, sender=music.Album)
        install()
    assert names == ["in flight", "while off"]
    assert in_flight == [
        ("pre_save/ormar-style", "in flight"),
        ("post_save/django-style", "in flight"),
    ]
    assert entered == ["in flight"]
    assert while_off == []
    assert ormar_integration.is_installed()
    assert_intact(db, music, heard)
