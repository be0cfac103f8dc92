"""A ``dispatch`` commit scope for every ormar transaction and savepoint.

A transaction's scope opens once the database has begun it (BEGIN or
SAVEPOINT succeeded), commits only once the database has committed it
(COMMIT or RELEASE succeeded) and rolls back otherwise, so that an
``on_commit`` receiver runs if and only if the data it heard about is
committed. Each patched ormar operation is a scope of its own inside the
current one (see ``operations``).

A transaction opened with ``force_rollback=True`` (above all the one a
database opened with ``force_rollback=True`` keeps for its whole life)
never commits: it gets no scope, and every scope whose writes go through its
connection rolls back instead of committing. The connection decides, not
the context: ``databases`` sends every write of such a database through
that transaction, from whichever task or context it comes.
"""

from __future__ import annotations

import functools
import logging
import weakref
from typing import Any, Callable, Coroutine, NamedTuple

from dispatch import CommitScope, CommitScopeError

from . import compat

__all__ = [
    "WRAPPERS",
    "commit_operation",
    "open_scope",
]

logger = logging.getLogger("ormar_integration")

AsyncMethod = Callable[..., Coroutine[Any, Any, Any]]

# id(connection) -> how many force-rollback transactions are open on it. A
# connection stays referenced by its open transaction, so its id is not
# reused while counted here.
_rolled_back_connections: dict[int, int] = {}


class _Open(NamedTuple):
    """What ending a started transaction needs to know."""

    scope: CommitScope | None  # None for a force-rollback transaction
    connection_key: int
    rolls_back: bool  # it runs under a force-rollback transaction


_open: weakref.WeakKeyDictionary[Any, _Open] = weakref.WeakKeyDictionary()


def open_scope() -> CommitScope:
    """Opens a commit scope here, inside the current one if there is one."""
    return CommitScope().open()


async def commit_operation(scope: CommitScope, model: type) -> None:
    """Ends a patched operation's scope once its write is done.

    It commits (into the enclosing scope, or running its queue if it is the
    outermost). A write that went through a force-rollback transaction will
    never be committed: its scope commits as forced to roll back, so that an
    outermost one drops its queue (unless ``capture_on_commit`` keeps it).
    """
    if _rolled_back_connections:
        connection = compat.current_connection(compat.config_of(model).database)
        if connection is not None and id(connection) in _rolled_back_connections:
            await scope.commit(forced_rollback=True)
            return
    await scope.commit()


def _started(transaction: Any) -> None:
    """Opens the scope of a transaction the database has just begun."""
    key = id(compat.connection_of(transaction))
    if transaction._force_rollback:
        _rolled_back_connections[key] = _rolled_back_connections.get(key, 0) + 1
        _open[transaction] = _Open(None, key, True)
    else:
        rolls_back = key in _rolled_back_connections
        _open[transaction] = _Open(open_scope(), key, rolls_back)


async def _finish(transaction: Any, committed: bool) -> None:
    """Ends the scope of a transaction the database has just ended."""
    started = _open.pop(transaction, None)
    if started is None:  # begun while the integration was not installed
        return
    scope = started.scope
    if scope is None:
        key = started.connection_key
        left = _rolled_back_connections[key] - 1
        if left:
            _rolled_back_connections[key] = left
        else:
            del _rolled_back_connections[key]
        return
    try:
        if not committed:
            scope.rollback()
        else:
            await scope.commit(forced_rollback=started.rolls_back)
    except CommitScopeError as error:
        # Ended from another task or context than the one that began it
        # (a test fixture's setup and teardown, say): the database did its
        # part, so this is no error of the caller's; the queue cannot run
        # where it was not collected.
        logger.warning(
            "%r ended outside the context that began it; what it queued for "
            "after the commit is dropped (%s)",
            transaction,
            error,
        )


async def _ended(transaction: Any, end: Coroutine[Any, Any, Any], commit: bool) -> Any:
    """Awaits the database's COMMIT (``commit``) or ROLLBACK, then ends the scope.

    The scope commits only if the COMMIT succeeded. If ending raised but
    the transaction is still open (``databases`` refused to end one that is
    not innermost), its scope stays open with it.
    """
    try:
        result = await end
    except BaseException:
        if not compat.transaction_is_open(transaction):
            await _finish(transaction, committed=False)
        raise
    await _finish(transaction, committed=commit)
    return result


# databases (ormar < 0.22): every form goes through start/commit/rollback.


def wrap_start(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def start(self: Any) -> Any:
        result = await original(self)
        _started(self)
        return result

    return start


def wrap_commit(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def commit(self: Any) -> Any:
        return await _ended(self, original(self), commit=True)

    return commit


def wrap_rollback(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def rollback(self: Any) -> Any:
        return await _ended(self, original(self), commit=False)

    return rollback


# ormar's own DatabaseConnection (0.22+): an async context manager.


def wrap_enter(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def __aenter__(self: Any) -> Any:
        result = await original(self)
        _started(self)
        return result

    return __aenter__


def wrap_exit(original: AsyncMethod) -> AsyncMethod:
    @functools.wraps(original)
    async def __aexit__(
        self: Any,
        exc_type: Any = None,
        exc_value: Any = None,
        traceback: Any = None,
    ) -> Any:
        end = original(self, exc_type, exc_value, traceback)
        return await _ended(self, end, commit=exc_type is None)

    return __aexit__


WRAPPERS: dict[str, Callable[[AsyncMethod], AsyncMethod]] = {
    "start": wrap_start,
    "commit": wrap_commit,
    "rollback": wrap_rollback,
    "__aenter__": wrap_enter,
    "__aexit__": wrap_exit,
}
"""The replacement factory for each name in ``compat.TRANSACTION_METHODS``."""
