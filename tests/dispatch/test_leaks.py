"""Registrations and memory return to where they started after heavy use."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import weakref
from typing import Any

from registry_state import registrations

from dispatch import Signal

CYCLES = 100_000
# Generous: what matters is that memory does not grow with the cycle count.
MEMORY_BOUND = 256 * 1024


def grown_while(work: Any) -> int:
    """Bytes still allocated after ``work()`` that were not before it."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        work()
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


def test_connect_disconnect_cycles_leave_nothing_behind() -> None:
    signal = Signal()
    senders = [object() for _ in range(10)]

    def receiver(**kwargs: Any) -> None:
        pass

    def cycles() -> None:
        for number in range(CYCLES):
            sender = senders[number % 10]
            signal.connect(receiver, sender=sender)
            assert signal.disconnect(receiver, sender=sender)

    grown = grown_while(cycles)

    assert registrations(signal) == 0
    assert signal._for_sender == {}
    assert grown < MEMORY_BOUND


def test_many_sends_leave_nothing_behind() -> None:
    signal = Signal()
    sender = object()
    calls = 0

    def plain(**kwargs: Any) -> None:
        nonlocal calls
        calls += 1

    async def coroutine(**kwargs: Any) -> None:
        nonlocal calls
        calls += 1

    signal.connect(plain, sender=sender)
    signal.connect(coroutine, sender=sender)

    async def sends() -> None:
        for _ in range(CYCLES):
            await signal.send(sender, payload=1)

    grown = grown_while(lambda: asyncio.run(sends()))

    assert calls == 2 * CYCLES
    assert grown < MEMORY_BOUND


def test_collected_weak_receivers_disappear_in_a_loop() -> None:
    signal = Signal()
    sender = object()

    class Listener:
        def on_event(self, **kwargs: Any) -> None:
            pass

    def churn() -> None:
        for _ in range(20_000):
            listener = Listener()
            signal.connect(listener.on_event, sender=sender, weak=True)
            del listener
        gc.collect()
        # The next registry call drops what the collector took.
        assert signal.receivers_for(sender) == []

    grown = grown_while(churn)

    assert registrations(signal) == 0
    assert grown < MEMORY_BOUND


def test_a_strong_receiver_lives_exactly_as_long_as_it_is_connected() -> None:
    signal = Signal()

    class Listener:
        def __call__(self, **kwargs: Any) -> None:
            pass

    listener = Listener()
    probe = weakref.ref(listener)
    signal.connect(listener)
    del listener
    gc.collect()
    assert probe() is not None

    assert signal.disconnect(probe())
    gc.collect()
    assert probe() is None


def test_a_strong_bound_method_keeps_its_instance_until_disconnected() -> None:
    signal = Signal()

    class Listener:
        def on_event(self, **kwargs: Any) -> None:
            pass

    listener = Listener()
    probe = weakref.ref(listener)
    signal.connect(listener.on_event)
    del listener
    gc.collect()
    assert probe() is not None

    instance = probe()
    assert instance is not None
    assert signal.disconnect(instance.on_event)
    del instance
    gc.collect()
    assert probe() is None
