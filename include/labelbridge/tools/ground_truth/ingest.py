"""Ingest Ground Truth output manifests into the labeling DB as annotations from the tool.

Every ``*/manifests/output/output.manifest`` under ``ground_truth.outputs`` (where a labeling job
writes its result, docs: sms-data-output) is read once: a manifest already ingested (same URI,
same ETag) is skipped without a read; a rewritten one is read again. Each manifest is streamed
line by line (never whole), batches of lines are written in one statement each, and a line that
cannot be read is quarantined (``ground_truth_quarantine``: manifest URI, line number, why) while
the rest is ingested.

One annotation per task and label attribute (``origin = 'tool'``, ``origin_key =
ground_truth:<attribute>``): an object labeled again by a later job updates it (the job's
``creation-date`` is newer); the same line read again, or an older job's read after it, rewrites
nothing (manifests are listed in key order, not in the order the jobs ran).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from labelbridge.config import ProjectConfig
from labelbridge.db import connect, projects
from labelbridge.db.identity import any_uri
from labelbridge.storage import ObjectInfo, ObjectStore
from labelbridge.tools.base import ANNOTATION_COLUMNS, stamp, upsert_annotations
from labelbridge.tools.ground_truth.binding import GroundTruthBinding, ground_truth_config
from labelbridge.tools.ground_truth.output import LabeledLine, _BadLine, _Unlabeled, parse_line

log = logging.getLogger(__name__)

OUTPUT_SUFFIX = "/manifests/output/output.manifest"
BATCH = 1000
#: A manifest line longer than this is quarantined unread (a bounding-box line is a few KB).
MAX_LINE_BYTES = 16 * 1024 * 1024

_DONE = """
SELECT 1 FROM ground_truth_manifest
WHERE tool_project_id = %s AND direction = 'output' AND uri = %s AND etag = %s
"""
_QUARANTINE = """
INSERT INTO ground_truth_quarantine (tool_project_id, manifest_uri, line, reason)
SELECT %(tool_project_id)s, %(uri)s, q.line, q.reason
FROM unnest(%(lines)s::int[], %(reasons)s::text[]) AS q (line, reason)
ON CONFLICT (tool_project_id, manifest_uri, line) DO UPDATE SET reason = EXCLUDED.reason, last_seen_at = now()
"""
# An output line finds its task by the id labelbridge wrote into the input manifest, else by its
# source-ref: two lookups by array, each probing an index whatever the statistics say (joined with
# unnest, a table fresh from a bulk load was hashed whole for every batch: 2 s per 1,000 lines).
_BY_ID = """
SELECT t.id FROM task t
WHERE t.id = ANY(%(ids)s::bigint[]) AND t.project_id = %(project_id)s AND t.deleted_at IS NULL
"""
_BY_URI = """
SELECT t.uri, t.id FROM task t
WHERE """ + any_uri("t.uri", "%(refs)s") + """ AND t.project_id = %(project_id)s AND t.item_index = 0
  AND t.deleted_at IS NULL
"""


@dataclass
class IngestCounts:
    manifests_read: int = 0
    #: Output manifests already ingested (same ETag): not read again.
    manifests_skipped: int = 0
    lines: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Objects Ground Truth did not label (a ``failure-reason`` in place of the label).
    unlabeled: int = 0
    quarantined: int = 0
    #: Boxes that reached past the image's edge, cut back to it.
    boxes_clipped: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IngestResult:
    project: str
    counts: IngestCounts = field(default_factory=IngestCounts)
    #: The output manifests read in this run (``s3://`` URIs).
    manifests: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"project": self.project, **self.counts.as_dict(), "manifests": self.manifests}


def ingest_outputs(
    dsn: str, *, project: ProjectConfig, output_store: ObjectStore, full: bool = False, batch: int = BATCH
) -> IngestResult:
    """Ingest the output manifests under ``ground_truth.outputs`` not ingested yet (every one with ``full``).

    :param output_store: the S3 bucket of ``ground_truth.outputs``.
    """
    started = time.monotonic()
    gt = ground_truth_config(project)
    result = IngestResult(project.name)
    counts = result.counts
    _, prefix = gt.split(gt.outputs)
    with connect(dsn) as conn:
        project_id = projects.project_id(conn, project.name)
        if project_id is None:
            log.info("project %s: not synced yet, no task to annotate", project.name)
            return result
        bound = GroundTruthBinding.bind(conn, project_id, gt.manifests)
        conn.commit()
        for obj in _output_manifests(output_store, prefix):
            uri = output_store.uri(obj.key)
            if not full and conn.execute(_DONE, (bound.id, uri, obj.etag)).fetchone():
                counts.manifests_skipped += 1
                continue
            lines_before = counts.lines
            _ingest_one(conn, output_store, obj.key, uri, project_id, bound.id, f"ground_truth:{gt.label_attribute}",
                        project, counts, batch)  # fmt: skip
            with conn.transaction():
                conn.execute(
                    "INSERT INTO ground_truth_manifest (tool_project_id, direction, uri, etag, lines) "
                    "VALUES (%s, 'output', %s, %s, %s) ON CONFLICT (tool_project_id, direction, uri, etag) "
                    "DO UPDATE SET lines = EXCLUDED.lines, created_at = now()",
                    (bound.id, uri, obj.etag, counts.lines - lines_before),
                )
            counts.manifests_read += 1
            result.manifests.append(uri)
        with conn.transaction():
            stamp(conn, bound.id, "pulled_at")
    counts.seconds = round(time.monotonic() - started, 3)
    log.info(
        "project %s <- Ground Truth: %d output manifests read (%d already ingested), %d lines: annotations %d new, "
        "%d updated, %d unchanged; %d unlabeled, %d quarantined, %d boxes cut back to the image; %.1fs",
        project.name, counts.manifests_read, counts.manifests_skipped, counts.lines, counts.created,
        counts.updated, counts.unchanged, counts.unlabeled, counts.quarantined, counts.boxes_clipped, counts.seconds,
    )  # fmt: skip
    return result


def _output_manifests(store: ObjectStore, prefix: str) -> Iterator[ObjectInfo]:
    """The jobs' output manifests under ``prefix``, in key order (the listing's)."""
    for obj in store.iter_objects(prefix):
        if obj.key.endswith(OUTPUT_SUFFIX) or obj.key == OUTPUT_SUFFIX.lstrip("/"):
            yield obj


def _ingest_one(
    conn: psycopg.Connection[Any], store: ObjectStore, key: str, uri: str, project_id: int, tool_project_id: int,
    origin_key: str, project: ProjectConfig, counts: IngestCounts, batch: int,
) -> None:  # fmt: skip
    gt = ground_truth_config(project)
    pending: list[tuple[int, LabeledLine]] = []
    bad: list[tuple[int, str]] = []
    with store.open(key) as reader:
        for number, raw in enumerate(reader, start=1):
            if not raw.strip():
                continue
            counts.lines += 1
            try:
                if len(raw) > MAX_LINE_BYTES:
                    raise _BadLine(f"line of {len(raw)} bytes, over {MAX_LINE_BYTES}")
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise _BadLine(f"not JSON: {exc.msg} at character {exc.pos}") from None
                except UnicodeDecodeError as exc:
                    raise _BadLine(f"not UTF-8 at byte {exc.start}") from None
                line = parse_line(obj, gt)
            except _BadLine as exc:
                bad.append((number, str(exc)))
                continue
            except _Unlabeled:
                counts.unlabeled += 1
                continue
            counts.boxes_clipped += line.clipped
            pending.append((number, line))
            if len(pending) >= batch:
                _store(conn, pending, bad, uri, project_id, tool_project_id, origin_key, counts)
        _store(conn, pending, bad, uri, project_id, tool_project_id, origin_key, counts)


def _store(
    conn: psycopg.Connection[Any], pending: list[tuple[int, LabeledLine]], bad: list[tuple[int, str]], uri: str,
    project_id: int, tool_project_id: int, origin_key: str, counts: IngestCounts,
) -> None:  # fmt: skip
    with conn.transaction():
        if pending:
            ids = [line.task_id for _, line in pending if line.task_id is not None]
            refs = [line.source_ref for _, line in pending if line.task_id is None]
            by_id = {int(r[0]) for r in conn.execute(_BY_ID, {"ids": ids, "project_id": project_id})} if ids else set()
            by_uri = dict(conn.execute(_BY_URI, {"refs": refs, "project_id": project_id}).fetchall()) if refs else {}
            columns: dict[str, list[Any]] = {k: [] for k in ANNOTATION_COLUMNS}
            for number, line in pending:
                if line.task_id is not None:
                    task_id = line.task_id if line.task_id in by_id else None
                else:
                    task_id = by_uri.get(line.source_ref) if line.source_ref is not None else None
                if task_id is None:
                    which = f"task {line.task_id}" if line.task_id is not None else f"source-ref {line.source_ref!r}"
                    bad.append((number, f"{which} is no live task of this project (deleted, or never synced)"))
                    continue
                columns["task_ids"].append(task_id)
                columns["keys"].append(origin_key)
                columns["results"].append(Jsonb(line.result))
                columns["users"].append(None)
                columns["cancelled"].append(False)
                columns["truths"].append(False)
                columns["lead_times"].append(None)
                columns["extras"].append(Jsonb({**line.extra, "manifest": uri, "line": number}))
                columns["created"].append(line.created_at)
            _dedupe_last(columns)
            created, updated, unchanged = upsert_annotations(conn, columns, newer_only=True)
            counts.created += created
            counts.updated += updated
            counts.unchanged += unchanged
        if bad:
            conn.execute(_QUARANTINE, {"tool_project_id": tool_project_id, "uri": uri,
                                       "lines": [b[0] for b in bad], "reasons": [b[1] for b in bad]})  # fmt: skip
            for number, reason in bad:
                log.warning("%s line %d quarantined: %s", uri, number, reason)
            counts.quarantined += len(bad)
    pending.clear()
    bad.clear()


def _dedupe_last(columns: dict[str, list[Any]]) -> None:
    """One row per task in a batch (an INSERT ... ON CONFLICT cannot touch a row twice): the newest
    label wins, the later line among equals."""
    dates = columns["created"]
    last: dict[int, int] = {}
    for i, task_id in enumerate(columns["task_ids"]):
        kept = last.get(task_id)
        if kept is None or (dates[i] or "") >= (dates[kept] or ""):
            last[task_id] = i
    if len(last) == len(columns["task_ids"]):
        return
    keep = sorted(last.values())
    for name, values in columns.items():
        columns[name] = [values[i] for i in keep]
