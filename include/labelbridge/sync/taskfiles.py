"""Task-files mode: each listed object is a Label Studio JSON / JSON Lines file of tasks.

A batch is staged in ``_lb_listed`` and compared with ``source_object``: a file unchanged since
its last sync (same etag, version and size) is not read again, and one still quarantined with the
same etag is skipped. The others are read and parsed (:mod:`labelbridge.sync.taskfile_parser`); a
file that does not parse is quarantined whole, with where and why, and the run goes on. Parsed
tasks are keyed by (project, file URI, index in the file) and written with their annotations and
predictions in batches of ``TASK_BATCH``; tasks past a shrunk file's new end are soft-deleted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from labelbridge.db.bulk import copy_rows, forget_stages, upsert_from_stage
from labelbridge.db.identity import QUARANTINE_CONFLICT, SOURCE_OBJECT_KEY, same_uri
from labelbridge.errors import ObjectNotFound, TaskFileError
from labelbridge.storage import ObjectInfo
from labelbridge.sync.scope import SyncCounts
from labelbridge.sync.taskfile_parser import ParsedTask, origin_key, parse_task_file
from labelbridge.sync.writer import TASK_COLUMNS, ModeWriter

log = logging.getLogger(__name__)

#: Tasks staged before a write when reading task files: bounds memory on pages of big files.
TASK_BATCH = 5000
#: Label Studio annotation keys with columns of their own; the rest is kept verbatim in ``extra``.
_ANNOTATION_KEYS_WITH_COLUMNS = frozenset(
    {"id", "result", "completed_by", "was_cancelled", "ground_truth", "lead_time"}
)

_OBJECT_COLUMNS = ("project_id", "uri", "storage_id", "etag", "size_bytes", "last_modified", "version_id",
                   "deleted_at", "task_count", "synced_at")
_ANNOTATION_STAGE = ("uri", "item_index", "origin_key", "result", "completed_by", "was_cancelled", "ground_truth",
                     "lead_time", "extra")
_ANNOTATION_COLUMNS = ("task_id", "origin", "origin_key", "result", "completed_by", "was_cancelled",
                       "ground_truth", "lead_time", "extra")
_PREDICTION_STAGE = ("uri", "item_index", "origin_key", "model_version", "score", "result")
_PREDICTION_COLUMNS = ("task_id", "origin_key", "model_version", "score", "result")

# Each listed file: (uri, task count if unchanged since its last sync, still quarantined).
# (Rows are found by URI through same_uri(), which the unique indexes on URI keys answer.)
_FILES_TO_READ = f"""
    SELECT l.uri,
           CASE WHEN o.synced_at IS NOT NULL AND o.deleted_at IS NULL
                 AND (o.etag, o.version_id, o.size_bytes) IS NOT DISTINCT FROM
                     (l.etag, l.version_id, l.size_bytes)
                THEN o.task_count END,
           q.etag IS NOT DISTINCT FROM l.etag AND q.id IS NOT NULL
    FROM _lb_listed l
    LEFT JOIN source_object o ON o.project_id = %(project)s AND {same_uri("o.uri", "l.uri")}
    LEFT JOIN quarantine q ON q.storage_id = %(storage)s AND {same_uri("q.uri", "l.uri")}
         AND q.item_index = -1 AND q.resolved_at IS NULL
"""
_STAGED_TASKS = sql.SQL("SELECT {cols} FROM _lb_tasks").format(
    cols=sql.SQL(", ").join(map(sql.Identifier, TASK_COLUMNS))
)
# Tasks past their file's new end (_lb_sizes holds each written file's task count).
_PAST_FILE_END = f"""
    SELECT t.uri, t.item_index FROM task t JOIN _lb_sizes s ON {same_uri("t.uri", "s.uri")}
    WHERE t.project_id = %(project)s AND t.item_index >= s.item_index AND t.deleted_at IS NULL
"""
_SOFT_DELETE_PAST_FILE_END = f"""
    UPDATE task t SET deleted_at = now(), updated_at = now()
    FROM _lb_sizes s
    WHERE t.project_id = %(project)s AND {same_uri("t.uri", "s.uri")} AND t.item_index >= s.item_index
      AND t.deleted_at IS NULL
"""
_RESOLVE_QUARANTINE = f"""
    UPDATE quarantine q SET resolved_at = now()
    FROM _lb_sizes s
    WHERE q.storage_id = %(storage)s AND {same_uri("q.uri", "s.uri")} AND q.resolved_at IS NULL
"""
_QUARANTINE = f"""
    INSERT INTO quarantine (storage_id, uri, item_index, reason, etag)
    VALUES (%s, %s, -1, %s, %s)
    ON CONFLICT ({QUARANTINE_CONFLICT}) DO UPDATE
    SET reason = EXCLUDED.reason, etag = EXCLUDED.etag, last_seen_at = now(), resolved_at = NULL,
        first_seen_at = CASE WHEN quarantine.resolved_at IS NULL THEN quarantine.first_seen_at ELSE now() END
"""
# A stage keyed by (uri, item_index) with the given columns of a table joined to task later.
_CREATE_TASK_KEYED_STAGE = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS {stage} AS "
    "SELECT ''::text AS uri, 0::integer AS item_index, {cols} FROM {like} WITH NO DATA"
)
# The stage's rows with the task id in place of (uri, item_index).
_WITH_TASK_ID = sql.SQL(
    "SELECT t.id, {origin}{cols} FROM {stage} s JOIN task t "
    f"ON t.project_id = {{project}} AND {same_uri('t.uri', 's.uri')} AND t.item_index = s.item_index"
)
_FROM_FILE = sql.SQL("'file', ")
# What a file's content can make PostgreSQL refuse (the parser refuses every class it knows first):
# data exceptions (22), integrity and cardinality violations (23, 21), program limits (54).
# A lost connection or a cancelled query is not among them: that fails the run, as it should.
_REFUSED_BY_THE_DATABASE = (
    psycopg.errors.DataError, psycopg.errors.IntegrityError, psycopg.errors.CardinalityViolation,
    psycopg.errors.ProgramLimitExceeded,
)


@dataclass
class _PendingFiles:
    """Parsed task files waiting for one batched write."""

    objects: list[ObjectInfo] = field(default_factory=list)
    tasks: list[tuple[str, ParsedTask]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tasks)

    def by_file(self, uri: Callable[[str], str]) -> Iterator[tuple[ObjectInfo, list[tuple[str, ParsedTask]]]]:
        """Each file with its tasks (tasks are appended file after file)."""
        tasks_of: dict[str, list[tuple[str, ParsedTask]]] = {}
        for task in self.tasks:
            tasks_of.setdefault(task[0], []).append(task)
        for obj in self.objects:
            yield obj, tasks_of.get(uri(obj.key), [])


class TaskFilesWriter(ModeWriter):
    objects_table = "source_object"
    compares_ranges = False

    def write_staged(self, cur: psycopg.Cursor[Any], page: Sequence[ObjectInfo], counts: SyncCounts) -> None:
        """Read the batch's new and changed files and write their tasks; count the rest as unchanged."""
        by_uri = {self.ctx.store.uri(o.key): o for o in page}
        pending = _PendingFiles()
        files = cur.execute(_FILES_TO_READ, {"project": self.ctx.project_id, "storage": self.ctx.storage_id})
        for uri, task_count, still_quarantined in files.fetchall():
            obj = by_uri[uri]
            if still_quarantined:
                counts.quarantined += 1
                continue
            if task_count is not None:
                counts.unchanged += task_count
                continue
            tasks = self._read(cur, obj, counts)
            if tasks is None:
                continue
            pending.objects.append(obj)
            pending.tasks.extend((uri, task) for task in tasks)
            if len(pending) >= TASK_BATCH:
                self._write_files(cur, pending, counts)
                pending = _PendingFiles()
        if pending.objects:
            self._write_files(cur, pending, counts)

    def _read(self, cur: psycopg.Cursor[Any], obj: ObjectInfo, counts: SyncCounts) -> list[ParsedTask] | None:
        """The file's tasks, or ``None`` when it was quarantined or is gone."""
        try:
            with self.ctx.store.open(obj.key) as stream:
                return parse_task_file(obj.key, stream)
        except TaskFileError as exc:
            counts.quarantined += 1
            self._quarantine(cur, obj, str(exc))
        except ObjectNotFound:
            pass  # deleted since it was listed; the next run's listing soft-deletes its tasks
        return None

    def _quarantine(self, cur: psycopg.Cursor[Any], obj: ObjectInfo, reason: str) -> None:
        uri = self.ctx.store.uri(obj.key)
        log.warning("quarantined %s (etag %s): %s", uri, obj.etag, reason)
        cur.execute(_QUARANTINE, (self.ctx.storage_id, uri, f"{obj.key}: {reason}", obj.etag))

    def _write_files(self, cur: psycopg.Cursor[Any], pending: _PendingFiles, counts: SyncCounts) -> None:
        """Write the batch in one go; if the database refuses it, file by file, quarantining the refused."""
        batch = SyncCounts()
        try:
            with self.ctx.conn.transaction():  # a savepoint: the batch's transaction is open
                self._write_batch(cur, pending, batch)
        except _REFUSED_BY_THE_DATABASE:
            forget_stages(self.ctx.conn)
        else:
            counts.absorb(batch)
            return
        for obj, tasks in pending.by_file(self.ctx.store.uri):
            single, batch = _PendingFiles([obj], tasks), SyncCounts()
            try:
                with self.ctx.conn.transaction():
                    self._write_batch(cur, single, batch)
            except _REFUSED_BY_THE_DATABASE as exc:
                forget_stages(self.ctx.conn)
                counts.quarantined += 1
                # The primary message only: PostgreSQL's detail and context quote the refused value.
                why = exc.diag.message_primary or type(exc).__name__
                self._quarantine(cur, obj, f"the labeling database refused it: {why} (SQLSTATE {exc.sqlstate})")
            else:
                counts.absorb(batch)

    def _write_batch(self, cur: psycopg.Cursor[Any], pending: _PendingFiles, counts: SyncCounts) -> None:
        project_id = self.ctx.project_id
        rows = ((project_id, uri, t.index, json.dumps(t.data), json.dumps(t.meta), None, None)
                for uri, t in pending.tasks)
        copy_rows(cur, "_lb_tasks", "task", TASK_COLUMNS, rows)
        counts.add(self.upsert_tasks(cur, counts, stage="_lb_tasks", tasks=_STAGED_TASKS, compare_version=False))
        self._upsert_annotations(cur, pending.tasks)
        self._upsert_predictions(cur, pending.tasks)
        # A file that shrank: its tasks past the new end are soft-deleted (annotations kept).
        sizes: dict[str, int] = {}
        for uri, task in pending.tasks:
            sizes[uri] = max(sizes.get(uri, 0), task.index + 1)
        for obj in pending.objects:
            sizes.setdefault(self.ctx.store.uri(obj.key), 0)
        copy_rows(cur, "_lb_sizes", "task", ("uri", "item_index"), sizes.items())
        self.ctx.report(cur, "delete", _PAST_FILE_END)
        cur.execute(_SOFT_DELETE_PAST_FILE_END, {"project": project_id})
        counts.deleted += cur.rowcount
        self._upsert_objects(cur, pending.objects, sizes)
        cur.execute(_RESOLVE_QUARANTINE, {"storage": self.ctx.storage_id})

    def _upsert_objects(
        self, cur: psycopg.Cursor[Any], objects: Iterable[ObjectInfo], task_counts: dict[str, int]
    ) -> None:
        """Record task files' facts and how many tasks each held when written (``synced_at``)."""
        uri = self.ctx.store.uri
        rows = (
            (self.ctx.project_id, uri(o.key), self.ctx.storage_id, o.etag, o.size_bytes, o.last_modified,
             o.version_id, None, task_counts[uri(o.key)], "now")
            for o in objects
        )
        copy_rows(cur, "_lb_objects", "source_object", _OBJECT_COLUMNS, rows)
        upsert_from_stage(cur, "_lb_objects", "source_object", columns=_OBJECT_COLUMNS, key=SOURCE_OBJECT_KEY,
                          compare=_OBJECT_COLUMNS[3:])

    def _upsert_annotations(self, cur: psycopg.Cursor[Any], tasks: list[tuple[str, ParsedTask]]) -> None:
        rows = []
        for uri, task in tasks:
            for position, ann in enumerate(task.annotations):
                completed_by = ann.get("completed_by")
                if isinstance(completed_by, dict):  # Label Studio exports the user object
                    completed_by = completed_by.get("email") or completed_by.get("id")
                rows.append((
                    uri, task.index, origin_key(ann, position), json.dumps(ann.get("result", [])),
                    None if completed_by is None else str(completed_by), bool(ann.get("was_cancelled", False)),
                    bool(ann.get("ground_truth", False)), _float(ann.get("lead_time")),
                    json.dumps({k: v for k, v in ann.items() if k not in _ANNOTATION_KEYS_WITH_COLUMNS}),
                ))
        if not rows:
            return
        self._stage_for_task_join(cur, "_lb_annotations", _ANNOTATION_STAGE, rows, like="annotation")
        upsert_from_stage(
            cur, "_lb_annotations", "annotation", columns=_ANNOTATION_COLUMNS, key=["task_id", "origin", "origin_key"],
            compare=_ANNOTATION_COLUMNS[3:], extra_set={"updated_at": sql.SQL("now()")},
            select=self._with_task_id("_lb_annotations", _ANNOTATION_STAGE[2:], origin=_FROM_FILE),
        )

    def _upsert_predictions(self, cur: psycopg.Cursor[Any], tasks: list[tuple[str, ParsedTask]]) -> None:
        rows = [
            (uri, task.index, origin_key(pred, position), None if pred.get("model_version") is None
             else str(pred["model_version"]), _float(pred.get("score")), json.dumps(pred.get("result", [])))
            for uri, task in tasks
            for position, pred in enumerate(task.predictions)
        ]
        if not rows:
            return
        self._stage_for_task_join(cur, "_lb_predictions", _PREDICTION_STAGE, rows, like="prediction")
        upsert_from_stage(
            cur, "_lb_predictions", "prediction", columns=_PREDICTION_COLUMNS, key=["task_id", "origin_key"],
            compare=_PREDICTION_COLUMNS[2:], extra_set={"updated_at": sql.SQL("now()")},
            select=self._with_task_id("_lb_predictions", _PREDICTION_STAGE[2:]),
        )

    def _stage_for_task_join(
        self, cur: psycopg.Cursor[Any], stage: str, columns: Sequence[str], rows: list[tuple[Any, ...]], *, like: str
    ) -> None:
        cur.execute(_CREATE_TASK_KEYED_STAGE.format(
            stage=sql.Identifier(stage), like=sql.Identifier(like),
            cols=sql.SQL(", ").join(map(sql.Identifier, columns[2:])),
        ))
        copy_rows(cur, stage, None, columns, rows)

    def _with_task_id(
        self, stage: str, columns: Sequence[str], *, origin: sql.Composable | None = None
    ) -> sql.Composable:
        return _WITH_TASK_ID.format(
            origin=sql.SQL("") if origin is None else origin,
            cols=sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in columns),
            stage=sql.Identifier(stage),
            project=sql.Literal(self.ctx.project_id),
        )


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
