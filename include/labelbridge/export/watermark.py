"""Export runs and watermarks: which window a run covers, and moving the watermark after it verified.

A window is ``since <= updated_at < until``. ``until`` is the labeling DB's clock, held back to the
start of the oldest transaction still open, so a row committed later with an earlier ``updated_at``
still falls into the next window. A rerun of the same run key reuses its recorded window: same rows,
same bytes.

Each run's row is leased (:mod:`labelbridge.db.runs`) to the connection that created or re-opened
it: a run of the same target and format marks the rows of runs that died ``abandoned``, and a
rerun of a run key whose earlier attempt is still alive is refused.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from labelbridge.db.projects import find_project
from labelbridge.db.runs import lease_is_held, mark_abandoned, release_lease, take_lease
from labelbridge.errors import ExportError
from labelbridge.export.source import Window

log = logging.getLogger(__name__)

_HORIZON = """
SELECT least(now(), coalesce((
    SELECT min(xact_start) FROM pg_stat_activity
    WHERE datname = current_database() AND backend_type = 'client backend'
      AND xact_start IS NOT NULL AND pid <> pg_backend_pid()), now()))
"""


@dataclass(frozen=True)
class ExportRun:
    id: int
    project_id: int
    labels: tuple[str, ...]
    window: Window
    rerun: bool


def project_row(conn: psycopg.Connection[Any], project: str) -> tuple[int, tuple[str, ...]]:
    row = find_project(conn, project)
    if row is None:
        raise ExportError(f"project {project!r} is not in the labeling database; sync one of its storages first")
    return row.id, row.labels


def begin_run(
    conn: psycopg.Connection[Any], *, target: str, project: str, fmt: str, run_key: str, full: bool
) -> ExportRun:
    """Record the run (or re-open the earlier attempt of the same run key) and fix its window.

    The row is leased to ``conn`` until :func:`finish_run` or :func:`fail_run`, or until ``conn``
    ends however it ends. Rows of this target and format left running by dead processes are
    marked ``abandoned`` first.

    :raises ExportError: the earlier attempt of ``run_key`` is still running in a live process.
    """
    project_id, labels = project_row(conn, project)
    running = conn.execute(
        "SELECT id FROM export_run WHERE target = %s AND format = %s AND status = 'running' ORDER BY id",
        (target, fmt),
    ).fetchall()
    conn.commit()
    for marked in mark_abandoned(conn, "export_run", [r for (r,) in running]):
        log.warning("export_run %s of %s (%s) was left running by a process that died: marked abandoned",
                    marked, target, fmt)
    with conn.transaction():
        earlier = conn.execute(
            "SELECT id, watermark_from, watermark_to, full_snapshot FROM export_run"
            " WHERE target = %s AND format = %s AND run_key = %s FOR UPDATE",
            (target, fmt, run_key),
        ).fetchone()
        if earlier is not None:
            run_id, since, until, was_full = earlier
            # The row lock above makes two re-openers take turns; the second finds the first's lease.
            if lease_is_held(conn, "export_run", run_id):
                raise ExportError(
                    f"export of {target!r} in {fmt} for run {run_key!r} is still running in another process"
                    f" (export_run {run_id}); wait for it to end, or stop it, then run again"
                )
            take_lease(conn, "export_run", run_id)
            conn.execute(
                "UPDATE export_run SET status = 'running', error = NULL, started_at = now(), finished_at = NULL,"
                " last_seen_at = now() WHERE id = %s",
                (run_id,),
            )
            return ExportRun(run_id, project_id, labels, Window(until, since, was_full), rerun=True)
        row = conn.execute(
            "SELECT exported_to FROM export_watermark WHERE target = %s AND project_id = %s AND format = %s",
            (target, project_id, fmt),
        ).fetchone()
        since = None if full or row is None else row[0]
        horizon = conn.execute(_HORIZON).fetchone()
        assert horizon is not None
        until = horizon[0]
        inserted = conn.execute(
            "INSERT INTO export_run (target, project_id, format, run_key, full_snapshot, watermark_from, watermark_to,"
            " last_seen_at) VALUES (%s, %s, %s, %s, %s, %s, %s, now()) RETURNING id",
            (target, project_id, fmt, run_key, full, since, until),
        ).fetchone()
        assert inserted is not None
        take_lease(conn, "export_run", int(inserted[0]))
    return ExportRun(int(inserted[0]), project_id, labels, Window(until, since, full), rerun=False)


def finish_run(conn: psycopg.Connection[Any], run: ExportRun, *, target: str, fmt: str, counts: dict[str, Any]) -> None:
    """Mark the run done and move the watermark: only ever forward, in the same transaction."""
    with conn.transaction():
        conn.execute(
            "UPDATE export_run SET status = 'success', counts = %s, finished_at = now() WHERE id = %s",
            (Jsonb(counts), run.id),
        )
        conn.execute(
            "INSERT INTO export_watermark (target, project_id, format, exported_to) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (target, project_id, format) DO UPDATE"
            " SET exported_to = greatest(export_watermark.exported_to, EXCLUDED.exported_to), updated_at = now()",
            (target, run.project_id, fmt, run.window.until),
        )
    release_lease(conn, "export_run", run.id)


def fail_run(conn: psycopg.Connection[Any], run: ExportRun, *, error: str) -> None:
    with conn.transaction():
        conn.execute(
            "UPDATE export_run SET status = 'failed', error = %s, finished_at = now() WHERE id = %s",
            (error[:2000], run.id),
        )
    release_lease(conn, "export_run", run.id)


def watermark(conn: psycopg.Connection[Any], *, target: str, project: str, fmt: str) -> datetime | None:
    """Where the next incremental run of ``target`` in ``fmt`` starts, or ``None`` before the first."""
    row = conn.execute(
        "SELECT w.exported_to FROM export_watermark w JOIN project p ON p.id = w.project_id"
        " WHERE w.target = %s AND p.name = %s AND w.format = %s",
        (target, project, fmt),
    ).fetchone()
    return row[0] if row else None
