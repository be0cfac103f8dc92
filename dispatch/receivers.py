"""What the dispatcher needs to know about a receiver, worked out once at connect time.

A send must not inspect anything: everything it needs (is the receiver async,
is it held weakly) is decided here and stored in the registration.
"""

from __future__ import annotations

import inspect
import types
import weakref
from typing import Any, Callable, Hashable, Tuple, Union

from asgiref.sync import iscoroutinefunction

from .errors import SignalDefinitionError
from .snapshot import KINDS, Kind

ReceiverId = Union[int, Tuple[int, int]]
"""``id(receiver)``, or ``(id(instance), id(function))`` for a bound method."""

LookupKey = Tuple[Hashable, Union[int, None]]
"""What identifies a registration: (receiver id or dispatch_uid, sender id or None)."""


def receiver_id(receiver: Callable[..., Any]) -> ReceiverId:
    """Identify a receiver so that two bound methods of one object compare equal.

    ``obj.method`` makes a new bound-method object on every access; its
    instance and function are what stay the same.
    """
    if isinstance(receiver, types.MethodType):
        return id(receiver.__self__), id(receiver.__func__)
    return id(receiver)


def sender_key(sender: object) -> int | None:
    """``None`` stands for "every sender"; any other sender counts by identity."""
    return None if sender is None else id(sender)


def lookup_key(
    receiver: Callable[..., Any] | None, sender: object, dispatch_uid: Hashable | None
) -> LookupKey:
    """The registry key for a connect or disconnect call."""
    skey = sender_key(sender)
    if dispatch_uid is not None:
        try:
            hash(dispatch_uid)
        except TypeError:
            raise SignalDefinitionError(
                f"dispatch_uid must be hashable: {dispatch_uid!r}"
            ) from None
        return ("dispatch_uid", dispatch_uid), skey
    if receiver is None:
        raise TypeError("disconnect() needs a receiver or a dispatch_uid")
    return receiver_id(receiver), skey


def accepts_kwargs(receiver: Callable[..., Any]) -> bool:
    """Whether ``receiver`` can be called with arbitrary keyword arguments.

    Functions and bound methods answer from their code flags, which is cheap;
    anything else (partials, callable objects, classes) goes through
    ``inspect.signature``.
    """
    function = getattr(receiver, "__func__", receiver)
    code = getattr(function, "__code__", None)
    if code is not None:
        return bool(code.co_flags & inspect.CO_VARKEYWORDS)
    try:
        parameters = inspect.signature(receiver).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def is_async(receiver: Callable[..., Any]) -> bool:
    """Whether calling ``receiver`` gives an awaitable the send must await.

    asgiref's check counts ``sync_to_async`` wrappers; an object whose
    ``__call__`` is a coroutine function counts too.
    """
    return iscoroutinefunction(receiver) or iscoroutinefunction(type(receiver).__call__)


def returns_any_awaitable(receiver: Callable[..., Any]) -> bool:
    """Whether an async receiver may give an awaitable that is not a coroutine.

    Only a function or bound method written with ``async def`` is sure to
    give a coroutine; a send wraps anything else in one, and pays for the
    check only for such receivers.
    """
    if type(receiver) is types.MethodType:
        receiver = receiver.__func__
    return not (
        type(receiver) is types.FunctionType
        and receiver.__code__.co_flags & inspect.CO_COROUTINE
    )


def check_receiver(receiver: object) -> Callable[..., Any]:
    """Reject, with the culprit named, a receiver that no send could call."""
    if not callable(receiver):
        raise SignalDefinitionError(f"Signal receivers must be callable: {receiver!r}")
    if inspect.isasyncgenfunction(receiver):
        raise SignalDefinitionError(
            f"Signal receivers cannot be async generator functions: {receiver!r}"
        )
    if not accepts_kwargs(receiver):
        raise SignalDefinitionError(
            f"Signal receivers must accept **kwargs: {receiver!r}"
        )
    return receiver


def weak_reference(
    receiver: Callable[..., Any], on_collect: Callable[[Any], None]
) -> weakref.ref[Any]:
    """A weak reference that lives as long as the receiver, not the bound method."""
    try:
        if inspect.ismethod(receiver):
            return weakref.WeakMethod(receiver, on_collect)
        return weakref.ref(receiver, on_collect)
    except TypeError:
        raise SignalDefinitionError(
            f"Cannot hold a weak reference to receiver {receiver!r}; "
            "connect it with weak=False"
        ) from None


def receiver_kind(receiver: object, indirect: bool, gets_signal: bool) -> Kind:
    """``check_receiver``, then the ``Kind`` a send calls the receiver by.

    ``indirect``: the entry will hold a weak reference or an ``OnCommitTarget``.

    Connects are mostly plain functions, whose code flags answer most
    questions at once: one written with ``async def`` needs nothing more,
    any other only asgiref's check for a coroutine marker
    (``markcoroutinefunction``). Reading ``__dict__`` instead would give
    every receiver function a dict it did not have.
    """
    if type(receiver) is types.FunctionType:
        flags = receiver.__code__.co_flags
        if flags & inspect.CO_VARKEYWORDS:
            if flags & inspect.CO_COROUTINE:
                return KINDS[indirect][gets_signal][True][False]
            if not flags & inspect.CO_ASYNC_GENERATOR and not iscoroutinefunction(
                receiver
            ):
                return KINDS[indirect][gets_signal][False][False]
    checked = check_receiver(receiver)
    if is_async(checked):
        return KINDS[indirect][gets_signal][True][returns_any_awaitable(checked)]
    return KINDS[indirect][gets_signal][False][False]
