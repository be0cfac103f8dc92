"""An async-first port of Django's signal dispatcher."""

from .emitter import SignalEmitter
from .errors import SignalDefinitionError
from .signal import Signal, receiver

__all__ = ["Signal", "SignalDefinitionError", "SignalEmitter", "receiver"]
