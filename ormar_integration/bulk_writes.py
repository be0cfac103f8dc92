"""The replacements for ``QuerySet.bulk_create``, ``update`` and ``delete``.

While no receiver listens to a write's pair of signals for the model (or
for every model), ormar's original method runs, untouched. Otherwise the
replacement sends ``pre_*``, then writes with a statement of its own that
yields the rows it touched, then sends ``post_*`` with them. The rows come
from ``RETURNING`` where the database and SQLAlchemy can compile it, and
otherwise from reads in one transaction with the write (a savepoint inside
the caller's transaction), so no other writer gets between them. A raising
``pre_*`` receiver stops the write before any statement; a raising
``post_*`` receiver reaches the caller after it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Coroutine, Iterable, Sequence

import sqlalchemy
from ormar.exceptions import QueryDefinitionError
from ormar.queryset import FilterQuery

from . import compat
from .operations import _heard, in_operation_scope
from .signals import (
    ModelSignal,
    post_bulk_create,
    post_queryset_delete,
    post_queryset_update,
    pre_bulk_create,
    pre_queryset_delete,
    pre_queryset_update,
)

__all__ = ["wrap_bulk_create", "wrap_queryset_delete", "wrap_queryset_update"]

AsyncMethod = Callable[..., Coroutine[Any, Any, Any]]

PRIMARY_KEYS_PER_READ = 500
"""Primary keys per ``IN (...)`` read, well below SQLite's 999 variables."""


def _listened(pre: ModelSignal, post: ModelSignal, model: type) -> bool:
    return pre.has_listeners(model) or post.has_listeners(model)


def _filtered(queryset: Any, statement: Any) -> Any:
    """``statement`` restricted to the rows ``queryset``'s filters select."""
    statement = FilterQuery(filter_clauses=queryset.filter_clauses).apply(statement)
    return FilterQuery(filter_clauses=queryset.exclude_clauses, exclude=True).apply(
        statement
    )


def _refuses_unfiltered(queryset: Any, each: bool) -> bool:
    """Whether ormar refuses this update or delete before writing anything."""
    return not each and not (queryset.filter_clauses or queryset.exclude_clauses)


class _Table:
    """What the writes need to know about one model's table."""

    def __init__(self, model: Any) -> None:
        config = compat.config_of(model)
        self.model = model
        self.table = config.table
        self.database = config.database
        self.pkname: str = config.pkname
        self.pk_column = self.table.c[model.get_column_alias(self.pkname)]
        self.server_defaults = [
            name
            for name, field in config.model_fields.items()
            if field.server_default is not None
        ]

    def instances(self, rows: Sequence[Any]) -> list[Any]:
        return [self.model.from_row(row, source_model=self.model) for row in rows]

    def fields(self, row: Any) -> dict[str, Any]:
        """A row of this table by field name."""
        return dict(
            self.model.translate_aliases_to_columns(dict(compat.row_mapping(row)))
        )

    async def rows_with_pks(self, executor: Any, pks: list[Any]) -> list[Any]:
        rows: list[Any] = []
        for start in range(0, len(pks), PRIMARY_KEYS_PER_READ):
            chunk = pks[start : start + PRIMARY_KEYS_PER_READ]
            statement = self.table.select().where(self.pk_column.in_(chunk))
            rows.extend(await executor.fetch_all(statement))
        return rows


# bulk_create ------------------------------------------------------------------


def wrap_bulk_create(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def bulk_create(self: Any, objects: list[Any]) -> None:
        model = self.model_cls
        if not objects or not _listened(pre_bulk_create, post_bulk_create, model):
            await original(self, objects)
            return

        async def write() -> bool:
            await _heard(pre_bulk_create, [model], instances=objects)
            if not objects:
                # The receivers took every instance back: ormar's say on an
                # empty list, and nothing to send after.
                await original(self, objects)
                return False
            _check_instances(model, objects)
            await _insert(_Table(model), objects)
            return True

        async def post(wrote: bool) -> None:
            if wrote:
                await _heard(post_bulk_create, [model], instances=objects)

        await in_operation_scope(model, write(), post)

    return bulk_create


def _check_instances(model: type, objects: list[Any]) -> None:
    for index, instance in enumerate(objects):
        if not isinstance(instance, model):
            raise TypeError(
                f"bulk_create of {model.__name__}: instances[{index}] is "
                f"{instance!r}, not a {model.__name__}; nothing was written"
            )


async def _insert(target: _Table, objects: list[Any]) -> None:
    """Inserts ``objects`` in one statement and gives each its row's values."""
    values = [compat.insert_values(instance) for instance in objects]
    statement = target.table.insert().values(values)
    # SQLAlchemy takes the columns of a multi-row INSERT from its first row:
    # either every primary key is given, or the database numbers every row.
    numbered = target.pk_column.name not in values[0]
    if compat.returns_rows(target.database):
        async with compat.query_executor(target.database) as executor:
            rows = await executor.fetch_all(statement.returning(*target.table.c))
    else:
        rows = await _insert_then_read(target, objects, statement, numbered)
    _take_row_values(target, objects, rows, numbered)
    for instance in objects:
        instance.set_save_status(True)


async def _insert_then_read(
    target: _Table, objects: list[Any], statement: Any, numbered: bool
) -> list[Any]:
    """Inserts, then reads the new rows back, in one transaction.

    Rows the database numbers come after every row there was before the
    INSERT, so the largest primary key before it finds them; rows whose
    primary key was given are read only for their server defaults.
    """
    async with target.database.transaction():
        async with compat.query_executor(target.database) as executor:
            if numbered:
                largest = await executor.fetch_val(
                    sqlalchemy.select(sqlalchemy.func.max(target.pk_column))
                )
            await executor.execute(statement)
            if numbered:
                new = target.table.select()
                if largest is not None:
                    new = new.where(target.pk_column > largest)
                return list(await executor.fetch_all(new))
            if target.server_defaults:
                pks = [instance.pk for instance in objects]
                return await target.rows_with_pks(executor, pks)
    return []


def _take_row_values(
    target: _Table, objects: list[Any], rows: list[Any], numbered: bool
) -> None:
    """Sets each instance's primary key, and server defaults it lacks, from its row.

    With the primary keys given, an instance owns the row with its key.
    Rows the database numbered belong to the instances in the order of the
    VALUES, which is the order of their integer keys (and, for keys of
    another kind, the order ``RETURNING`` gives them back in).
    """
    found = [target.fields(row) for row in rows]
    if numbered:
        if len(found) != len(objects):
            raise RuntimeError(
                f"bulk_create of {target.model.__name__} inserted "
                f"{len(objects)} rows but found {len(found)} of them"
            )
        if all(isinstance(fields[target.pkname], int) for fields in found):
            found.sort(key=lambda fields: fields[target.pkname])
        owned: Iterable[tuple[Any, dict[str, Any]]] = zip(objects, found)
    else:
        by_pk = {fields[target.pkname]: fields for fields in found}
        owned = ((each, by_pk[each.pk]) for each in objects if each.pk in by_pk)
    for instance, fields in owned:
        if numbered:
            setattr(instance, target.pkname, fields[target.pkname])
        for name in target.server_defaults:
            if getattr(instance, name) is None:
                setattr(instance, name, fields[name])


# update -----------------------------------------------------------------------


def wrap_queryset_update(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def update(self: Any, each: bool = False, **kwargs: Any) -> int:
        model = self.model_cls
        if not _listened(
            pre_queryset_update, post_queryset_update, model
        ) or _refuses_unfiltered(self, each):
            result: int = await original(self, each=each, **kwargs)
            return result
        writable = _writable_fields(model)
        # As ormar: what names no column of the model is left out.
        values = compat.update_values(
            model, {name: value for name, value in kwargs.items() if name in writable}
        )

        async def write() -> list[Any]:
            await _heard(pre_queryset_update, [model], queryset=self, values=values)
            target = _Table(model)
            statement = _filtered(
                self, target.table.update().values(**_checked_columns(target, values))
            )
            rows = await _write(target, self, statement, read_before=False)
            return target.instances(rows)

        instances = await in_operation_scope(
            model,
            write(),
            lambda instances: _heard(
                post_queryset_update, [model], values=values, instances=instances
            ),
        )
        return len(instances)

    return update


def _writable_fields(model: Any) -> set[str]:
    names: set[str] = model.extract_db_own_fields() | model.extract_related_names()
    return names


def _checked_columns(target: _Table, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as columns to write, once the receivers have had them."""
    model_name = target.model.__name__
    for name in values:
        alias = target.model.get_column_alias(name) if isinstance(name, str) else name
        if alias not in target.table.c:
            raise QueryDefinitionError(
                f"update of {model_name}: {name!r} in values is not a column of "
                f"{model_name}; nothing was written"
            )
    return compat.column_values(target.model, values)


# delete -----------------------------------------------------------------------


def wrap_queryset_delete(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def delete(self: Any, *args: Any, each: bool = False, **kwargs: Any) -> int:
        model = self.model_cls
        # With filters given here ormar filters, then calls delete again.
        if (
            not _listened(pre_queryset_delete, post_queryset_delete, model)
            or args
            or kwargs
            or _refuses_unfiltered(self, each)
        ):
            result: int = await original(self, *args, each=each, **kwargs)
            return result

        async def write() -> list[Any]:
            await _heard(pre_queryset_delete, [model], queryset=self)
            target = _Table(model)
            statement = _filtered(self, target.table.delete())
            rows = await _write(target, self, statement, read_before=True)
            return target.instances(rows)

        instances = await in_operation_scope(
            model,
            write(),
            lambda instances: _heard(
                post_queryset_delete, [model], instances=instances
            ),
        )
        return len(instances)

    return delete


# update and delete ----------------------------------------------------------


async def _write(
    target: _Table, queryset: Any, statement: Any, read_before: bool
) -> list[Any]:
    """Runs an UPDATE or DELETE; the rows it touched, as they are after it.

    (A deleted row, as it was.) ``read_before``: read the rows themselves
    before the write, not only their primary keys.
    """
    database = target.database
    if compat.returns_rows(database):
        async with compat.query_executor(database) as executor:
            return list(await executor.fetch_all(statement.returning(*target.table.c)))
    async with database.transaction():
        async with compat.query_executor(database) as executor:
            if read_before:
                rows = list(
                    await executor.fetch_all(_filtered(queryset, target.table.select()))
                )
                await executor.execute(statement)
                return rows
            selected = _filtered(queryset, sqlalchemy.select(target.pk_column))
            pks = [
                compat.row_mapping(row)[target.pk_column.name]
                for row in await executor.fetch_all(selected)
            ]
            await executor.execute(statement)
            return await target.rows_with_pks(executor, pks)
