"""Push a labeling project's tasks to its Label Studio project: new ones imported in batches,
changed ones updated in place (their annotations stay), vanished ones deleted or kept.

Idempotent, crash included. Label Studio ignores the ids it is sent, so every imported task
carries labelbridge's task id in its ``meta`` (``labelbridge_task_id``), and each batch's id
mapping commits right after its import. A run killed between the two leaves tasks in Label
Studio that the database does not know; the next run lists Label Studio's tasks newer than the
newest it knows (ids only grow), adopts each by its ``meta``, and deletes (by explicit id, and
only when unannotated) a second copy of a task it already maps.

Deletes always name their task ids: in Label Studio 1.23 a delete action without a selection
deletes every task of the project.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from labelbridge.config import ProjectConfig, StorageConfig
from labelbridge.db import connect, projects
from labelbridge.errors import LabelStudioError
from labelbridge.progress import NO_PROGRESS, Progress
from labelbridge.rotate import rotate_storage
from labelbridge.storage import store_class
from labelbridge.storage.base import ObjectStore
from labelbridge.tools import base
from labelbridge.tools.label_studio.client import LabelStudioClient, number_filter
from labelbridge.tools.label_studio.patch import patch_task_data
from labelbridge.tools.label_studio.project import (
    LabelStudioBinding,
    RemoteProject,
    label_studio_config,
    resolve_project,
)

log = logging.getLogger(__name__)

#: The ``meta`` keys that tie a Label Studio task to its labeling-DB task.
META_TASK_ID = "labelbridge_task_id"
META_PROJECT = "labelbridge_project"
#: Ids per delete request, and per "which of these are annotated" query.
DELETE_CHUNK = 1000


@dataclass
class PushCounts:
    """What one push did; counts only (XCom, CLI, logs): never task data or a URL."""

    imported: int = 0
    updated: int = 0
    deleted: int = 0
    #: Vanished objects whose Label Studio tasks carry annotations: kept there, and reported.
    kept_annotated: int = 0
    #: Imported by a run that died before recording them: adopted by their meta.
    adopted: int = 0
    #: Second copies from such a run, deleted.
    duplicates_removed: int = 0
    #: Deleted in Label Studio by hand, noticed while updating.
    deleted_in_tool: int = 0
    #: Signed mode: tasks still waiting for a signed URL (their storage could not sign).
    waiting_for_urls: int = 0
    #: Tasks Label Studio refuses (e.g. a field the label config needs is missing): logged with
    #: where and why, left out, the rest imported; they stay pending and are tried again next run.
    refused: int = 0
    signed: int = 0
    batches: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


@dataclass
class PushResult:
    project: str
    label_studio_project: int
    counts: PushCounts = field(default_factory=PushCounts)


def heads(storages: Sequence[StorageConfig]) -> list[str]:
    """The canonical URI prefix of each storage's bucket (``s3://bucket/``)."""
    return sorted({f"{store_class(s.cloud).scheme}://{s.bucket}/" for s in storages})


def push_project(
    dsn: str,
    client: LabelStudioClient,
    *,
    project: ProjectConfig,
    stores: Sequence[tuple[StorageConfig, ObjectStore]],
    config_dir: Path,
    canary_size: int = 3,
    progress: Progress = NO_PROGRESS,
) -> PushResult:
    """Push ``project``'s new, changed and vanished tasks to its Label Studio project.

    :param stores: the project's source storages with their stores: in ``signed`` mode, each signs
        the URLs its tasks still lack before they go (the same rotation the URL DAG runs).
    :param config_dir: where ``label_studio.label_config`` paths are relative to.
    :param canary_size: URLs fetched over HTTP before a signing batch is written (0: off).
    :param progress: advanced by the tasks of each batch imported or updated (the CLI's live line).
    """
    started = time.monotonic()
    ls = label_studio_config(project)
    remote = resolve_project(client, project, config_dir=config_dir)
    result = PushResult(project.name, remote.id)
    counts = result.counts
    signed_mode = ls.urls == "signed"
    with connect(dsn) as listing, connect(dsn) as conn:
        project_id = projects.project_id(conn, project.name)
        if project_id is None:
            log.info("project %s: no tasks yet (sync has not run); nothing to push", project.name)
            return result
        with conn.transaction():
            bound = LabelStudioBinding.bind(conn, project_id, str(remote.id))
        params = {
            "project_id": project_id,
            "tool_project_id": bound.id,
            "heads": heads([s for s, _ in stores]),
        }
        ready = sql.SQL(base.ready_clause(signed_mode))
        _adopt_orphans(conn, client, remote, project.name, bound.id, counts)
        importer = _Importer(
            listing, conn, client, remote, project.name, params, ready, ls.batch_size, counts, progress
        )
        if signed_mode:
            _sign_while_importing(dsn, stores, canary_size, importer)
        importer.run()
        importer.report_refused()
        _update_changed(listing, conn, client, params, ready, ls.renew_concurrency, counts, progress)
        _handle_vanished(conn, client, remote, params, ls.vanished, counts)
        with conn.transaction():
            conn.execute(base.UNKEEP_RESTORED, params)
            base.stamp(conn, bound.id, "pushed_at")
            # Whatever is still not pushed now lacks a signed URL.
            counts.waiting_for_urls = _count(conn, sql.SQL(base.NOT_PUSHED).format(ready=sql.SQL("TRUE")), params)
    counts.seconds = round(time.monotonic() - started, 3)
    log.info(
        "project %s -> Label Studio project %d: %d imported in %d batches, %d updated, %d deleted, "
        "%d kept (annotated, object vanished), %d adopted after an interrupted run, %d duplicates removed, "
        "%d deleted in Label Studio by hand, %d waiting for a signed URL, %d refused by Label Studio, %.1fs",
        project.name, remote.id, counts.imported, counts.batches, counts.updated, counts.deleted,
        counts.kept_annotated, counts.adopted, counts.duplicates_removed, counts.deleted_in_tool,
        counts.waiting_for_urls, counts.refused, counts.seconds,
    )  # fmt: skip
    if counts.kept_annotated:
        log.warning(
            "project %s: %d Label Studio tasks whose objects vanished carry annotations and were kept "
            "(label_studio.vanished: %s)", project.name, counts.kept_annotated, ls.vanished,
        )  # fmt: skip
    return result


def _count(conn: psycopg.Connection[Any], query: sql.Composed, params: dict[str, Any]) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM ({q}) q").format(q=query), params).fetchone()
    return int(row[0]) if row else 0


def _ls_task(task_id: int, data: dict[str, Any], meta: Any, predictions: Any, project: str) -> dict[str, Any]:
    """A task as Label Studio imports it. Predictions go along (labelers see them as pre-annotations);
    annotations from task files do not: they would come back from the pull as the tool's own."""
    carried = meta if isinstance(meta, dict) else {}
    task = {"data": data, "meta": {**carried, META_TASK_ID: task_id, META_PROJECT: project}}
    if predictions:
        task["predictions"] = predictions
    return task


class _Importer:
    """Imports the tasks not pushed yet that are ready, in id order, ``batch_size`` per request,
    recording each batch's id mapping right after Label Studio answers."""

    def __init__(
        self,
        listing: psycopg.Connection[Any],
        conn: psycopg.Connection[Any],
        client: LabelStudioClient,
        remote: RemoteProject,
        project: str,
        params: dict[str, Any],
        ready: sql.Composable,
        batch_size: int,
        counts: PushCounts,
        progress: Progress,
    ) -> None:
        self.listing, self.conn, self.client, self.remote = listing, conn, client, remote
        self.project, self.params, self.ready = project, params, ready
        self.batch_size, self.counts, self.progress = batch_size, counts, progress

    def run(self, after: int = 0, upto: int | None = None) -> None:
        """Import the ready tasks with ids in ``(after, upto]`` (every id when ``upto`` is None)."""
        window = sql.SQL("{ready} AND t.id > %(after)s").format(ready=self.ready)
        if upto is not None:
            window = sql.SQL("{window} AND t.id <= %(upto)s").format(window=window)
        params = {**self.params, "after": after, "upto": upto}
        with self.listing.transaction():
            cursor = self.listing.cursor(name="labelbridge_ls_push")
            cursor.itersize = self.batch_size
            cursor.execute(sql.SQL(base.NOT_PUSHED).format(ready=window), params)
            while rows := cursor.fetchmany(self.batch_size):
                self._import(rows)
            cursor.close()

    def _import(self, rows: list[Any]) -> None:
        counts = self.counts
        items = []
        for r in rows:
            missing = [f for f in self.remote.data_fields if not isinstance(r[1], dict) or f not in r[1]]
            if missing:
                _refused(r, f"its data lacks {', '.join(missing)}, which the label config reads", counts)
            else:
                items.append((r, _ls_task(int(r[0]), r[1], r[2], r[5], self.project)))
        imported = _import_splitting_refusals(self.client, self.remote.id, items, counts)
        if imported:
            with self.conn.transaction():
                base.record_pushed(
                    self.conn,
                    self.params["tool_project_id"],
                    [(int(r[0]), rid, str(r[3]), r[4]) for r, rid in imported],
                )
        counts.imported += len(imported)
        counts.batches += 1
        self.progress.advance(len(rows))

    def report_refused(self) -> None:
        if self.counts.refused:
            log.warning(
                "project %s: %d tasks refused by Label Studio were left out (see above); fix them at their "
                "source or the label config: the next push tries them again", self.project, self.counts.refused,
            )  # fmt: skip


def _sign_while_importing(
    dsn: str, stores: Sequence[tuple[StorageConfig, ObjectStore]], canary_size: int, importer: _Importer
) -> None:
    """Sign the URLs the project's tasks still lack (the URL DAG's rotation) in a second thread, and
    import each ``batch_size`` of signed tasks while the next are signed: Label Studio's import (its
    server's time) and signing (ours) overlap instead of adding up. Ends with every signing done;
    the caller's last pass imports what is left (the tail, tasks of a storage signed after it)."""
    frontier: queue.Queue[int | None] = queue.Queue()
    import_failed = threading.Event()

    def signed_upto(task_id: int) -> None:
        if import_failed.is_set():
            raise _PushFailed  # stop signing after this committed batch: the push is failing anyway
        frontier.put(task_id)

    def sign() -> int:
        try:
            return sum(
                rotate_storage(dsn, store, storage=storage, canary_size=canary_size, on_batch=signed_upto)
                .counts.signed
                for storage, store in stores
            )  # fmt: skip
        finally:
            frontier.put(None)

    with ThreadPoolExecutor(1, thread_name_prefix="labelbridge-sign") as pool:
        signing = pool.submit(sign)
        after = upto = 0
        try:
            while (task_id := frontier.get()) is not None:
                upto = max(upto, task_id)
                # About a whole batch at a time (ids of one sync are near dense): a partial batch waits
                # for the next signed one, or for the caller's last pass.
                if upto - after >= importer.batch_size:
                    importer.run(after, upto)
                    after = upto
        except BaseException:
            import_failed.set()
            raise
        importer.counts.signed += signing.result()


class _PushFailed(Exception):
    """Raised in the signing thread when the import it feeds failed."""


def _import_splitting_refusals(
    client: LabelStudioClient, project_id: int, items: list[tuple[Any, dict[str, Any]]], counts: PushCounts
) -> list[tuple[Any, int]]:
    """Import ``items`` (row, task) in one request; when Label Studio refuses the batch (400, the
    whole batch is rejected), split it until the refused tasks stand alone, and leave those out.
    One bad task costs about log2(batch) extra requests, not the push."""
    if not items:
        return []
    try:
        ids = client.import_tasks(project_id, [task for _, task in items])
    except LabelStudioError as exc:
        if exc.status != 400:
            raise
        if len(items) == 1:
            _refused(items[0][0], str(exc), counts)
            return []
        half = len(items) // 2
        return _import_splitting_refusals(client, project_id, items[:half], counts) + _import_splitting_refusals(
            client, project_id, items[half:], counts
        )
    return [(row, rid) for (row, _), rid in zip(items, ids, strict=True)]


def _refused(row: Any, why: str, counts: PushCounts) -> None:
    counts.refused += 1
    log.warning("task %d (%s) not sent to Label Studio: %s", row[0], row[6], why)


def _update_changed(
    listing: psycopg.Connection[Any],
    conn: psycopg.Connection[Any],
    client: LabelStudioClient,
    params: dict[str, Any],
    ready: sql.Composable,
    concurrency: int,
    counts: PushCounts,
    progress: Progress,
) -> None:
    chunk = 200
    with listing.transaction():
        cursor = listing.cursor(name="labelbridge_ls_changed")
        cursor.itersize = chunk
        cursor.execute(sql.SQL(base.CHANGED).format(ready=ready), params)
        while rows := cursor.fetchmany(chunk):
            outcome = patch_task_data(client, [(int(r[0]), r[2]) for r in rows], concurrency=concurrency)
            done = set(outcome.updated)
            with conn.transaction():
                base.record_pushed(
                    conn,
                    params["tool_project_id"],
                    [(int(r[1]), int(r[0]), str(r[3]), r[4]) for r in rows if int(r[0]) in done],
                )
                mark_deleted_in_tool(conn, params["tool_project_id"], outcome.missing)
            counts.updated += len(outcome.updated)
            counts.deleted_in_tool += len(outcome.missing)
            if outcome.error is not None:
                raise outcome.error
            progress.advance(len(rows))
        cursor.close()


def mark_deleted_in_tool(conn: psycopg.Connection[Any], tool_project_id: int, remote_ids: Sequence[int]) -> int:
    """Tasks deleted in Label Studio by hand: not pushed again, and their pulled annotations go
    as they went there (the task's ``updated_at`` moves, so the next export rewrites it)."""
    if not remote_ids:
        return 0
    rows = conn.execute(
        """UPDATE tool_task SET remote_deleted_at = now()
           WHERE tool_project_id = %s AND remote_id = ANY(%s) AND remote_deleted_at IS NULL RETURNING task_id""",
        (tool_project_id, list(remote_ids)),
    ).fetchall()
    task_ids = [int(r[0]) for r in rows]
    if task_ids:
        conn.execute("DELETE FROM annotation WHERE origin = 'tool' AND task_id = ANY(%s)", (task_ids,))
        conn.execute("UPDATE task SET updated_at = now() WHERE id = ANY(%s)", (task_ids,))
    return len(task_ids)


def annotated_among(client: LabelStudioClient, project_id: int, remote_ids: Sequence[int]) -> set[int]:
    """Which of ``remote_ids`` carry an annotation or a skip in Label Studio now: two filtered
    listings over their id range, intersected with them."""
    lo, hi = min(remote_ids), max(remote_ids)
    wanted = set(remote_ids)
    found: set[int] = set()
    for column in ("total_annotations", "cancelled_annotations"):
        page = 1
        while True:
            rows = client.list_tasks(
                project_id,
                include=("id",),
                filters=[
                    number_filter("id", "greater", lo - 1),
                    number_filter("id", "less", hi + 1),
                    number_filter(column, "greater", 0),
                ],
                page=page,
            )
            found.update(int(r["id"]) for r in rows if int(r["id"]) in wanted)
            if len(rows) < 1000:
                break
            page += 1
    return found


def _handle_vanished(
    conn: psycopg.Connection[Any],
    client: LabelStudioClient,
    remote: RemoteProject,
    params: dict[str, Any],
    policy: str,
    counts: PushCounts,
) -> None:
    tool_project_id = params["tool_project_id"]
    while True:
        rows = conn.execute(f"{base.VANISHED} LIMIT {DELETE_CHUNK}", params).fetchall()
        conn.commit()
        if not rows:
            return
        remote_ids = [int(r[0]) for r in rows]
        keep: set[int] = set()
        if policy == "keep":
            keep = set(remote_ids)
        elif policy == "delete_unannotated":
            keep = annotated_among(client, remote.id, remote_ids)
        doomed = [rid for rid in remote_ids if rid not in keep]
        if doomed:
            client.delete_tasks(remote.id, doomed)
        with conn.transaction():
            if keep:
                conn.execute(
                    "UPDATE tool_task SET kept_at = now(), annotated = true"
                    " WHERE tool_project_id = %s AND remote_id = ANY(%s)",
                    (tool_project_id, sorted(keep)),
                )
            if doomed:
                conn.execute(
                    "DELETE FROM tool_task WHERE tool_project_id = %s AND remote_id = ANY(%s)",
                    (tool_project_id, doomed),
                )
        counts.deleted += len(doomed)
        counts.kept_annotated += len(keep)


def _adopt_orphans(
    conn: psycopg.Connection[Any],
    client: LabelStudioClient,
    remote: RemoteProject,
    project: str,
    tool_project_id: int,
    counts: PushCounts,
) -> None:
    """Record (or remove, when a second copy) tasks a killed run imported but never recorded."""
    row = conn.execute("SELECT max(remote_id) FROM tool_task WHERE tool_project_id = %s", (tool_project_id,)).fetchone()
    conn.commit()
    after = int(row[0]) if row and row[0] is not None else 0
    page = 1
    while True:
        tasks = client.list_tasks(
            remote.id,
            include=("id", "meta", "total_annotations", "cancelled_annotations"),
            filters=[number_filter("id", "greater", after)],
            page=page,
        )
        ours = [t for t in tasks if isinstance(t.get("meta"), dict) and t["meta"].get(META_PROJECT) == project]
        if ours:
            _adopt(conn, client, remote, tool_project_id, ours, counts)
        if len(tasks) < 1000:
            return
        page += 1


def _adopt(
    conn: psycopg.Connection[Any],
    client: LabelStudioClient,
    remote: RemoteProject,
    tool_project_id: int,
    tasks: list[dict[str, Any]],
    counts: PushCounts,
) -> None:
    by_task: dict[int, int] = {}
    for t in tasks:
        by_task.setdefault(int(t["meta"][META_TASK_ID]), int(t["id"]))
    with conn.transaction():
        known = dict(
            conn.execute(
                "SELECT task_id, remote_id FROM tool_task WHERE tool_project_id = %s AND task_id = ANY(%s)",
                (tool_project_id, list(by_task)),
            ).fetchall()
        )
        # Adopted with an empty hash and no URL expiry: this push updates their data in place and the
        # next renewal renews their URLs, whatever the killed run sent.
        adopt = [(task_id, rid, "", None) for task_id, rid in by_task.items() if task_id not in known]
        live = {
            int(r[0])
            for r in conn.execute("SELECT id FROM task WHERE id = ANY(%s)", ([a[0] for a in adopt],)).fetchall()
        }
        base.record_pushed(conn, tool_project_id, [a for a in adopt if a[0] in live])
        counts.adopted += sum(1 for a in adopt if a[0] in live)
    # Each labeling task keeps one Label Studio task: the one already recorded, else the adopted one.
    mapped = {int(known.get(task_id, rid)) for task_id, rid in by_task.items() if task_id in known or task_id in live}
    extra = [
        int(t["id"])
        for t in tasks
        if int(t["id"]) not in mapped and not t.get("total_annotations") and not t.get("cancelled_annotations")
    ]
    if extra:
        client.delete_tasks(remote.id, extra)
        counts.duplicates_removed += len(extra)
    log.info(
        "adopted %d Label Studio tasks imported by an interrupted run; %d second copies deleted",
        counts.adopted, counts.duplicates_removed,
    )  # fmt: skip
