"""What ``connect`` accepts as a receiver, and how it calls what it accepts."""

from __future__ import annotations

import asyncio
import functools
from typing import Any, AsyncIterator, Callable

import pytest
from asgiref.sync import markcoroutinefunction, sync_to_async
from registry_state import registrations

from dispatch import Signal, SignalDefinitionError

SENDER = object()


def takes_only_sender(sender: Any) -> None:
    pass


class HandlerWithoutKwargs:
    def handle_without_kwargs(self, sender: Any) -> None:
        pass


async def async_generator_receiver(**kwargs: Any) -> AsyncIterator[None]:
    yield None


class SlottedReceiver:
    """Callable, but without ``__weakref__``: it cannot be held weakly."""

    __slots__ = ()

    def __call__(self, **kwargs: Any) -> str:
        return "slotted"

    def __repr__(self) -> str:
        return "<SlottedReceiver without weakref>"


def invalid_connects() -> list[tuple[str, dict[str, Any], str]]:
    """(id, connect kwargs, text the error must contain)."""
    return [
        ("not callable", {"receiver": 42}, "42"),
        ("no kwargs", {"receiver": takes_only_sender}, "takes_only_sender"),
        (
            "bound method without kwargs",
            {"receiver": HandlerWithoutKwargs().handle_without_kwargs},
            "handle_without_kwargs",
        ),
        (
            "unhashable dispatch_uid",
            {"receiver": lambda **kwargs: None, "dispatch_uid": [1]},
            "[1]",
        ),
        (
            "async generator function",
            {"receiver": async_generator_receiver},
            "async_generator_receiver",
        ),
        (
            "weak but not weakrefable",
            {"receiver": SlottedReceiver(), "weak": True},
            "<SlottedReceiver without weakref>",
        ),
    ]


@pytest.mark.parametrize(
    ("connect_kwargs", "culprit"),
    [case[1:] for case in invalid_connects()],
    ids=[case[0] for case in invalid_connects()],
)
def test_invalid_receivers_are_rejected_at_connect_naming_the_culprit(
    connect_kwargs: dict[str, Any], culprit: str
) -> None:
    signal = Signal()
    with pytest.raises(SignalDefinitionError) as raised:
        signal.connect(**connect_kwargs)

    assert isinstance(raised.value, TypeError)
    assert culprit in str(raised.value)
    assert registrations(signal) == 0
    assert not signal.has_listeners(SENDER)


def test_a_rejected_connect_leaves_the_registry_intact() -> None:
    signal = Signal()

    def good(**kwargs: Any) -> str:
        return "good"

    def replacement(**kwargs: Any) -> str:
        return "replacement"

    signal.connect(good, sender=SENDER)
    for _, connect_kwargs, _ in invalid_connects():
        for sender in (None, SENDER):
            for dispatch_uid in (None, "uid"):
                attempt = {"dispatch_uid": dispatch_uid, **connect_kwargs}
                with pytest.raises(SignalDefinitionError):
                    signal.connect(sender=sender, **attempt)

    assert signal.receivers_for(SENDER) == [good]
    assert signal.send_sync(SENDER) == [(good, "good")]
    # Nothing half-registered blocks the uid the failed connects used.
    signal.connect(replacement, sender=SENDER, dispatch_uid="uid")
    assert signal.send_sync(SENDER) == [(good, "good"), (replacement, "replacement")]
    assert signal.disconnect(good, sender=SENDER)
    assert signal.disconnect(sender=SENDER, dispatch_uid="uid")
    assert registrations(signal) == 0


def test_the_error_class_is_a_type_error() -> None:
    assert issubclass(SignalDefinitionError, TypeError)


# Receivers that are not plain functions ----------------------------------------


def test_a_partial_with_kwargs_is_accepted() -> None:
    signal = Signal()

    def scaled(factor: int, value: int, **kwargs: Any) -> int:
        return factor * value

    double = functools.partial(scaled, 2)
    signal.connect(double)

    assert signal.send_sync(SENDER, value=21) == [(double, 42)]


def test_a_partial_without_kwargs_is_rejected() -> None:
    signal = Signal()

    def scaled(factor: int, value: int) -> int:
        return factor * value

    with pytest.raises(SignalDefinitionError, match="scaled"):
        signal.connect(functools.partial(scaled, 2))


def test_a_lambda_with_kwargs_is_accepted() -> None:
    signal = Signal()
    catch_all = lambda **kw: sorted(kw)  # noqa: E731
    signal.connect(catch_all)

    assert signal.send_sync(SENDER, extra=1) == [
        (catch_all, ["extra", "sender", "signal"])
    ]


def test_a_class_whose_init_takes_kwargs_is_accepted() -> None:
    signal = Signal()

    class Event:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

    signal.connect(Event)
    [(called, event)] = signal.send_sync(SENDER, extra=1)

    assert called is Event
    assert isinstance(event, Event)
    assert event.kwargs == {"signal": signal, "sender": SENDER, "extra": 1}


def test_a_class_whose_init_lacks_kwargs_is_rejected() -> None:
    signal = Signal()

    class StrictEvent:
        def __init__(self, sender: Any) -> None:
            pass

    with pytest.raises(SignalDefinitionError, match="StrictEvent"):
        signal.connect(StrictEvent)


def test_an_object_with_an_async_call_is_awaited() -> None:
    signal = Signal()

    class AsyncHandler:
        async def __call__(self, **kwargs: Any) -> str:
            await asyncio.sleep(0)
            return f"handled {kwargs['value']}"

    handler = AsyncHandler()
    signal.connect(handler)

    assert asyncio.run(signal.send(SENDER, value=1)) == [(handler, "handled 1")]
    assert signal.send_sync(SENDER, value=2) == [(handler, "handled 2")]


def test_an_async_bound_method_is_awaited() -> None:
    signal = Signal()

    class Service:
        async def on_event(self, **kwargs: Any) -> str:
            await asyncio.sleep(0)
            return "service"

    service = Service()
    signal.connect(service.on_event)

    [(called, result)] = asyncio.run(signal.send(SENDER))
    assert called == service.on_event
    assert result == "service"


def test_sync_to_async_wrappers_count_as_async() -> None:
    signal = Signal()

    def blocking(**kwargs: Any) -> str:
        return f"blocking {kwargs['value']}"

    wrapped = sync_to_async(blocking)
    signal.connect(wrapped)

    assert asyncio.run(signal.send(SENDER, value=1)) == [(wrapped, "blocking 1")]


def test_a_partial_of_a_coroutine_function_is_awaited() -> None:
    signal = Signal()

    async def scaled(factor: int, value: int, **kwargs: Any) -> int:
        await asyncio.sleep(0)
        return factor * value

    double = functools.partial(scaled, 2)
    signal.connect(double)

    assert asyncio.run(signal.send(SENDER, value=21)) == [(double, 42)]


def test_a_marked_function_returning_a_future_is_awaited_in_either_position() -> None:
    """A coroutine function by marker may return any awaitable, not a coroutine.

    The first such receiver is stepped in the caller's task; the second
    comes after one that suspended, so it runs in a Task of its own.
    """
    signal = Signal()
    made: list[asyncio.Future[str]] = []

    def future_soon(**kwargs: Any) -> asyncio.Future[str]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        loop.call_soon(future.set_result, f"future {len(made)}")
        made.append(future)
        return future

    @markcoroutinefunction
    def first(**kwargs: Any) -> asyncio.Future[str]:
        return future_soon()

    @markcoroutinefunction
    def second(**kwargs: Any) -> asyncio.Future[str]:
        return future_soon()

    signal.connect(first)
    signal.connect(second)

    results = asyncio.run(signal.send(SENDER))

    assert results == [(first, "future 0"), (second, "future 1")]
    assert all(future.done() for future in made)


def test_keyword_only_parameters_with_kwargs_are_accepted() -> None:
    signal = Signal()
    received: list[Any] = []

    def keyword_only(*, sender: Any, instance: Any, **kwargs: Any) -> None:
        received.append((sender, instance))

    signal.connect(keyword_only)
    signal.send_sync(SENDER, instance="i")
    assert received == [(SENDER, "i")]


def test_receivers_may_be_any_callable_with_kwargs_held_weakly() -> None:
    signal = Signal()
    receivers: list[Callable[..., Any]] = []

    class CallableObject:
        def __call__(self, **kwargs: Any) -> str:
            return "object"

    def function(**kwargs: Any) -> str:
        return "function"

    def partial_target(label: str, **kwargs: Any) -> str:
        return label

    partial = functools.partial(partial_target, "partial")
    receivers.extend([CallableObject(), function, partial])
    for each in receivers:
        signal.connect(each, weak=True)

    assert signal.send_sync(SENDER) == [
        (receivers[0], "object"),
        (function, "function"),
        (partial, "partial"),
    ]
