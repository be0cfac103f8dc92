"""``SignalEmitter``: a dict of name -> ``Signal`` with attribute access."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from dispatch import Signal, SignalDefinitionError, SignalEmitter


def test_an_emitter_is_a_dict_of_signals() -> None:
    emitter = SignalEmitter()
    assert isinstance(emitter, dict)
    assert emitter == {}


def test_attribute_access_creates_a_signal_once() -> None:
    emitter = SignalEmitter()

    created = emitter.order_placed

    assert type(created) is Signal
    assert created.name == "order_placed"
    assert emitter.order_placed is created
    assert emitter["order_placed"] is created
    assert list(emitter) == ["order_placed"]


def test_item_access_and_attribute_access_agree() -> None:
    existing = Signal("existing")
    emitter = SignalEmitter(existing=existing)

    assert emitter.existing is existing
    with pytest.raises(KeyError):
        emitter["never_read"]


def test_a_subclass_chooses_the_signals_it_creates() -> None:
    class AuditSignal(Signal):
        pass

    class AuditEmitter(SignalEmitter):
        def _new_signal(self, name: str) -> Signal:
            return AuditSignal(f"audit.{name}")

    emitter = AuditEmitter()
    created = emitter.login

    assert type(created) is AuditSignal
    assert created.name == "audit.login"
    assert emitter.login is created


def test_assigning_a_signal_stores_it() -> None:
    emitter = SignalEmitter()
    custom = Signal("custom")

    emitter.custom = custom

    assert emitter.custom is custom
    assert emitter["custom"] is custom


def test_assigning_a_signal_subclass_stores_it() -> None:
    class Special(Signal):
        pass

    emitter = SignalEmitter()
    special = Special()
    emitter.special = special
    assert emitter.special is special


@pytest.mark.parametrize("value", ["not a signal", 42, None, Signal])
def test_assigning_anything_else_raises_naming_it(value: Any) -> None:
    emitter = SignalEmitter()

    with pytest.raises(SignalDefinitionError) as raised:
        emitter.custom = value

    assert repr(value) in str(raised.value)
    assert "custom" not in emitter


def test_an_emitted_signal_reaches_its_receivers() -> None:
    emitter = SignalEmitter()
    sender = object()
    calls: list[Any] = []

    def on_ready(**kwargs: Any) -> None:
        calls.append((kwargs["signal"], kwargs["sender"]))

    emitter.ready.connect(on_ready)
    emitter.ready.send_sync(sender)

    assert calls == [(emitter.ready, sender)]


def test_dunder_lookups_raise_attribute_error_and_create_nothing() -> None:
    emitter = SignalEmitter()

    with pytest.raises(AttributeError):
        emitter.__deepcopy_hook__
    assert not hasattr(emitter, "__setstate__")
    assert not hasattr(emitter, "__getnewargs_ex__")
    assert emitter == {}


def test_copy_copies_the_mapping_of_signals() -> None:
    emitter = SignalEmitter()
    ready = emitter.ready

    copied = copy.copy(emitter)

    assert type(copied) is SignalEmitter
    assert copied == {"ready": ready}
    assert copied.ready is ready
    assert copied is not emitter


def test_an_empty_emitter_pickles() -> None:
    restored = pickle.loads(pickle.dumps(SignalEmitter()))
    assert type(restored) is SignalEmitter
    assert restored == {}
    assert isinstance(restored.created_after_unpickling, Signal)


def test_deleting_an_attribute_removes_the_signal() -> None:
    emitter = SignalEmitter()
    first = emitter.ready

    del emitter.ready

    assert "ready" not in emitter
    assert emitter.ready is not first
    with pytest.raises(AttributeError):
        del emitter.never_created
