"""The one exception the dispatcher raises for a bad definition."""

from __future__ import annotations

__all__ = ["SignalDefinitionError"]


class SignalDefinitionError(TypeError):
    """A receiver, sender or signal was defined in a way that cannot work.

    Raised at definition time (``connect``, ``receiver``, emitter assignment),
    never during a send, and its message names the offending object.
    """
