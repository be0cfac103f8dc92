"""Threads connecting and disconnecting while event loops in other threads send.

Each sending thread runs its own loop (``asyncio.run``) and awaits
``signal.send`` with async receivers, some of which suspend (so Tasks run in
those loops). Meanwhile mutator threads connect and disconnect their own
receivers by a fixed plan. No call may raise; no send may call a receiver
twice, or one registered for another sender (a phantom); and afterwards the
registry holds exactly what replaying the plans gives (nothing lost).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any, Callable, Iterator

import pytest

from dispatch import Signal

MUTATORS = 4
LOOPS = 3
STEPS = 3000
RECEIVERS_PER_THREAD = 6
SENDERS: list[Any] = [object(), object(), None]


def sender_of(index: int) -> Any:
    """Receiver ``index`` of every thread is only ever connected for this sender."""
    return SENDERS[index % len(SENDERS)]


def plan(thread: int) -> Iterator[tuple[str, int]]:
    """The (action, receiver index) steps one mutator thread takes, in order."""
    for step in range(STEPS):
        index = (step * 7 + thread) % RECEIVERS_PER_THREAD
        yield ("disconnect" if (step + thread) % 3 == 0 else "connect"), index


def make_receiver(label: tuple[int, int]) -> Callable[..., Any]:
    async def receive(**kwargs: Any) -> tuple[int, int]:
        if label[1] % 2:
            await asyncio.sleep(0)
        return label

    receive.__name__ = f"receive_{label[0]}_{label[1]}"
    return receive


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_mutating_threads_and_sending_loops() -> None:
    signal = Signal("threaded")
    receivers = {
        (thread, index): make_receiver((thread, index))
        for thread in range(MUTATORS)
        for index in range(RECEIVERS_PER_THREAD)
    }
    labels = {id(receive): label for label, receive in receivers.items()}
    errors: list[BaseException] = []
    problems: list[str] = []
    sends = [0] * LOOPS
    loops_running = threading.Barrier(LOOPS + 1)
    mutators_done = threading.Event()

    def mutate(thread: int) -> None:
        try:
            for action, index in plan(thread):
                getattr(signal, action)(
                    receivers[thread, index], sender=sender_of(index)
                )
        except BaseException as error:  # reported below
            errors.append(error)

    async def send_until_done(loop_number: int) -> None:
        first = True
        while first or not mutators_done.is_set():
            for sender in SENDERS:
                results = await signal.send(sender)
                called = [labels[id(receive)] for receive, _ in results]
                if len(set(called)) != len(called):
                    problems.append(f"called twice in one send: {called}")
                for receive, value in results:
                    label = labels[id(receive)]
                    if value != label:
                        problems.append(f"{label} returned {value}")
                    if sender_of(label[1]) not in (sender, None):
                        problems.append(f"{label} called for another sender")
            sends[loop_number] += 1
            if first:
                first = False
                loops_running.wait()

    def run_loop(loop_number: int) -> None:
        try:
            asyncio.run(send_until_done(loop_number))
        except BaseException as error:  # reported below
            errors.append(error)
            loops_running.abort()

    loop_threads = [threading.Thread(target=run_loop, args=(n,)) for n in range(LOOPS)]
    mutator_threads = [
        threading.Thread(target=mutate, args=(n,)) for n in range(MUTATORS)
    ]
    for thread in loop_threads:
        thread.start()
    loops_running.wait()  # every loop has sent once before any mutation
    for thread in mutator_threads:
        thread.start()
    for thread in mutator_threads:
        thread.join()
    mutators_done.set()
    for thread in loop_threads:
        thread.join()

    assert errors == []
    assert problems == []
    assert all(count > 1 for count in sends), sends

    # Replay the plans: what each thread left connected.
    expected: dict[Any, set[tuple[int, int]]] = {id(s): set() for s in SENDERS}
    for thread in range(MUTATORS):
        connected: set[int] = set()
        for action, index in plan(thread):
            (connected.add if action == "connect" else connected.discard)(index)
        for index in connected:
            expected[id(sender_of(index))].add((thread, index))
    for sender in SENDERS:
        registered = [labels[id(r)] for _, r in signal._registrations_for(sender)]
        assert sorted(registered) == sorted(expected[id(sender)])
        reached = [labels[id(r)] for r in signal.receivers_for(sender)]
        assert len(reached) == len(set(reached))
        every = expected[id(None)]
        own = expected[id(sender)] if sender is not None else set()
        assert set(reached) == own | every
        results = asyncio.run(signal.send(sender))
        assert sorted(value for _, value in results) == sorted(own | every)
    print(
        f"\n[threads] {MUTATORS} mutator threads x {STEPS} connect/disconnect calls, "
        f"{LOOPS} event loops sent {sum(sends)} rounds of {len(SENDERS)} sends"
    )
