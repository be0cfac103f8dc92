"""One LISTEN connection, kept alive, feeding a bounded queue.

asyncpg hands each notification to ``_on_notification``, which only queues
its payload; one consumer task delivers the queue in arrival order, so a slow
receiver delays later events but never the connection. A supervisor task
waits for the connection to end (or stop answering the keep-alive query),
reconnects with capped exponential backoff and, once it listens again,
queues a gap: whatever was committed in between was not heard.

At most ``max_pending`` events wait in the queue. Events arriving while it
is full are dropped and counted, and a gap (``reason="overflow"``) takes
their place, so receivers learn they missed something exactly as after a
reconnect. Gaps in a row merge into one, so memory stays under
``max_pending`` payloads of at most 8 KB each, plus one gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterator, Union
from urllib.parse import unquote, urlsplit

__all__ = ["Gap", "Listener", "RelayConnectionError", "backoff_delays", "describe_dsn"]

logger = logging.getLogger("ormar_integration.relay")

APPLICATION_NAME = "ormar-signals relay"
"""``application_name`` of every listening connection, for ``pg_stat_activity``."""


class RelayConnectionError(ConnectionError):
    """The relay could not listen: the server is unreachable or refused it."""


@dataclass
class Gap:
    """A place in the event stream where events may be missing.

    ``reason`` is ``"reconnect"`` or ``"overflow"``; ``missed`` counts the
    events dropped at the bound (unknown, 0, for a reconnect).
    """

    reason: str
    missed: int = 0


Item = Union[str, Gap]


def backoff_delays(first: float, cap: float) -> Iterator[float]:
    """``first``, then doubling, never above ``cap``: the waits between attempts."""
    delay = first
    while True:
        yield min(delay, cap)
        delay = min(delay * 2, cap)


def describe_dsn(dsn: str) -> str:
    """Host, port, database and user a DSN names, for error messages (no password)."""
    try:
        parts = urlsplit(dsn)
        host = unquote(parts.hostname or "") or "(default host)"
        port = parts.port or 5432
        database = unquote(parts.path.lstrip("/")) or "(default database)"
        user = unquote(parts.username or "") or "(default user)"
    except ValueError:
        return "an unparsable DSN"
    return f"host {host}, port {port}, database {database!r}, user {user!r}"


def asyncpg_dsn(dsn: str) -> str:
    """``dsn`` as asyncpg reads it: SQLAlchemy's ``postgresql+asyncpg://`` too."""
    scheme, separator, rest = dsn.partition("://")
    if separator and scheme.startswith(("postgresql+", "postgres+")):
        return "postgresql://" + rest
    return dsn


class Listener:
    """LISTENs on ``channel`` and hands payloads and gaps to ``deliver``."""

    def __init__(
        self,
        dsn: str,
        channel: str,
        deliver: Callable[[Item], Awaitable[None]],
        *,
        max_pending: int,
        connect_timeout: float,
        reconnect_delay: float,
        max_reconnect_delay: float,
        keepalive: float,
    ) -> None:
        self._dsn = asyncpg_dsn(dsn)
        self._channel = channel
        self._deliver = deliver
        self._max_pending = max_pending
        self._connect_timeout = connect_timeout
        self._reconnect_delay = reconnect_delay
        self._max_reconnect_delay = max_reconnect_delay
        self._keepalive = keepalive
        self._queue: deque[Item] = deque()
        self._queued = asyncio.Event()
        self._connection: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0
        """Events dropped so far because ``max_pending`` were already waiting."""

    @property
    def pending(self) -> int:
        """Events and gaps waiting to be delivered."""
        return len(self._queue)

    async def start(self) -> None:
        """Connects and listens, or raises ``RelayConnectionError``."""
        self._connection = await self._listen()
        self._tasks = [
            asyncio.ensure_future(self._consume()),
            asyncio.ensure_future(self._supervise()),
        ]

    async def stop(self) -> None:
        """Cancels both tasks and closes the connection; pending events are dropped."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        connection, self._connection = self._connection, None
        if connection is not None:
            await self._close(connection)
        self._queue.clear()

    # The connection ------------------------------------------------------

    async def _listen(self) -> Any:
        try:
            import asyncpg
        except ImportError as missing:  # publishing alone does not need it
            raise ImportError(
                "PostgresRelay listens with asyncpg: "
                "pip install 'ormar-signals[postgres]'"
            ) from missing

        try:
            connection = await asyncio.wait_for(
                asyncpg.connect(
                    self._dsn,
                    timeout=self._connect_timeout,
                    server_settings={"application_name": APPLICATION_NAME},
                ),
                # asyncpg's timeout covers each address it tries; this one the whole.
                self._connect_timeout,
            )
        except Exception as error:  # refused, timed out, rejected, or a bad DSN
            raise RelayConnectionError(
                f"PostgresRelay could not connect to {describe_dsn(self._dsn)}: "
                f"{type(error).__name__}: {str(error) or 'timed out'}"
            ) from error
        try:
            await connection.add_listener(self._channel, self._on_notification)
        except BaseException:
            await self._close(connection)
            raise
        return connection

    @staticmethod
    async def _close(connection: Any) -> None:
        try:
            await asyncio.wait_for(connection.close(), 5)
        except asyncio.CancelledError:
            connection.terminate()
            raise
        except Exception:
            connection.terminate()

    def _on_notification(
        self, connection: Any, pid: int, channel: str, payload: str
    ) -> None:
        self._push(payload)

    def _push(self, payload: str) -> None:
        queue = self._queue
        if len(queue) < self._max_pending:
            queue.append(payload)
        else:
            self.dropped += 1
            self._push_gap("overflow", missed=1)
        self._queued.set()

    def _push_gap(self, reason: str, missed: int = 0) -> None:
        """Queues a gap; one right behind another is merged into it.

        So the queue never holds more than ``max_pending`` events plus one
        gap, however long receivers stall; a merged gap that includes a
        reconnect says so.
        """
        last = self._queue[-1] if self._queue else None
        if isinstance(last, Gap):
            last.missed += missed
            if reason == "reconnect":
                last.reason = reason
        else:
            self._queue.append(Gap(reason, missed))
        self._queued.set()

    async def _consume(self) -> None:
        queue = self._queue
        while True:
            while not queue:
                self._queued.clear()
                await self._queued.wait()
            item = queue.popleft()
            try:
                await self._deliver(item)
            except Exception:
                logger.exception("PostgresRelay could not deliver %r", item)

    async def _supervise(self) -> None:
        while True:
            await self._until_lost(self._connection)
            logger.warning(
                "PostgresRelay lost its connection to %s; reconnecting",
                describe_dsn(self._dsn),
            )
            lost, self._connection = self._connection, None
            lost.terminate()
            self._connection = await self._reconnect()
            self._push_gap("reconnect")

    async def _until_lost(self, connection: Any) -> None:
        """Returns once ``connection`` has closed or stopped answering."""
        ended = asyncio.Event()
        connection.add_termination_listener(lambda _connection: ended.set())
        while not connection.is_closed():
            try:
                await asyncio.wait_for(ended.wait(), self._keepalive)
                return
            except asyncio.TimeoutError:
                pass
            try:
                await asyncio.wait_for(connection.fetchval("SELECT 1"), self._keepalive)
            except Exception:
                return

    async def _reconnect(self) -> Any:
        for delay in backoff_delays(self._reconnect_delay, self._max_reconnect_delay):
            # Jitter spreads the reconnects of many processes after a restart.
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            try:
                return await self._listen()
            except RelayConnectionError as error:
                logger.warning("PostgresRelay: %s; retrying", error)
        raise AssertionError("unreachable")  # pragma: no cover
