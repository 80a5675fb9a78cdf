"""Signed-URL rotation: which URLs to re-sign when, per-cloud caps, credential expiry, IP locks."""

from __future__ import annotations

from labelbridge.urls.rotation import (
    IdRange,
    RotationCounts,
    RotationPlan,
    RotationResult,
    UrlRotation,
    plan_id_shards,
    plan_rotation,
    rotate_storage,
)

__all__ = [
    "IdRange",
    "RotationCounts",
    "RotationPlan",
    "RotationResult",
    "UrlRotation",
    "plan_id_shards",
    "plan_rotation",
    "rotate_storage",
]
