"""The replacements for ormar's signal-sending methods.

Each one sends the integration's ``pre_*`` signal, runs ormar's original
with ormar's own sends on built-in names ignored, then sends the ``post_*``
signal. A raising ``pre_*`` receiver therefore stops the operation before
anything is written; a raising ``post_*`` receiver reaches the caller after
the write. Each factory takes ormar's original and returns its replacement;
``patching`` decides where they go.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Coroutine

from . import compat
from .emitter import ignoring_ormar_sends
from .signals import (
    ModelSignal,
    post_bulk_update,
    post_delete,
    post_relation_add,
    post_relation_remove,
    post_save,
    post_update,
    pre_delete,
    pre_relation_add,
    pre_relation_remove,
    pre_save,
    pre_update,
)

__all__ = [
    "wrap_bulk_update",
    "wrap_delete",
    "wrap_relation_add",
    "wrap_relation_remove",
    "wrap_save",
    "wrap_update",
]

AsyncMethod = Callable[..., Coroutine[Any, Any, Any]]


async def _send(signal: ModelSignal, instance: Any, **named: Any) -> None:
    """Sends a model's signal for it and, where ormar does, for its ancestors."""
    with ignoring_ormar_sends(False):
        for sender in compat.signal_senders(type(instance)):
            await signal.send(sender, instance=instance, **named)


async def _send_relation(signal: ModelSignal, proxy: Any, **named: Any) -> None:
    """Sends a relation signal; ``instance`` is ormar's weak proxy of the owner."""
    owner = proxy._owner
    with ignoring_ormar_sends(False):
        await signal.send(
            owner.__class__, instance=owner, relation_name=proxy.field_name, **named
        )


def wrap_save(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def save(self: Any) -> Any:
        await _send(pre_save, self)
        with ignoring_ormar_sends(True):
            result = await original(self)
        await _send(post_save, self)
        return result

    return save


def wrap_update(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def update(
        self: Any, _columns: list[str] | None = None, **kwargs: Any
    ) -> Any:
        # Applied here, not by ormar after pre_update: what a pre_update
        # receiver changes is then what gets written.
        compat.apply_update_kwargs(self, kwargs)
        if self.pk:
            await _send(pre_update, self, passed_args=kwargs)
        # Without a pk ormar's update raises, as it would have before pre_update.
        with ignoring_ormar_sends(True):
            result = await original(self, _columns)
        await _send(post_update, self)
        return result

    return update


def wrap_delete(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def delete(self: Any) -> Any:
        await _send(pre_delete, self)
        with ignoring_ormar_sends(True):
            result = await original(self)
        await _send(post_delete, self)
        return result

    return delete


def wrap_bulk_update(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def bulk_update(
        self: Any, objects: list[Any], columns: list[str] | None = None
    ) -> Any:
        with ignoring_ormar_sends(True):
            result = await original(self, objects, columns)
        with ignoring_ormar_sends(False):
            await post_bulk_update.send(self.model_cls, instances=objects)
        return result

    return bulk_update


def wrap_relation_add(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def add(self: Any, item: Any, **kwargs: Any) -> Any:
        # The receivers get the very dict the through model is built from
        # and may remove keys from it, as under ormar.
        named: dict[str, Any] = {"child": item, "passed_kwargs": kwargs}
        await _send_relation(pre_relation_add, self, **named)
        with ignoring_ormar_sends(True):
            result = await original(self, item, **kwargs)
        await _send_relation(post_relation_add, self, **named)
        return result

    return add


def wrap_relation_remove(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def remove(self: Any, item: Any, keep_reversed: bool = True) -> Any:
        # ormar refuses a child not in the relation before any signal.
        known = item in self
        if known:
            await _send_relation(pre_relation_remove, self, child=item)
        with ignoring_ormar_sends(True):
            result = await original(self, item, keep_reversed)
        await _send_relation(post_relation_remove, self, child=item)
        return result

    return remove
