"""Projects and storages by name: the lookups every job starts with, and their registration by sync.

Config names projects and storages; the database keys rows by id. Sync registers both (it is the
only job that creates them); rotation and export only look a project up and stop when it is
missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg

if TYPE_CHECKING:  # for annotations only: importing the db package stays free of pydantic
    from labelbridge.config import ProjectConfig, StorageConfig

_PROJECT_ID = "SELECT id FROM project WHERE name = %s"
_PROJECT_ROW = "SELECT id, labels FROM project WHERE name = %s"
_STORAGE_ID = "SELECT id FROM storage WHERE name = %s"
# Both upserts leave an unchanged row untouched: no new tuple, no updated_at bump.
_UPSERT_PROJECT = """
    INSERT INTO project (name, title, labels) VALUES (%s, %s, %s)
    ON CONFLICT (name) DO UPDATE SET title = EXCLUDED.title, labels = EXCLUDED.labels
    WHERE (project.title, project.labels) IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.labels)
"""
_UPSERT_STORAGE = """
    INSERT INTO storage (name, project_id, role, cloud, bucket, prefix, mode)
    VALUES (%s, %s, 'source', %s, %s, %s, %s)
    ON CONFLICT (name) DO UPDATE SET project_id = EXCLUDED.project_id, cloud = EXCLUDED.cloud,
        bucket = EXCLUDED.bucket, prefix = EXCLUDED.prefix, mode = EXCLUDED.mode, updated_at = now()
    WHERE (storage.project_id, storage.cloud, storage.bucket, storage.prefix, storage.mode)
          IS DISTINCT FROM (EXCLUDED.project_id, EXCLUDED.cloud, EXCLUDED.bucket, EXCLUDED.prefix,
                            EXCLUDED.mode)
"""


@dataclass(frozen=True)
class ProjectRow:
    id: int
    labels: tuple[str, ...]


def project_id(conn: psycopg.Connection[Any], name: str) -> int | None:
    """The id of the project named ``name``, or ``None`` when no sync registered it yet."""
    row = conn.execute(_PROJECT_ID, (name,)).fetchone()
    return int(row[0]) if row else None


def find_project(conn: psycopg.Connection[Any], name: str) -> ProjectRow | None:
    """The project named ``name`` with its labels, or ``None`` when no sync registered it yet."""
    row = conn.execute(_PROJECT_ROW, (name,)).fetchone()
    if row is None:
        return None
    labels = row[1] if isinstance(row[1], list) else []
    return ProjectRow(int(row[0]), tuple(str(label) for label in labels))


def register_storage(
    conn: psycopg.Connection[Any], storage: StorageConfig, *, project: ProjectConfig
) -> tuple[int, int]:
    """Upsert the project and storage rows by name; returns their ids. Unchanged rows stay untouched.

    Runs in the caller's transaction; the caller commits.
    """
    conn.execute(_UPSERT_PROJECT, (project.name, project.title, json.dumps(list(project.labels))))
    registered_project = project_id(conn, project.name)
    assert registered_project is not None  # upserted just above, in this transaction
    conn.execute(
        _UPSERT_STORAGE,
        (storage.name, registered_project, storage.cloud.value, storage.bucket, storage.prefix, storage.mode.value),
    )
    row = conn.execute(_STORAGE_ID, (storage.name,)).fetchone()
    assert row is not None
    return registered_project, int(row[0])
