"""The registry side of ``Signal``: connect, disconnect, lookup, scoping helpers."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import weakref
from typing import Any, Callable

import pytest
from registry_state import registrations

from dispatch import Signal, SignalDefinitionError, receiver

SENDER = object()
OTHER = object()


def recorder(calls: list[Any], label: str) -> Callable[..., str]:
    """A plain receiver that records ``(label, sender)`` and returns ``label``."""

    def record(**kwargs: Any) -> str:
        calls.append((label, kwargs["sender"]))
        return label

    return record


class Listener:
    def __init__(self) -> None:
        self.senders: list[Any] = []

    def on_event(self, **kwargs: Any) -> None:
        self.senders.append(kwargs["sender"])


class CallableListener:
    def __init__(self) -> None:
        self.senders: list[Any] = []

    def __call__(self, **kwargs: Any) -> None:
        self.senders.append(kwargs["sender"])


# Strong and weak references -------------------------------------------------


def test_receivers_are_held_strongly_by_default() -> None:
    signal = Signal()
    calls: list[Any] = []
    only_reference = recorder(calls, "strong")
    probe = weakref.ref(only_reference)
    signal.connect(only_reference)
    del only_reference
    gc.collect()

    assert probe() is not None
    signal.send_sync(SENDER)
    assert calls == [("strong", SENDER)]

    assert signal.disconnect(probe())
    gc.collect()
    assert probe() is None


def test_a_strongly_held_bound_method_keeps_its_instance_alive() -> None:
    signal = Signal()
    listener = Listener()
    probe = weakref.ref(listener)
    signal.connect(listener.on_event)
    del listener
    gc.collect()

    assert probe() is not None
    signal.send_sync(SENDER)
    assert probe().senders == [SENDER]  # type: ignore[union-attr]


def test_a_weak_function_receiver_disappears_when_collected() -> None:
    signal = Signal()
    calls: list[Any] = []
    weak_one = recorder(calls, "weak")
    probe = weakref.ref(weak_one)
    signal.connect(weak_one, weak=True)
    signal.connect(weak_one, sender=SENDER, weak=True)
    assert signal.receivers_for(SENDER) == [weak_one, weak_one]

    del weak_one
    gc.collect()

    assert probe() is None
    assert signal.send_sync(SENDER) == []
    assert calls == []
    assert signal.receivers_for(SENDER) == []
    assert not signal.has_listeners(SENDER)
    assert registrations(signal) == 0
    assert signal._for_sender == {}


def test_has_listeners_ignores_collected_weak_receivers_at_once() -> None:
    """Asked first, before any send or lookup has cleared the dead entries."""
    signal = Signal()
    weak_one = recorder([], "weak")
    listener = Listener()
    signal.connect(weak_one, sender=SENDER, weak=True)
    signal.connect(listener.on_event, weak=True)
    assert signal.has_listeners(SENDER)

    del weak_one, listener
    gc.collect()

    assert not signal.has_listeners(SENDER)
    assert not signal.has_listeners()


def test_a_weak_bound_method_lives_as_long_as_its_instance() -> None:
    signal = Signal()
    listener = Listener()
    # The bound method object is a temporary: only the instance keeps it valid.
    signal.connect(listener.on_event, weak=True)
    gc.collect()

    signal.send_sync(SENDER)
    assert listener.senders == [SENDER]

    probe = weakref.ref(listener)
    del listener
    gc.collect()

    assert probe() is None
    assert signal.receivers_for(SENDER) == []
    assert registrations(signal) == 0


def test_a_weak_callable_object_disappears_when_collected() -> None:
    signal = Signal()
    listener = CallableListener()
    signal.connect(listener, sender=SENDER, weak=True)
    signal.send_sync(SENDER)
    assert listener.senders == [SENDER]

    probe = weakref.ref(listener)
    del listener
    gc.collect()

    assert probe() is None
    assert signal.receivers_for(SENDER) == []
    assert registrations(signal) == 0


def test_a_weak_receiver_collected_during_a_send_is_not_called() -> None:
    signal = Signal()
    calls: list[Any] = []
    held = {"victim": recorder(calls, "victim")}

    def killer(**kwargs: Any) -> None:
        calls.append(("killer", kwargs["sender"]))
        del held["victim"]
        gc.collect()

    signal.connect(killer)
    signal.connect(held["victim"], weak=True)
    results = signal.send_sync(SENDER)

    assert calls == [("killer", SENDER)]
    assert [receiver for receiver, _ in results] == [killer]


# Senders --------------------------------------------------------------------


def test_senders_are_matched_by_identity_not_equality() -> None:
    signal = Signal()
    calls: list[Any] = []
    first: list[Any] = []
    second: list[Any] = []
    assert first == second
    signal.connect(recorder(calls, "first only"), sender=first)

    assert signal.send_sync(second) == []
    assert not signal.has_listeners(second)
    assert calls == []

    signal.send_sync(first)
    assert calls == [("first only", first)]
    assert calls[0][1] is first


def test_sender_none_means_every_sender() -> None:
    signal = Signal()
    calls: list[Any] = []
    signal.connect(recorder(calls, "everyone"))

    signal.send_sync(SENDER)
    signal.send_sync(OTHER)
    signal.send_sync(None)

    assert calls == [("everyone", SENDER), ("everyone", OTHER), ("everyone", None)]


def test_a_sender_specific_receiver_is_not_reached_from_sender_none() -> None:
    signal = Signal()
    calls: list[Any] = []
    signal.connect(recorder(calls, "specific"), sender=SENDER)

    assert signal.send_sync(None) == []
    assert not signal.has_listeners()
    assert signal.has_listeners(SENDER)


# Deduplication and disconnect -----------------------------------------------


def test_connecting_the_same_receiver_twice_is_a_no_op() -> None:
    signal = Signal()
    calls: list[Any] = []
    once = recorder(calls, "once")
    signal.connect(once)
    signal.connect(once)
    signal.connect(once, sender=SENDER)
    signal.connect(once, sender=SENDER)

    signal.send_sync(OTHER)
    assert calls == [("once", OTHER)]
    assert registrations(signal) == 2


def test_the_same_dispatch_uid_registers_once_even_for_another_function() -> None:
    signal = Signal()
    calls: list[Any] = []
    first = recorder(calls, "first")
    second = recorder(calls, "second")
    signal.connect(first, dispatch_uid="audit")
    signal.connect(second, dispatch_uid="audit")

    assert signal.receivers_for(SENDER) == [first]
    signal.send_sync(SENDER)
    assert calls == [("first", SENDER)]


def test_the_same_dispatch_uid_for_two_senders_is_two_registrations() -> None:
    signal = Signal()
    calls: list[Any] = []
    signal.connect(recorder(calls, "a"), sender=SENDER, dispatch_uid="audit")
    signal.connect(recorder(calls, "b"), sender=OTHER, dispatch_uid="audit")

    signal.send_sync(SENDER)
    signal.send_sync(OTHER)
    assert calls == [("a", SENDER), ("b", OTHER)]


def test_disconnect_by_dispatch_uid() -> None:
    signal = Signal()
    calls: list[Any] = []
    by_uid = recorder(calls, "by uid")
    signal.connect(by_uid, sender=SENDER, dispatch_uid="audit")

    # The receiver itself is not the key of a registration made with a uid.
    assert signal.disconnect(by_uid, sender=SENDER) is False
    assert signal.disconnect(dispatch_uid="audit") is False
    assert signal.disconnect(sender=SENDER, dispatch_uid="audit") is True
    assert signal.disconnect(sender=SENDER, dispatch_uid="audit") is False

    assert signal.send_sync(SENDER) == []
    assert registrations(signal) == 0


def test_bound_methods_of_one_object_dedupe_and_disconnect() -> None:
    signal = Signal()
    listener = Listener()
    another = Listener()
    signal.connect(listener.on_event)
    signal.connect(listener.on_event)
    signal.connect(another.on_event)

    signal.send_sync(SENDER)
    assert listener.senders == [SENDER]
    assert another.senders == [SENDER]

    assert signal.disconnect(listener.on_event) is True
    signal.send_sync(OTHER)
    assert listener.senders == [SENDER]
    assert another.senders == [SENDER, OTHER]


def test_disconnect_reports_whether_it_removed_something() -> None:
    signal = Signal()
    connected = recorder([], "connected")
    never = recorder([], "never")
    signal.connect(connected, sender=SENDER)

    assert signal.disconnect(never) is False
    assert signal.disconnect(connected) is False  # registered for SENDER only
    assert signal.disconnect(connected, sender=OTHER) is False
    assert signal.disconnect(connected, sender=SENDER) is True
    assert signal.disconnect(connected, sender=SENDER) is False
    assert registrations(signal) == 0
    assert signal._for_sender == {}


def test_has_listeners() -> None:
    signal = Signal()
    assert not signal.has_listeners()
    assert not signal.has_listeners(SENDER)

    everyone = recorder([], "everyone")
    signal.connect(recorder([], "specific"), sender=SENDER)
    assert signal.has_listeners(SENDER)
    assert not signal.has_listeners(OTHER)

    signal.connect(everyone)
    assert signal.has_listeners(OTHER)
    assert signal.has_listeners()

    signal.disconnect(everyone)
    assert not signal.has_listeners(OTHER)


def test_receivers_for_is_connection_order_across_sender_and_every_sender() -> None:
    signal = Signal()
    a, b, c, d, e = (recorder([], label) for label in "abcde")
    signal.connect(a)
    signal.connect(b, sender=SENDER)
    signal.connect(c)
    signal.connect(d, sender=SENDER)
    signal.connect(e, sender=OTHER)

    assert signal.receivers_for(SENDER) == [a, b, c, d]
    assert signal.receivers_for(OTHER) == [a, c, e]
    assert signal.receivers_for(object()) == [a, c]
    assert signal.receivers_for(None) == [a, c]

    signal.disconnect(a)
    signal.connect(a)
    assert signal.receivers_for(SENDER) == [b, c, d, a]
    assert [r for r, _ in signal.send_sync(SENDER)] == [b, c, d, a]


# Scoped helpers ---------------------------------------------------------------


def test_connected_to_connects_for_the_block_only() -> None:
    signal = Signal()
    calls: list[Any] = []
    scoped = recorder(calls, "scoped")

    with signal.connected_to(scoped, sender=SENDER):
        assert signal.receivers_for(SENDER) == [scoped]
        signal.send_sync(SENDER)
        signal.send_sync(OTHER)

    signal.send_sync(SENDER)
    assert calls == [("scoped", SENDER)]
    assert registrations(signal) == 0


def test_connected_to_disconnects_when_the_block_raises() -> None:
    signal = Signal()
    scoped = recorder([], "scoped")

    with pytest.raises(KeyError):
        with signal.connected_to(scoped):
            assert signal.has_listeners(SENDER)
            raise KeyError("boom")

    assert not signal.has_listeners(SENDER)
    assert registrations(signal) == 0


def test_muted_silences_only_that_signal() -> None:
    muted_signal = Signal()
    loud_signal = Signal()
    calls: list[Any] = []
    muted_signal.connect(recorder(calls, "muted"))
    loud_signal.connect(recorder(calls, "loud"))

    with muted_signal.muted():
        assert muted_signal.send_sync(SENDER) == []
        assert asyncio.run(muted_signal.send(SENDER)) == []
        assert asyncio.run(muted_signal.send_robust(SENDER)) == []
        loud_signal.send_sync(SENDER)

    muted_signal.send_sync(OTHER)
    assert calls == [("loud", SENDER), ("muted", OTHER)]


def test_muted_belongs_to_the_current_context() -> None:
    signal = Signal()
    calls: list[Any] = []
    signal.connect(recorder(calls, "r"))

    with signal.muted():
        with signal.muted():
            pass
        # Leaving the inner block keeps the outer one's mute.
        signal.send_sync("nested")
        # A copy of this context inherits the mute; an unrelated context does not.
        contextvars.copy_context().run(signal.send_sync, "copied")
        contextvars.Context().run(signal.send_sync, "fresh")

    assert calls == [("r", "fresh")]


# The receiver decorator -------------------------------------------------------


def test_receiver_decorator_connects_to_one_signal_and_returns_the_function() -> None:
    signal = Signal()
    calls: list[Any] = []

    def handler(**kwargs: Any) -> None:
        calls.append(kwargs["sender"])

    decorated = receiver(signal)(handler)

    assert decorated is handler
    signal.send_sync(SENDER)
    assert calls == [SENDER]


@pytest.mark.parametrize("container", [list, tuple])
def test_receiver_decorator_connects_to_each_signal_of_a_list_or_tuple(
    container: Callable[..., Any],
) -> None:
    first, second = Signal("first"), Signal("second")
    calls: list[Any] = []

    @receiver(container([first, second]))
    def handler(**kwargs: Any) -> None:
        calls.append(kwargs["signal"])

    first.send_sync(SENDER)
    second.send_sync(SENDER)
    assert calls == [first, second]
    assert first.receivers_for(SENDER) == [handler]


def test_receiver_decorator_passes_connect_arguments() -> None:
    signal = Signal()
    calls: list[Any] = []

    @receiver(signal, sender=SENDER, dispatch_uid="decorated")
    def handler(**kwargs: Any) -> None:
        calls.append(kwargs["sender"])

    signal.send_sync(OTHER)
    signal.send_sync(SENDER)
    assert calls == [SENDER]
    assert signal.disconnect(sender=SENDER, dispatch_uid="decorated")
    assert not signal.has_listeners(SENDER)


def test_receiver_decorator_passes_weak() -> None:
    signal = Signal()

    def make() -> Callable[..., Any]:
        @receiver(signal, weak=True)
        def handler(**kwargs: Any) -> None:
            pass

        return handler

    handler = make()
    assert signal.receivers_for(SENDER) == [handler]
    del handler
    gc.collect()
    assert signal.receivers_for(SENDER) == []


@pytest.mark.parametrize(
    "not_a_signal", ["pre_save", None, [Signal(), "pre_save"], (Signal(), 42)]
)
def test_receiver_decorator_rejects_non_signals_naming_them(not_a_signal: Any) -> None:
    with pytest.raises(SignalDefinitionError) as raised:
        receiver(not_a_signal)

    culprit = (
        not_a_signal[-1] if isinstance(not_a_signal, (list, tuple)) else not_a_signal
    )
    assert repr(culprit) in str(raised.value)


def test_receiver_decorator_connects_nothing_when_one_signal_is_invalid() -> None:
    signal = Signal()
    with pytest.raises(SignalDefinitionError):
        receiver([signal, "not a signal"])(recorder([], "r"))
    assert not signal.has_listeners()


# Payload --------------------------------------------------------------------


def test_receivers_get_signal_sender_and_the_named_arguments() -> None:
    signal = Signal("named")
    seen: list[tuple[str, dict[str, Any]]] = []

    def handler(**kwargs: Any) -> None:
        seen.append(("handler", kwargs))

    def named_parameters(sender: Any, instance: Any = None, **kwargs: Any) -> None:
        seen.append(("named", {"sender": sender, "instance": instance, **kwargs}))

    signal.connect(handler)
    signal.connect(named_parameters)
    signal.send_sync(SENDER, instance=1, extra="x")
    signal.send_sync(sender=OTHER)

    assert seen == [
        ("handler", {"signal": signal, "sender": SENDER, "instance": 1, "extra": "x"}),
        ("named", {"signal": signal, "sender": SENDER, "instance": 1, "extra": "x"}),
        ("handler", {"signal": signal, "sender": OTHER}),
        ("named", {"signal": signal, "sender": OTHER, "instance": None}),
    ]


def test_a_payload_named_signal_is_a_type_error() -> None:
    signal = Signal()
    calls: list[Any] = []
    signal.connect(recorder(calls, "r"))

    with pytest.raises(TypeError, match="signal"):
        signal.send_sync(SENDER, signal="mine")
    with pytest.raises(TypeError, match="signal"):
        signal.send_robust_sync(SENDER, signal="mine")
    with pytest.raises(TypeError, match="signal"):
        asyncio.run(signal.send(SENDER, signal="mine"))
    with pytest.raises(TypeError, match="signal"):
        asyncio.run(signal.send_robust(SENDER, signal="mine"))
    assert calls == []


# The style hook for subclasses -----------------------------------------------


def test_connect_without_signal_calls_the_receiver_without_it() -> None:
    signal = Signal()
    seen: list[dict[str, Any]] = []

    def handler(**kwargs: Any) -> None:
        seen.append(kwargs)

    signal._connect(handler, SENDER, False, None, with_signal=False)
    signal.send_sync(SENDER, instance=1)

    assert seen == [{"sender": SENDER, "instance": 1}]


@pytest.mark.parametrize("first_with_signal", [False, True])
def test_the_first_calling_style_for_a_receiver_and_sender_stands(
    first_with_signal: bool,
) -> None:
    signal = Signal()
    seen: list[dict[str, Any]] = []

    def handler(**kwargs: Any) -> None:
        seen.append(kwargs)

    if first_with_signal:
        signal.connect(handler, sender=SENDER)
        signal._connect(handler, SENDER, False, None, with_signal=False)
    else:
        signal._connect(handler, SENDER, False, None, with_signal=False)
        signal.connect(handler, sender=SENDER)
    signal.send_sync(SENDER)

    assert len(seen) == 1
    assert ("signal" in seen[0]) is first_with_signal


def test_registrations_for_lists_only_that_senders_registrations() -> None:
    signal = Signal()
    everyone, mine, by_uid, theirs = (recorder([], label) for label in "abcd")
    signal.connect(everyone)
    signal.connect(mine, sender=SENDER)
    signal.connect(by_uid, sender=SENDER, dispatch_uid="uid")
    signal.connect(theirs, sender=OTHER)

    assert [r for _, r in signal._registrations_for(SENDER)] == [mine, by_uid]
    assert [r for _, r in signal._registrations_for(None)] == [everyone]
    assert signal._registrations_for(object()) == []


def test_disconnect_key_removes_exactly_that_registration() -> None:
    signal = Signal()
    everyone, mine, by_uid = (recorder([], label) for label in "abc")
    signal.connect(everyone)
    signal.connect(mine, sender=SENDER)
    signal.connect(by_uid, sender=SENDER, dispatch_uid="uid")
    keys = dict((r, key) for key, r in signal._registrations_for(SENDER))

    assert signal._disconnect_key(keys[by_uid]) is True
    assert signal._disconnect_key(keys[by_uid]) is False
    assert signal.receivers_for(SENDER) == [everyone, mine]

    assert signal._disconnect_key(keys[mine]) is True
    assert signal.receivers_for(SENDER) == [everyone]
    assert signal._for_sender == {}
