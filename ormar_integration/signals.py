"""The model signals, and the signal kind that calls receivers ormar's way.

ormar's eleven, then six for the writes ormar sends nothing for:
``QuerySet.bulk_create``, ``QuerySet.update`` and ``QuerySet.delete``.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Sequence, TypeVar, Union

import dispatch

from . import compat
from .errors import SignalDefinitionError, definition_errors

__all__ = [
    "MODEL_SIGNALS",
    "ModelSignal",
    "OrmarStyleSignal",
    "post_bulk_create",
    "post_bulk_update",
    "post_delete",
    "post_queryset_delete",
    "post_queryset_update",
    "post_relation_add",
    "post_relation_remove",
    "post_save",
    "post_update",
    "pre_bulk_create",
    "pre_delete",
    "pre_queryset_delete",
    "pre_queryset_update",
    "pre_relation_add",
    "pre_relation_remove",
    "pre_save",
    "pre_update",
]

F = TypeVar("F", bound=Callable[..., Any])
Senders = Union[type, Sequence[type], None]


class _IntegrationSignal(dispatch.Signal):
    """A ``dispatch.Signal`` whose definition errors are also ormar's."""

    def _connect(
        self,
        receiver: Callable[..., Any],
        sender: object,
        weak: bool,
        dispatch_uid: Hashable | None,
        with_signal: bool,
        on_commit: bool = False,
    ) -> None:
        with definition_errors():
            super()._connect(
                receiver, sender, weak, dispatch_uid, with_signal, on_commit
            )


class OrmarStyleSignal(_IntegrationSignal):
    """A signal whose ``connect`` registers receivers the way ormar calls them.

    Such receivers get ``sender`` and the sent arguments but no ``signal``,
    exactly as an ``ormar.Signal`` would call them. A model emitter creates
    these for custom signal names.
    """

    def connect(
        self,
        receiver: Callable[..., Any],
        sender: object = None,
        weak: bool = False,
        dispatch_uid: Hashable | None = None,
        on_commit: bool = False,
    ) -> None:
        """Registers ``receiver`` for ``sender``; it is called without ``signal``.

        ``on_commit=True``: called once the data is committed (``dispatch.Signal.connect``).
        """
        self._connect(receiver, sender, weak, dispatch_uid, False, on_commit)


class ModelSignal(_IntegrationSignal):
    """A signal ormar models send, usable Django's way and ormar's way.

    ``signal.connect(f, sender=Album)`` and ``dispatch.receiver`` register a
    receiver that also gets ``signal=``; calling the signal as a decorator
    factory (``@pre_save(Album)``, ``@pre_save([Album, Track])``,
    ``@pre_save()`` for every model) registers it ormar's way, without.
    """

    def __call__(
        self, senders: Senders = None, on_commit: bool = False
    ) -> Callable[[F], F]:
        """A decorator registering the function ormar-style for each of ``senders``.

        ``senders`` is a model class, a list or tuple of them, or nothing
        for every model. Anything else raises ``SignalDefinitionError``.
        ``on_commit=True`` delays each call until the data is committed, as
        for ``connect``.
        """
        models = _model_senders(self, senders)

        def decorator(func: F) -> F:
            for model in models:
                self._connect(func, model, False, None, False, on_commit)
            return func

        return decorator


def _model_senders(signal: ModelSignal, senders: Senders) -> list[type | None]:
    """Validates what a decorator was given; ``[None]`` stands for every model."""
    if senders is None:
        return [None]
    candidates = list(senders) if isinstance(senders, (list, tuple)) else [senders]
    models: list[type | None] = []
    for candidate in candidates:
        if not (isinstance(candidate, type) and compat.is_model_class(candidate)):
            raise SignalDefinitionError(
                f"{signal.name}() takes an ormar model class, a list or tuple of "
                f"them, or nothing (every model); got {candidate!r}"
            )
        models.append(candidate)
    return models


pre_save = ModelSignal("pre_save")
post_save = ModelSignal("post_save")
pre_update = ModelSignal("pre_update")
post_update = ModelSignal("post_update")
pre_delete = ModelSignal("pre_delete")
post_delete = ModelSignal("post_delete")
pre_relation_add = ModelSignal("pre_relation_add")
post_relation_add = ModelSignal("post_relation_add")
pre_relation_remove = ModelSignal("pre_relation_remove")
post_relation_remove = ModelSignal("post_relation_remove")
post_bulk_update = ModelSignal("post_bulk_update")
pre_bulk_create = ModelSignal("pre_bulk_create")
post_bulk_create = ModelSignal("post_bulk_create")
pre_queryset_update = ModelSignal("pre_queryset_update")
post_queryset_update = ModelSignal("post_queryset_update")
pre_queryset_delete = ModelSignal("pre_queryset_delete")
post_queryset_delete = ModelSignal("post_queryset_delete")

MODEL_SIGNALS: dict[str, ModelSignal] = {
    "pre_save": pre_save,
    "post_save": post_save,
    "pre_update": pre_update,
    "post_update": post_update,
    "pre_delete": pre_delete,
    "post_delete": post_delete,
    "pre_relation_add": pre_relation_add,
    "post_relation_add": post_relation_add,
    "pre_relation_remove": pre_relation_remove,
    "post_relation_remove": post_relation_remove,
    "post_bulk_update": post_bulk_update,
    "pre_bulk_create": pre_bulk_create,
    "post_bulk_create": post_bulk_create,
    "pre_queryset_update": pre_queryset_update,
    "post_queryset_update": post_queryset_update,
    "pre_queryset_delete": pre_queryset_delete,
    "post_queryset_delete": post_queryset_delete,
}
"""A model's built-in signal names, and the signal behind each.

ormar's eleven, then the six bulk and queryset ones, so that
``Album.ormar_config.signals.pre_bulk_create`` reaches the same signal
rather than a custom one no write ever sends.
"""
