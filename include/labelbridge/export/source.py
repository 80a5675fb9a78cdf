"""Where exported tasks come from: the labeling DB (streamed) or a Label Studio JSON file (``convert``).

The DB source reads in one REPEATABLE READ, read-only transaction, so the task stream, the CSV
header scan and the count used for verification all see the same snapshot. Tasks stream through a
server-side (named) cursor, ``batch_size`` rows per round trip: memory stays flat at any size.
"""

from __future__ import annotations

import queue
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg
from msgspec import UNSET
from psycopg import sql

from labelbridge.export._db_records import (
    ANNOTATION_COLUMNS,
    PREDICTION_COLUMNS,
    TASK_COLUMNS,
    ByTask,
    stored_task,
)
from labelbridge.export.records import MalformedTask, TaskRecord, task_from_export_item

# The same two patterns as IMAGE_PATH_SQL, with PostgreSQL's semantics: "." takes newlines, "$" is the end.
_SCHEME_AND_BUCKET = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*/")
_QUERY = re.compile(r"[?#].*\Z", re.DOTALL)


def image_relpath(value: Any) -> str | None:
    """The image's path without scheme and bucket (``s3://b/images/a.jpg`` -> ``images/a.jpg``).

    Per-image files mirror it (``labels/images/a.txt``), which is also how YOLO trainers pair
    label files with images. The DB source computes the same in SQL (:data:`IMAGE_PATH_SQL`).
    """
    if not isinstance(value, str) or not value:
        return None
    # Each pattern needs a character it can be ruled out by; most URIs skip one of the two.
    # A match and a slice: sub() builds its result through the template machinery, once per image.
    scheme_and_bucket = _SCHEME_AND_BUCKET.match(value) if "://" in value else None
    path = value[scheme_and_bucket.end() :] if scheme_and_bucket else value
    if "?" in path or "#" in path:
        path = _QUERY.sub("", path)
    return path.lstrip("/") or None


# image_relpath of task data's ``%(image_field)s`` in SQL: the DB source hands image formats the path
# with each task (PostgreSQL runs on another core than the format) and finds duplicates with it.
IMAGE_PATH_SQL = r"""CASE WHEN jsonb_typeof(t.data -> %(image_field)s) = 'string' THEN nullif(ltrim(regexp_replace(
    regexp_replace(t.data ->> %(image_field)s, '^[A-Za-z][A-Za-z0-9+.-]*://[^/]*/', ''), '[?#].*$', ''), '/'), '')
    END"""


class TaskSource(Protocol):
    def iter_tasks(
        self, *, decode_results: bool = False, image_field: str | None = None, details: bool = True
    ) -> Iterator[TaskRecord | MalformedTask]:
        """Tasks in id order.

        :param decode_results: the format reads every annotation's result.
        :param image_field: the format reads this ``data`` field's image path (a source may compute it ahead).
        :param details: ``False`` when the format reads no more than the image path and, of each
            annotation, its result, annotator and whether it is cancelled, a ground truth and how
            old (the image formats): a source may then leave out ``data``, ``meta``, timestamps.
        """
        ...

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

# A result is usable when it is null or an array of objects, each with a string "type" and, unless a
# relation, an object "value" (records.result_problem). Counting the elements that pass in strict
# mode never lets a bad one through (a missing key is an error there, so the element is not counted);
# only the rows flagged here are decoded in Python, to word the problem.
_RESULT_OK = """CASE jsonb_typeof({col}) WHEN 'null' THEN true
    WHEN 'array' THEN jsonb_array_length({col}) = jsonb_array_length(jsonb_path_query_array({col},
        'strict $[*] ? (@.type() == "object" && @."type".type() == "string"
                        && (@."type" == "relation" || @."value".type() == "object"))'))
    ELSE false END"""

# Label Studio's annotation fields that are columns here; extra keys with these names are dropped
# (``task`` is always the annotation's own task).
_ANNOTATION_KEYS = "'{id,completed_by,result,was_cancelled,ground_truth,created_at,updated_at,lead_time,task}'"

# Three streams in task id order, merged in Python (_db_records.ByTask): one pass over each table instead
# of an aggregate sub-query per task. Each SELECT lists its stream's layout (_db_records.*_COLUMNS).
_NULL = sql.SQL("NULL::text")


def _select(columns: tuple[str, ...], expressions: dict[str, sql.Composable]) -> sql.Composed:
    """A row layout's SELECT list, in its order, from each column's expression."""
    if set(expressions) != set(columns):
        raise ValueError(f"the expressions {sorted(expressions)} do not match the row layout {columns}")
    return sql.SQL(", ").join(expressions[name] for name in columns)


def _tasks_query(*, details: bool) -> sql.Composed:
    # Without details (image formats), the columns no such format reads come back NULL: PostgreSQL
    # renders less and the reader thread, which holds the GIL while it builds rows, parses less.
    columns = _select(TASK_COLUMNS, {
        "id": sql.SQL("t.id"),
        "data_json": sql.SQL("t.data::text") if details else _NULL,
        "data_type": sql.SQL("jsonb_typeof(t.data)"),
        # Not a template: its braces are literal.
        "meta_json": sql.SQL("CASE WHEN jsonb_typeof(t.meta) = 'object' THEN t.meta::text ELSE '{}' END")
        if details else _NULL,
        "created_at": _ts("t.created_at") if details else _NULL,
        "updated_at": _ts("t.updated_at") if details else _NULL,
        "image_path": sql.SQL(IMAGE_PATH_SQL),
    })
    return sql.SQL("SELECT {columns} FROM task t WHERE {where} ORDER BY t.id").format(columns=columns, where=_IN_WINDOW)


def _annotations_query(result_ok: str, *, details: bool = True) -> sql.Composed:
    columns = _select(ANNOTATION_COLUMNS, {
        "task_id": sql.SQL("a.task_id"),
        "id": sql.SQL("a.id"),
        "ls_id_json": sql.SQL(
            "coalesce(CASE WHEN jsonb_typeof(a.extra) = 'object' THEN a.extra -> 'id' END, to_jsonb(a.id))::text"
        ),
        "completed_by": sql.SQL("a.completed_by"),
        "result_json": sql.SQL("a.result::text"),
        "result_ok": sql.SQL(result_ok),
        "was_cancelled": sql.SQL("a.was_cancelled"),
        "skipped": sql.SQL("CASE WHEN jsonb_typeof(a.extra) = 'object' THEN a.extra -> 'skipped' END"),
        "ground_truth": sql.SQL("a.ground_truth"),
        "lead_time": sql.SQL("a.lead_time" if details else "NULL::float8"),
        "extra_json": sql.SQL(
            "CASE WHEN jsonb_typeof(a.extra) = 'object' THEN (a.extra - {keys}::text[])::text ELSE '{{}}' END"
        ).format(keys=sql.SQL(_ANNOTATION_KEYS)) if details else _NULL,
        "created_at": _ts("a.created_at"),
        "updated_at": _ts("a.updated_at") if details else _NULL,
    })
    return sql.SQL(
        "SELECT {columns} FROM annotation a JOIN task t ON t.id = a.task_id WHERE {where} ORDER BY a.task_id"
    ).format(columns=columns, where=_IN_WINDOW)


_TASKS = _tasks_query(details=True)
_TASKS_WITHOUT_DETAILS = _tasks_query(details=False)
_ANNOTATIONS = _annotations_query(_RESULT_OK.format(col="a.result"))
# The check costs PostgreSQL about as much as rendering the result as text. A format that decodes
# every result anyway checks it in Python (_db_records.stored_task); result_ok then comes back NULL.
_ANNOTATIONS_UNCHECKED = _annotations_query("NULL::boolean")
_ANNOTATIONS_UNCHECKED_WITHOUT_DETAILS = _annotations_query("NULL::boolean", details=False)

_PREDICTIONS = sql.SQL(
    "SELECT {columns} FROM prediction p JOIN task t ON t.id = p.task_id WHERE {where} ORDER BY p.task_id"
).format(
    columns=_select(PREDICTION_COLUMNS, {
        "task_id": sql.SQL("p.task_id"),
        "id": sql.SQL("p.id"),
        "model_version": sql.SQL("p.model_version"),
        "score": sql.SQL("p.score"),
        "result_json": sql.SQL("p.result::text"),
        "result_ok": sql.SQL(_RESULT_OK.format(col="p.result")),
        "created_at": _ts("p.created_at"),
        "updated_at": _ts("p.updated_at"),
    }),
    where=_IN_WINDOW,
)


class DatabaseSource:
    """Tasks of one project in one window, read inside ``conn``'s open transaction.

    :param conn: a connection the caller opened with :func:`open_snapshot`.
    :param batch_size: rows fetched per round trip of the server-side cursor.
    :param read_ahead: batches of tasks fetched ahead of the format (see :meth:`iter_tasks`).
    """

    def __init__(
        self, conn: psycopg.Connection[Any], project_id: int, *, window: Window, batch_size: int = 2000,
        read_ahead: int = 2,
    ) -> None:
        self.conn = conn
        self.window = window
        self.batch_size = batch_size
        self.read_ahead = read_ahead
        self.params = {
            "project_id": project_id,
            "since": None if window.full else window.since,
            "until": window.until,
            "full": window.full,
        }

    def iter_tasks(
        self, *, decode_results: bool = False, image_field: str | None = None, details: bool = True
    ) -> Iterator[TaskRecord | MalformedTask]:
        """Tasks in id order; a reader thread fetches the next batches while the format writes these.

        With ``decode_results`` every annotation result is decoded (and checked) here rather than
        checked in SQL: the formats that read results take that work off PostgreSQL. With
        ``image_field``, each task comes with that field's image path, computed in SQL. Without
        ``details`` (and with ``decode_results``), the columns image formats do not read come back NULL.

        PostgreSQL works on a fetch while the thread waits for it, so the server's share (scans,
        rendering jsonb as text) runs on another core beside the formats' Python. The queue holds
        at most ``read_ahead`` batches: memory stays flat.
        """
        batches: queue.Queue[list[tuple[Any, ...]] | BaseException | None] = queue.Queue(maxsize=self.read_ahead)
        stop = threading.Event()
        if not decode_results:
            tasks, annotations = _TASKS, _ANNOTATIONS
        elif details:
            tasks, annotations = _TASKS, _ANNOTATIONS_UNCHECKED
        else:
            tasks, annotations = _TASKS_WITHOUT_DETAILS, _ANNOTATIONS_UNCHECKED_WITHOUT_DETAILS
        reader = threading.Thread(target=self._read, args=(batches, stop, tasks, annotations, image_field),
                                  name="labelbridge-export-read", daemon=True)
        reader.start()
        try:
            while (batch := batches.get()) is not None:
                if isinstance(batch, BaseException):
                    raise batch
                for row, annotations, predictions in batch:
                    yield stored_task(row, annotations, predictions, image_field)
        finally:
            # The reader is the connection's only user until it ends; the caller uses it next.
            stop.set()
            reader.join()

    def _read(
        self,
        batches: queue.Queue[list[tuple[Any, ...]] | BaseException | None],
        stop: threading.Event,
        tasks_query: sql.Composed,
        annotations_query: sql.Composed,
        image_field: str | None,
    ) -> None:
        def hand_over(item: list[tuple[Any, ...]] | BaseException | None) -> bool:
            while not stop.is_set():
                try:
                    batches.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            with (
                self._cursor("labelbridge_export_tasks", tasks_query, {"image_field": image_field}) as tasks,
                self._cursor("labelbridge_export_annotations", annotations_query) as annotation_rows,
                self._cursor("labelbridge_export_predictions", _PREDICTIONS) as prediction_rows,
            ):
                annotations, predictions = ByTask(annotation_rows), ByTask(prediction_rows)
                batch: list[tuple[Any, ...]] = []
                for row in tasks:
                    batch.append((row, annotations.take(row[0]), predictions.take(row[0])))
                    if len(batch) == self.batch_size:
                        if not hand_over(batch):
                            return
                        batch = []
                if batch and not hand_over(batch):
                    return
            hand_over(None)
        except BaseException as exc:  # whatever it is, the consumer raises it
            hand_over(exc)

    @contextmanager
    def _cursor(
        self, name: str, query: sql.Composed, params: dict[str, Any] | None = None
    ) -> Iterator[Iterator[tuple[Any, ...]]]:
        # Named cursors are server-side: each fetch brings batch_size rows; several can be open at once.
        with self.conn.cursor(name=name) as cur:
            cur.itersize = self.batch_size
            cur.execute(query, {**self.params, **(params or {})})
            yield iter(cur)

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
        # OFFSET 0 keeps the sub-query whole: flattened, the path was computed three times per task.
        query = sql.SQL(
            """SELECT p FROM (SELECT {image_path} AS p FROM task t WHERE {where} OFFSET 0) s
                WHERE p IS NOT NULL GROUP BY p HAVING count(*) > 1"""
        ).format(image_path=sql.SQL(IMAGE_PATH_SQL), where=_IN_WINDOW)
        return {str(row[0]) for row in self.conn.execute(query, {**self.params, "image_field": image_field})}

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

    def iter_tasks(
        self, *, decode_results: bool = False, image_field: str | None = None, details: bool = True
    ) -> Iterator[TaskRecord | MalformedTask]:
        # A file's results are decoded (and checked) as it is read, whatever the format; image paths
        # are computed when a format asks (formats.base.FormatWriter.image_name).
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
                    keys.update(str(r.from_name) for r in annotation.result if r.from_name is not UNSET)
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
