"""Where a project stands with Label Studio, from the labeling DB alone (no request to Label Studio):
tasks in sync, pending (new, changed, vanished), how many new ones have no signed URL yet, when the earliest URL
Label Studio holds expires, and whether renewal keeps up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import sql

from labelbridge.config import ProjectConfig, StorageConfig
from labelbridge.db import connect, projects
from labelbridge.tools import base
from labelbridge.tools.label_studio.project import label_studio_config
from labelbridge.tools.label_studio.push import heads
from labelbridge.tools.label_studio.renew import RenewalPlan, plan_renewal

_BINDINGS = """
SELECT id, remote_project, pushed_at, renewed_at, pulled_at FROM tool_project
WHERE project_id = %s AND tool = 'label_studio' ORDER BY coalesce(pushed_at, created_at) DESC LIMIT 1
"""
_MAPPED = """
SELECT count(*) FILTER (WHERE m.remote_deleted_at IS NULL AND m.kept_at IS NULL AND t.deleted_at IS NULL
                               AND m.data_hash = """ + base.DATA_HASH + """),
       count(*) FILTER (WHERE m.remote_deleted_at IS NULL AND t.deleted_at IS NULL
                               AND m.data_hash <> """ + base.DATA_HASH + """),
       count(*) FILTER (WHERE m.remote_deleted_at IS NULL AND m.kept_at IS NULL AND t.deleted_at IS NOT NULL),
       count(*) FILTER (WHERE m.kept_at IS NOT NULL),
       count(*) FILTER (WHERE m.remote_deleted_at IS NOT NULL),
       count(*) FILTER (WHERE m.annotated)
FROM tool_task m JOIN task t ON t.id = m.task_id WHERE m.tool_project_id = %s
"""
_PULLED = """
SELECT count(*) FROM annotation a JOIN task t ON t.id = a.task_id
WHERE a.origin = 'tool' AND t.project_id = %s
"""


@dataclass(frozen=True)
class LabelStudioStatus:
    project: str
    label_studio_project: str | None
    in_sync: int
    pending_new: int
    pending_changed: int
    pending_vanished: int
    #: New tasks without a signed URL yet (push signs them first; in ``uri`` mode none wait).
    unsigned_new: int
    kept_annotated: int
    deleted_in_tool: int
    annotated: int
    annotations_pulled: int
    pushed_at: datetime | None
    renewed_at: datetime | None
    pulled_at: datetime | None
    renewal: RenewalPlan | None

    @property
    def pending(self) -> int:
        return self.pending_new + self.pending_changed + self.pending_vanished

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items() if k != "renewal"
        }
        out["pending"] = self.pending
        out["renewal"] = self.renewal.as_dict() if self.renewal else None
        out["renewal_advice"] = self.renewal.advice() if self.renewal else None
        return out


def label_studio_status(
    dsn: str, *, project: ProjectConfig, storages: Sequence[StorageConfig], now: datetime | None = None
) -> LabelStudioStatus:
    """Counts and the renewal plan of ``project``'s Label Studio project, read from the labeling DB."""
    ls = label_studio_config(project)
    run_at = (now or datetime.now(UTC)).astimezone(UTC)
    with connect(dsn) as conn:
        project_id = projects.project_id(conn, project.name)
        binding = conn.execute(_BINDINGS, (project_id,)).fetchone() if project_id is not None else None
        tool_project_id = int(binding[0]) if binding else -1
        params = {"project_id": project_id, "tool_project_id": tool_project_id, "heads": heads(storages)}
        mapped = conn.execute(_MAPPED, (tool_project_id,)).fetchone() or (0,) * 6
        signed = ls.urls == "signed"

        def not_pushed(ready: str) -> int:
            if project_id is None:
                return 0
            query = sql.SQL("SELECT count(*) FROM ({q}) q").format(
                q=sql.SQL(base.NOT_PUSHED).format(ready=sql.SQL(ready))
            )
            row = conn.execute(query, params).fetchone()
            return int(row[0]) if row else 0

        new = not_pushed("TRUE")
        unsigned = new - not_pushed(base.ready_clause(signed))
        pulled_row = conn.execute(_PULLED, (project_id,)).fetchone() if project_id is not None else None
        renewal = plan_renewal(conn, tool_project_id, ls, storages, now=run_at) if binding and signed else None
    return LabelStudioStatus(
        project=project.name,
        label_studio_project=binding[1] if binding else None,
        in_sync=int(mapped[0]),
        pending_new=new,
        pending_changed=int(mapped[1]),
        pending_vanished=int(mapped[2]),
        unsigned_new=unsigned,
        kept_annotated=int(mapped[3]),
        deleted_in_tool=int(mapped[4]),
        annotated=int(mapped[5]),
        annotations_pulled=int(pulled_row[0]) if pulled_row else 0,
        pushed_at=binding[2] if binding else None,
        renewed_at=binding[3] if binding else None,
        pulled_at=binding[4] if binding else None,
        renewal=renewal,
    )
