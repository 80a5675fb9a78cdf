"""Sync one source storage (or one shard of it) into the labeling database.

The listing is written in batches of a few pages; each batch commits on its own, so a run killed
half-way leaves whole batches and a rerun completes it with the rows a clean run leaves. Tasks
are keyed by (project, object URI, index in file), never by storage. Soft deletes happen only
after the listing completed, and only within what that listing covered.

Objects mode, while the listing comes in byte order (as S3, GCS and Azure list): a batch is
compared with the project's tasks in its key range, read from the unique index; new objects'
tasks are COPYed in, changed ones upserted, unchanged ones not touched, and tasks in the range
the batch lacks are remembered as vanished. Otherwise (task files, a root shard, a listing out of
order): the batch is staged by COPY and upserted set-based, and its URIs remembered as seen; at
the end, what was not seen has vanished.
"""

from __future__ import annotations

import json
import logging
import operator
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from labelbridge.config import ProjectConfig, StorageConfig, SyncMode
from labelbridge.db.bulk import UpsertCounts, copy_into, copy_rows, forget_stages, upsert_from_stage
from labelbridge.errors import ObjectNotFound, QuarantineError, TaskFileError
from labelbridge.storage import ObjectInfo, ObjectStore
from labelbridge.sync.taskfile import ParsedTask, parse_task_file

if TYPE_CHECKING:
    from labelbridge.sync.shards import Shard

log = logging.getLogger(__name__)

#: Tasks staged before a write when reading task files: bounds memory on pages of big files.
TASK_BATCH = 5000
#: Label Studio annotation keys with columns of their own; the rest is kept verbatim in ``extra``.
_ANNOTATION_COLUMNS = frozenset({"id", "result", "completed_by", "was_cancelled", "ground_truth", "lead_time"})
#: Listed objects written (and committed) together: a few listing pages per statement.
WRITE_BATCH = 5000
#: Candidates fetched per round trip when looking for vanished objects.
DELETE_BATCH = 2000
#: Existing tasks read per round trip when comparing a batch with its key range (bounds memory
#: when a large part of the range vanished).
RANGE_FETCH = 20000

ChangeReporter = Callable[[str, str, int], None]
"""Called with (action, uri, item_index) for each would-be change in a dry run."""


@dataclass
class SyncCounts:
    """What one run did; the same numbers go to the DB, the log and XCom."""

    listed: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    restored: int = 0
    quarantined: int = 0
    seconds: float = 0.0

    def add(self, upsert: UpsertCounts) -> None:
        self.inserted += upsert.inserted
        self.updated += upsert.updated
        self.unchanged += upsert.unchanged

    def merge(self, other: SyncCounts) -> SyncCounts:
        """Sum of two runs (shards, scopes); ``seconds`` sums too: worker time, not wall time."""
        return SyncCounts(**{k: v + getattr(other, k) for k, v in asdict(self).items()})

    def as_dict(self) -> dict[str, int | float]:
        values: dict[str, int | float] = asdict(self)
        values["seconds"] = round(self.seconds, 3)
        return values

    def summary(self) -> str:
        return (
            f"listed={self.listed} inserted={self.inserted} updated={self.updated} unchanged={self.unchanged} "
            f"deleted={self.deleted} restored={self.restored} quarantined={self.quarantined} "
            f"in {self.seconds:.1f}s"
        )


@dataclass(frozen=True)
class Scope:
    """The part of a storage one run lists, and so the only part it may soft-delete in.

    :param prefix: list keys under it.
    :param recursive: ``False`` covers only objects directly under ``prefix`` (a root shard).
    """

    prefix: str
    recursive: bool = True


@dataclass
class _Coverage:
    """How much of its scope a listing is known to cover, to find what vanished from it.

    Listings come back in UTF-8 byte order, the order of ``task.uri`` (collation "C"). While
    batches arrive in that order, each covers the URIs after the previous batch's last up to its
    own last, so the tasks in that range it lacks have vanished. From the first batch out of order
    on, or when ranges are not compared at all, listed URIs are remembered as seen instead, and
    everything past ``covered_to`` is checked against them at the end.

    :param head: the URI of the scope's prefix; every URI in scope starts with it.
    """

    head: str
    in_order: bool
    covered_to: str | None = None

    def extends(self, uris: Sequence[str]) -> bool:
        """Whether this batch continues the listing in order; once one does not, none does."""
        if self.in_order and uris:
            in_order = all(map(operator.lt, uris, uris[1:]))
            if in_order and (self.covered_to is None or uris[0] > self.covered_to):
                self.covered_to = uris[-1]
            else:
                self.in_order = False
        return self.in_order


@dataclass
class _PendingFiles:
    """Parsed task files waiting for one batched write."""

    objects: list[ObjectInfo] = field(default_factory=list)
    tasks: list[tuple[str, ParsedTask]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.tasks)


class StorageSync:
    """Sync of one source storage through one store and one DB connection.

    :param exclude_prefixes: keys under these are never tasks (export targets on the same bucket).
    :param dry_run: do everything in one transaction, report changes, then roll back.
    :param on_change: in a dry run, told of each would-be insert, update and delete.
    :param write_batch: objects written and committed together (a run killed half-way keeps
        whole batches; the rerun completes them).
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        store: ObjectStore,
        storage: StorageConfig,
        *,
        project: ProjectConfig | None = None,
        exclude_prefixes: Sequence[str] = (),
        dry_run: bool = False,
        on_change: ChangeReporter | None = None,
        write_batch: int = WRITE_BATCH,
    ) -> None:
        self.conn = conn
        self.write_batch = write_batch
        self.store = store
        self.storage = storage
        self.project = project or ProjectConfig(name=storage.project)
        self.exclude_prefixes = tuple(p for p in exclude_prefixes if p)
        self.dry_run = dry_run
        self.on_change = on_change
        self.project_id = 0
        self.storage_id = 0

    # Public -------------------------------------------------------------------------------

    def run(self, scope: Scope | None = None, *, run_id: str = "manual") -> SyncCounts:
        """List the scope page by page, write its tasks, then soft-delete what vanished from it."""
        scope = scope or Scope(self.storage.prefix)
        started = time.monotonic()
        counts = SyncCounts()
        self.project_id, self.storage_id = register_storage(self.conn, self.project, self.storage)
        run_row = self._start_run(run_id, scope)
        try:
            with self.conn.cursor() as cur:
                # _lb_seen has no index while appended to; it gets one only if it is used at the end.
                cur.execute('CREATE TEMP TABLE IF NOT EXISTS _lb_seen (uri text COLLATE "C")')
                cur.execute('CREATE TEMP TABLE IF NOT EXISTS _lb_gone (uri text COLLATE "C")')
                cur.execute("TRUNCATE _lb_seen, _lb_gone")
                cur.execute("DROP INDEX IF EXISTS _lb_seen_uri")
                # A root shard lists one level: the ranges between its keys hold other shards' objects.
                coverage = _Coverage(
                    self.store.uri(scope.prefix), in_order=self.storage.mode is SyncMode.OBJECTS and scope.recursive
                )
                batch: list[ObjectInfo] = []
                for page in self.store.iter_pages(scope.prefix, recursive=scope.recursive):
                    batch.extend(obj for obj in page if not self._excluded(obj.key))
                    if len(batch) >= self.write_batch:
                        self._write_batch(cur, batch, coverage, counts)
                        batch = []
                if batch:
                    self._write_batch(cur, batch, coverage, counts)
                # Reached only when the listing completed: a partial listing deletes nothing.
                self._soft_delete_vanished(cur, scope, coverage, counts)
            counts.seconds = time.monotonic() - started
            self._finish_run(run_row, "success", counts)
        except BaseException as exc:
            counts.seconds = time.monotonic() - started
            self._rollback()
            self._finish_run(run_row, "failed", counts, error=f"{type(exc).__name__}: {exc}")
            raise
        if self.dry_run:
            self._rollback()
        return counts

    # Pages ----------------------------------------------------------------------------------

    def _write_batch(
        self, cur: psycopg.Cursor[Any], page: list[ObjectInfo], coverage: _Coverage, counts: SyncCounts
    ) -> None:
        """Write a few listing pages' worth of objects and commit them together."""
        counts.listed += len(page)
        uris = [self.store.uri(o.key) for o in page]
        after = coverage.covered_to  # where this batch's range starts, if it extends the coverage
        if coverage.extends(uris):
            self._write_objects_in_range(cur, page, uris, after=after, head=coverage.head, counts=counts)
        else:
            self._stage_listing(cur, page, uris)
            cur.execute("INSERT INTO _lb_seen SELECT uri FROM _lb_listed")
            if self.storage.mode is SyncMode.OBJECTS:
                self._write_object_tasks(cur, counts)
            else:
                self._write_task_files(cur, page, counts)
        self._commit()

    def _stage_listing(self, cur: psycopg.Cursor[Any], objects: Sequence[ObjectInfo], uris: Sequence[str]) -> None:
        copy_rows(
            cur,
            "_lb_listed",
            "source_object",
            ("uri", "etag", "size_bytes", "last_modified", "version_id"),
            ((uri, o.etag, o.size_bytes, o.last_modified, o.version_id) for o, uri in zip(objects, uris, strict=True)),
        )

    def _write_objects_in_range(
        self,
        cur: psycopg.Cursor[Any],
        page: list[ObjectInfo],
        uris: list[str],
        *,
        after: str | None,
        head: str,
        counts: SyncCounts,
    ) -> None:
        """Objects mode, a batch in listing order: write only what differs from the tasks in its range.

        The range runs from ``after`` (the previous batch's last URI, excluded; ``head`` included
        for the first batch) to the batch's last URI.
        """
        listed = set(uris)
        known: dict[str, tuple[str | None, bool, bool]] = {}
        for tasks in self._tasks_in_range(cur, after or head, uris[-1], inclusive=after is None):
            gone = []
            for uri, version, deleted, same_data in tasks:
                if uri in listed:
                    known[uri] = (version, deleted, same_data)
                elif not deleted and self._in_scope(uri):
                    gone.append(uri)
            if gone:
                cur.execute("INSERT INTO _lb_gone SELECT unnest(%s::text[])", (gone,))
        new: list[tuple[ObjectInfo, str, str | None]] = []
        changed: list[tuple[ObjectInfo, str]] = []
        for obj, uri in zip(page, uris, strict=True):
            version = obj.etag if obj.version_id is None else obj.version_id
            task = known.get(uri)
            if task is None:
                new.append((obj, uri, version))
            elif task != (version, False, True):  # another version, soft-deleted, or other data
                changed.append((obj, uri))
        counts.unchanged += len(page) - len(new) - len(changed)
        if new:
            self._insert_new_tasks(cur, new, counts)
        if changed:
            self._stage_listing(cur, [obj for obj, _ in changed], [uri for _, uri in changed])
            self._write_object_tasks(cur, counts)

    def _tasks_in_range(
        self, cur: psycopg.Cursor[Any], low: str, high: str, *, inclusive: bool
    ) -> Iterator[list[tuple[str, str | None, bool, bool]]]:
        """The project's tasks at index 0 from ``low`` to ``high``: (uri, version, deleted, same data).

        Read from the unique index in rounds of RANGE_FETCH, each starting after the last.
        """
        while True:
            query = sql.SQL(
                "SELECT uri, object_version, deleted_at IS NOT NULL,"
                " data = jsonb_build_object(%(field)s::text, uri) AND meta = '{{}}'::jsonb"
                " FROM task WHERE project_id = %(project)s AND item_index = 0"
                " AND uri {op} %(low)s AND uri <= %(high)s ORDER BY uri LIMIT %(limit)s"
            ).format(op=sql.SQL(">=" if inclusive else ">"))
            params = {"field": self.storage.media_field, "project": self.project_id, "low": low, "high": high,
                      "limit": RANGE_FETCH}
            tasks = cur.execute(query, params).fetchall()
            yield tasks
            if len(tasks) < RANGE_FETCH:
                return
            low, inclusive = tasks[-1][0], False

    def _insert_new_tasks(
        self, cur: psycopg.Cursor[Any], new: list[tuple[ObjectInfo, str, str | None]], counts: SyncCounts
    ) -> None:
        """COPY the tasks of objects the index had none for: no conflict check to pay per row."""
        field = json.dumps(self.storage.media_field)
        rows = ((self.project_id, uri, f"{{{field}: {json.dumps(uri)}}}", version) for _, uri, version in new)
        try:
            with self.conn.transaction():  # a savepoint: the batch's transaction is open
                copy_into(cur, "task", ("project_id", "uri", "data", "object_version"), rows)
        except psycopg.errors.UniqueViolation:
            # A sync of another storage on the same bucket wrote some since the range was read.
            self._stage_listing(cur, [obj for obj, _, _ in new], [uri for _, uri, _ in new])
            self._write_object_tasks(cur, counts)
            return
        counts.inserted += len(new)
        if self.on_change is not None:
            for _, uri, _ in new:
                self.on_change("insert", uri, 0)

    def _write_object_tasks(self, cur: psycopg.Cursor[Any], counts: SyncCounts) -> None:
        """Upsert one task per object staged in ``_lb_listed``.

        One task per object, keyed by its URI: the task row itself holds the object's version,
        so no source_object row is needed (that table serves files holding many tasks).
        Tasks are made in SQL from the listing already staged: no per-object Python, no second stage.
        """
        tasks = sql.SQL(
            "SELECT {project}::integer AS project_id, uri, 0 AS item_index,"
            " jsonb_build_object({field}::text, uri) AS data,"
            " '{{}}'::jsonb AS meta, coalesce(version_id, etag) AS object_version, NULL::timestamptz AS deleted_at"
            " FROM _lb_listed"
        ).format(project=sql.Literal(self.project_id), field=sql.Literal(self.storage.media_field))
        counts.add(self._upsert_tasks(cur, counts, stage="_lb_listed", tasks=tasks, compare_version=True))

    def _write_task_files(self, cur: psycopg.Cursor[Any], page: list[ObjectInfo], counts: SyncCounts) -> None:
        by_uri = {self.store.uri(o.key): o for o in page}
        pending = _PendingFiles()
        for uri, task_count, still_quarantined in self._files_to_read(cur):
            obj = by_uri[uri]
            if still_quarantined:
                counts.quarantined += 1
                continue
            if task_count is not None:
                counts.unchanged += task_count
                continue
            try:
                with self.store.open(obj.key) as stream:
                    tasks = parse_task_file(obj.key, stream)
            except TaskFileError as exc:
                counts.quarantined += 1
                self._quarantine(cur, obj, str(exc))
                continue
            except ObjectNotFound:
                # Deleted since it was listed; the next run's listing soft-deletes its tasks.
                continue
            pending.objects.append(obj)
            pending.tasks.extend((uri, task) for task in tasks)
            if len(pending) >= TASK_BATCH:
                self._write_files(cur, pending, counts)
                pending = _PendingFiles()
        if pending.objects:
            self._write_files(cur, pending, counts)

    def _files_to_read(self, cur: psycopg.Cursor[Any]) -> list[tuple[str, int | None, bool]]:
        """Each listed file: (uri, task count if unchanged since its last sync, still quarantined)."""
        return cur.execute(
            """
            SELECT l.uri,
                   CASE WHEN o.synced_at IS NOT NULL AND o.deleted_at IS NULL
                         AND (o.etag, o.version_id, o.size_bytes) IS NOT DISTINCT FROM
                             (l.etag, l.version_id, l.size_bytes)
                        THEN o.task_count END,
                   q.etag IS NOT DISTINCT FROM l.etag AND q.id IS NOT NULL
            FROM _lb_listed l
            LEFT JOIN source_object o ON o.project_id = %(project)s AND o.uri = l.uri
            LEFT JOIN quarantine q ON q.storage_id = %(storage)s AND q.uri = l.uri
                 AND q.item_index = -1 AND q.resolved_at IS NULL
            """,
            {"project": self.project_id, "storage": self.storage_id},
        ).fetchall()

    def _write_files(self, cur: psycopg.Cursor[Any], pending: _PendingFiles, counts: SyncCounts) -> None:
        self._stage_tasks(
            cur, ((uri, t.index, json.dumps(t.data), json.dumps(t.meta), None) for uri, t in pending.tasks)
        )
        columns = sql.SQL(", ").join(map(sql.Identifier, self._TASK_COLUMNS))
        tasks = sql.SQL("SELECT {cols} FROM _lb_tasks").format(cols=columns)
        counts.add(self._upsert_tasks(cur, counts, stage="_lb_tasks", tasks=tasks, compare_version=False))
        self._upsert_annotations(cur, pending.tasks)
        self._upsert_predictions(cur, pending.tasks)
        # A file that shrank: its tasks past the new end are soft-deleted (annotations kept).
        sizes: dict[str, int] = {}
        for uri, task in pending.tasks:
            sizes[uri] = max(sizes.get(uri, 0), task.index + 1)
        for obj in pending.objects:
            sizes.setdefault(self.store.uri(obj.key), 0)
        copy_rows(cur, "_lb_sizes", "task", ("uri", "item_index"), sizes.items())
        self._report(cur, "delete", """
            SELECT t.uri, t.item_index FROM task t JOIN _lb_sizes s ON t.uri = s.uri
            WHERE t.project_id = %(project)s AND t.item_index >= s.item_index AND t.deleted_at IS NULL""")
        cur.execute(
            """
            UPDATE task t SET deleted_at = now(), updated_at = now()
            FROM _lb_sizes s
            WHERE t.project_id = %(project)s AND t.uri = s.uri AND t.item_index >= s.item_index
              AND t.deleted_at IS NULL
            """,
            {"project": self.project_id},
        )
        counts.deleted += cur.rowcount
        self._upsert_objects(cur, pending.objects, sizes)
        cur.execute(
            """
            UPDATE quarantine q SET resolved_at = now()
            FROM _lb_sizes s
            WHERE q.storage_id = %(storage)s AND q.uri = s.uri AND q.resolved_at IS NULL
            """,
            {"storage": self.storage_id},
        )

    # Writes -----------------------------------------------------------------------------

    def _upsert_objects(
        self, cur: psycopg.Cursor[Any], objects: Iterable[ObjectInfo], task_counts: dict[str, int]
    ) -> None:
        """Record task files' facts and how many tasks each held when written (``synced_at``)."""
        columns = ["project_id", "uri", "storage_id", "etag", "size_bytes", "last_modified", "version_id",
                   "deleted_at", "task_count", "synced_at"]
        rows = (
            (self.project_id, self.store.uri(o.key), self.storage_id, o.etag, o.size_bytes, o.last_modified,
             o.version_id, None, task_counts[self.store.uri(o.key)], "now")
            for o in objects
        )
        copy_rows(cur, "_lb_objects", "source_object", columns, rows)
        upsert_from_stage(cur, "_lb_objects", "source_object", columns=columns, key=["project_id", "uri"],
                          compare=columns[3:])

    _TASK_COLUMNS = ("project_id", "uri", "item_index", "data", "meta", "object_version", "deleted_at")

    def _stage_tasks(self, cur: psycopg.Cursor[Any], rows: Iterable[tuple[str, int, str, str, str | None]]) -> None:
        """(Re)fill the task stage with (uri, index, data, meta, object_version) rows."""
        copy_rows(cur, "_lb_tasks", "task", self._TASK_COLUMNS, ((self.project_id, *row, None) for row in rows))

    def _upsert_tasks(
        self, cur: psycopg.Cursor[Any], counts: SyncCounts, *, stage: str, tasks: sql.Composable, compare_version: bool
    ) -> UpsertCounts:
        """Upsert the tasks ``tasks`` selects (one per row of ``stage``); a soft-deleted one is restored."""
        columns = list(self._TASK_COLUMNS)
        join = sql.SQL(
            "({tasks}) s {kind} JOIN task t"
            " ON t.project_id = s.project_id AND t.uri = s.uri AND t.item_index = s.item_index"
        )
        if self._project_has_deleted_tasks(cur):
            query = sql.SQL("SELECT count(*) FROM {join} WHERE t.deleted_at IS NOT NULL").format(
                join=join.format(tasks=tasks, kind=sql.SQL(""))
            )
            counts.restored += cur.execute(query).fetchone()[0]  # type: ignore[index]
        compare = ["data", "meta", "deleted_at"] + (["object_version"] if compare_version else [])
        if self.on_change is not None:
            self._report(cur, "insert", sql.SQL("SELECT s.uri, s.item_index FROM {join} WHERE t.id IS NULL").format(
                join=join.format(tasks=tasks, kind=sql.SQL("LEFT"))))
            changed = sql.SQL("({old}) IS DISTINCT FROM ({new})").format(
                old=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in compare),
                new=sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in compare),
            )
            self._report(cur, "update", sql.SQL("SELECT s.uri, s.item_index FROM {join} WHERE {changed}").format(
                join=join.format(tasks=tasks, kind=sql.SQL("")), changed=changed))
        return upsert_from_stage(
            cur, stage, "task", columns=columns, key=["project_id", "uri", "item_index"], compare=compare,
            extra_set={"updated_at": sql.SQL("now()")}, select=tasks,
        )

    def _project_has_deleted_tasks(self, cur: psycopg.Cursor[Any]) -> bool:
        # Answered by a partial index; most runs have nothing to restore and skip the join.
        row = cur.execute(
            "SELECT EXISTS (SELECT 1 FROM task WHERE project_id = %s AND deleted_at IS NOT NULL)", (self.project_id,)
        ).fetchone()
        return bool(row and row[0])

    def _upsert_annotations(self, cur: psycopg.Cursor[Any], tasks: list[tuple[str, ParsedTask]]) -> None:
        rows = []
        for uri, task in tasks:
            for position, ann in enumerate(task.annotations):
                completed_by = ann.get("completed_by")
                if isinstance(completed_by, dict):  # Label Studio exports the user object
                    completed_by = completed_by.get("email") or completed_by.get("id")
                rows.append((
                    uri, task.index, _origin_key(ann, position), json.dumps(ann.get("result", [])),
                    None if completed_by is None else str(completed_by), bool(ann.get("was_cancelled", False)),
                    bool(ann.get("ground_truth", False)), _float(ann.get("lead_time")),
                    json.dumps({k: v for k, v in ann.items() if k not in _ANNOTATION_COLUMNS}),
                ))
        if not rows:
            return
        stage_cols = ("uri", "item_index", "origin_key", "result", "completed_by", "was_cancelled",
                      "ground_truth", "lead_time", "extra")
        self._stage_for_task_join(cur, "_lb_annotations", stage_cols, rows, like="annotation")
        columns = ["task_id", "origin", "origin_key", "result", "completed_by", "was_cancelled", "ground_truth",
                   "lead_time", "extra"]
        upsert_from_stage(
            cur, "_lb_annotations", "annotation", columns=columns, key=["task_id", "origin", "origin_key"],
            compare=columns[3:], extra_set={"updated_at": sql.SQL("now()")},
            select=self._task_join("_lb_annotations", "'file'", stage_cols[2:]),
        )

    def _upsert_predictions(self, cur: psycopg.Cursor[Any], tasks: list[tuple[str, ParsedTask]]) -> None:
        rows = [
            (uri, task.index, _origin_key(pred, position), None if pred.get("model_version") is None
             else str(pred["model_version"]), _float(pred.get("score")), json.dumps(pred.get("result", [])))
            for uri, task in tasks
            for position, pred in enumerate(task.predictions)
        ]
        if not rows:
            return
        stage_cols = ("uri", "item_index", "origin_key", "model_version", "score", "result")
        self._stage_for_task_join(cur, "_lb_predictions", stage_cols, rows, like="prediction")
        columns = ["task_id", "origin_key", "model_version", "score", "result"]
        upsert_from_stage(
            cur, "_lb_predictions", "prediction", columns=columns, key=["task_id", "origin_key"],
            compare=columns[2:], extra_set={"updated_at": sql.SQL("now()")},
            select=self._task_join("_lb_predictions", None, stage_cols[2:]),
        )

    def _stage_for_task_join(
        self, cur: psycopg.Cursor[Any], stage: str, columns: Sequence[str], rows: list[tuple[Any, ...]], *, like: str
    ) -> None:
        cur.execute(sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} AS "
            "SELECT ''::text AS uri, 0::integer AS item_index, {cols} FROM {like} WITH NO DATA"
        ).format(stage=sql.Identifier(stage), like=sql.Identifier(like),
                 cols=sql.SQL(", ").join(map(sql.Identifier, columns[2:]))))
        copy_rows(cur, stage, None, columns, rows)

    def _task_join(self, stage: str, origin: str | None, columns: Sequence[str]) -> sql.Composable:
        picked = sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in columns)
        return sql.SQL(
            "SELECT t.id, {origin}{cols} FROM {stage} s JOIN task t "
            "ON t.project_id = {project} AND t.uri = s.uri AND t.item_index = s.item_index"
        ).format(
            origin=sql.SQL(origin + ", ") if origin else sql.SQL(""),
            cols=picked, stage=sql.Identifier(stage), project=sql.Literal(self.project_id),
        )

    def _quarantine(self, cur: psycopg.Cursor[Any], obj: ObjectInfo, reason: str) -> None:
        uri = self.store.uri(obj.key)
        log.warning("quarantined %s (etag %s): %s", uri, obj.etag, reason)
        cur.execute(
            """
            INSERT INTO quarantine (storage_id, uri, item_index, reason, etag)
            VALUES (%s, %s, -1, %s, %s)
            ON CONFLICT (storage_id, uri, item_index) DO UPDATE
            SET reason = EXCLUDED.reason, etag = EXCLUDED.etag, last_seen_at = now(), resolved_at = NULL,
                first_seen_at = CASE WHEN quarantine.resolved_at IS NULL THEN quarantine.first_seen_at ELSE now() END
            """,
            (self.storage_id, uri, f"{obj.key}: {reason}", obj.etag),
        )

    # Deletions ----------------------------------------------------------------------------

    def _soft_delete_vanished(
        self, cur: psycopg.Cursor[Any], scope: Scope, coverage: _Coverage, counts: SyncCounts
    ) -> None:
        """Soft-delete tasks of objects in scope that this (complete) listing did not return.

        They are the tasks remembered as gone from the ranges the listing covered in order, and
        those past the last of them that were not seen.
        """
        unseen = ""
        if not coverage.in_order:
            # Indexed once, here, rather than on every append; with it the anti-join stays fast
            # whatever the planner believes about freshly written tables.
            cur.execute("CREATE INDEX _lb_seen_uri ON _lb_seen (uri)")
            cur.execute("ANALYZE _lb_seen")
            unseen = "WHERE NOT EXISTS (SELECT 1 FROM _lb_seen s WHERE s.uri = c.uri)"
        level = "" if scope.recursive else "AND strpos(substr(o.uri, %(cut)s), '/') = 0"
        past = "" if coverage.covered_to is None else "AND o.uri > %(covered_to)s"
        self._delete_objects(
            cur,
            f"""
            SELECT c.uri FROM (
                SELECT uri FROM _lb_gone
                UNION ALL
                SELECT o.uri FROM {self._objects_table} o
                WHERE o.project_id = %(project)s AND o.deleted_at IS NULL AND o.uri LIKE %(like)s {level} {past}
            ) c {unseen}
            """,
            {"project": self.project_id, "like": _like_prefix(coverage.head), "cut": len(coverage.head) + 1,
             "covered_to": coverage.covered_to},
            keep=self._in_scope,
            counts=counts,
        )

    def soft_delete_outside(self, covered: Sequence[str], *, root: str) -> SyncCounts:
        """After a sharded sync: soft-delete objects in sub-folders of ``root`` no shard covered.

        Shards list the folders that exist; a folder deleted whole is in none of them, so
        its tasks are found here. Call only when every shard's listing completed.
        """
        counts = SyncCounts()
        self.project_id, self.storage_id = register_storage(self.conn, self.project, self.storage)
        covered_prefixes = tuple(covered)

        def orphaned(uri: str) -> bool:
            if not self._in_scope(uri):
                return False
            key = self.store.key_from_uri(uri)
            in_folder = "/" in key[len(root) :]
            return in_folder and not key.startswith(covered_prefixes)

        with self.conn.cursor() as cur:
            self._delete_objects(
                cur,
                f"SELECT o.uri FROM {self._objects_table} o "
                "WHERE o.project_id = %(project)s AND o.deleted_at IS NULL AND o.uri LIKE %(like)s",
                {"project": self.project_id, "like": _like_prefix(self.store.uri(root))},
                keep=orphaned,
                counts=counts,
            )
        if self.dry_run:
            self._rollback()
        return counts

    @property
    def _objects_table(self) -> str:
        """Where this mode keeps one row per object: tasks themselves in objects mode."""
        return "task" if self.storage.mode is SyncMode.OBJECTS else "source_object"

    def _delete_objects(
        self,
        cur: psycopg.Cursor[Any],
        query: str,
        params: dict[str, Any],
        *,
        keep: Callable[[str], bool],
        counts: SyncCounts,
    ) -> None:
        # A server-side cursor: a prefix that vanished whole is streamed, not loaded. Cursors are
        # planned for their first rows (a nested loop over the seen list); we read them all.
        cur.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        with self.conn.cursor(name="lb_vanished") as candidates:
            candidates.execute(query, params)
            while batch := candidates.fetchmany(DELETE_BATCH):
                # Another storage of the project may share the prefix with another key pattern:
                # only objects this storage would have listed are ours to delete.
                gone = [uri for (uri,) in batch if keep(uri)]
                if not gone:
                    continue
                self._report_many("delete", cur, gone)
                cur.execute(
                    "UPDATE task SET deleted_at = now(), updated_at = now() "
                    "WHERE project_id = %s AND uri = ANY(%s) AND deleted_at IS NULL",
                    (self.project_id, gone),
                )
                counts.deleted += cur.rowcount
                cur.execute(
                    "UPDATE source_object SET deleted_at = now() WHERE project_id = %s AND uri = ANY(%s)",
                    (self.project_id, gone),
                )
        self._commit()

    def _in_scope(self, uri: str) -> bool:
        try:
            key = self.store.key_from_uri(uri)
        except ValueError:
            return False
        return self.store.wants(key) and not self._excluded(key)

    def _excluded(self, key: str) -> bool:
        return key.startswith(self.exclude_prefixes) if self.exclude_prefixes else False

    # Bookkeeping ----------------------------------------------------------------------------

    def _start_run(self, run_id: str, scope: Scope) -> int:
        row = self.conn.execute(
            "INSERT INTO sync_run (storage_id, run_id, prefix) VALUES (%s, %s, %s) RETURNING id",
            (self.storage_id, run_id, scope.prefix + ("" if scope.recursive else " (this level only)")),
        ).fetchone()
        self._commit()
        assert row is not None
        return int(row[0])

    def _finish_run(self, run_row: int, status: str, counts: SyncCounts, *, error: str | None = None) -> None:
        if self.dry_run:
            return
        self.conn.execute(
            """
            UPDATE sync_run SET status = %s, finished_at = now(), listed = %s, inserted = %s, updated = %s,
                   unchanged = %s, deleted = %s, restored = %s, quarantined = %s, error = %s
            WHERE id = %s
            """,
            (status, counts.listed, counts.inserted, counts.updated, counts.unchanged, counts.deleted,
             counts.restored, counts.quarantined, error, run_row),
        )
        self.conn.commit()

    def _commit(self) -> None:
        if not self.dry_run:
            self.conn.commit()

    def _rollback(self) -> None:
        self.conn.rollback()
        forget_stages(self.conn)

    def _report(self, cur: psycopg.Cursor[Any], action: str, query: str | sql.SQL | sql.Composed) -> None:
        if self.on_change is None:
            return
        for uri, index in cur.execute(query, {"project": self.project_id}).fetchall():
            self.on_change(action, uri, index)

    def _report_many(self, action: str, cur: psycopg.Cursor[Any], uris: list[str]) -> None:
        if self.on_change is None:
            return
        rows = cur.execute(
            "SELECT uri, item_index FROM task WHERE project_id = %s AND uri = ANY(%s) AND deleted_at IS NULL "
            "ORDER BY uri, item_index",
            (self.project_id, uris),
        ).fetchall()
        for uri, index in rows:
            self.on_change(action, uri, index)


def register_storage(
    conn: psycopg.Connection[Any], project: ProjectConfig, storage: StorageConfig
) -> tuple[int, int]:
    """Upsert the project and storage rows by name; returns their ids. Unchanged rows stay untouched."""
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO project (name, title, labels) VALUES (%s, %s, %s)
            ON CONFLICT (name) DO UPDATE SET title = EXCLUDED.title, labels = EXCLUDED.labels
            WHERE (project.title, project.labels) IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.labels)
            """,
            (project.name, project.title, json.dumps(list(project.labels))),
        )
        project_id = cur.execute("SELECT id FROM project WHERE name = %s", (project.name,)).fetchone()[0]  # type: ignore[index]
        values = (project_id, storage.cloud.value, storage.bucket, storage.prefix, storage.mode.value)
        cur.execute(
            """
            INSERT INTO storage (name, project_id, role, cloud, bucket, prefix, mode)
            VALUES (%s, %s, 'source', %s, %s, %s, %s)
            ON CONFLICT (name) DO UPDATE SET project_id = EXCLUDED.project_id, cloud = EXCLUDED.cloud,
                bucket = EXCLUDED.bucket, prefix = EXCLUDED.prefix, mode = EXCLUDED.mode, updated_at = now()
            WHERE (storage.project_id, storage.cloud, storage.bucket, storage.prefix, storage.mode)
                  IS DISTINCT FROM (EXCLUDED.project_id, EXCLUDED.cloud, EXCLUDED.bucket, EXCLUDED.prefix,
                                    EXCLUDED.mode)
            """,
            (storage.name, *values),
        )
        storage_id = cur.execute("SELECT id FROM storage WHERE name = %s", (storage.name,)).fetchone()[0]  # type: ignore[index]
    return int(project_id), int(storage_id)


def _origin_key(item: dict[str, Any], position: int) -> str:
    # Label Studio ids survive reordering inside the file; positions are the fallback.
    return f"id:{item['id']}" if item.get("id") is not None else f"pos:{position}"


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def sync_storage(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    storage: StorageConfig,
    *,
    project: ProjectConfig | None = None,
    exclude_prefixes: Sequence[str] = (),
    prefix: str | None = None,
    shard: Shard | None = None,
    run_id: str = "manual",
    dry_run: bool = False,
    on_change: ChangeReporter | None = None,
) -> SyncCounts:
    """Sync a storage: its whole prefix (or ``prefix``, e.g. a rendered date partition), or one shard."""
    job = StorageSync(
        conn, store, storage, project=project, exclude_prefixes=exclude_prefixes, dry_run=dry_run, on_change=on_change
    )
    if shard is None:
        return job.run(Scope(storage.prefix if prefix is None else prefix), run_id=run_id)
    total = SyncCounts()
    for scope in shard.scopes():
        total = total.merge(job.run(scope, run_id=run_id))
    return total


def quarantine_gate(storage: StorageConfig, run_counts: Iterable[dict[str, Any]]) -> int:
    """Fail a run that quarantined files, so it shows red in the UI without reading logs.

    :returns: the number quarantined (0, or any number when the storage only warns).
    :raises QuarantineError: when files were quarantined and ``fail_on_quarantine`` is set.
    """
    total = sum(int(counts.get("quarantined", 0)) for counts in run_counts)
    if total and storage.fail_on_quarantine:
        raise QuarantineError(
            f"storage {storage.name!r}: {total} task file(s) quarantined by this run; everything else synced. "
            f"See where and why with `labelbridge quarantine list {storage.name}`; a fixed file is picked up "
            f"by the next run. Set fail_on_quarantine: false on the storage to only warn."
        )
    if total:
        log.warning("storage %s: %d task file(s) quarantined", storage.name, total)
    return total
