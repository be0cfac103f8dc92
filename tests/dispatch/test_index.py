"""A send looks up its sender's receivers through the per-sender index."""

from __future__ import annotations

from typing import Any, Callable

from dispatch import Signal

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
    assert signal._for_sender[id(senders[1234])] == signal._entries_for(senders[1234])
    assert len(signal._entries_for(senders[1234])) == 1

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
    assert signal._by_sender == {}
