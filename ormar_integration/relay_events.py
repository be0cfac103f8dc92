"""What one forwarded send looks like on the wire, and back.

A payload is a JSON object: the signal's name, the sender model by a name
every process resolves to its own class, the send's arguments, the
publishing process (``origin``) and an event number of its own, so that
PostgreSQL never folds two identical sends of one transaction into one
notification. Model instances travel as pydantic's JSON of their columns
(a foreign key as the related primary key) and are rebuilt, not fetched,
on the other side. PostgreSQL refuses payloads of 8,000 bytes
or more: such an event is sent again with each instance reduced to its
primary key and marked ``partial``.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import uuid
import weakref
from dataclasses import dataclass
from typing import Any, Iterator

from . import compat

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "EventDecodeError",
    "ModelRegistry",
    "ReceivedEvent",
    "encode_event",
    "model_name",
    "process_origin",
]

MAX_PAYLOAD_BYTES = 7999
"""The longest payload PostgreSQL's NOTIFY accepts (shorter than 8,000 bytes)."""

_FORMAT = 1

# Each argument is tagged with how it travels, so no user value can be taken
# for an encoded model: [JSON, value], [MODEL, name, fields],
# [PK, name, primary key], [MODELS, [tagged model, ...]].
_JSON, _MODEL, _PK, _MODELS = "j", "m", "k", "l"

_event_numbers = itertools.count(1)
_origin: tuple[int, str] | None = None


class EventDecodeError(ValueError):
    """A payload this process cannot turn back into a send."""


def process_origin() -> str:
    """One opaque value naming this process, new in a forked child."""
    global _origin
    pid = os.getpid()
    if _origin is None or _origin[0] != pid:
        _origin = (pid, f"{socket.gethostname()}:{pid}:{uuid.uuid4().hex[:8]}")
    return _origin[1]


def model_name(model: type) -> str:
    """The name every process defining ``model`` the same way gives it."""
    return f"{model.__module__}:{model.__qualname__}"


def _is_instance(value: Any) -> bool:
    # ``isinstance`` sees through the weakref proxies ormar hands relations.
    return isinstance(value, compat.Model)


def _encode_model(value: Any, pk_only: bool) -> list[Any]:
    name = model_name(value.__class__)
    if pk_only:
        return [_PK, name, value.pk]
    return [_MODEL, name, compat.instance_values(value)]


def _encode_argument(value: Any, pk_only: bool) -> list[Any] | None:
    """``value`` tagged for the wire, or ``None`` if JSON cannot hold it."""
    if _is_instance(value):
        return _encode_model(value, pk_only)
    if (
        isinstance(value, (list, tuple))
        and value
        and all(_is_instance(item) for item in value)
    ):
        return [_MODELS, [_encode_model(item, pk_only) for item in value]]
    if pk_only:
        return None
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return [_JSON, value]


def _payload(
    signal_name: str,
    sender: type,
    named: dict[str, Any],
    partial: bool,
    with_arguments: bool,
) -> str:
    arguments: dict[str, Any] = {}
    if with_arguments:
        for key, value in named.items():
            encoded = _encode_argument(value, pk_only=partial)
            if encoded is not None:
                arguments[key] = encoded
    return json.dumps(
        {
            "v": _FORMAT,
            "e": next(_event_numbers),
            "o": process_origin(),
            "s": signal_name,
            "m": model_name(sender),
            "p": partial,
            "a": arguments,
        },
        separators=(",", ":"),
    )


def encode_event(signal_name: str, sender: type, named: dict[str, Any]) -> str:
    """The payload for one send; always shorter than ``MAX_PAYLOAD_BYTES``.

    Too long whole, instances go as primary keys only and the other
    arguments are left out (``partial``); still too long (a bulk update of
    thousands of rows), only the sender and signal go.
    """
    named = {key: value for key, value in named.items() if key != "signal"}
    for partial, with_arguments in ((False, True), (True, True), (True, False)):
        payload = _payload(signal_name, sender, named, partial, with_arguments)
        if len(payload.encode("utf-8")) <= MAX_PAYLOAD_BYTES:
            return payload
    raise EventDecodeError(  # pragma: no cover - names are far below the limit
        f"the event for {signal_name} from {model_name(sender)} does not fit "
        "a NOTIFY payload even without arguments"
    )


class ModelRegistry:
    """Finds the model class a published model name stands for in this process.

    Models the relay met as senders (of ``forward``, of receivers connected
    to a remote signal) come first; any other is found among ormar's model
    classes, the latest one defined under that name winning.
    """

    def __init__(self) -> None:
        self._known: weakref.WeakValueDictionary[str, type] = (
            weakref.WeakValueDictionary()
        )

    def remember(self, model: type) -> None:
        self._known[model_name(model)] = model

    def resolve(self, name: str) -> type:
        model = self._known.get(name)
        if model is None:
            model = self._latest_named(name)
            if model is None:
                raise EventDecodeError(f"no ormar model named {name!r} in this process")
        return model

    @staticmethod
    def _latest_named(name: str) -> type | None:
        found = None
        for model in _model_classes():
            if model_name(model) == name:
                found = model
        return found


def _model_classes() -> Iterator[type]:
    pending: list[type] = list(compat.Model.__subclasses__())
    while pending:
        model = pending.pop(0)
        yield model
        pending.extend(model.__subclasses__())


@dataclass(frozen=True)
class ReceivedEvent:
    """A payload read back, its arguments still encoded."""

    signal_name: str
    model_name: str
    origin: str
    partial: bool
    encoded_arguments: dict[str, Any]

    @classmethod
    def parse(cls, payload: str) -> ReceivedEvent:
        try:
            fields = json.loads(payload)
            if fields["v"] != _FORMAT:
                raise EventDecodeError(f"unknown payload format {fields['v']!r}")
            return cls(
                str(fields["s"]),
                str(fields["m"]),
                str(fields["o"]),
                bool(fields["p"]),
                dict(fields["a"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise EventDecodeError(
                f"not an ormar-signals event: {payload[:200]!r} ({error})"
            ) from error

    def arguments(self, registry: ModelRegistry) -> dict[str, Any]:
        """The send's arguments, instances rebuilt from their JSON."""
        try:
            return {
                key: _decode_argument(value, registry)
                for key, value in self.encoded_arguments.items()
            }
        except EventDecodeError:
            raise
        except Exception as error:
            raise EventDecodeError(
                f"{self.signal_name} event from {self.model_name}: "
                f"arguments could not be rebuilt ({error})"
            ) from error


def _decode_argument(tagged: list[Any], registry: ModelRegistry) -> Any:
    tag = tagged[0]
    if tag == _JSON:
        return tagged[1]
    if tag == _MODEL:
        return compat.instance_from_json(registry.resolve(tagged[1]), tagged[2])
    if tag == _PK:
        return compat.instance_with_pk(registry.resolve(tagged[1]), tagged[2])
    if tag == _MODELS:
        return [_decode_argument(item, registry) for item in tagged[1]]
    raise EventDecodeError(f"unknown argument tag {tag!r}")
