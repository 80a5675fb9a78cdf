"""Pull labelers' work back from Label Studio into the labeling DB: annotations created, edited,
skipped or deleted there become (or stop being) ``annotation`` rows with ``origin = 'tool'``,
keyed by Label Studio's annotation id.

Incremental by the server's own clock: Label Studio bumps a task's ``updated_at`` whenever one of
its annotations is saved or deleted, so each pull asks for the tasks updated after the newest
``updated_at`` it has seen (kept verbatim in ``tool_project.pull_cursor``; never the client's
clock). Pages are keyed on that timestamp, not on page numbers (rows move while one pages): each
query starts after the newest instant read; a full page's newest instant is then drained on its
own, by task id (Label Studio breaks no ties: a bulk action stamps thousands of tasks alike).

Rewrites nothing unchanged: an annotation is written only when its ``updated_at`` in Label
Studio moved (labelbridge's own URL renewals bump the task, not its annotations). Tasks deleted
in Label Studio by hand do not show up in such a listing; a pull can also walk the project's task
ids (``check_deleted``) and mark those missing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from labelbridge.config import ProjectConfig
from labelbridge.db import connect, projects
from labelbridge.progress import NO_PROGRESS, Progress
from labelbridge.tools import base
from labelbridge.tools.label_studio.client import LabelStudioClient, datetime_filter, number_filter
from labelbridge.tools.label_studio.project import LabelStudioBinding, resolve_project
from labelbridge.tools.label_studio.push import mark_deleted_in_tool

log = logging.getLogger(__name__)

PAGE_SIZE = 500
#: Label Studio annotation fields kept in their own columns; the rest goes to ``extra``, except
#: what only its UI shows (``created_username`` holds the annotator's e-mail) and its own task and
#: project ids (labelbridge's export names its own).
_COLUMNS = ("result", "completed_by", "was_cancelled", "ground_truth", "lead_time", "created_at")
_NOT_KEPT = (*_COLUMNS, "created_username", "created_ago", "task", "project")
#: Label Studio's annotation ids are numbers: the keys its pulls own among ``origin = 'tool'`` rows.
LS_KEYS = r"^[0-9]+$"


@dataclass
class PullCounts:
    tasks_seen: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    #: Tasks in the Label Studio project that labelbridge did not push (imported by hand).
    not_ours: int = 0
    deleted_in_tool: int = 0
    pages: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


@dataclass
class PullResult:
    project: str
    label_studio_project: int
    cursor: str | None
    counts: PullCounts = field(default_factory=PullCounts)


def pull_project(
    dsn: str,
    client: LabelStudioClient,
    *,
    project: ProjectConfig,
    config_dir: Path,
    check_deleted: bool = True,
    page_size: int = PAGE_SIZE,
    progress: Progress = NO_PROGRESS,
) -> PullResult:
    """Bring ``project``'s annotations made in Label Studio since the last pull into the labeling DB.

    :param check_deleted: also walk the project's task ids (ids only, ~0.5 s per 1,000) and mark the
        tasks deleted in Label Studio by hand: their pulled annotations go too.
    :param progress: advanced by the tasks of each page stored (the CLI's live line).
    """
    started = time.monotonic()
    remote = resolve_project(client, project, config_dir=config_dir)
    result = PullResult(project.name, remote.id, None)
    counts = result.counts
    with connect(dsn) as conn:
        project_id = projects.project_id(conn, project.name)
        bound = LabelStudioBinding.find(conn, project_id, str(remote.id)) if project_id is not None else None
        conn.commit()
        if bound is None:
            log.info("project %s: nothing pushed to Label Studio project %d yet", project.name, remote.id)
            return result
        cursor = bound.pull_cursor
        for page in _pages_since(client, remote.id, cursor, page_size, counts):
            with conn.transaction():
                _store_page(conn, bound.id, page, counts)
                cursor = str(page[-1]["updated_at"])
                conn.execute("UPDATE tool_project SET pull_cursor = %s WHERE id = %s", (cursor, bound.id))
            progress.advance(len(page))
        if check_deleted:
            with conn.transaction():
                counts.deleted_in_tool = _mark_missing(conn, client, remote.id, bound.id)
        with conn.transaction():
            conn.execute("UPDATE tool_project SET pulled_at = now() WHERE id = %s", (bound.id,))
        result.cursor = cursor
    counts.seconds = round(time.monotonic() - started, 3)
    log.info(
        "project %s <- Label Studio project %d: %d tasks updated there, annotations %d new, %d edited, "
        "%d deleted, %d unchanged; %d tasks not pushed by labelbridge; %d deleted by hand; %.1fs",
        project.name, remote.id, counts.tasks_seen, counts.created, counts.updated, counts.deleted,
        counts.unchanged, counts.not_ours, counts.deleted_in_tool, counts.seconds,
    )  # fmt: skip
    return result


def _before(stamp: str, *, step: int = -1) -> str:
    """One microsecond before ``stamp``, in the one format Label Studio's Datetime filter parses
    (``%Y-%m-%dT%H:%M:%S.%fZ``, UTC)."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC) + timedelta(microseconds=step)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _after(stamp: str) -> str:
    """One microsecond after ``stamp``: with :func:`_before`, the strict bounds of one instant."""
    return _before(stamp, step=1)


def _pages_since(
    client: LabelStudioClient, project_id: int, cursor: str | None, page_size: int, counts: PullCounts
) -> Iterator[list[dict[str, Any]]]:
    """Pages of tasks updated at or after ``cursor``, oldest first, each task read once per run.

    Label Studio orders by its first ordering field only, so tasks sharing one ``updated_at`` (a bulk
    action stamps thousands alike) come in any order from one page to the next: paging through them
    by page number loses some and repeats others. A full page is therefore read as "everything
    before its newest instant", and that instant is then drained on its own, by task id.
    """
    after, strictly = cursor, False  # the first query re-reads the cursor's own instant
    while True:
        filters = []
        if after:
            filters = [datetime_filter("updated_at", "greater", after if strictly else _before(after))]
        rows = client.list_tasks(
            # Whole tasks: a listing with "include" gives each annotation's id and updated_at only.
            project_id, filters=filters, ordering=("tasks:updated_at",), page_size=page_size, page=1,
        )  # fmt: skip
        counts.pages += 1
        if len(rows) < page_size:
            if rows:
                yield rows
            return
        newest = str(rows[-1]["updated_at"])
        # Ordered by updated_at, the page holds every task older than its newest instant.
        older = [t for t in rows if str(t["updated_at"]) != newest]
        if older:
            yield older
        yield from _pages_at(client, project_id, newest, page_size, counts)
        after, strictly = newest, True


def _pages_at(
    client: LabelStudioClient, project_id: int, instant: str, page_size: int, counts: PullCounts
) -> Iterator[list[dict[str, Any]]]:
    """Every task whose ``updated_at`` is exactly ``instant``, in id order, keyset-paged by id."""
    window = [
        datetime_filter("updated_at", "greater", _before(instant)),
        datetime_filter("updated_at", "less", _after(instant)),
    ]
    last_id = 0
    while True:
        rows = client.list_tasks(
            project_id, filters=[*window, number_filter("id", "greater", last_id)], ordering=("tasks:id",),
            page_size=page_size, page=1,
        )  # fmt: skip
        counts.pages += 1
        if rows:
            yield rows
            last_id = int(rows[-1]["id"])
        if len(rows) < page_size:
            return


def _store_page(
    conn: psycopg.Connection[Any], tool_project_id: int, page: Sequence[dict[str, Any]], counts: PullCounts
) -> None:
    remote_ids = [int(t["id"]) for t in page]
    mapping = dict(
        conn.execute(
            "SELECT remote_id, task_id FROM tool_task WHERE tool_project_id = %s AND remote_id = ANY(%s)",
            (tool_project_id, remote_ids),
        ).fetchall()
    )
    counts.tasks_seen += len(page)
    columns: dict[str, list[Any]] = {k: [] for k in (
        "task_ids", "keys", "results", "users", "cancelled", "truths", "lead_times", "extras", "created")}  # fmt: skip
    touched: list[int] = []
    annotated: list[int] = []
    for task in page:
        task_id = mapping.get(int(task["id"]))
        if task_id is None:
            counts.not_ours += 1
            continue
        touched.append(task_id)
        annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict) and "id" in a]
        if annotations:
            annotated.append(task_id)
        for a in annotations:
            columns["task_ids"].append(task_id)
            columns["keys"].append(str(a["id"]))
            columns["results"].append(Jsonb(a.get("result") or []))
            user = a.get("completed_by")
            columns["users"].append(None if user is None else str(user.get("id") if isinstance(user, dict) else user))
            columns["cancelled"].append(bool(a.get("was_cancelled")))
            columns["truths"].append(bool(a.get("ground_truth")))
            lead = a.get("lead_time")
            columns["lead_times"].append(float(lead) if isinstance(lead, int | float) else None)
            columns["extras"].append(Jsonb({k: v for k, v in a.items() if k not in _NOT_KEPT}))
            columns["created"].append(a.get("created_at"))
    if not touched:
        return
    created, updated, unchanged = base.upsert_annotations(conn, columns)
    counts.created += created
    counts.updated += updated
    counts.unchanged += unchanged
    counts.deleted += base.delete_gone_annotations(conn, touched, columns["task_ids"], columns["keys"], LS_KEYS)
    conn.execute(
        "UPDATE tool_task SET annotated = (task_id = ANY(%s)) WHERE tool_project_id = %s AND task_id = ANY(%s)",
        (annotated, tool_project_id, touched),
    )


def _mark_missing(
    conn: psycopg.Connection[Any], client: LabelStudioClient, project_id: int, tool_project_id: int
) -> int:
    """Mark the tasks labelbridge pushed that Label Studio no longer has: a merge of two id-ordered
    streams (Label Studio's ids, page by page; the DB's, through a server-side cursor)."""
    missing: list[int] = []
    ours = conn.cursor(name="labelbridge_ls_ids")
    ours.itersize = 5000
    ours.execute(
        "SELECT remote_id FROM tool_task WHERE tool_project_id = %s AND remote_deleted_at IS NULL ORDER BY remote_id",
        (tool_project_id,),
    )
    theirs = client.iter_task_ids(project_id)
    current = next(theirs, None)
    for (remote_id,) in ours:
        while current is not None and current < remote_id:
            current = next(theirs, None)
        if current != remote_id:
            missing.append(int(remote_id))
    ours.close()
    return mark_deleted_in_tool(conn, tool_project_id, missing)
