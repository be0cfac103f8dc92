"""The definition error that both ``dispatch`` and ormar code can catch."""

from __future__ import annotations

import contextlib
from typing import Iterator

from ormar.exceptions import SignalDefinitionError as OrmarSignalDefinitionError

import dispatch

__all__ = ["SignalDefinitionError", "definition_errors"]


class SignalDefinitionError(dispatch.SignalDefinitionError, OrmarSignalDefinitionError):
    """A receiver, sender or signal was defined in a way that cannot work.

    It is both ``dispatch``'s error and ormar's, so code written against
    either library (ormar's own tests included) catches it.
    """


@contextlib.contextmanager
def definition_errors() -> Iterator[None]:
    """Re-raises ``dispatch``'s definition errors as this package's error."""
    try:
        yield
    except SignalDefinitionError:
        raise
    except dispatch.SignalDefinitionError as error:
        raise SignalDefinitionError(*error.args) from None
