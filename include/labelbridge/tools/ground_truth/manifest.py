"""Write a project's tasks as a Ground Truth input manifest in S3.

Format (docs.aws.amazon.com/sagemaker/latest/dg/sms-input-data-input-manifest.html): JSON Lines,
one object per line, ``"source-ref": "s3://bucket/key"`` for an object to label or ``"source":
"<text>"`` for a text task; other keys are passed through to the output manifest. labelbridge adds
``labelbridge-task-id`` (the labeling-DB task), which is how an output line finds its task again,
and the task data fields ``ground_truth.carry_fields`` names.

Incremental: a run writes the tasks no manifest held yet (``tool_task`` rows of the Ground Truth
binding); ``full=True`` writes every live task. The lines are spooled (to disk past 8 MiB), the
manifest object is uploaded in one go once complete, and the tasks are recorded as written only
after the upload succeeded: a failed run writes them again next time, never leaves a partial
manifest behind.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from labelbridge.config import ProjectConfig, StorageConfig
from labelbridge.db import connect, projects
from labelbridge.storage import ObjectStore
from labelbridge.tools.base import DATA_HASH, stamp
from labelbridge.tools.ground_truth.binding import (
    IP_RESTRICTION_HINT,
    GroundTruthBinding,
    GroundTruthError,
    StorageVerdict,
    ground_truth_config,
    judge_storages,
)
from labelbridge.tools.ground_truth.output import TASK_KEY

log = logging.getLogger(__name__)

SPOOL_BYTES = 8 * 1024 * 1024
BATCH = 5000

_TASKS = """
SELECT t.id, t.data, """ + DATA_HASH + """
FROM task t
WHERE t.project_id = %(project_id)s AND t.deleted_at IS NULL
  AND (%(full)s OR NOT EXISTS (
        SELECT 1 FROM tool_task m WHERE m.tool_project_id = %(tool_project_id)s AND m.task_id = t.id))
ORDER BY t.id
"""

_RECORD = """
INSERT INTO tool_task (tool_project_id, task_id, remote_id, data_hash)
SELECT %(tool_project_id)s, w.task_id, w.task_id, w.data_hash FROM gt_written w
ON CONFLICT (tool_project_id, task_id) DO UPDATE SET data_hash = EXCLUDED.data_hash, pushed_at = now()
"""


@dataclass
class ManifestCounts:
    lines: int = 0
    #: Tasks left out because Ground Truth cannot read their storage, per storage.
    refused: dict[str, int] = field(default_factory=dict)
    #: Tasks whose ``source_field`` is missing, not a string, or (media) not an object of the project's storages.
    no_source: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ManifestResult:
    project: str
    #: The manifest written (``s3://...``), or ``None`` when no task was new.
    manifest: str | None
    full: bool
    counts: ManifestCounts
    #: Why each refused storage was refused.
    refusals: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"project": self.project, "manifest": self.manifest, "full": self.full, **self.counts.as_dict(),
                "refusals": self.refusals}  # fmt: skip


def write_manifest(
    dsn: str,
    *,
    project: ProjectConfig,
    stores: list[tuple[StorageConfig, ObjectStore]],
    manifest_store: ObjectStore,
    full: bool = False,
    now: datetime | None = None,
) -> ManifestResult:
    """Write ``project``'s new tasks (every task with ``full``) as an input manifest under ``ground_truth.manifests``.

    :param stores: the project's source storages with their stores (to judge which Ground Truth can read).
    :param manifest_store: the S3 bucket of ``ground_truth.manifests``.
    :raises GroundTruthError: none of the project's storages can be read by Ground Truth.
    """
    started = time.monotonic()
    gt = ground_truth_config(project)
    verdicts = judge_storages(gt, stores)
    refused = {v.storage: v.reason for v in verdicts if not v.servable}
    for reason in refused.values():
        log.warning("project %s: %s; its tasks are left out of the manifest. %s", project.name, reason,
                    IP_RESTRICTION_HINT)  # fmt: skip
    if not gt.text and verdicts and not any(v.servable for v in verdicts):
        raise GroundTruthError(
            f"project {project.name!r}: Ground Truth can read none of its storages: "
            + "; ".join(refused.values()) + f". {IP_RESTRICTION_HINT}"
        )
    counts = ManifestCounts()
    result = ManifestResult(project.name, None, full, counts, refused)
    _, prefix = gt.split(gt.manifests)
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")
    key = f"{prefix}{project.name}/input/{moment}-{'full' if full else 'new'}.manifest"
    with connect(dsn) as conn:
        project_id = projects.project_id(conn, project.name)
        if project_id is None:
            log.info("project %s: not synced yet, no task to write", project.name)
            return result
        bound = GroundTruthBinding.bind(conn, project_id, gt.manifests)
        conn.execute("CREATE TEMP TABLE gt_written (task_id bigint, data_hash text) ON COMMIT DROP")
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            tasks = conn.cursor(name="labelbridge_gt_manifest")
            tasks.itersize = BATCH
            tasks.execute(_TASKS, {"project_id": project_id, "tool_project_id": bound.id, "full": full})
            written: list[tuple[int, str]] = []
            for task_id, data, data_hash in tasks:
                line = _line(task_id, data, gt.source_field, gt.carry_fields, gt.text, verdicts, counts)
                if line is None:
                    continue
                spool.write(line)
                counts.lines += 1
                written.append((task_id, data_hash))
                if len(written) >= BATCH:
                    _remember(conn, written)
            _remember(conn, written)
            tasks.close()
            counts.bytes = spool.tell()
            if counts.lines:
                spool.seek(0)
                # Written last, complete: whatever watches the prefix never sees a partial manifest.
                manifest_store.write(key, spool, content_type="application/jsonlines")
                result.manifest = manifest_store.uri(key)
        if result.manifest is not None:
            conn.execute(_RECORD, {"tool_project_id": bound.id})
            conn.execute(
                "INSERT INTO ground_truth_manifest (tool_project_id, direction, uri, lines, counts) "
                "VALUES (%s, 'input', %s, %s, %s)",
                (bound.id, result.manifest, counts.lines, Jsonb(counts.as_dict())),
            )
            stamp(conn, bound.id, "pushed_at")
        conn.commit()
    counts.seconds = round(time.monotonic() - started, 3)
    log.info(
        "project %s -> %s: %d lines (%s), %d tasks refused (%s), %d without a usable %r",
        project.name, result.manifest or "no manifest (nothing new)", counts.lines, "full" if full else "new",
        sum(counts.refused.values()), ", ".join(counts.refused) or "none", counts.no_source, gt.source_field,
    )  # fmt: skip
    return result


def _line(
    task_id: int, data: Any, source_field: str, carry: tuple[str, ...], text: bool,
    verdicts: list[StorageVerdict], counts: ManifestCounts,
) -> bytes | None:  # fmt: skip
    source = data.get(source_field) if isinstance(data, dict) else None
    if not isinstance(source, str) or not source:
        counts.no_source += 1
        return None
    line: dict[str, Any]
    if text:
        line = {"source": source}
    else:
        verdict = next((v for v in verdicts if source.startswith(v.head)), None)
        if verdict is None:
            counts.no_source += 1
            return None
        if not verdict.servable:
            counts.refused[verdict.storage] = counts.refused.get(verdict.storage, 0) + 1
            return None
        line = {"source-ref": source}
    for name in carry:
        if name in data and name not in line:
            line[name] = data[name]
    line[TASK_KEY] = task_id
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _remember(conn: Any, written: list[tuple[int, str]]) -> None:
    if written:
        conn.execute(
            "INSERT INTO gt_written SELECT * FROM unnest(%s::bigint[], %s::text[])",
            ([w[0] for w in written], [w[1] for w in written]),
        )
        written.clear()
