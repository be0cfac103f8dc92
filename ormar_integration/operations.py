"""The replacements for ormar's signal-sending methods.

Each one sends the integration's ``pre_*`` signal, runs ormar's original
with ormar's own sends on built-in names ignored, then sends the ``post_*``
signal. A raising ``pre_*`` receiver therefore stops the operation before
anything is written; a raising ``post_*`` receiver reaches the caller after
the write. Each factory takes ormar's original and returns its replacement;
``patching`` decides where they go.

Each operation is a commit scope of its own, inside the current one (a
transaction's, if there is one): what its receivers queue for after the
commit is dropped if the write did not happen (a refusing ``pre_*``
receiver, a database error), and stands once it did, even if a ``post_*``
receiver then raises.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Coroutine, TypeVar

from . import compat
from .emitter import ormar_sends_ignored
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
from .transactions import commit_operation, open_scope

__all__ = [
    "in_operation_scope",
    "wrap_bulk_update",
    "wrap_delete",
    "wrap_relation_add",
    "wrap_relation_remove",
    "wrap_save",
    "wrap_update",
]

AsyncMethod = Callable[..., Coroutine[Any, Any, Any]]
T = TypeVar("T")


# Tokens rather than a context manager: these run several times per ormar
# operation, and a ``with`` block costs Python calls a token pair does not.


async def _unheard(original: AsyncMethod, *args: Any, **kwargs: Any) -> Any:
    """Runs ormar's original method with its own built-in sends ignored."""
    token = ormar_sends_ignored.set(True)
    try:
        return await original(*args, **kwargs)
    finally:
        ormar_sends_ignored.reset(token)


async def _heard(signal: ModelSignal, senders: list[Any], **named: Any) -> None:
    """Sends ``signal`` from each sender, with sends on emitters heard again.

    Receivers may run inside another operation (a through-model save inside
    ``add``); their own sends on a model's emitter must still go out.
    """
    token = ormar_sends_ignored.set(False)
    try:
        for sender in senders:
            await signal.send(sender, **named)
    finally:
        ormar_sends_ignored.reset(token)


def _send(
    signal: ModelSignal, instance: Any, **named: Any
) -> Coroutine[Any, Any, None]:
    """Sends a model's signal for it and, where ormar does, for its ancestors."""
    senders = compat.signal_senders(type(instance))
    return _heard(signal, senders, instance=instance, **named)


def _send_relation(
    signal: ModelSignal, proxy: Any, **named: Any
) -> Coroutine[Any, Any, None]:
    """Sends a relation signal; ``instance`` is ormar's weak proxy of the owner."""
    owner = proxy._owner
    return _heard(
        signal,
        [owner.__class__],
        instance=owner,
        relation_name=proxy.field_name,
        **named,
    )


async def in_operation_scope(
    model: type,
    write: Coroutine[Any, Any, T],
    post: Callable[[T], Coroutine[Any, Any, None]],
) -> T:
    """Awaits ``write`` (the ``pre_*`` sends and the write), then ``post(result)``, in a scope of their own.

    The scope rolls back if ``write`` raises, since nothing was written, and
    commits otherwise, also when ``post`` raises.
    """
    scope = open_scope()
    try:
        result = await write
    except BaseException:
        scope.rollback()
        raise
    try:
        await post(result)
    finally:
        await commit_operation(scope, model)
    return result


def wrap_save(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def save(self: Any) -> Any:
        async def write() -> Any:
            await _send(pre_save, self)
            return await _unheard(original, self)

        return await in_operation_scope(
            type(self), write(), lambda _: _send(post_save, self)
        )

    return save


def wrap_update(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def update(
        self: Any, _columns: list[str] | None = None, **kwargs: Any
    ) -> Any:
        # Applied here, not by ormar after pre_update: what a pre_update
        # receiver changes is then what gets written.
        compat.apply_update_kwargs(self, kwargs)

        async def write() -> Any:
            if self.pk:
                await _send(pre_update, self, passed_args=kwargs)
            # Without a pk ormar's update raises, as it would have before
            # pre_update.
            return await _unheard(original, self, _columns)

        return await in_operation_scope(
            type(self), write(), lambda _: _send(post_update, self)
        )

    return update


def wrap_delete(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def delete(self: Any) -> Any:
        async def write() -> Any:
            await _send(pre_delete, self)
            return await _unheard(original, self)

        return await in_operation_scope(
            type(self), write(), lambda _: _send(post_delete, self)
        )

    return delete


def wrap_bulk_update(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def bulk_update(
        self: Any, objects: list[Any], columns: list[str] | None = None
    ) -> Any:
        model = self.model_cls
        return await in_operation_scope(
            model,
            _unheard(original, self, objects, columns),
            lambda _: _heard(post_bulk_update, [model], instances=objects),
        )

    return bulk_update


def wrap_relation_add(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def add(self: Any, item: Any, **kwargs: Any) -> Any:
        # The receivers get the very dict the through model is built from
        # and may remove keys from it, as under ormar.
        named: dict[str, Any] = {"child": item, "passed_kwargs": kwargs}

        async def write() -> Any:
            await _send_relation(pre_relation_add, self, **named)
            return await _unheard(original, self, item, **kwargs)

        return await in_operation_scope(
            self._owner.__class__,
            write(),
            lambda _: _send_relation(post_relation_add, self, **named),
        )

    return add


def wrap_relation_remove(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def remove(self: Any, item: Any, keep_reversed: bool = True) -> Any:
        # ormar refuses a child not in the relation before any signal.
        known = item in self

        async def write() -> Any:
            if known:
                await _send_relation(pre_relation_remove, self, child=item)
            return await _unheard(original, self, item, keep_reversed)

        return await in_operation_scope(
            self._owner.__class__,
            write(),
            lambda _: _send_relation(post_relation_remove, self, child=item),
        )

    return remove
