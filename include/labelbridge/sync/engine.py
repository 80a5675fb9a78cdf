"""The sync run loop: one source storage (or one shard of it) into the labeling database.

The listing is written in batches of a few pages; each batch commits on its own, so a run killed
half-way leaves whole batches and a rerun completes it with the rows a clean run leaves. Tasks
are keyed by (project, object URI, index in file), never by storage. Soft deletes happen only
after the listing completed, and only within what that listing covered.

What a batch becomes is the storage's mode's business: :data:`WRITERS` picks its
:class:`~labelbridge.sync.writer.ModeWriter` once. While the listing comes in byte order and the
writer compares ranges (objects mode), each batch is compared with the tasks in its key range.
Otherwise (task files, a root shard, a listing out of order) the batch is staged in
``_lb_listed`` and its URIs remembered as seen; at the end, what was not seen has vanished
(:mod:`labelbridge.sync.vanished`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Sequence
from contextlib import closing
from typing import Any

import psycopg

from labelbridge.config import ProjectConfig, StorageConfig, SyncMode
from labelbridge.db import connect
from labelbridge.db.bulk import forget_stages
from labelbridge.db.projects import register_storage
from labelbridge.db.runs import mark_abandoned, release_lease, take_lease
from labelbridge.progress import NO_PROGRESS, Progress
from labelbridge.storage import ObjectInfo, ObjectStore
from labelbridge.storage.columns import ObjectColumns
from labelbridge.sync.context import ChangeReporter, SyncContext
from labelbridge.sync.objects import ObjectsWriter
from labelbridge.sync.prefetch import PREFETCH_PAGES, prefetched
from labelbridge.sync.scope import Coverage, Scope, SyncCounts
from labelbridge.sync.shards import Shard
from labelbridge.sync.sources import ListingSource, PageSource
from labelbridge.sync.taskfiles import TaskFilesWriter
from labelbridge.sync.vanished import soft_delete_outside, soft_delete_vanished
from labelbridge.sync.writer import ModeWriter

log = logging.getLogger(__name__)

#: Listed objects written (and committed) together: a few listing pages per statement.
WRITE_BATCH = 5000

#: The writer of each sync mode; a new mode adds its writer here.
WRITERS: dict[SyncMode, type[ModeWriter]] = {
    SyncMode.OBJECTS: ObjectsWriter,
    SyncMode.TASK_FILES: TaskFilesWriter,
}

_PREPARE_RUN = (
    # _lb_seen has no index while appended to; it gets one only if it is used at the end.
    'CREATE TEMP TABLE IF NOT EXISTS _lb_seen (uri text COLLATE "C")',
    'CREATE TEMP TABLE IF NOT EXISTS _lb_gone (uri text COLLATE "C")',
    "TRUNCATE _lb_seen, _lb_gone",
    "DROP INDEX IF EXISTS _lb_seen_uri",
)
_REMEMBER_SEEN = "INSERT INTO _lb_seen SELECT uri FROM _lb_listed"
_START_RUN = (
    "INSERT INTO sync_run (storage_id, run_id, prefix, last_seen_at) VALUES (%s, %s, %s, now()) RETURNING id"
)
_OTHERS_RUNNING = "SELECT id FROM sync_run WHERE storage_id = %s AND status = 'running' AND id <> %s ORDER BY id"
# With each batch's commit: the row then says exactly what the committed batches did.
_PROGRESS = """
    UPDATE sync_run SET last_seen_at = now(), listed = %s, inserted = %s, updated = %s, unchanged = %s,
           deleted = %s, restored = %s, quarantined = %s
    WHERE id = %s
"""
_FINISH_RUN = """
    UPDATE sync_run SET status = %s, finished_at = now(), listed = %s, inserted = %s, updated = %s,
           unchanged = %s, deleted = %s, restored = %s, quarantined = %s, error = %s
    WHERE id = %s
"""


class StorageSync:
    """Sync of one source storage through one store and one DB connection.

    :param exclude_prefixes: keys under these are never tasks (export targets on the same bucket).
    :param dry_run: do everything in one transaction, report changes, then roll back.
    :param on_change: in a dry run, told of each would-be insert, update and delete.
    :param write_batch: objects written and committed together (a run killed half-way keeps
        whole batches; the rerun completes them).
    :param progress: advanced by each batch's listed objects once it is written (the CLI's live line).
    :param source: where the pages come from (default: the store's listing; or an inventory
        report, :class:`~labelbridge.sync.sources.InventorySource`).
    :param prefetch_pages: listing pages fetched ahead while a batch is written (0: none, no thread).
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
        progress: Progress = NO_PROGRESS,
        source: PageSource | None = None,
        prefetch_pages: int = PREFETCH_PAGES,
    ) -> None:
        self.conn = conn
        self.progress = progress
        self.source: PageSource = source or ListingSource(store)
        self.write_batch = write_batch
        self.prefetch_pages = prefetch_pages
        self.store = store
        self.storage = storage
        self.project = project or ProjectConfig(name=storage.project)
        self.exclude_prefixes = tuple(p for p in exclude_prefixes if p)
        self.dry_run = dry_run
        self.on_change = on_change
        self.writer_class = WRITERS[storage.mode]
        self.project_id = 0
        self.storage_id = 0
        self.run_row = 0

    def run(self, scope: Scope | None = None, *, run_id: str = "manual") -> SyncCounts:
        """List the scope page by page, write its tasks, then soft-delete what vanished from it."""
        scope = scope or Scope(self.storage.prefix)
        started = time.monotonic()
        counts = SyncCounts()
        ctx = self._register()
        writer = self.writer_class(ctx)
        run_row = self.run_row = self._start_run(run_id, scope)
        try:
            with self.conn.cursor() as cur:
                for statement in _PREPARE_RUN:
                    cur.execute(statement)
                # A root shard lists one level: the ranges between its keys hold other shards' objects.
                coverage = Coverage(
                    self.store.uri(scope.prefix), in_order=writer.compares_ranges and scope.recursive
                )
                # Closed at once if a batch fails: the prefetching thread stops and is joined.
                with closing(self._batches(ctx, scope)) as batches:
                    for batch in batches:
                        self._write_batch(writer, cur, batch, coverage, counts)
                # Reached only when the listing completed: a partial listing deletes nothing.
                soft_delete_vanished(
                    ctx, cur, objects_table=writer.objects_table, scope=scope, coverage=coverage, counts=counts,
                    as_of=self.source.as_of,
                )
                counts.source = self.source.describe
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

    def soft_delete_outside(self, covered: Sequence[str], *, root: str) -> SyncCounts:
        """After a sharded sync: soft-delete objects in sub-folders of ``root`` no shard covered.

        Shards list the folders that exist; a folder deleted whole is in none of them, so
        its tasks are found here. Call only when every shard's listing completed.
        """
        ctx = self._register()
        counts = soft_delete_outside(ctx, objects_table=self.writer_class.objects_table, covered=covered, root=root)
        if self.dry_run:
            self._rollback()
        return counts

    def _register(self) -> SyncContext:
        """Upsert the project and storage rows (in the transaction the next commit ends)."""
        self.project_id, self.storage_id = register_storage(self.conn, self.storage, project=self.project)
        return SyncContext(
            self.conn, self.store, self.storage, self.project_id, self.storage_id,
            exclude_prefixes=self.exclude_prefixes, dry_run=self.dry_run, on_change=self.on_change,
            source=self.source,
        )

    def _batches(self, ctx: SyncContext, scope: Scope) -> Generator[Sequence[ObjectInfo], None, None]:
        """The scope's listing, less excluded keys, in batches of at least ``write_batch`` (but the last).

        The next pages are fetched while a batch is written (:mod:`labelbridge.sync.prefetch`).
        Pages of :class:`ObjectColumns` (an inventory's) make batches of their kind, joined by
        Arrow; lists make lists.
        """
        batch: list[ObjectInfo] = []
        columns: list[ObjectColumns] = []
        held = 0
        with closing(prefetched(self.source.pages(scope), depth=self.prefetch_pages)) as pages:
            for page in pages:
                if isinstance(page, ObjectColumns):
                    if batch:  # a source gives one kind of page; should it change, order is kept
                        yield batch
                        batch = []
                    columns.append(page.without_prefixes(ctx.exclude_prefixes))
                    held += len(columns[-1])
                    if held >= self.write_batch:
                        yield ObjectColumns.concat(columns)
                        columns, held = [], 0
                    continue
                if columns:
                    yield ObjectColumns.concat(columns)
                    columns, held = [], 0
                batch.extend(page if not ctx.exclude_prefixes else [obj for obj in page if not ctx.excluded(obj.key)])
                if len(batch) >= self.write_batch:
                    yield batch
                    batch = []
        if columns and held:
            yield ObjectColumns.concat(columns)
        if batch:
            yield batch

    def _write_batch(
        self, writer: ModeWriter, cur: psycopg.Cursor[Any], page: Sequence[ObjectInfo], coverage: Coverage,
        counts: SyncCounts,
    ) -> None:
        """Write a few listing pages' worth of objects and commit them together."""
        counts.listed += len(page)
        if isinstance(page, ObjectColumns):
            uris: list[str] = page.uri_column(self.store.uri("")).to_pylist()
        else:
            uris = [self.store.uri(o.key) for o in page]
        after = coverage.covered_to  # where this batch's range starts, if it extends the coverage
        if coverage.extends(uris):
            writer.write_range(cur, page, uris, after=after, head=coverage.head, counts=counts)
        else:
            writer.stage_listing(cur, page, uris)
            cur.execute(_REMEMBER_SEEN)
            writer.write_staged(cur, page, counts)
        if not self.dry_run:
            cur.execute(_PROGRESS, (*_counted(counts), self.run_row))
        self._commit()
        self.progress.advance(len(page))

    # Bookkeeping ----------------------------------------------------------------------------

    def _start_run(self, run_id: str, scope: Scope) -> int:
        """Insert the run's row, leased to this session; then mark the storage's dead runs.

        A dry run writes no row: it takes no lease and marks nothing.
        """
        row = self.conn.execute(_START_RUN, (self.storage_id, run_id, scope.describe())).fetchone()
        assert row is not None
        run_row = int(row[0])
        if self.dry_run:
            return run_row
        # Leased before the row is visible: no other session ever sees it running and unleased.
        take_lease(self.conn, "sync_run", run_row)
        self.conn.commit()
        # Other 'running' rows of this storage: a sibling shard's (alive: its lease is held, left
        # alone) or a run that died (its session, and so its lease, is gone: marked abandoned).
        others = [r for (r,) in self.conn.execute(_OTHERS_RUNNING, (self.storage_id, run_row))]
        for marked in mark_abandoned(self.conn, "sync_run", others):
            log.warning("sync_run %s of storage %s was left running by a process that died: marked abandoned",
                        marked, self.storage.name)
        return run_row

    def _finish_run(self, run_row: int, status: str, counts: SyncCounts, *, error: str | None = None) -> None:
        if self.dry_run:
            return
        self.conn.execute(_FINISH_RUN, (status, *_counted(counts), error, run_row))
        self.conn.commit()
        # After the commit: until then the row says running, and the lease says it is alive.
        release_lease(self.conn, "sync_run", run_row)

    def _commit(self) -> None:
        if not self.dry_run:
            self.conn.commit()

    def _rollback(self) -> None:
        self.conn.rollback()
        forget_stages(self.conn)


def _counted(counts: SyncCounts) -> tuple[int, ...]:
    """The run row's count columns, in _PROGRESS and _FINISH_RUN order."""
    return (counts.listed, counts.inserted, counts.updated, counts.unchanged, counts.deleted, counts.restored,
            counts.quarantined)


def sync_storage(
    dsn: str,
    store: ObjectStore,
    *,
    storage: StorageConfig,
    project: ProjectConfig | None = None,
    exclude_prefixes: Sequence[str] = (),
    prefix: str | None = None,
    shard: Shard | None = None,
    run_id: str = "manual",
    dry_run: bool = False,
    on_change: ChangeReporter | None = None,
    progress: Progress = NO_PROGRESS,
    source: PageSource | None = None,
) -> SyncCounts:
    """Sync a storage: its whole prefix (or ``prefix``, e.g. a rendered date partition), or one shard.

    Opens its own connection to the labeling database at ``dsn``; each batch commits on its own.

    :param progress: advanced by the objects of each batch written.
    :param source: where the objects come from (default: the store's listing).
    """
    with connect(dsn) as conn:
        job = StorageSync(
            conn, store, storage, project=project, exclude_prefixes=exclude_prefixes, dry_run=dry_run,
            on_change=on_change, progress=progress, source=source,
        )
        if shard is None:
            return job.run(Scope(storage.prefix if prefix is None else prefix), run_id=run_id)
        total = SyncCounts()
        for scope in shard.scopes():
            total = total.merge(job.run(scope, run_id=run_id))
        return total


def soft_delete_outside_shards(
    dsn: str,
    store: ObjectStore,
    *,
    storage: StorageConfig,
    covered: Sequence[str],
    root: str,
    project: ProjectConfig | None = None,
    exclude_prefixes: Sequence[str] = (),
) -> SyncCounts:
    """After every shard of a sharded sync completed: soft-delete objects in folders none covered.

    :param covered: the folders the shards listed (their ``prefixes``).
    :param root: the prefix the shards were planned under.
    """
    with connect(dsn) as conn:
        job = StorageSync(conn, store, storage, project=project, exclude_prefixes=exclude_prefixes)
        return job.soft_delete_outside(covered, root=root)
