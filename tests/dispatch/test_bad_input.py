"""Everything invalid a user can hand ``dispatch``, and what happens then.

Each bad call either works as documented or raises an error that names the
culprit, and it never corrupts the registry: afterwards the receivers already
connected are exactly the same, and a good connect and send behave exactly as
on a fresh signal. ``docs/reliability.md`` lists the outcomes in one table.
"""

from __future__ import annotations

import asyncio
import functools
import gc
from typing import Any, Callable

import pytest

from dispatch import Signal, SignalDefinitionError, SignalEmitter, receiver

SENDER = object()
OTHER = object()


def existing(**kwargs: Any) -> str:
    return "existing"


async def async_existing(**kwargs: Any) -> str:
    await asyncio.sleep(0)
    return "async existing"


@pytest.fixture
def signal() -> Signal:
    """A signal with one plain and one async receiver already connected."""
    signal = Signal("bad-input")
    signal.connect(existing, sender=SENDER)
    signal.connect(async_existing)
    return signal


def assert_intact(signal: Signal) -> None:
    """The registry holds what the fixture connected; connect and send still behave."""
    assert signal.receivers_for(SENDER) == [existing, async_existing]
    assert signal.receivers_for(OTHER) == [async_existing]

    def probe(sender: Any, **kwargs: Any) -> tuple[Any, Any]:
        return sender, kwargs["value"]

    signal.connect(probe, sender=SENDER)
    try:
        results = asyncio.run(signal.send(SENDER, value=1))
        assert results == [
            (existing, "existing"),
            (async_existing, "async existing"),
            (probe, (SENDER, 1)),
        ]
        assert asyncio.run(signal.send(OTHER, value=2)) == [
            (async_existing, "async existing")
        ]
    finally:
        assert signal.disconnect(probe, sender=SENDER)
    assert signal.receivers_for(SENDER) == [existing, async_existing]


def no_kwargs(sender: Any) -> None:
    pass


async def async_generator(**kwargs: Any) -> Any:
    yield kwargs


async def coroutine_function(**kwargs: Any) -> None:
    pass


class NeedsSender:
    def __init__(self, sender: Any) -> None:
        self.sender = sender


class NoWeakReferences:
    __slots__ = ()

    def __call__(self, **kwargs: Any) -> None:
        pass


# (id, the bad call, what it raises, text the message must contain)
REJECTED: list[tuple[str, Callable[[Signal], Any], type[BaseException], str]] = [
    ("int", lambda s: s.connect(42), SignalDefinitionError, "42"),
    ("None", lambda s: s.connect(None), SignalDefinitionError, "None"),
    ("string", lambda s: s.connect("existing"), SignalDefinitionError, "'existing'"),
    ("no-kwargs", lambda s: s.connect(no_kwargs), SignalDefinitionError, "no_kwargs"),
    (
        "lambda-without-kwargs",
        lambda s: s.connect(lambda sender: None),
        SignalDefinitionError,
        "<lambda>",
    ),
    (
        "class-without-kwargs",
        lambda s: s.connect(NeedsSender),
        SignalDefinitionError,
        "NeedsSender",
    ),
    (
        "partial-without-kwargs",
        lambda s: s.connect(functools.partial(no_kwargs)),
        SignalDefinitionError,
        "no_kwargs",
    ),
    (
        "async-generator-function",
        lambda s: s.connect(async_generator),
        SignalDefinitionError,
        "async_generator",
    ),
    (
        "coroutine-object",
        lambda s: _connect_coroutine_object(s),
        SignalDefinitionError,
        "coroutine_function",
    ),
    (
        "unhashable-dispatch-uid",
        lambda s: s.connect(existing, dispatch_uid=["uid"]),
        SignalDefinitionError,
        "['uid']",
    ),
    (
        "weak-to-unreferenceable",
        lambda s: s.connect(NoWeakReferences(), weak=True),
        SignalDefinitionError,
        "NoWeakReferences",
    ),
    (
        "unknown-connect-argument",
        lambda s: s.connect(existing, weakly=True),
        TypeError,
        "weakly",
    ),
    (
        "disconnect-nothing",
        lambda s: s.disconnect(),
        TypeError,
        "dispatch_uid",
    ),
    ("receiver-of-int", lambda s: receiver(42), SignalDefinitionError, "42"),
    (
        "receiver-list-with-non-signal",
        lambda s: receiver([s, "not a signal"])(existing),
        SignalDefinitionError,
        "'not a signal'",
    ),
    (
        "receiver-bad-connect-argument",
        lambda s: receiver(s, sendr=SENDER)(existing),
        TypeError,
        "sendr",
    ),
    (
        "send-without-sender",
        lambda s: s.send(),
        TypeError,
        "sender",
    ),
    (
        "send-positional-payload",
        lambda s: s.send(SENDER, 1),
        TypeError,
        "positional",
    ),
    (
        "send-sync-without-sender",
        lambda s: s.send_sync(),
        TypeError,
        "sender",
    ),
    (
        "send-robust-positional-payload",
        lambda s: s.send_robust(SENDER, "payload"),
        TypeError,
        "positional",
    ),
    (
        "send-payload-named-signal",
        lambda s: asyncio.run(s.send(SENDER, signal="mine")),
        TypeError,
        "'signal'",
    ),
    (
        "send-sender-twice",
        lambda s: s.send_sync(SENDER, sender=OTHER),
        TypeError,
        "sender",
    ),
]


def _connect_coroutine_object(signal: Signal) -> None:
    coroutine = coroutine_function()
    try:
        signal.connect(coroutine)
    finally:
        coroutine.close()


@pytest.mark.parametrize(
    ("bad_call", "error", "names"),
    [pytest.param(call, error, names, id=id_) for id_, call, error, names in REJECTED],
)
def test_rejected_with_the_culprit_named(
    signal: Signal,
    bad_call: Callable[[Signal], Any],
    error: type[BaseException],
    names: str,
) -> None:
    with pytest.raises(error) as caught:
        bad_call(signal)
    assert names in str(caught.value)
    assert_intact(signal)


def test_a_receiver_list_with_a_bad_entry_connects_none_of_them(
    signal: Signal,
) -> None:
    second = Signal("second")
    with pytest.raises(SignalDefinitionError):
        receiver([second, signal, object()], sender=SENDER)(existing)
    assert second.receivers_for(SENDER) == []
    assert_intact(signal)


def test_disconnect_with_an_unhashable_dispatch_uid_names_it(signal: Signal) -> None:
    # connect() rejects such a uid with SignalDefinitionError naming it, so
    # nothing can be registered under it: disconnect() must say False, or
    # raise an error that names the uid. Both for a sender with
    # registrations and for one without.
    for sender in (SENDER, OTHER):
        try:
            removed = signal.disconnect(dispatch_uid=["uid"], sender=sender)
        except TypeError as error:
            assert "['uid']" in str(error), (sender, error)
        else:
            assert removed is False
    assert_intact(signal)


# Accepted inputs: they work as documented -------------------------------------


class ClassReceiver:
    """A class is a callable: calling it with the payload builds an instance."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


def test_a_class_accepting_kwargs_is_a_receiver(signal: Signal) -> None:
    signal.connect(ClassReceiver, sender=OTHER)
    (_, (receiver_, instance)) = asyncio.run(signal.send(OTHER, value=3))
    assert receiver_ is ClassReceiver
    assert isinstance(instance, ClassReceiver)
    assert instance.kwargs == {"signal": signal, "sender": OTHER, "value": 3}
    assert signal.disconnect(ClassReceiver, sender=OTHER)
    assert_intact(signal)


def test_partials_are_receivers_and_async_ones_are_awaited(signal: Signal) -> None:
    def add(extra: int, **kwargs: Any) -> int:
        return kwargs["value"] + extra

    async def add_later(extra: int, **kwargs: Any) -> int:
        await asyncio.sleep(0)
        return kwargs["value"] + extra

    plain, awaited = functools.partial(add, 10), functools.partial(add_later, 20)
    signal.connect(plain, sender=OTHER)
    signal.connect(awaited, sender=OTHER)
    # Each partial object is its own receiver: an equal-looking one is another.
    signal.connect(functools.partial(add, 10), sender=OTHER)
    results = asyncio.run(signal.send(OTHER, value=1))
    assert [value for _, value in results] == ["async existing", 11, 21, 11]
    for each in signal.receivers_for(OTHER)[1:]:
        assert signal.disconnect(each, sender=OTHER)
    assert_intact(signal)


def test_lambdas_are_receivers_and_a_weak_one_is_gone_at_once(signal: Signal) -> None:
    kept = lambda **kwargs: "kept"  # noqa: E731
    signal.connect(kept, sender=OTHER)
    signal.connect(lambda **kwargs: "weak", sender=OTHER, weak=True)
    gc.collect()
    assert asyncio.run(signal.send(OTHER)) == [
        (async_existing, "async existing"),
        (kept, "kept"),
    ]
    assert signal.disconnect(kept, sender=OTHER)
    assert_intact(signal)


def test_any_object_is_a_sender_even_an_unhashable_one(signal: Signal) -> None:
    unhashable: list[int] = []
    signal.connect(existing, sender=unhashable)
    assert asyncio.run(signal.send(unhashable)) == [
        (async_existing, "async existing"),
        (existing, "existing"),
    ]
    assert signal.disconnect(existing, sender=unhashable)
    assert_intact(signal)


@pytest.mark.parametrize("suspend_first", [False, True], ids=["at-once", "suspended"])
def test_a_receiver_raising_cancelled_error_itself_does_not_stop_the_others(
    suspend_first: bool,
) -> None:
    # Nobody cancelled the caller: the rule for raising receivers holds (the
    # others finish, then the first error is raised), whether the raising
    # receiver suspended before raising or not.
    signal = Signal()
    finished: list[str] = []

    async def raises(**kwargs: Any) -> None:
        if suspend_first:
            await asyncio.sleep(0)
        raise asyncio.CancelledError("raised by a receiver")

    async def slow(**kwargs: Any) -> None:
        for _ in range(3):
            await asyncio.sleep(0)
        finished.append("slow")

    signal.connect(raises)
    signal.connect(slow)

    async def main() -> None:
        with pytest.raises(asyncio.CancelledError, match="raised by a receiver"):
            await signal.send(SENDER)

    asyncio.run(main())
    assert finished == ["slow"]


# Emitters --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [42, None, "pre_save", existing, Signal, [Signal()]],
    ids=["int", "None", "str", "function", "Signal-class", "list-of-Signal"],
)
def test_assigning_a_non_signal_on_an_emitter_names_both(value: Any) -> None:
    emitter = SignalEmitter()
    kept = emitter.kept
    kept.connect(existing)
    with pytest.raises(SignalDefinitionError) as caught:
        emitter.custom = value
    assert repr(value) in str(caught.value)
    assert "'custom'" in str(caught.value)
    assert "custom" not in emitter
    assert emitter.kept is kept
    assert kept.send_sync(SENDER) == [(existing, "existing")]
    assert isinstance(emitter.custom, Signal)  # reading still creates one


def test_an_emitter_signal_replaced_by_another_signal(signal: Signal) -> None:
    emitter = SignalEmitter()
    emitter.custom.connect(existing)
    emitter.custom = signal
    assert emitter.custom is signal
    assert_intact(signal)
