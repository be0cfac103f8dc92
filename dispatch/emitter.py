"""``SignalEmitter``: a namespace of signals, as ormar keeps one per model."""

from __future__ import annotations

from typing import Any, Dict

from .errors import SignalDefinitionError
from .signal import Signal

__all__ = ["SignalEmitter"]


class SignalEmitter(Dict[str, Signal]):
    """A dict of name -> ``Signal`` with attribute access.

    Reading an unknown attribute creates the signal (through ``_new_signal``,
    which subclasses override); assigning anything but a ``Signal`` raises
    ``SignalDefinitionError``.
    """

    def __getattr__(self, name: str) -> Signal:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            return self.setdefault(name, self._new_signal(name))

    def __setattr__(self, name: str, value: Any) -> None:
        if not isinstance(value, Signal):
            raise SignalDefinitionError(
                f"{value!r} assigned to {name!r} is not a Signal"
            )
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def _new_signal(self, name: str) -> Signal:
        return Signal(name)
