"""The one module that replaces ormar attributes, and puts them back.

``PATCHES`` names every method replaced, with the factory that builds the
replacement from ormar's original: the model operations that send signals,
and the transaction methods that open and end commit scopes. Besides those, each model's signal
emitter is replaced by a ``ModelEmitter``: models that exist at install
time by walking ``ormar.Model``'s subclasses, later ones through ormar's
own emitter-registration hook.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, NamedTuple

from . import bulk_writes, compat, operations, transactions
from .emitter import ModelEmitter

__all__ = ["PATCHES", "install", "is_installed", "uninstall"]


def _wrap_registration_hook(original: Callable[..., None]) -> Callable[..., None]:
    def register_signals(new_model: Any) -> None:
        original(new_model=new_model)
        _adopt(new_model)

    return register_signals


PATCHES: list[tuple[Any, str, Callable[[Any], Any]]] = [
    *[
        (compat.TRANSACTION, name, transactions.WRAPPERS[name])
        for name in compat.TRANSACTION_METHODS
    ],
    (compat.Model, "save", operations.wrap_save),
    (compat.Model, "update", operations.wrap_update),
    (compat.Model, "delete", operations.wrap_delete),
    (compat.QuerySet, "bulk_update", operations.wrap_bulk_update),
    (compat.QuerySet, "bulk_create", bulk_writes.wrap_bulk_create),
    (compat.QuerySet, "update", bulk_writes.wrap_queryset_update),
    (compat.QuerySet, "delete", bulk_writes.wrap_queryset_delete),
    (compat.RelationProxy, "add", operations.wrap_relation_add),
    (compat.RelationProxy, "remove", operations.wrap_relation_remove),
    (
        compat.METACLASS_MODULE,
        compat.SIGNAL_REGISTRATION_HOOK,
        _wrap_registration_hook,
    ),
]
"""(owner, attribute name, factory: ormar's original -> replacement)."""


class _Saved(NamedTuple):
    owner: Any
    name: str
    original: Any
    owned: bool  # whether ``owner`` held the attribute itself, not by inheritance


_lock = threading.RLock()
# In replacement order; uninstall restores in reverse. Keyed by (id(owner),
# name) so an attribute is saved once, before its first replacement.
_saved: dict[tuple[int, str], _Saved] = {}
# id(ormar emitter) -> our emitter, so models sharing an ormar emitter share
# ours, and a reinstall gives a model back the emitter (and custom signals) it
# had. Our emitter holds ormar's, so the id is never reused meanwhile.
_emitters: dict[int, ModelEmitter] = {}


def _replace(owner: Any, name: str, value: Any, original: Any) -> None:
    key = (id(owner), name)
    if key not in _saved:
        _saved[key] = _Saved(owner, name, original, name in vars(owner))
    setattr(owner, name, value)


def _adopt(model: type) -> None:
    """Gives ``model`` a ``ModelEmitter`` in place of ormar's emitter."""
    config = compat.config_of(model)
    current = getattr(config, "signals", None)
    if current is None:
        return
    if isinstance(current, ModelEmitter):
        current.bind(model)
        if "signals" in vars(config):
            # ormar handed this config an emitter it had already given
            # another model: put that model's original back here too.
            _replace(config, "signals", current, current.native)
        return
    emitter = _emitters.get(id(current))
    if emitter is None:
        emitter = ModelEmitter.replacing(current, model)
        _emitters[id(current)] = emitter
    else:
        emitter.bind(model)
        emitter.absorb(current)
    _replace(config, "signals", emitter, current)


def _models() -> list[type]:
    """Every ormar model class defined so far, parents before children."""
    found: list[type] = []
    seen: set[int] = set()
    pending: list[type] = list(compat.Model.__subclasses__())
    while pending:
        model = pending.pop(0)
        if id(model) in seen:
            continue
        seen.add(id(model))
        found.append(model)
        pending.extend(model.__subclasses__())
    return found


def install() -> None:
    """Routes every ormar model signal through ``dispatch``. Idempotent."""
    with _lock:
        if _saved:
            return
        for owner, name, factory in PATCHES:
            original = vars(owner)[name]
            _replace(owner, name, factory(original), original)
        for model in _models():
            _adopt(model)


def uninstall() -> None:
    """Puts back every original ormar attribute and emitter. Idempotent.

    Receivers connected while installed stay registered in ``dispatch`` and
    run again after the next ``install()``.
    """
    with _lock:
        for saved in reversed(list(_saved.values())):
            if saved.owned:
                setattr(saved.owner, saved.name, saved.original)
            else:
                delattr(saved.owner, saved.name)
        _saved.clear()


def is_installed() -> bool:
    """Whether ormar currently sends its signals through ``dispatch``."""
    return bool(_saved)
