"""What every annotation tool shares: its remote project bound to a labeling project, and the
mapping between labeling-DB tasks and the tool's own task ids (tables ``tool_project`` and
``tool_task``, migration 0007).

A tool module (``label_studio/``, ``labelbox/``; Ground Truth next) subclasses :class:`ToolBinding`
with its name, and uses the named statements here for the task sets every tool works on: tasks not
pushed yet, tasks whose data changed since they were pushed, tasks whose objects vanished, and the
tool's tasks in the order their signed URLs expire; and the annotation writes every pull or
ingest shares (:func:`upsert_annotations`, :func:`delete_gone_annotations`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import psycopg
from psycopg.types.json import Jsonb

#: What a tool's copy of a task is compared on: its canonical data and, in objects mode, the object's
#: version (a rewritten image under the same key updates the tool's task, keeping its annotations).
DATA_HASH = "md5(t.data::text || coalesce(t.object_version, ''))"

_BIND = """
INSERT INTO tool_project (project_id, tool, remote_project) VALUES (%s, %s, %s)
ON CONFLICT (project_id, tool, remote_project) DO UPDATE SET tool = EXCLUDED.tool
RETURNING id, pull_cursor
"""

# A media field is a top-level string holding a canonical URI of one of the project's storages
# (%(heads)s: 's3://bucket/', ...). In signed mode a task goes to the tool only once each such
# field has a live URL: the tool could not show it otherwise.
_HAS_UNSIGNED_MEDIA = """
EXISTS (SELECT 1 FROM jsonb_each_text(t.data) f, unnest(%(heads)s::text[]) h
        WHERE starts_with(f.value, h) AND NOT (v.data ->> f.key) IS DISTINCT FROM f.value)
"""

#: Live tasks the tool has not received, in id order, with their predictions (pre-annotations from
#: task files); ``{ready}`` is TRUE or the signed-mode test.
NOT_PUSHED = """
SELECT t.id, v.data, t.meta, """ + DATA_HASH + """, v.urls_expire_at,
       (SELECT jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                'result', p.result, 'model_version', p.model_version, 'score', p.score)) ORDER BY p.id)
        FROM prediction p WHERE p.task_id = t.id),
       t.uri
FROM task t JOIN task_with_urls v ON v.id = t.id
WHERE t.project_id = %(project_id)s AND t.deleted_at IS NULL AND {ready}
  AND NOT EXISTS (SELECT 1 FROM tool_task m WHERE m.tool_project_id = %(tool_project_id)s AND m.task_id = t.id)
ORDER BY t.id
"""

#: Tasks the tool holds whose canonical data changed since (a rewritten object, an edited task file).
CHANGED = """
SELECT m.remote_id, t.id, v.data, """ + DATA_HASH + """, v.urls_expire_at
FROM tool_task m JOIN task t ON t.id = m.task_id JOIN task_with_urls v ON v.id = t.id
WHERE m.tool_project_id = %(tool_project_id)s AND m.remote_deleted_at IS NULL AND {ready}
  AND m.data_hash <> """ + DATA_HASH + """
ORDER BY t.id
"""

#: Tasks the tool holds whose objects vanished, not yet handled.
VANISHED = """
SELECT m.remote_id, t.id FROM tool_task m JOIN task t ON t.id = m.task_id
WHERE m.tool_project_id = %(tool_project_id)s AND m.remote_deleted_at IS NULL AND m.kept_at IS NULL
  AND t.deleted_at IS NOT NULL
ORDER BY m.remote_id
"""

#: A kept task whose object came back is an ordinary task again.
UNKEEP_RESTORED = """
UPDATE tool_task m SET kept_at = NULL FROM task t
WHERE m.task_id = t.id AND m.tool_project_id = %(tool_project_id)s AND m.kept_at IS NOT NULL
  AND t.deleted_at IS NULL
"""

RECORD_PUSHED = """
INSERT INTO tool_task (tool_project_id, task_id, remote_id, data_hash, urls_expire_at)
SELECT %(tool_project_id)s, b.task_id, b.remote_id, b.data_hash, b.urls_expire_at
FROM unnest(%(task_ids)s::bigint[], %(remote_ids)s::bigint[], %(hashes)s::text[], %(expiries)s::timestamptz[])
     AS b (task_id, remote_id, data_hash, urls_expire_at)
ON CONFLICT (tool_project_id, task_id) DO UPDATE SET
    remote_id = EXCLUDED.remote_id, data_hash = EXCLUDED.data_hash,
    urls_expire_at = EXCLUDED.urls_expire_at, pushed_at = now(), remote_deleted_at = NULL
"""

#: The tool's tasks in the order their URLs expire (the renewal order), from a given position.
BY_EXPIRY = """
SELECT m.remote_id, m.task_id, m.urls_expire_at
FROM tool_task m JOIN task t ON t.id = m.task_id
WHERE m.tool_project_id = %(tool_project_id)s AND m.remote_deleted_at IS NULL
  AND t.deleted_at IS NULL AND m.urls_expire_at IS NOT NULL
ORDER BY m.urls_expire_at, m.task_id
LIMIT %(limit)s
"""


# Annotations from a tool, keyed by the tool's own id; a row is rewritten only when the tool's
# ``updated_at`` (in ``extra``) moved, so re-reading unchanged work writes nothing.
# The batch comes as one JSON document: psycopg adapts a list of Jsonb values element by element
# in Python (0.8 s per 1,000 annotations measured under load), one json.dumps of the whole batch
# is C-fast, and jsonb_to_recordset reads it in one pass.
_UPSERT_ANNOTATIONS = """
INSERT INTO annotation (task_id, origin, origin_key, result, completed_by, was_cancelled, ground_truth,
                        lead_time, extra, created_at, updated_at)
SELECT b.task_id, 'tool', b.key, coalesce(b.result, '[]'), b.completed_by, b.cancelled, b.truth, b.lead_time,
       coalesce(b.extra, '{}'), coalesce(b.created_at, now()), now()
FROM jsonb_to_recordset(%(batch)s::jsonb)
     AS b (task_id bigint, key text, result jsonb, completed_by text, cancelled boolean, truth boolean,
           lead_time float8, extra jsonb, created_at timestamptz)
ON CONFLICT (task_id, origin, origin_key) DO UPDATE SET
    result = EXCLUDED.result, completed_by = EXCLUDED.completed_by, was_cancelled = EXCLUDED.was_cancelled,
    ground_truth = EXCLUDED.ground_truth, lead_time = EXCLUDED.lead_time, extra = EXCLUDED.extra,
    updated_at = now()
WHERE {changed}
RETURNING (xmax = 0)
"""
#: Label Studio's and Labelbox's: any other ``updated_at`` (the tool's server clock is the truth).
MOVED = "annotation.extra ->> 'updated_at' IS DISTINCT FROM EXCLUDED.extra ->> 'updated_at'"
#: Files read in any order (Ground Truth's output manifests): only a newer label, or the same one changed.
NEWER = """(annotation.extra ->> 'updated_at' IS NULL
    OR EXCLUDED.extra ->> 'updated_at' > annotation.extra ->> 'updated_at'
    OR (EXCLUDED.extra ->> 'updated_at' = annotation.extra ->> 'updated_at'
        AND annotation.result <> EXCLUDED.result))"""
# Annotations of these tasks, among the keys one tool owns (a pattern), that it no longer lists.
_DELETE_GONE = """
DELETE FROM annotation a
WHERE a.origin = 'tool' AND a.task_id = ANY(%(task_ids)s) AND a.origin_key ~ %(key_pattern)s
  AND (a.task_id, a.origin_key) NOT IN (SELECT * FROM unnest(%(kept_tasks)s::bigint[], %(kept_keys)s::text[]))
RETURNING a.task_id
"""

#: The columns :func:`upsert_annotations` takes, one list each, aligned.
ANNOTATION_COLUMNS = (
    "task_ids", "keys", "results", "users", "cancelled", "truths", "lead_times", "extras", "created")  # fmt: skip


def upsert_annotations(
    conn: psycopg.Connection[Any], columns: dict[str, list[Any]], *, newer_only: bool = False
) -> tuple[int, int, int]:
    """Write a tool's annotations (``origin = 'tool'``); (created, updated, unchanged). Rows whose
    ``extra.updated_at`` did not move are not written; with ``newer_only``, nor are rows older than
    the stored one (``updated_at`` as ISO text)."""
    if not columns["task_ids"]:
        return 0, 0, 0
    names = ("task_id", "key", "result", "completed_by", "cancelled", "truth", "lead_time", "extra", "created_at")
    batch = [
        dict(zip(names, (v.obj if isinstance(v, Jsonb) else v for v in values), strict=True))
        for values in zip(*(columns[c] for c in ANNOTATION_COLUMNS), strict=True)
    ]
    statement = _UPSERT_ANNOTATIONS.replace("{changed}", NEWER if newer_only else MOVED)
    written = [bool(r[0]) for r in conn.execute(statement, {"batch": json.dumps(batch)}).fetchall()]
    created = sum(written)
    return created, len(written) - created, len(columns["task_ids"]) - len(written)


def delete_gone_annotations(
    conn: psycopg.Connection[Any],
    task_ids: Sequence[int],
    kept_tasks: Sequence[int],
    kept_keys: Sequence[str],
    key_pattern: str,
) -> int:
    """Delete the annotations of ``task_ids`` whose keys match ``key_pattern`` (the tool's own) but
    are not among the kept ones: the tool no longer has them. Their tasks move (an export rewrites
    them). Returns how many went."""
    if not task_ids:
        return 0
    gone = conn.execute(
        _DELETE_GONE,
        {"task_ids": list(task_ids), "kept_tasks": list(kept_tasks), "kept_keys": list(kept_keys),
         "key_pattern": key_pattern},
    ).fetchall()  # fmt: skip
    changed_tasks = sorted({int(r[0]) for r in gone})
    if changed_tasks:
        conn.execute("UPDATE task SET updated_at = now() WHERE id = ANY(%s)", (changed_tasks,))
    return len(gone)


@dataclass(frozen=True)
class ToolProject:
    """A labeling project bound to one remote project of one tool."""

    id: int
    project_id: int
    remote_project: str
    pull_cursor: str | None


class ToolBinding:
    """One tool's side of the mapping: subclasses name the tool (its rows say which)."""

    tool: ClassVar[str]

    @classmethod
    def bind(cls, conn: psycopg.Connection[Any], project_id: int, remote_project: str) -> ToolProject:
        """The binding row of ``project_id`` to ``remote_project``, created on first use."""
        row = conn.execute(_BIND, (project_id, cls.tool, remote_project)).fetchone()
        assert row is not None
        return ToolProject(int(row[0]), project_id, remote_project, row[1])

    @classmethod
    def find(cls, conn: psycopg.Connection[Any], project_id: int, remote_project: str) -> ToolProject | None:
        row = conn.execute(
            "SELECT id, pull_cursor FROM tool_project WHERE project_id = %s AND tool = %s AND remote_project = %s",
            (project_id, cls.tool, remote_project),
        ).fetchone()
        return ToolProject(int(row[0]), project_id, remote_project, row[1]) if row else None


def ready_clause(signed: bool) -> str:
    """What makes a task ready to push: always in ``uri`` mode; in ``signed`` mode, no media field
    still holds a bare URI."""
    return f"NOT {_HAS_UNSIGNED_MEDIA}" if signed else "TRUE"


def record_pushed(
    conn: psycopg.Connection[Any],
    tool_project_id: int,
    rows: Sequence[tuple[int, int, str, datetime | None]],
) -> None:
    """Remember what the tool now holds: (task id, tool's id, data hash, URL expiry) per task."""
    if not rows:
        return
    conn.execute(
        RECORD_PUSHED,
        {
            "tool_project_id": tool_project_id,
            "task_ids": [r[0] for r in rows],
            "remote_ids": [r[1] for r in rows],
            "hashes": [r[2] for r in rows],
            "expiries": [r[3] for r in rows],
        },
    )


def stamp(conn: psycopg.Connection[Any], tool_project_id: int, column: str) -> None:
    """Record when the project was last pushed, renewed or pulled."""
    assert column in ("pushed_at", "renewed_at", "pulled_at")
    conn.execute(f"UPDATE tool_project SET {column} = now() WHERE id = %s", (tool_project_id,))
