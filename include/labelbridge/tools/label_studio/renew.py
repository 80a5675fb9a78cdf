"""Renew the signed URLs Label Studio holds, in place, before they expire.

Label Studio has no bulk update: one PATCH per task (about 230 ms on a small server, 4-7 per
second). So renewal is planned, not hoped:

- tasks go in the order their URLs expire, ``renew_concurrency`` PATCHes at a time;
- each run renews the tasks due (expiring within the lead time) and, to spread expiries, at least
  its share of the rest: ``tasks x interval / (url_ttl - lead time)``. Tasks pushed together
  would otherwise expire together and all fall due in the same run;
- the steady state needs ``tasks / (url_ttl - lead time)`` PATCHes per second; when that exceeds
  ``label_studio.max_patch_rate`` (or the rate this run measured), the run log and ``status`` say
  so with the numbers and the fixes (a longer ``url_ttl``, longer-lived signing credentials, or
  ``urls: uri`` with Label Studio's own storage connection).

The URLs come from the labeling DB's ``task_with_urls`` view, re-signed first for exactly the
tasks chosen. After the PATCHes a canary reads one renewed task back from Label Studio and
fetches its URL as a labeler's browser would.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from labelbridge.config import LabelStudioConfig, ProjectConfig, StorageConfig
from labelbridge.db import connect, projects
from labelbridge.errors import LabelStudioError
from labelbridge.progress import NO_PROGRESS, Progress
from labelbridge.rotate import rotate_storage
from labelbridge.rotate.canary import fetch_status
from labelbridge.storage.base import ObjectStore
from labelbridge.tools import base
from labelbridge.tools.label_studio.client import LabelStudioClient
from labelbridge.tools.label_studio.patch import patch_task_data
from labelbridge.tools.label_studio.project import LabelStudioBinding, label_studio_config, resolve_project
from labelbridge.tools.label_studio.push import mark_deleted_in_tool

log = logging.getLogger(__name__)

#: How often the renewal runs (the DAG's schedule): each run takes its share of the spread.
DEFAULT_INTERVAL = timedelta(hours=1)
_CHUNK = 200

_URLS = """
SELECT m.remote_id, m.task_id, v.data, v.urls_expire_at, m.urls_expire_at
FROM tool_task m JOIN task_with_urls v ON v.id = m.task_id
WHERE m.tool_project_id = %(tool_project_id)s AND m.task_id = ANY(%(task_ids)s)
ORDER BY m.urls_expire_at, m.task_id
"""
_RECORD = """
UPDATE tool_task m SET urls_expire_at = b.expires_at
FROM unnest(%(remote_ids)s::bigint[], %(expiries)s::timestamptz[]) AS b (remote_id, expires_at)
WHERE m.tool_project_id = %(tool_project_id)s AND m.remote_id = b.remote_id
"""
_TOTALS = """
SELECT count(*), count(*) FILTER (WHERE m.urls_expire_at <= %(due_before)s), min(m.urls_expire_at)
FROM tool_task m JOIN task t ON t.id = m.task_id
WHERE m.tool_project_id = %(tool_project_id)s AND m.remote_deleted_at IS NULL
  AND t.deleted_at IS NULL AND m.urls_expire_at IS NOT NULL
"""


@dataclass(frozen=True)
class RenewalPlan:
    """The rate renewal needs, against what the server absorbs."""

    tasks: int
    due: int
    earliest_expiry: datetime | None
    url_ttl: timedelta
    lead_time: timedelta
    #: PATCHes per second the steady state needs: tasks / (url_ttl - lead time).
    steady_rate: float
    max_patch_rate: float
    #: Tasks this run renews: the due ones, or its share of the spread if larger.
    this_run: int

    @property
    def over_capacity(self) -> bool:
        return self.steady_rate > self.max_patch_rate

    def advice(self) -> str | None:
        """What to change when the steady state needs more than the server absorbs, with numbers."""
        if not self.over_capacity:
            return None
        window = (self.url_ttl - self.lead_time).total_seconds()
        ttl_needed = timedelta(seconds=math.ceil(self.tasks / self.max_patch_rate)) + self.lead_time
        return (
            f"{self.tasks} tasks renewed every {_human(window)} need {self.steady_rate:.1f} PATCH/s, more than "
            f"the {self.max_patch_rate:g}/s this Label Studio absorbs: "
            f"set url_ttl to at least {_human(ttl_needed.total_seconds())} "
            "(S3 and GCS cap it at 7d; sign with credentials that live as long), serve Label Studio with more workers "
            "and raise label_studio.max_patch_rate, or use label_studio.urls: uri with Label Studio's own storage"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "due": self.due,
            "earliest_expiry": self.earliest_expiry.isoformat() if self.earliest_expiry else None,
            "steady_rate_per_s": round(self.steady_rate, 3),
            "max_patch_rate_per_s": self.max_patch_rate,
            "this_run": self.this_run,
            "over_capacity": self.over_capacity,
        }


@dataclass
class RenewCounts:
    chosen: int = 0
    renewed: int = 0
    #: No fresher URL than the one Label Studio holds (its signing was held by another run).
    not_fresher: int = 0
    deleted_in_tool: int = 0
    signed: int = 0
    canary_checked: int = 0
    patches_per_s: float = 0.0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


@dataclass
class RenewResult:
    project: str
    plan: RenewalPlan | None
    counts: RenewCounts = field(default_factory=RenewCounts)
    #: The Label Studio project's id, once resolved (for lineage); None when nothing was asked of it.
    label_studio_project: int | None = None


def _human(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f}d"
    return f"{seconds / 3600:.1f}h" if seconds >= 3600 else f"{seconds:.0f}s"


def url_window(storages: Sequence[StorageConfig]) -> tuple[timedelta, timedelta]:
    """The shortest ``url_ttl`` and the longest lead time among the project's storages."""
    if not storages:
        return timedelta(days=1), timedelta(days=1) / 5
    return min(s.url_ttl for s in storages), max(s.lead_time for s in storages)


def plan_renewal(
    conn: psycopg.Connection[Any],
    tool_project_id: int,
    ls: LabelStudioConfig,
    storages: Sequence[StorageConfig],
    *,
    now: datetime,
    interval: timedelta = DEFAULT_INTERVAL,
) -> RenewalPlan:
    ttl, lead = url_window(storages)
    row = conn.execute(_TOTALS, {"tool_project_id": tool_project_id, "due_before": now + lead}).fetchone()
    tasks, due, earliest = (int(row[0]), int(row[1]), row[2]) if row else (0, 0, None)
    window = max((ttl - lead).total_seconds(), 1.0)
    share = math.ceil(tasks * interval.total_seconds() / window)
    return RenewalPlan(
        tasks=tasks,
        due=due,
        earliest_expiry=earliest,
        url_ttl=ttl,
        lead_time=lead,
        steady_rate=tasks / window,
        max_patch_rate=ls.max_patch_rate,
        this_run=min(tasks, max(due, share)),
    )


def renew_project(
    dsn: str,
    client: LabelStudioClient,
    *,
    project: ProjectConfig,
    stores: Sequence[tuple[StorageConfig, ObjectStore]],
    config_dir: Path,
    now: datetime | None = None,
    interval: timedelta = DEFAULT_INTERVAL,
    max_seconds: float | None = None,
    canary: bool = True,
    progress: Progress = NO_PROGRESS,
) -> RenewResult:
    """Renew the URLs in ``project``'s Label Studio tasks that are due (and the run's share of the spread).

    :param interval: how often renewal runs; each run takes ``tasks x interval / (ttl - lead)``.
    :param max_seconds: stop PATCHing after this long (what is left is due again next run).
    :param canary: read one renewed task back from Label Studio and fetch its URL.
    :param progress: told how many tasks were chosen, then advanced by each chunk PATCHed.
    """
    started = time.monotonic()
    run_at = (now or datetime.now(UTC)).astimezone(UTC)
    ls = label_studio_config(project)
    result = RenewResult(project.name, None)
    if ls.urls != "signed":
        log.info(
            "project %s: label_studio.urls is %s; Label Studio holds no signed URL to renew", project.name, ls.urls
        )
        return result
    remote = resolve_project(client, project, config_dir=config_dir)
    result.label_studio_project = remote.id
    storages = [s for s, _ in stores]
    counts = result.counts
    with connect(dsn) as conn:
        project_id = projects.project_id(conn, project.name)
        bound = LabelStudioBinding.find(conn, project_id, str(remote.id)) if project_id is not None else None
        if bound is None:
            log.info("project %s: nothing pushed to Label Studio project %d yet", project.name, remote.id)
            return result
        plan = result.plan = plan_renewal(conn, bound.id, ls, storages, now=run_at, interval=interval)
        chosen = conn.execute(base.BY_EXPIRY, {"tool_project_id": bound.id, "limit": plan.this_run}).fetchall()
        conn.commit()
        counts.chosen = len(chosen)
        progress.expect(counts.chosen)
        if chosen:
            # Re-sign exactly these tasks' URLs that expire no later than the latest Label Studio holds.
            latest = max(r[2] for r in chosen) + timedelta(seconds=1)
            task_ids = [int(r[1]) for r in chosen]
            for storage, store in stores:
                counts.signed += rotate_storage(
                    dsn, store, storage=storage, task_ids=task_ids, due_before=latest, canary_size=0
                ).counts.signed
            _patch_all(
                conn, client, bound.id, task_ids, ls.renew_concurrency, counts, started, max_seconds, progress
            )
        with conn.transaction():
            base.stamp(conn, bound.id, "renewed_at")
    if canary and counts.renewed:
        counts.canary_checked = _canary(client, chosen[0][0])
    counts.seconds = round(time.monotonic() - started, 3)
    log.info(
        "project %s: %d tasks due of %d in Label Studio, %d chosen (due, or this run's share of the spread), "
        "%d renewed at %.1f PATCH/s, %d without a fresher URL, %d deleted in Label Studio by hand, %.1fs",
        project.name, plan.due, plan.tasks, counts.chosen, counts.renewed, counts.patches_per_s,
        counts.not_fresher, counts.deleted_in_tool, counts.seconds,
    )  # fmt: skip
    advice = plan.advice()
    if advice is None and counts.patches_per_s and plan.steady_rate > counts.patches_per_s and counts.chosen > 50:
        advice = (
            f"the steady state needs {plan.steady_rate:.1f} PATCH/s but this run reached {counts.patches_per_s:.1f}/s"
        )
    if advice:
        log.warning("project %s: %s", project.name, advice)
    return result


def _patch_all(
    conn: psycopg.Connection[Any],
    client: LabelStudioClient,
    tool_project_id: int,
    task_ids: list[int],
    concurrency: int,
    counts: RenewCounts,
    started: float,
    max_seconds: float | None,
    progress: Progress = NO_PROGRESS,
) -> None:
    patch_seconds = 0.0
    for i in range(0, len(task_ids), _CHUNK):
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            log.info("renewal stopped after %.0fs (max_seconds); %d tasks wait for the next run",
                     max_seconds, len(task_ids) - i)  # fmt: skip
            break
        rows = conn.execute(
            _URLS, {"tool_project_id": tool_project_id, "task_ids": task_ids[i : i + _CHUNK]}
        ).fetchall()
        conn.commit()
        fresher = [r for r in rows if r[3] is not None and (r[4] is None or r[3] > r[4])]
        counts.not_fresher += len(rows) - len(fresher)
        outcome = patch_task_data(client, [(int(r[0]), r[2]) for r in fresher], concurrency=concurrency)
        patch_seconds += outcome.seconds
        done = set(outcome.updated)
        expiry = {int(r[0]): r[3] for r in fresher}
        with conn.transaction():
            conn.execute(
                _RECORD,
                {
                    "tool_project_id": tool_project_id,
                    "remote_ids": sorted(done),
                    "expiries": [expiry[r] for r in sorted(done)],
                },
            )
            counts.deleted_in_tool += mark_deleted_in_tool(conn, tool_project_id, outcome.missing)
        counts.renewed += len(done)
        if outcome.error is not None:
            raise outcome.error
        progress.advance(len(rows))
    if patch_seconds > 0:
        counts.patches_per_s = round(counts.renewed / patch_seconds, 2)


def _canary(client: LabelStudioClient, remote_id: int) -> int:
    """Fetch the renewed URLs of one task as Label Studio holds them; raise if one fails."""
    task = client.task(int(remote_id))
    urls = [
        v for v in (task or {}).get("data", {}).values() if isinstance(v, str) and v.startswith(("http://", "https://"))
    ]
    for url in urls:
        status = fetch_status(url)
        if status >= 400:
            raise LabelStudioError(
                f"a URL renewed in Label Studio task {remote_id} answers HTTP {status} when fetched; "
                "check the signing credentials and the storage's ip_range"
            )
    return len(urls)
