"""Committed writes heard by every process: ``PostgresRelay``.

The writing side needs no connection of its own: a forwarded send becomes
one ``pg_notify`` on the connection ormar's next statement would use. In a
transaction that is the transaction's connection, so PostgreSQL delivers
the event at COMMIT and drops it on ROLLBACK; outside one it is published
once the operation has written. The listening side (``start()``) is one
asyncpg connection per relay (``relay_listener``); what travels is
described in ``relay_events``.
"""

from __future__ import annotations

import logging
import uuid
from types import TracebackType
from typing import Any, Callable

import dispatch

from . import compat
from .relay_events import (
    EventDecodeError,
    ModelRegistry,
    ReceivedEvent,
    encode_event,
    process_origin,
)
from .relay_listener import Gap, Item, Listener, RelayConnectionError

__all__ = ["PostgresRelay", "RelayConnectionError"]

logger = logging.getLogger("ormar_integration.relay")

MAX_CHANNEL_BYTES = 63
"""PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1)."""


class _RemoteSignal(dispatch.Signal):
    """A remote signal that remembers the models its receivers are for.

    The relay then resolves a published model name to exactly that class,
    even where several classes of the same name exist.
    """

    def __init__(self, name: str, models: ModelRegistry) -> None:
        super().__init__(name)
        self._models = models

    def _connect(
        self, receiver: Callable[..., Any], sender: object, *args: Any, **kwargs: Any
    ) -> None:
        if isinstance(sender, type) and compat.is_model_class(sender):
            self._models.remember(sender)
        super()._connect(receiver, sender, *args, **kwargs)


def _checked_channel(channel: object) -> str:
    if not isinstance(channel, str):
        raise TypeError(f"PostgresRelay channel must be a str, got {channel!r}")
    size = len(channel.encode("utf-8"))
    if not channel or size > MAX_CHANNEL_BYTES or "\x00" in channel:
        raise ValueError(
            f"PostgresRelay channel {channel!r} is not a PostgreSQL channel name: "
            f"it must be 1 to {MAX_CHANNEL_BYTES} bytes without NUL (it is {size})"
        )
    return channel


class PostgresRelay:
    """Publishes forwarded sends with NOTIFY and delivers what it LISTENs to.

    :param dsn: a ``postgresql://`` URL (SQLAlchemy's ``postgresql+asyncpg://``
        works too) for the listening connection.
    :param channel: the NOTIFY channel every process of the application shares.
    :param include_self: whether this process's own events reach its remote
        receivers too.
    :param max_pending: events waiting for slow receivers beyond which new
        ones are dropped and ``gap`` is sent (``reason="overflow"``).
    :param connect_timeout: seconds ``start()`` (and each reconnect attempt)
        may take to connect before failing.
    :param reconnect_delay: the first wait before reconnecting; it doubles
        after each failed attempt up to ``max_reconnect_delay``.
    :param keepalive: seconds of silence after which the connection is
        checked with a query, and how long that query may take.
    """

    def __init__(
        self,
        dsn: str,
        channel: str = "ormar_signals",
        include_self: bool = True,
        *,
        max_pending: int = 10_000,
        connect_timeout: float = 10.0,
        reconnect_delay: float = 0.1,
        max_reconnect_delay: float = 10.0,
        keepalive: float = 30.0,
    ) -> None:
        if not isinstance(dsn, str):
            raise TypeError(f"PostgresRelay dsn must be a str, got {dsn!r}")
        if max_pending < 1:
            raise ValueError(
                f"PostgresRelay max_pending must be >= 1, got {max_pending}"
            )
        self.dsn = dsn
        self.channel = _checked_channel(channel)
        self.include_self = include_self
        self.gap = dispatch.Signal("relay gap")
        """Sent in this process (``sender`` the relay, ``reason``, ``missed``)
        when events may have been missed: after a reconnect, or at the bound."""
        self._listener_options: dict[str, Any] = {
            "max_pending": max_pending,
            "connect_timeout": connect_timeout,
            "reconnect_delay": reconnect_delay,
            "max_reconnect_delay": max_reconnect_delay,
            "keepalive": keepalive,
        }
        self._uid = uuid.uuid4().hex
        self._models = ModelRegistry()
        self._remotes: dict[str, _RemoteSignal] = {}
        # signal -> the senders forwarded for it (None: every model)
        self._forwarded: dict[dispatch.Signal, set[type | None]] = {}
        self._listener: Listener | None = None

    def __repr__(self) -> str:
        return f"<PostgresRelay channel={self.channel!r}>"

    # Publishing ----------------------------------------------------------

    def forward(self, signal: dispatch.Signal, sender: type | None = None) -> None:
        """Publishes ``signal``'s sends from ``sender`` (``None``: every model).

        Holds as long as the relay exists. Forwarding the same pair again,
        or a model whose signal is already forwarded for every model, is a
        no-op: each send is published once. Sends whose sender is not an
        ormar model are not published.
        """
        if not isinstance(signal, dispatch.Signal) or not signal.name:
            raise TypeError(
                f"PostgresRelay.forward takes a named dispatch.Signal, got {signal!r}"
            )
        if sender is not None:
            if not (isinstance(sender, type) and compat.is_model_class(sender)):
                raise TypeError(
                    f"PostgresRelay.forward: sender must be an ormar model class "
                    f"or None, got {sender!r}"
                )
            self._models.remember(sender)
        senders = self._forwarded.setdefault(signal, set())
        if None in senders or sender in senders:
            return
        uid = ("ormar_integration.relay", self._uid)
        if sender is None:
            # A send reaches every matching registration: one per sender
            # besides the every-model one would publish it twice.
            for each in senders:
                signal.disconnect(sender=each, dispatch_uid=uid)
            senders.clear()
        senders.add(sender)
        signal.connect(self._publish, sender=sender, weak=True, dispatch_uid=uid)

    async def _publish(
        self, signal: dispatch.Signal, sender: Any, **named: Any
    ) -> None:
        if not (isinstance(sender, type) and compat.is_model_class(sender)):
            return
        payload = encode_event(str(signal.name), sender, named)
        database = compat.database_of(sender)
        if compat.in_transaction(database):
            # Delivered by PostgreSQL at COMMIT, never after a ROLLBACK.
            await compat.notify(database, self.channel, payload)
        else:
            # The operation's commit scope runs this once its write is done,
            # and drops it if the write fails.
            dispatch.on_commit(compat.notify, database, self.channel, payload)

    # Listening -----------------------------------------------------------

    def remote(self, signal: dispatch.Signal) -> dispatch.Signal:
        """The signal this process's receivers connect to for ``signal``'s events.

        Its receivers get ``sender`` (the model class), ``instance`` and the
        other JSON-representable arguments rebuilt from the payload,
        ``origin`` (the publishing process) and ``partial``.
        """
        if not isinstance(signal, dispatch.Signal) or not signal.name:
            raise TypeError(
                f"PostgresRelay.remote takes a named dispatch.Signal, got {signal!r}"
            )
        name = str(signal.name)
        if name not in self._remotes:
            self._remotes[name] = _RemoteSignal(f"remote {name}", self._models)
        return self._remotes[name]

    @property
    def listening(self) -> bool:
        """Whether ``start()`` has run and ``stop()`` has not."""
        return self._listener is not None

    @property
    def pending(self) -> int:
        """Events (and gaps) received and not yet delivered to this process's receivers."""
        return self._listener.pending if self._listener is not None else 0

    @property
    def dropped(self) -> int:
        """Events dropped at the ``max_pending`` bound since ``start()``."""
        return self._listener.dropped if self._listener is not None else 0

    async def start(self) -> None:
        """LISTENs on the channel; raises ``RelayConnectionError`` naming the server.

        Publishing does not need it.
        """
        if self._listener is not None:
            raise RuntimeError(f"{self!r} is already listening")
        listener = Listener(
            self.dsn, self.channel, self._deliver, **self._listener_options
        )
        await listener.start()
        self._listener = listener

    async def stop(self) -> None:
        """Stops listening: no task and no connection are left. Idempotent."""
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.stop()

    async def __aenter__(self) -> PostgresRelay:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _deliver(self, item: Item) -> None:
        if isinstance(item, Gap):
            await self.gap.send_robust(self, reason=item.reason, missed=item.missed)
            return
        try:
            event = ReceivedEvent.parse(item)
            remote = self._remotes.get(event.signal_name)
            if remote is None or (
                not self.include_self and event.origin == process_origin()
            ):
                return
            sender = self._models.resolve(event.model_name)
            if not remote.has_listeners(sender):
                return
            arguments = event.arguments(self._models)
        except EventDecodeError as error:
            logger.error("%r skipped an event: %s", self, error)
            return
        await remote.send_robust(
            sender, origin=event.origin, partial=event.partial, **arguments
        )
