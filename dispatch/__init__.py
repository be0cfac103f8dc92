"""An async-first port of Django's signal dispatcher."""

from .commit import CommitScope, CommitScopeError, commit_scope, on_commit
from .emitter import SignalEmitter
from .errors import SignalDefinitionError
from .signal import Signal, receiver

__all__ = [
    "CommitScope",
    "CommitScopeError",
    "Signal",
    "SignalDefinitionError",
    "SignalEmitter",
    "commit_scope",
    "on_commit",
    "receiver",
]
