"""The labeling database: schema migrations, connections and batched writes."""

from __future__ import annotations

from labelbridge.db.bulk import UpsertCounts, copy_rows, upsert_from_stage
from labelbridge.db.connection import connect, current_revision, upgrade

__all__ = ["UpsertCounts", "connect", "copy_rows", "current_revision", "upgrade", "upsert_from_stage"]
