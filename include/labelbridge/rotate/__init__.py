"""Signed-URL rotation: which URLs to re-sign when, per-cloud caps, credential expiry, IP locks.

The DAG ``labelbridge_rotate_urls`` and the CLI ``labelbridge rotate`` run :func:`rotate_storage`.
Formerly ``labelbridge.urls``, which still re-exports these names.
"""

from __future__ import annotations

from labelbridge.rotate.rotation import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_CANARY_SIZE,
    IdRange,
    RotationCounts,
    RotationOptions,
    RotationPlan,
    RotationResult,
    UrlRotation,
    plan_id_shards,
    plan_rotation,
    rotate_storage,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CANARY_SIZE",
    "IdRange",
    "RotationCounts",
    "RotationOptions",
    "RotationPlan",
    "RotationResult",
    "UrlRotation",
    "plan_id_shards",
    "plan_rotation",
    "rotate_storage",
]
