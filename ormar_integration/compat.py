"""Every difference between the ormar release lines this package supports.

0.10 to 0.12 keep a model's settings on an inner ``class Meta``; 0.20 onward
on an ``ormar_config`` object. Up to 0.21 queries and transactions go
through the ``databases`` package; 0.22 brought ormar's own
``DatabaseConnection``. 0.24 added ``onupdate`` values to ``Model.update`` and
``QuerySet.update``; 0.25 added ``emit_parent_signals``. Up to 0.12
models are pydantic 1 models, from 0.20 pydantic 2 ones. The lines up to 0.20
pin SQLAlchemy 1.4, whose SQLite dialect cannot compile ``RETURNING``. The
rest of the package asks this module and never looks at a version.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from types import ModuleType
from typing import Any, AsyncIterator

import ormar
import ormar.models.metaclass as metaclass_module
import sqlalchemy
from ormar.queryset.queryset import QuerySet
from ormar.relations.relation_proxy import RelationProxy
from ormar.signals import Signal as OrmarSignal
from ormar.signals import SignalEmitter as OrmarSignalEmitter
from sqlalchemy.engine import make_url

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
    "column_values",
    "config_of",
    "connection_of",
    "current_connection",
    "database_of",
    "emitter_of",
    "in_transaction",
    "insert_values",
    "instance_from_json",
    "instance_values",
    "instance_with_pk",
    "is_model_class",
    "notify",
    "query_executor",
    "returns_rows",
    "row_mapping",
    "signal_senders",
    "transaction_is_open",
    "update_values",
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


PYDANTIC_2 = hasattr(ormar.Model, "model_dump_json")


def instance_values(instance: Any) -> dict[str, Any]:
    """The row ``instance`` stands for, as JSON values: its own columns through
    pydantic, each foreign key as the related row's primary key.

    Reverse and many-to-many relations are left out: rebuilt elsewhere they
    would need every related row's required fields.
    """
    relations = instance.extract_related_names()
    fields = config_of(instance.__class__).model_fields
    values: dict[str, Any]
    if PYDANTIC_2:
        # With the relations excluded, ormar's model_dump adds nothing to
        # pydantic's serializer but time.
        serializer = instance.__class__.__pydantic_serializer__
        values = serializer.to_python(instance, mode="json", exclude=relations)
    else:
        values = json.loads(instance.json(exclude=relations))
    for name in relations:
        field = fields[name]
        if field.virtual or field.is_multi or field.is_through:
            continue
        related = getattr(instance, name)
        values[name] = None if related is None else _json_ready(related.pk)
    return values


def _json_ready(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def instance_from_json(model: type, values: dict[str, Any]) -> Any:
    """An instance of ``model`` validated from what ``instance_values`` gave."""
    return model(**values)


def instance_with_pk(model: type, pk: Any) -> Any:
    """An unvalidated instance of ``model`` holding only its primary key."""
    values = {config_of(model).pkname: pk}
    if PYDANTIC_2:
        return model.model_construct(**values)  # type: ignore[attr-defined]
    return model.construct(**values)  # type: ignore[attr-defined]


def database_of(model: type) -> Any:
    """The database object ``model``'s queries go through."""
    return config_of(model).database


_NOTIFY = "SELECT pg_notify(:channel, :payload)"

if hasattr(ormar, "DatabaseConnection"):

    def in_transaction(database: Any) -> bool:
        """Whether the next statement on ``database`` runs inside a transaction.

        ormar's ``DatabaseConnection`` keeps the open transaction's connection
        in a context variable and runs every statement there while it is set.
        """
        return database.get_transaction_connection() is not None

    async def notify(database: Any, channel: str, payload: str) -> None:
        """``pg_notify`` on the connection ormar's next statement would use.

        Inside a transaction that is the transaction's own; outside, ormar's
        AUTOCOMMIT view of its pool, where the NOTIFY takes effect at once (a
        plain pooled connection would be rolled back, NOTIFY and all, when
        handed back).
        """
        connection = database.get_transaction_connection()
        if connection is not None and connection.dialect.paramstyle == "numeric_dollar":
            # asyncpg's own placeholders: no SQL to compile, the cheapest way
            # that still goes through SQLAlchemy's per-connection lock.
            await connection.exec_driver_sql(
                "SELECT pg_notify($1, $2)", (channel, payload)
            )
            return
        statement = sqlalchemy.text(_NOTIFY).bindparams(
            channel=channel, payload=payload
        )
        async with database.get_query_executor() as executor:
            await executor.fetch_val(statement)

else:

    def in_transaction(database: Any) -> bool:
        """Whether the next statement on ``database`` runs inside a transaction.

        ``databases`` runs statements on ``database.connection()``, which is
        the transaction's connection while one is open.
        """
        return bool(database.connection()._transaction_stack)

    async def notify(database: Any, channel: str, payload: str) -> None:
        """``pg_notify`` on the connection ``databases`` would use next.

        Outside a transaction asyncpg runs it in autocommit mode, so it takes
        effect at once.
        """
        await database.fetch_val(_NOTIFY, {"channel": channel, "payload": payload})


def insert_values(instance: Any) -> dict[str, Any]:
    """The column values ``QuerySet.bulk_create`` inserts for ``instance``."""
    dump = getattr(instance, "model_dump", None) or instance.dict
    values: dict[str, Any] = instance.prepare_model_to_save(dump())
    return values


def update_values(model: type, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the ``onupdate`` values ``QuerySet.update`` adds (0.24+)."""
    populate = getattr(model, "populate_onupdate_value", None)
    return values if populate is None else dict(populate(values))


def column_values(model: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Field values as ``QuerySet.update`` writes them: checked, by column name."""
    validate = getattr(model, "validate_enums", None) or model.validate_choices
    columns: dict[str, Any] = model.translate_columns_to_aliases(validate(values))
    return columns


_SQLALCHEMY_2 = int(sqlalchemy.__version__.split(".")[0]) >= 2


def returns_rows(database: Any) -> bool:
    """Whether INSERT, UPDATE and DELETE can end in ``RETURNING`` on ``database``.

    PostgreSQL always; SQLite from 3.35 on, and only where SQLAlchemy 2
    compiles it (1.4's SQLite dialect refuses); other databases are read back.
    """
    url = database.url
    # ``databases.Database`` has a URL object that names its dialect; ormar's
    # own connection keeps the URL string it was given.
    name = url.dialect if hasattr(url, "dialect") else make_url(url).get_backend_name()
    if name in ("postgresql", "postgres"):
        return True
    return name == "sqlite" and _SQLALCHEMY_2 and sqlite3.sqlite_version_info >= (3, 35)


@contextlib.asynccontextmanager
async def query_executor(database: Any) -> AsyncIterator[Any]:
    """What runs statements on ``database``: ``execute``, ``fetch_all``, ``fetch_val``.

    In a transaction (``database.transaction()``) it runs them on the
    transaction's connection.
    """
    open_executor = getattr(database, "get_query_executor", None)
    if open_executor is None:
        yield database
        return
    async with open_executor() as executor:
        yield executor


def row_mapping(row: Any) -> Any:
    """A result row as a mapping of column name to value, on every line."""
    return getattr(row, "_mapping", row)
