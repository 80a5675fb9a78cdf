"""The labeling database: schema migrations, connections, batched writes and project lookups."""

from __future__ import annotations

from labelbridge.db.bulk import UpsertCounts, copy_rows, upsert_from_stage
from labelbridge.db.connection import connect, current_revision, upgrade
from labelbridge.db.projects import ProjectRow, find_project, project_id, register_storage

__all__ = [
    "ProjectRow", "UpsertCounts", "connect", "copy_rows", "current_revision", "find_project", "project_id",
    "register_storage", "upgrade", "upsert_from_stage",
]
