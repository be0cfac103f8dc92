"""Connecting and disconnecting from many threads while another one sends."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from typing import Any, Callable, Iterator

import pytest
from registry_state import registrations

from dispatch import Signal

THREADS = 8
ITERATIONS = 400
RECEIVERS_PER_THREAD = 5
SENDERS = [object(), object(), None]


def plan(thread: int) -> Iterator[tuple[str, int, object]]:
    """The (action, receiver index, sender) steps one thread takes, in order."""
    for step in range(ITERATIONS):
        action = "disconnect" if (step + thread) % 3 == 2 else "connect"
        yield action, step % RECEIVERS_PER_THREAD, SENDERS[(step // 2 + thread) % 3]


def make_receiver(label: tuple[int, int]) -> Callable[..., tuple[int, int]]:
    def receive(**kwargs: Any) -> tuple[int, int]:
        return label

    return receive


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    # Make the interpreter switch threads far more often, so that the
    # registry's critical sections really do interleave.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


class EarlyGrowingSignal(Signal):
    """Grows snapshots in place and indexes them from a few entries on."""

    _GROW_FROM = 2
    _INDEXED_FROM = 4


@pytest.mark.usefixtures("frequent_thread_switches")
@pytest.mark.parametrize(
    "signal_type", [Signal, EarlyGrowingSignal], ids=["default", "early growing"]
)
def test_concurrent_connects_disconnects_and_sends(signal_type: type[Signal]) -> None:
    signal = signal_type()
    receivers = [
        [make_receiver((thread, index)) for index in range(RECEIVERS_PER_THREAD)]
        for thread in range(THREADS)
    ]
    errors: list[BaseException] = []
    stop = threading.Event()
    sends = 0

    def mutate(thread: int) -> None:
        try:
            for action, index, sender in plan(thread):
                getattr(signal, action)(receivers[thread][index], sender=sender)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def send() -> None:
        nonlocal sends
        try:
            while not stop.is_set():
                for sender in SENDERS:
                    results = signal.send_sync(sender)
                    for receiver, label in results:
                        assert receiver() == label  # each result is its own
                    # A receiver is reached at most through its registration
                    # for this sender and its one for every sender.
                    most = 1 if sender is None else 2
                    reached = Counter(label for _, label in results)
                    assert max(reached.values(), default=0) <= most, reached
                sends += 1
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    sender_thread = threading.Thread(target=send)
    mutators = [threading.Thread(target=mutate, args=(n,)) for n in range(THREADS)]
    sender_thread.start()
    for thread in mutators:
        thread.start()
    for thread in mutators:
        thread.join()
    stop.set()
    sender_thread.join()

    assert errors == []
    assert sends > 0

    # Each thread touched only its own receivers, so what it left connected
    # does not depend on how the threads interleaved.
    expected: set[tuple[tuple[int, int], object]] = set()
    for thread in range(THREADS):
        for action, index, sender in plan(thread):
            registration = ((thread, index), sender)
            if action == "connect":
                expected.add(registration)
            else:
                expected.discard(registration)
    assert expected  # the plan leaves something connected

    for sender in SENDERS:
        reached = Counter(label for _, label in signal.send_sync(sender))
        wanted = Counter(
            label for label, each in expected if each is sender or each is None
        )
        assert reached == wanted
        assert Counter(r() for r in signal.receivers_for(sender)) == wanted
    assert registrations(signal) == len(expected)
