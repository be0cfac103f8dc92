"""The per-model emitter behind ``Model.signals``, as ormar documents it.

A model's built-in signals (``Album.ormar_config.signals.pre_save``, or
``Album.Meta.signals.pre_save`` before ormar 0.20) are views of the
module-level signals bound to that model, so whatever is connected through
them lives in ``dispatch``. ormar's own methods send on these views too;
while a patched operation runs, ``operations`` sends instead and those sends
are ignored, so each receiver runs exactly once.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import (
    Any,
    Callable,
    ContextManager,
    Hashable,
    Iterator,
    MutableMapping,
)

import dispatch
from dispatch.commit import OnCommitTarget
from dispatch.snapshot import TARGET

from . import compat
from .errors import SignalDefinitionError
from .signals import MODEL_SIGNALS, ModelSignal, OrmarStyleSignal

__all__ = ["BoundSignal", "ModelEmitter", "ormar_sends_ignored"]

ormar_sends_ignored: ContextVar[bool] = ContextVar(
    "ormar_integration_ormar_sends_ignored", default=False
)
"""Whether sends on built-in views do nothing, in this context only.

``operations`` sets it while ormar's original method runs. A context
variable, so an operation in one task never silences a concurrent one.
"""


class ReceiversView(MutableMapping[Hashable, Callable[..., Any]]):
    """ormar's ``Signal._receivers`` for one model: receiver id -> receiver.

    Keys are ormar's ``make_id`` values (``id(func)``, or ``(id(obj),
    id(func))`` for a bound method). It holds the registrations made for
    exactly this model, not the every-model ones; deleting an entry
    disconnects it.
    """

    def __init__(self, signal: ModelSignal, models: list[type]) -> None:
        self._signal = signal
        self._models = models

    def _pairs(self) -> list[tuple[Any, Callable[..., Any]]]:
        return self._signal._registrations_for(self._models[0])

    def __getitem__(self, receiver_id: Hashable) -> Callable[..., Any]:
        for key, receiver in self._pairs():
            if key[0] == receiver_id:
                return receiver
        raise KeyError(receiver_id)

    def __setitem__(self, receiver_id: Hashable, receiver: Callable[..., Any]) -> None:
        for model in self._models:
            self._signal._connect(receiver, model, False, None, False, False)

    def __delitem__(self, receiver_id: Hashable) -> None:
        removed = False
        for model in self._models:
            for key, _ in self._signal._registrations_for(model):
                if key[0] == receiver_id:
                    removed = self._signal._disconnect_key(key) or removed
        if not removed:
            raise KeyError(receiver_id)

    def __iter__(self) -> Iterator[Hashable]:
        return iter([key[0] for key, _ in self._pairs()])

    def __len__(self) -> int:
        return len(self._pairs())


class BoundSignal(dispatch.Signal):
    """A module-level ``ModelSignal`` seen from one model (or the models sharing an emitter).

    ``connect(receiver)`` registers ormar-style (no ``signal=``) for the
    model; ``disconnect`` removes that; ``send`` forwards to the module-level
    signal unless a patched ormar operation is running in this context.
    ``muted()`` mutes the module-level signal (or, given a receiver, that
    receiver on it), for every model. Sends through a view are sends of the
    module-level signal, and ``dispatch.testing.capture`` records them so.
    """

    def __init__(self, signal: ModelSignal, models: list[type]) -> None:
        super().__init__(signal.name)
        self._signal = signal
        self._models = models

    def __repr__(self) -> str:
        return f"<BoundSignal {self.name!r} of {self._models[0].__name__}>"

    def _senders(self, sender: object) -> list[Any]:
        return list(self._models) if sender is None else [sender]

    def connect(
        self,
        receiver: Callable[..., Any],
        sender: object = None,
        weak: bool = False,
        dispatch_uid: Hashable | None = None,
        on_commit: bool = False,
    ) -> None:
        """Registers ``receiver`` for this model (or ``sender``), called ormar's way.

        ``on_commit=True``: called once the data is committed (``dispatch.Signal.connect``).
        """
        for each in self._senders(sender):
            self._signal._connect(receiver, each, weak, dispatch_uid, False, on_commit)

    def disconnect(
        self,
        receiver: Callable[..., Any] | None = None,
        sender: object = None,
        dispatch_uid: Hashable | None = None,
    ) -> bool:
        """Removes the registration ``connect`` made; ``True`` if there was one."""
        removed = [
            self._signal.disconnect(receiver, each, dispatch_uid)
            for each in self._senders(sender)
        ]
        return any(removed)

    def has_listeners(self, sender: object = None) -> bool:
        return self._signal.has_listeners(self._senders(sender)[0])

    def receivers_for(self, sender: object) -> list[Callable[..., Any]]:
        return self._signal.receivers_for(sender)

    async def send(self, sender: object, **named: Any) -> list[tuple[Any, Any]]:
        if ormar_sends_ignored.get():
            return []
        return await self._signal.send(sender, **named)

    async def send_robust(self, sender: object, **named: Any) -> list[tuple[Any, Any]]:
        if ormar_sends_ignored.get():
            return []
        return await self._signal.send_robust(sender, **named)

    def send_sync(self, sender: object, **named: Any) -> list[tuple[Any, Any]]:
        return self._signal.send_sync(sender, **named)

    def send_robust_sync(self, sender: object, **named: Any) -> list[tuple[Any, Any]]:
        return self._signal.send_robust_sync(sender, **named)

    def muted(self, receiver: Callable[..., Any] | None = None) -> ContextManager[None]:
        return self._signal.muted(receiver)

    @property
    def _receivers(self) -> ReceiversView:
        """What ormar's tests read from and delete from on an ``ormar.Signal``."""
        return ReceiversView(self._signal, self._models)


class ModelEmitter(dispatch.SignalEmitter):
    """A model's signals: the built-in views (``MODEL_SIGNALS``) plus custom signals.

    Reading an unknown name creates an ``OrmarStyleSignal``. Assigning an
    ``ormar.Signal`` stores an ``OrmarStyleSignal`` carrying its receivers
    (for a built-in name, its receivers join the view); a ``dispatch.Signal``
    is stored as is; anything else raises ``SignalDefinitionError``.

    ``native`` is the ormar emitter this one stands in for, which
    ``uninstall`` puts back.
    """

    _models: list[type]
    native: Any

    def __init__(self, model: type, native: Any = None) -> None:
        super().__init__()
        models: list[type] = [model]
        object.__setattr__(self, "_models", models)
        object.__setattr__(self, "native", native)
        for name, signal in MODEL_SIGNALS.items():
            view = BoundSignal(signal, models)
            self[name] = view
            # Also an instance attribute: ormar reads these by name on every
            # save, update and delete, and this skips ``__getattr__``.
            object.__setattr__(self, name, view)

    @classmethod
    def replacing(cls, native: Any, model: type) -> ModelEmitter:
        """An emitter for ``model`` carrying over every receiver of ormar's ``native``."""
        emitter = cls(model, native)
        emitter.absorb(native)
        return emitter

    def absorb(self, native: Any) -> None:
        """Connects here every receiver of ormar's emitter ``native``.

        Run at each install: receivers connected the ormar way while the
        integration was uninstalled join the ones this emitter already holds
        (connecting twice is a no-op), and no signal here is replaced.
        """
        for name, signal in dict(native).items():
            existing = self.get(name)
            if existing is None or name in MODEL_SIGNALS:
                setattr(self, name, signal)
            elif isinstance(signal, compat.OrmarSignal):
                for receiver in signal._receivers.values():
                    existing.connect(receiver)

    def bind(self, model: type) -> None:
        """Serves ``model`` too, which ormar gave this same emitter.

        ormar shares one emitter between a many-to-many through model and
        the copies it makes for inheriting models (and, before 0.20, between
        models whose ``Meta`` inherits another's). Receivers connected
        through the views then run for each of them, as under ormar.
        """
        if any(model is each for each in self._models):
            return
        primary = self._models[0]
        for signal in MODEL_SIGNALS.values():
            signal._clean_if_dead()
            for _key, receiver, entry in signal._own(id(primary)):
                on_commit = type(entry[TARGET]) is OnCommitTarget
                signal._connect(receiver, model, False, None, False, on_commit)
        self._models.append(model)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in MODEL_SIGNALS:
            self._merge_into_view(name, value)
            return
        if isinstance(value, compat.OrmarSignal):
            converted = OrmarStyleSignal(name)
            for receiver in value._receivers.values():
                converted.connect(receiver)
            value = converted
        elif not isinstance(value, dispatch.Signal):
            raise SignalDefinitionError(
                f"{value!r} assigned to signal {name!r} is neither an ormar.Signal "
                "nor a dispatch.Signal"
            )
        self[name] = value

    def _merge_into_view(self, name: str, value: Any) -> None:
        view = self[name]
        if value is view:
            return
        if not isinstance(value, compat.OrmarSignal):
            raise SignalDefinitionError(
                f"{name!r} is a built-in model signal; it takes an ormar.Signal "
                f"(whose receivers join it), not {value!r}"
            )
        for receiver in value._receivers.values():
            view.connect(receiver)

    def _new_signal(self, name: str) -> dispatch.Signal:
        return OrmarStyleSignal(name)
