"""ormar's model signals, delivered by ``dispatch``.

Importing this package installs the integration; ``uninstall()`` and
``install()`` switch it off and on again.
"""

from __future__ import annotations

from .errors import SignalDefinitionError
from .patching import install, is_installed, uninstall
from .signals import (
    ModelSignal,
    post_bulk_create,
    post_bulk_update,
    post_delete,
    post_queryset_delete,
    post_queryset_update,
    post_relation_add,
    post_relation_remove,
    post_save,
    post_update,
    pre_bulk_create,
    pre_delete,
    pre_queryset_delete,
    pre_queryset_update,
    pre_relation_add,
    pre_relation_remove,
    pre_save,
    pre_update,
)

__all__ = [
    "ModelSignal",
    "SignalDefinitionError",
    "install",
    "is_installed",
    "post_bulk_create",
    "post_bulk_update",
    "post_delete",
    "post_queryset_delete",
    "post_queryset_update",
    "post_relation_add",
    "post_relation_remove",
    "post_save",
    "post_update",
    "pre_bulk_create",
    "pre_delete",
    "pre_queryset_delete",
    "pre_queryset_update",
    "pre_relation_add",
    "pre_relation_remove",
    "pre_save",
    "pre_update",
    "uninstall",
]

install()
