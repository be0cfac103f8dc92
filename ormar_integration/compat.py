"""Every difference between the ormar release lines this package supports.

0.10 to 0.12 keep a model's settings on an inner ``class Meta``; 0.20 onward
on an ``ormar_config`` object. Up to 0.21 transactions are those of the
``databases`` package; 0.22 brought ormar's own ``DatabaseConnection``. 0.24
added ``onupdate`` values to ``Model.update``; 0.25 added
``emit_parent_signals``. The rest of the package asks this module and never
looks at a version.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import ormar
import ormar.models.metaclass as metaclass_module
from ormar.queryset.queryset import QuerySet
from ormar.relations.relation_proxy import RelationProxy
from ormar.signals import Signal as OrmarSignal
from ormar.signals import SignalEmitter as OrmarSignalEmitter

_OWN_TRANSACTION: Any
try:
    from ormar.databases.transaction import Transaction as _OWN_TRANSACTION
except ImportError:  # ormar < 0.22: the transactions of ``databases``
    _OWN_TRANSACTION = None
    from databases.core import (  # type: ignore[import-not-found,unused-ignore]
        Transaction as _DATABASES_TRANSACTION,
    )

__all__ = [
    "CONFIG_ATTRIBUTE",
    "METACLASS_MODULE",
    "SIGNAL_REGISTRATION_HOOK",
    "TRANSACTION",
    "TRANSACTION_METHODS",
    "Model",
    "OrmarSignal",
    "OrmarSignalEmitter",
    "QuerySet",
    "RelationProxy",
    "apply_update_kwargs",
    "config_of",
    "connection_of",
    "current_connection",
    "emitter_of",
    "is_model_class",
    "signal_senders",
    "transaction_is_open",
]

Model: type = ormar.Model

CONFIG_ATTRIBUTE = "ormar_config" if hasattr(ormar, "OrmarConfig") else "Meta"
"""Where a model class keeps its settings, its signal emitter among them."""

METACLASS_MODULE: ModuleType = metaclass_module
SIGNAL_REGISTRATION_HOOK = "register_signals"
"""The function ormar's metaclass calls to give each new model its emitter.

The metaclass looks it up in its module on every class creation, so
replacing the module attribute reaches every model created afterwards.
"""


TRANSACTION: type = (
    _OWN_TRANSACTION if _OWN_TRANSACTION is not None else _DATABASES_TRANSACTION
)
"""The class of what ``database.transaction()`` returns."""

TRANSACTION_METHODS: tuple[str, ...] = (
    ("__aenter__", "__aexit__")
    if _OWN_TRANSACTION is not None
    else ("start", "commit", "rollback")
)
"""The methods every way of using a transaction goes through.

``databases`` routes ``async with``, the decorator and ``await
database.transaction()`` through ``start``, ``commit`` and ``rollback``;
ormar's own transaction is an async context manager only.
"""


def connection_of(transaction: Any) -> Any:
    """The connection a started transaction runs on (one per savepoint stack)."""
    return transaction._connection


def current_connection(database: Any) -> Any:
    """The connection a write through ``database`` would use here and now.

    ``None`` on ormar's own layer outside a transaction (each write then
    takes a pooled connection in autocommit mode).
    """
    if _OWN_TRANSACTION is not None:
        return database.get_transaction_connection()
    return database.connection()


def transaction_is_open(transaction: Any) -> bool:
    """Whether a transaction whose commit or rollback just raised is still open.

    ``databases`` refuses to end a transaction that is not the innermost of
    its connection before doing anything; any other failure ends it. ormar's
    own transaction always ends.
    """
    if _OWN_TRANSACTION is not None:
        return False
    return any(
        each is transaction for each in transaction._connection._transaction_stack
    )


def config_of(model: type) -> Any:
    """The object holding ``model``'s settings, or ``None`` if it has none."""
    return getattr(model, CONFIG_ATTRIBUTE, None)


def emitter_of(model: type) -> Any:
    """The signal emitter ``model.signals`` returns, or ``None``."""
    return getattr(config_of(model), "signals", None)


def is_model_class(candidate: type) -> bool:
    return issubclass(candidate, ormar.Model)


def apply_update_kwargs(instance: Any, kwargs: dict[str, Any]) -> None:
    """Does what ``Model.update`` does to the instance before ``pre_update``.

    From 0.24 that includes the ``onupdate`` values of fields not set
    explicitly; setting them marks them explicit, so ormar's own ``update``,
    run afterwards without kwargs, computes none of them again.
    """
    if hasattr(instance, "populate_onupdate_value"):
        explicit_fields = instance.__setattr_fields__ | kwargs.keys()
        values = instance.populate_onupdate_value(
            dict(kwargs), explicit_fields=explicit_fields
        )
    else:
        values = kwargs
    if values:
        instance.update_from_dict(values)


def signal_senders(model: type) -> list[type]:
    """The senders a save, update or delete signal of ``model`` goes out for.

    ``model`` itself, then (0.25+, ``emit_parent_signals=True``) each
    concrete ormar ancestor with an emitter of its own, as ormar's
    ``Model._emit_signal`` does.
    """
    config = config_of(model)
    if not getattr(config, "emit_parent_signals", False):
        return [model]
    senders = [model]
    seen = {id(config.signals)}
    for ancestor in model.__mro__[1:]:
        ancestor_config = config_of(ancestor)
        if (
            ancestor_config is None
            or ancestor_config.abstract
            or id(ancestor_config.signals) in seen
        ):
            continue
        seen.add(id(ancestor_config.signals))
        senders.append(ancestor)
    return senders
