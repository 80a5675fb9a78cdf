"""Where exported tasks come from: the labeling DB (streamed) or a Label Studio JSON file (``convert``).

The DB source reads in one REPEATABLE READ, read-only transaction, so the task stream, the CSV
header scan and the count used for verification all see the same snapshot. Tasks stream through a
server-side (named) cursor, ``batch_size`` rows per round trip: memory stays flat at any size.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg import sql

from labelbridge.export.records import MalformedTask, TaskRecord, ls_task, task_from_export_item

_SCHEME_AND_BUCKET = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*/")
_QUERY = re.compile(r"[?#].*$")


def image_relpath(value: Any) -> str | None:
    """The image's path without scheme and bucket (``s3://b/images/a.jpg`` -> ``images/a.jpg``).

    Per-image files mirror it (``labels/images/a.txt``), which is also how YOLO trainers pair
    label files with images. The DB source computes the same in SQL to find duplicates.
    """
    if not isinstance(value, str) or not value:
        return None
    path = _QUERY.sub("", _SCHEME_AND_BUCKET.sub("", value)).lstrip("/")
    return path or None


class TaskSource(Protocol):
    def iter_tasks(self) -> Iterator[TaskRecord | MalformedTask]: ...

    def iter_deleted(self) -> Iterator[tuple[int, str]]: ...

    def csv_keys(self) -> set[str]: ...

    def duplicate_image_paths(self, image_field: str) -> set[str]: ...

    def annotation_count(self) -> int: ...


@dataclass(frozen=True)
class Window:
    """Which changes an export covers: ``since <= updated_at < until``; ``full`` takes every live task."""

    until: datetime
    since: datetime | None = None
    full: bool = False


def _ts(column: str) -> sql.Composable:
    # Label Studio writes UTC timestamps as 2021-03-09T22:16:08.728353Z.
    return sql.SQL("""to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""").format(
        sql.SQL(column)
    )


_IN_WINDOW = sql.SQL(
    """t.project_id = %(project_id)s AND t.deleted_at IS NULL AND (%(full)s OR (
        t.updated_at >= coalesce(%(since)s::timestamptz, '-infinity') AND t.updated_at < %(until)s
        OR EXISTS (SELECT 1 FROM annotation a WHERE a.task_id = t.id
                   AND a.updated_at >= coalesce(%(since)s::timestamptz, '-infinity') AND a.updated_at < %(until)s)
        OR EXISTS (SELECT 1 FROM prediction p WHERE p.task_id = t.id
                   AND p.updated_at >= coalesce(%(since)s::timestamptz, '-infinity') AND p.updated_at < %(until)s)))"""
)

_TASKS = sql.SQL(
    """SELECT t.id, t.data, t.meta, {t_created}, {t_updated},
       coalesce((SELECT jsonb_agg(jsonb_build_array(a.id, a.result, a.completed_by, a.was_cancelled,
                                  a.ground_truth, a.lead_time, a.extra, {a_created}, {a_updated})
                                  ORDER BY a.created_at, a.id)
                 FROM annotation a WHERE a.task_id = t.id), '[]'),
       coalesce((SELECT jsonb_agg(jsonb_build_array(p.id, p.model_version, p.score, p.result,
                                  {p_created}, {p_updated})
                                  ORDER BY p.created_at, p.id)
                 FROM prediction p WHERE p.task_id = t.id), '[]')
    FROM task t WHERE {where} ORDER BY t.id"""
).format(
    t_created=_ts("t.created_at"),
    t_updated=_ts("t.updated_at"),
    a_created=_ts("a.created_at"),
    a_updated=_ts("a.updated_at"),
    p_created=_ts("p.created_at"),
    p_updated=_ts("p.updated_at"),
    where=_IN_WINDOW,
)


class DatabaseSource:
    """Tasks of one project in one window, read inside ``conn``'s open transaction.

    :param conn: a connection the caller opened with :func:`open_snapshot`.
    :param batch_size: rows fetched per round trip of the server-side cursor.
    """

    def __init__(self, conn: psycopg.Connection[Any], project_id: int, window: Window, *, batch_size: int = 2000):
        self.conn = conn
        self.window = window
        self.batch_size = batch_size
        self.params = {
            "project_id": project_id,
            "since": None if window.full else window.since,
            "until": window.until,
            "full": window.full,
        }

    def iter_tasks(self) -> Iterator[TaskRecord | MalformedTask]:
        with self.conn.cursor(name="labelbridge_export_tasks") as cur:
            cur.itersize = self.batch_size
            cur.execute(_TASKS, self.params)
            for task_id, data, meta, created, updated, annotations, predictions in cur:
                yield ls_task(
                    task_id,
                    data=data,
                    meta=meta,
                    annotations=[_annotation(task_id, row) for row in annotations],
                    predictions=[_prediction(task_id, row) for row in predictions],
                    created_at=created,
                    updated_at=updated,
                )

    def iter_deleted(self) -> Iterator[tuple[int, str]]:
        if self.window.full or self.window.since is None:
            return  # a snapshot simply leaves deleted tasks out
        query = sql.SQL(
            "SELECT t.id, {deleted} FROM task t WHERE t.project_id = %(project_id)s"
            " AND t.deleted_at >= %(since)s AND t.deleted_at < %(until)s ORDER BY t.id"
        ).format(deleted=_ts("t.deleted_at"))
        with self.conn.cursor(name="labelbridge_export_deleted") as cur:
            cur.itersize = self.batch_size
            cur.execute(query, self.params)
            yield from ((int(task_id), str(at)) for task_id, at in cur)

    def csv_keys(self) -> set[str]:
        query = sql.SQL(
            """SELECT DISTINCT k FROM (
                 SELECT jsonb_object_keys(t.data) AS k FROM task t
                 WHERE {where} AND jsonb_typeof(t.data) = 'object'
                 UNION ALL
                 SELECT r ->> 'from_name' FROM task t JOIN annotation a ON a.task_id = t.id,
                   jsonb_array_elements(CASE WHEN jsonb_typeof(a.result) = 'array' THEN a.result
                                        ELSE '[]'::jsonb END) AS r
                 WHERE {where} AND NOT a.was_cancelled AND jsonb_typeof(r) = 'object') s
               WHERE k IS NOT NULL"""
        ).format(where=_IN_WINDOW)
        return {str(row[0]) for row in self.conn.execute(query, self.params)}

    def duplicate_image_paths(self, image_field: str) -> set[str]:
        query = sql.SQL(
            r"""SELECT p FROM (
                  SELECT ltrim(regexp_replace(regexp_replace(t.data ->> %(field)s,
                         '^[A-Za-z][A-Za-z0-9+.-]*://[^/]*/', ''), '[?#].*$', ''), '/') AS p
                  FROM task t WHERE {where}) s
                WHERE p IS NOT NULL AND p <> '' GROUP BY p HAVING count(*) > 1"""
        ).format(where=_IN_WINDOW)
        return {str(row[0]) for row in self.conn.execute(query, {**self.params, "field": image_field})}

    def annotation_count(self) -> int:
        query = sql.SQL(
            "SELECT count(*) FROM annotation a JOIN task t ON a.task_id = t.id WHERE {where}"
        ).format(where=_IN_WINDOW)
        row = self.conn.execute(query, self.params).fetchone()
        return int(row[0]) if row else 0


def open_snapshot(dsn: str) -> psycopg.Connection[Any]:
    """A connection in a read-only REPEATABLE READ transaction: one consistent view for a whole run."""
    from labelbridge.db import connect

    conn = connect(dsn)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn


def _annotation(task_id: int, row: list[Any]) -> dict[str, Any]:
    db_id, result, completed_by, cancelled, truth, lead_time, extra, created, updated = row
    extra = extra if isinstance(extra, dict) else {}
    annotation: dict[str, Any] = {
        # Label Studio's own id when the annotation came with one; else ours.
        "id": extra.get("id", db_id),
        "completed_by": _user(completed_by),
        "result": result,
        "was_cancelled": cancelled,
        "ground_truth": truth,
        "created_at": created,
        "updated_at": updated,
        "lead_time": lead_time,
    }
    annotation.update((k, v) for k, v in extra.items() if k not in annotation and k != "task")
    annotation["task"] = task_id
    return annotation


def _prediction(task_id: int, row: list[Any]) -> dict[str, Any]:
    db_id, model_version, score, result, created, updated = row
    return {
        "id": db_id,
        "model_version": model_version,
        "score": score,
        "result": result,
        "created_at": created,
        "updated_at": updated,
        "task": task_id,
    }


def _user(value: str | None) -> int | str | None:
    # Label Studio writes user ids as numbers; keep emails and names as they are.
    return int(value) if value is not None and value.isdigit() else value


class FileSource:
    """A Label Studio JSON export (a list of tasks, one task, or JSON Lines), read lazily with ijson.

    Each pass re-reads the file, so memory stays flat here too.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _items(self) -> Iterator[Any]:
        import ijson

        if self.path.suffix in (".jsonl", ".ndjson"):
            import json

            with self.path.open("rb") as stream:
                for line in stream:
                    if line.strip():
                        yield json.loads(line)
            return
        with self.path.open("rb") as stream:
            head = stream.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
            stream.seek(0)
            prefix = "item" if head.startswith(b"[") else ""
            yield from ijson.items(stream, prefix, use_float=True)

    def iter_tasks(self) -> Iterator[TaskRecord | MalformedTask]:
        for index, item in enumerate(self._items()):
            yield task_from_export_item(item, index)

    def iter_deleted(self) -> Iterator[tuple[int, str]]:
        return iter(())

    def csv_keys(self) -> set[str]:
        keys: set[str] = set()
        for task in self.iter_tasks():
            if isinstance(task, TaskRecord):
                keys.update(task.data)
                for annotation in task.active_annotations():
                    keys.update(str(r["from_name"]) for r in annotation.result if "from_name" in r)
        return keys

    def duplicate_image_paths(self, image_field: str) -> set[str]:
        seen = Counter(
            image_relpath(task.data.get(image_field)) for task in self.iter_tasks() if isinstance(task, TaskRecord)
        )
        return {path for path, count in seen.items() if path is not None and count > 1}

    def annotation_count(self) -> int:
        return sum(
            len(t.annotations) if isinstance(t, TaskRecord) else t.annotations for t in self.iter_tasks()
        )
