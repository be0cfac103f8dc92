"""Random connect/disconnect/send/collect sequences against a reference model.

The model is what the contract describes: an ordered list of registrations,
each identified by (receiver or dispatch_uid, sender); a send from ``s``
reaches, in list order, every registration made for ``s`` or for every
sender (``None``). A weakly held receiver's registrations vanish once nothing
else keeps the receiver alive.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any, Callable

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from registry_state import registrations

from dispatch import Signal

SENDERS: list[Any] = [object(), object(), object(), None]
SLOTS = 6
UIDS = [None, "uid-a", "uid-b"]


class CallableReceiver:
    def __init__(self, token: int, calls: list[int]) -> None:
        self.token = token
        self.calls = calls

    def __call__(self, **kwargs: Any) -> int:
        self.calls.append(self.token)
        return self.token


class MethodOwner:
    def __init__(self, token: int, calls: list[int]) -> None:
        self.token = token
        self.calls = calls

    def on_signal(self, **kwargs: Any) -> int:
        self.calls.append(self.token)
        return self.token


def closure_receiver(token: int, calls: list[int]) -> Callable[..., int]:
    def receive(**kwargs: Any) -> int:
        calls.append(token)
        return token

    receive.token = token  # type: ignore[attr-defined]
    return receive


def token_of(receiver: Any) -> int:
    return getattr(receiver, "__self__", receiver).token  # type: ignore[no-any-return]


@dataclass
class Registration:
    key: tuple[Any, ...]
    token: int
    sender: Any
    weak: bool


class IndexedSignal(Signal):
    """Finds every sender's registrations through its index, however few."""

    _INDEXED_FROM = 1


class GrowingSignal(Signal):
    """Grows every snapshot longer than two entries in place."""

    _GROW_FROM = 2


class SignalMachine(RuleBasedStateMachine):
    signal_type = Signal

    def __init__(self) -> None:
        super().__init__()
        self.signal = self.signal_type("model")
        self.calls: list[int] = []
        self.tokens = iter(range(10**9))
        # What the test holds: per slot, the receiver object, or None once dropped.
        self.held: list[Any | None] = [None] * SLOTS
        self.model: list[Registration] = []

    # Receivers: slots 0-1 callable objects, 2-3 bound methods, 4-5 closures.

    def receiver_in(self, slot: int) -> Callable[..., Any]:
        owner = self.held[slot]
        if owner is None:
            token = next(self.tokens)
            if slot < 2:
                owner = CallableReceiver(token, self.calls)
            elif slot < 4:
                owner = MethodOwner(token, self.calls)
            else:
                owner = closure_receiver(token, self.calls)
            self.held[slot] = owner
        return owner.on_signal if isinstance(owner, MethodOwner) else owner  # type: ignore[no-any-return]

    def alive(self, token: int) -> bool:
        held = any(owner is not None and owner.token == token for owner in self.held)
        strong = any(r.token == token and not r.weak for r in self.model)
        return held or strong

    def forget_collected(self, token: int) -> None:
        if not self.alive(token):
            self.model = [r for r in self.model if r.token != token]
            gc.collect()

    # Rules ----------------------------------------------------------------

    @rule(
        slot=st.integers(0, SLOTS - 1),
        sender=st.sampled_from(SENDERS),
        weak=st.booleans(),
        uid=st.sampled_from(UIDS),
    )
    def connect(self, slot: int, sender: Any, weak: bool, uid: str | None) -> None:
        receiver = self.receiver_in(slot)
        token = token_of(receiver)
        self.signal.connect(receiver, sender=sender, weak=weak, dispatch_uid=uid)
        key = (("uid", uid) if uid is not None else ("token", token), id(sender))
        if all(r.key != key for r in self.model):
            self.model.append(Registration(key, token, sender, weak))

    @rule(slot=st.integers(0, SLOTS - 1), sender=st.sampled_from(SENDERS))
    def disconnect_receiver(self, slot: int, sender: Any) -> None:
        receiver = self.receiver_in(slot)
        key = (("token", token_of(receiver)), id(sender))
        self.check_disconnect(key, self.signal.disconnect(receiver, sender=sender))

    @rule(uid=st.sampled_from(UIDS[1:]), sender=st.sampled_from(SENDERS))
    def disconnect_uid(self, uid: str, sender: Any) -> None:
        key = (("uid", uid), id(sender))
        self.check_disconnect(
            key, self.signal.disconnect(sender=sender, dispatch_uid=uid)
        )

    def check_disconnect(self, key: tuple[Any, ...], removed: bool) -> None:
        matching = [r for r in self.model if r.key == key]
        assert removed is bool(matching)
        if matching:
            self.model.remove(matching[0])
            self.forget_collected(matching[0].token)

    @rule(slot=st.integers(0, SLOTS - 1))
    def drop(self, slot: int) -> None:
        owner = self.held[slot]
        if owner is None:
            return
        token = owner.token
        self.held[slot] = None
        del owner
        self.forget_collected(token)

    @rule(sender=st.sampled_from(SENDERS), payload=st.integers())
    def send(self, sender: Any, payload: int) -> None:
        expected = [
            r.token for r in self.model if r.sender is None or r.sender is sender
        ]
        del self.calls[:]
        results = self.signal.send_sync(sender, payload=payload)
        assert self.calls == expected
        assert [result for _, result in results] == expected
        assert [token_of(receiver) for receiver, _ in results] == expected

    # Invariants -------------------------------------------------------------

    @invariant()
    def lookups_match_the_model(self) -> None:
        for sender in SENDERS:
            expected = [
                r.token for r in self.model if r.sender is None or r.sender is sender
            ]
            assert [token_of(r) for r in self.signal.receivers_for(sender)] == expected
            assert self.signal.has_listeners(sender) is bool(expected)
        # receivers_for cleaned up after collected receivers: nothing lingers.
        registered = registrations(self.signal)
        assert registered == len(self.model)


SignalMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=30, deadline=None
)
test_signal_matches_the_model = SignalMachine.TestCase


class IndexedSignalMachine(SignalMachine):
    signal_type = IndexedSignal


IndexedSignalMachine.TestCase.settings = SignalMachine.TestCase.settings
test_indexed_signal_matches_the_model = IndexedSignalMachine.TestCase


class GrowingSignalMachine(SignalMachine):
    signal_type = GrowingSignal


GrowingSignalMachine.TestCase.settings = SignalMachine.TestCase.settings
test_growing_signal_matches_the_model = GrowingSignalMachine.TestCase
