"""The old name of :mod:`labelbridge.rotate`, kept so that existing imports keep working.

New code imports from :mod:`labelbridge.rotate`.
"""

from __future__ import annotations

from labelbridge.rotate import (
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
