"""A send looks up its sender's receivers through the per-sender snapshots.

A sender with many registrations is also looked up through a dict by
connect and disconnect; those tests use more than ``Signal._INDEXED_FROM``.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any, Callable

import pytest
from registry_state import registrations

from dispatch import Signal
from dispatch.receivers import sender_key

SENDERS = 5_000


def labelled(calls: list[int], label: int) -> Callable[..., int]:
    def record(**kwargs: Any) -> int:
        calls.append(label)
        return label

    return record


def test_many_senders_each_reach_only_their_own_receiver() -> None:
    signal = Signal()
    calls: list[int] = []
    senders = [object() for _ in range(SENDERS)]
    receivers = [labelled(calls, number) for number in range(SENDERS)]
    for sender, each in zip(senders, receivers):
        signal.connect(each, sender=sender)

    # One published snapshot per sender: a send reads its sender's entry.
    assert len(signal._for_sender) == SENDERS
    assert len(signal._for_sender[id(senders[1234])]) == 1

    assert signal.receivers_for(senders[1234]) == [receivers[1234]]
    assert signal.send_sync(senders[1234]) == [(receivers[1234], 1234)]
    assert signal.send_sync(senders[-1]) == [(receivers[-1], SENDERS - 1)]
    assert signal.send_sync(object()) == []
    assert calls == [1234, SENDERS - 1]


def test_every_sender_receivers_join_each_senders_snapshot() -> None:
    signal = Signal()
    calls: list[int] = []
    senders = [object() for _ in range(SENDERS)]
    for number, sender in enumerate(senders):
        signal.connect(labelled(calls, number), sender=sender)
    everyone = labelled(calls, -1)
    signal.connect(everyone)

    assert len(signal._for_sender) == SENDERS
    assert [label for _, label in signal.send_sync(senders[42])] == [42, -1]
    assert [label for _, label in signal.send_sync(object())] == [-1]

    signal.disconnect(everyone)
    assert [label for _, label in signal.send_sync(senders[42])] == [42]
    assert calls == [42, -1, -1, 42]


def test_disconnecting_a_senders_last_receiver_drops_its_snapshot() -> None:
    signal = Signal()
    senders = [object() for _ in range(100)]
    receivers = [labelled([], number) for number in range(100)]
    for sender, each in zip(senders, receivers):
        signal.connect(each, sender=sender)

    for sender, each in zip(senders, receivers):
        assert signal.disconnect(each, sender=sender)

    assert signal._for_sender == {}
    assert registrations(signal) == 0


class Owner:
    def __init__(self, label: int, calls: list[int]) -> None:
        self.label = label
        self.calls = calls

    def on_signal(self, **kwargs: Any) -> int:
        self.calls.append(self.label)
        return self.label


@pytest.mark.parametrize("sender", [object(), None], ids=["one sender", "every sender"])
def test_a_sender_with_many_receivers_keeps_the_registry_rules(sender: Any) -> None:
    many = 3 * Signal._INDEXED_FROM
    signal = Signal()
    calls: list[int] = []
    functions = [labelled(calls, number) for number in range(many)]
    owners = [Owner(many + number, calls) for number in range(many)]
    for function, owner in zip(functions, owners):
        signal.connect(function, sender=sender)
        signal.connect(owner.on_signal, sender=sender, weak=True)
    signal.connect(labelled(calls, -1), sender=sender, dispatch_uid="uid")
    assert sender_key(sender) in signal._index  # the dict lookups under test

    # Connecting again is a no-op, by receiver, bound method or uid.
    for function, owner in zip(functions, owners):
        signal.connect(function, sender=sender)
        signal.connect(owner.on_signal, sender=sender)
    signal.connect(labelled(calls, -2), sender=sender, dispatch_uid="uid")
    assert registrations(signal) == 2 * many + 1

    # Removals: by receiver, by uid, by collection of a weak receiver.
    assert signal.disconnect(functions[0], sender=sender)
    assert not signal.disconnect(functions[0], sender=sender)
    assert signal.disconnect(owners[1].on_signal, sender=sender)
    assert signal.disconnect(sender=sender, dispatch_uid="uid")
    del owners[2]
    gc.collect()

    expected = [many]  # owners[0], whose function partner is gone
    for number in range(1, many):
        expected.append(number)
        if number not in (1, 2):
            expected.append(many + number)
    assert [label for _, label in signal.send_sync(sender)] == expected
    assert len(signal.receivers_for(sender)) == len(expected)  # cleans up
    assert registrations(signal) == len(expected)

    # A removed registration can be made again; it goes last.
    signal.connect(functions[0], sender=sender)
    assert signal.receivers_for(sender)[-1] is functions[0]
    signal.connect(functions[0], sender=sender)
    assert registrations(signal) == len(expected) + 1

    for function in functions:
        assert signal.disconnect(function, sender=sender)
    for owner in owners:
        signal.disconnect(owner.on_signal, sender=sender)
    assert registrations(signal) == 0
    assert signal._for_sender == {}


# From Signal._GROW_FROM entries, a snapshot grows in place: these check that a
# send still sees only what was connected before it started.


@pytest.mark.parametrize("sender", [object(), None], ids=["one sender", "every sender"])
@pytest.mark.parametrize("way", ["send", "send_sync"])
def test_a_receiver_connected_during_a_send_to_a_long_snapshot_waits_for_the_next(
    sender: Any, way: str
) -> None:
    signal = Signal()
    calls: list[int] = []
    late = labelled(calls, -1)

    def connects_late(**kwargs: Any) -> None:
        calls.append(0)
        signal.connect(late, sender=sender)

    signal.connect(connects_late, sender=sender)
    for number in range(1, 2 * Signal._GROW_FROM):
        signal.connect(labelled(calls, number), sender=sender)

    def send() -> None:
        if way == "send":
            asyncio.run(signal.send(sender))
        else:
            signal.send_sync(sender)

    send()
    assert calls == list(range(2 * Signal._GROW_FROM))
    calls.clear()
    send()
    assert calls == [*range(2 * Signal._GROW_FROM), -1]


def test_a_senders_first_receivers_stay_out_of_a_long_every_sender_snapshot() -> None:
    signal = Signal()
    calls: list[int] = []
    many = 2 * Signal._GROW_FROM
    for number in range(many):
        signal.connect(labelled(calls, number), sender=None)
    first, second = object(), object()
    signal.connect(labelled(calls, -1), sender=first)
    signal.connect(labelled(calls, -2), sender=second)
    signal.connect(labelled(calls, many))

    everyone = list(range(many))
    assert signal.send_sync(object()) and calls == [*everyone, many]
    calls.clear()
    signal.send_sync(first)
    assert calls == [*everyone, -1, many]
    calls.clear()
    signal.send_sync(second)
    assert calls == [*everyone, -2, many]
