"""Ingest Labelbox export v2 NDJSON files into the labeling DB: each label becomes (or updates) an
``annotation`` row with ``origin = 'tool'`` keyed ``labelbox:<label id>``, its result in Label
Studio's JSON (see :mod:`.convert`), so every export format works on it.

Where the files come from: ``<labelbox.prefix>exports/`` in the ``labelbox`` section's bucket,
where a user (or a DAG of theirs) drops what ``project.export(...)`` streamed. Incremental twice
over: files are read in (last modified, key) order, only those newer than the last one ingested
(kept in ``tool_project.pull_cursor``); and a label is rewritten only when its ``updated_at`` in
Labelbox moved. An export line holds all of a data row's labels, so a label of that row missing
from it was deleted in Labelbox: its annotation goes.

Streamed line by line, written in batches: memory stays flat whatever the file's size. A line
that is not a data row is quarantined, with where (file URI and line number) and why, to
``<prefix>quarantine/``; the rest is ingested. A row whose global key labelbridge never wrote (a
row added in Labelbox by hand) is counted and reported, not ingested.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any

import psycopg
from psycopg.types.json import Jsonb

from labelbridge.config import ProjectConfig
from labelbridge.db import connect, projects
from labelbridge.errors import StorageError
from labelbridge.storage.base import ObjectInfo, ObjectStore
from labelbridge.tools import base
from labelbridge.tools.labelbox.convert import KEY_PATTERN, DataRow, _BadLine, data_row
from labelbridge.tools.labelbox.keys import MAX_GLOBAL_KEY, candidates, global_key, is_shortened
from labelbridge.tools.labelbox.project import EXPORTS, QUARANTINE, LabelboxBinding, labelbox_config

log = logging.getLogger(__name__)

BATCH_LINES = 1000
#: Examples kept in a result (the counts are complete; the quarantine file has every line).
_EXAMPLES = 20
_SPOOL_BYTES = 8 * 1024 * 1024
EXPORT_SUFFIXES = (".ndjson", ".jsonl", ".json")

# Full global keys -> tasks labelbridge gave Labelbox (a key may stand for two (uri, index) pairs).
_BY_KEY = """
SELECT c.key, t.id FROM unnest(%(keys)s::text[], %(uris)s::text[], %(indexes)s::int[]) AS c (key, uri, idx)
JOIN task t ON t.project_id = %(project_id)s AND uri_key_head(t.uri) = uri_key_head(c.uri)
           AND uri_key_tail(t.uri) = uri_key_tail(c.uri) AND t.uri = c.uri AND t.item_index = c.idx
JOIN tool_task m ON m.tool_project_id = %(tool_project_id)s AND m.task_id = t.id
"""
# Shortened keys: the tasks whose key starts the same way (rare: URIs over 200 characters).
_BY_PREFIX = """
SELECT t.id, t.uri, t.item_index FROM tool_task m JOIN task t ON t.id = m.task_id
WHERE m.tool_project_id = %(tool_project_id)s AND starts_with(t.uri, %(head)s)
"""


@dataclass
class Quarantined:
    where: str
    reason: str


@dataclass
class IngestCounts:
    files: int = 0
    lines: int = 0
    rows_matched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    quarantined: int = 0
    #: Rows whose global key labelbridge never wrote (added in Labelbox by hand): not ingested.
    not_ours: int = 0
    #: Rows without a global key at all.
    no_global_key: int = 0
    #: Objects no Label Studio region holds (lines, masks, ...): left out.
    unmapped_objects: int = 0
    #: Boxes, polygon points or points past the image's edge, cut at it.
    clipped: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


@dataclass
class IngestResult:
    project: str
    dataset: str
    cursor: str | None = None
    counts: IngestCounts = field(default_factory=IngestCounts)
    quarantined: list[Quarantined] = field(default_factory=list)
    #: Some of the global keys labelbridge never wrote (canonical URIs, never URLs).
    not_ours: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project, "dataset": self.dataset, "cursor": self.cursor, **self.counts.as_dict(),
            "quarantined_examples": [asdict(q) for q in self.quarantined], "not_ours_examples": self.not_ours,
        }  # fmt: skip


def ingest_exports(dsn: str, *, project: ProjectConfig, store: ObjectStore, full: bool = False) -> IngestResult:
    """Ingest the export files under ``<labelbox.prefix>exports/`` newer than the last ingested
    (all of them with ``full``)."""
    lb = labelbox_config(project)
    result = IngestResult(project.name, lb.dataset)
    started = time.monotonic()
    with connect(dsn) as conn:
        project_id = projects.project_id(conn, project.name)
        bound = LabelboxBinding.find(conn, project_id, lb.dataset) if project_id is not None else None
        conn.commit()
        if project_id is None or bound is None:
            log.info(
                "project %s: no rows written for Labelbox dataset %s yet; nothing to ingest", project.name, lb.dataset
            )
            return result
        cursor = None if full else bound.pull_cursor
        for obj in _new_exports(store, f"{lb.prefix}{EXPORTS}", cursor):
            bad_lines = f"{lb.prefix}{QUARANTINE}{obj.key.rsplit('/', 1)[-1]}.bad.ndjson"
            with store.open(obj.key) as reader:
                ingest_lines(
                    conn, project_id, bound.id, reader, store.uri(obj.key), result,
                    project_filter=lb.project_id, quarantine=(store, bad_lines),
                )  # fmt: skip
            cursor = _cursor_of(obj)
            with conn.transaction():
                conn.execute("UPDATE tool_project SET pull_cursor = %s WHERE id = %s", (cursor, bound.id))
            result.counts.files += 1
        with conn.transaction():
            base.stamp(conn, bound.id, "pulled_at")
        result.cursor = cursor
    _log_result(result, time.monotonic() - started)
    return result


def _cursor_of(obj: ObjectInfo) -> str:
    moment = obj.last_modified.isoformat() if obj.last_modified else ""
    return f"{moment}|{obj.key}"


def _new_exports(store: ObjectStore, prefix: str, cursor: str | None) -> list[ObjectInfo]:
    """Export files after ``cursor``, oldest first. Names only are held: a listing, not the files."""
    found = [o for o in store.iter_objects(prefix) if o.key.endswith(EXPORT_SUFFIXES)]
    found.sort(key=_cursor_of)
    return [o for o in found if cursor is None or _cursor_of(o) > cursor]


def ingest_lines(
    conn: psycopg.Connection[Any],
    project_id: int,
    tool_project_id: int,
    lines: IO[bytes],
    source: str,
    result: IngestResult,
    *,
    project_filter: str | None = None,
    quarantine: tuple[ObjectStore, str] | None = None,
) -> None:
    """Ingest one export file, read line by line from ``lines``; ``source`` names it in messages."""
    counts = result.counts
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as bad:
        batch: list[DataRow] = []
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            counts.lines += 1
            try:
                row = data_row(json.loads(raw.rstrip(b"\r\n")), project_id=project_filter)
            except (_BadLine, ValueError, TypeError, AttributeError, KeyError, RecursionError) as exc:
                # _BadLine says which field; anything else is a shape convert.py did not foresee: named
                # by its kind only (an exception's text may quote the line).
                reason = str(exc) if isinstance(exc, _BadLine) else f"malformed data row ({type(exc).__name__})"
                if isinstance(exc, json.JSONDecodeError):
                    reason = f"not JSON: {exc.msg.removesuffix(' at')} (column {exc.colno})"
                _quarantine(bad, source, number, reason, raw, result)
                continue
            batch.append(row)
            if len(batch) >= BATCH_LINES:
                _store(conn, project_id, tool_project_id, batch, result)
                batch = []
        if batch:
            _store(conn, project_id, tool_project_id, batch, result)
        if quarantine is not None and bad.tell():
            store, key = quarantine
            bad.seek(0)
            try:
                store.write(key, bad, content_type="application/x-ndjson")
            except StorageError as exc:
                log.error("could not write the quarantined lines of %s to %s: %s", source, store.uri(key), exc)


def _quarantine(bad: IO[bytes], source: str, number: int, reason: str, raw: bytes, result: IngestResult) -> None:
    where = f"{source}:{number}"
    result.counts.quarantined += 1
    if len(result.quarantined) < _EXAMPLES:
        result.quarantined.append(Quarantined(where, reason))
    # Never the line itself in a log: it may hold the signed URL labelbridge wrote as row_data.
    log.warning("quarantined line %s: %s", where, reason)
    kept = {"source": source, "line": number, "reason": reason, "text": raw.decode("utf-8", "replace").rstrip("\n")}
    bad.write(json.dumps(kept, ensure_ascii=False).encode() + b"\n")


def _store(
    conn: psycopg.Connection[Any], project_id: int, tool_project_id: int, batch: Sequence[DataRow], result: IngestResult
) -> None:
    counts = result.counts
    with conn.transaction():
        tasks = _tasks_by_key(conn, project_id, tool_project_id, [r.global_key for r in batch if r.global_key])
        columns: dict[str, list[Any]] = {k: [] for k in base.ANNOTATION_COLUMNS}
        touched: list[int] = []
        annotated: list[int] = []
        for row in batch:
            counts.unmapped_objects += sum(row.unmapped.values())
            counts.clipped += row.clipped
            if row.global_key is None:
                counts.no_global_key += 1
                continue
            task_id = tasks.get(row.global_key)
            if task_id is None:
                counts.not_ours += 1
                if len(result.not_ours) < _EXAMPLES:
                    result.not_ours.append(row.global_key)
                continue
            counts.rows_matched += 1
            touched.append(task_id)
            if row.labels:
                annotated.append(task_id)
            for label in row.labels:
                columns["task_ids"].append(task_id)
                columns["keys"].append(label.key)
                columns["results"].append(Jsonb(label.result))
                columns["users"].append(label.completed_by)
                columns["cancelled"].append(False)
                columns["truths"].append(False)
                columns["lead_times"].append(label.lead_time)
                columns["extras"].append(Jsonb(label.extra))
                columns["created"].append(label.created_at)
        created, updated, unchanged = base.upsert_annotations(conn, columns)
        counts.created += created
        counts.updated += updated
        counts.unchanged += unchanged
        counts.deleted += base.delete_gone_annotations(conn, touched, columns["task_ids"], columns["keys"], KEY_PATTERN)
        if touched:
            conn.execute(
                "UPDATE tool_task SET annotated = (task_id = ANY(%s)) WHERE tool_project_id = %s AND task_id = ANY(%s)",
                (annotated, tool_project_id, touched),
            )


def _tasks_by_key(
    conn: psycopg.Connection[Any], project_id: int, tool_project_id: int, global_keys: Sequence[str]
) -> dict[str, int]:
    """The tasks behind global keys labelbridge wrote; keys it never wrote are absent."""
    found: dict[str, int] = {}
    pairs = [(k, uri, idx) for k in global_keys if not is_shortened(k) for uri, idx in candidates(k)]
    if pairs:
        rows = conn.execute(
            _BY_KEY,
            {"keys": [c[0] for c in pairs], "uris": [c[1] for c in pairs],
             "indexes": [c[2] for c in pairs], "project_id": project_id, "tool_project_id": tool_project_id},
        ).fetchall()  # fmt: skip
        found.update((str(k), int(t)) for k, t in rows)
    for key in (k for k in global_keys if is_shortened(k)):
        head = key[: MAX_GLOBAL_KEY - 17]
        for task_id, uri, index in conn.execute(_BY_PREFIX, {"tool_project_id": tool_project_id, "head": head}):
            if global_key(uri, int(index)) == key:
                found[key] = int(task_id)
    return found


def _log_result(result: IngestResult, seconds: float) -> None:
    counts = result.counts
    counts.seconds = round(seconds, 3)
    log.info(
        "project %s <- Labelbox (%d export files, %d lines): labels %d new, %d edited, %d deleted, %d unchanged "
        "on %d rows; %d lines quarantined; %d rows labelbridge never wrote; %d without a global key; "
        "%d objects of kinds left out; %d coordinates clipped to the image; %.1fs",
        result.project, counts.files, counts.lines, counts.created, counts.updated, counts.deleted, counts.unchanged,
        counts.rows_matched, counts.quarantined, counts.not_ours, counts.no_global_key, counts.unmapped_objects,
        counts.clipped, counts.seconds,
    )  # fmt: skip
    if counts.not_ours:
        log.warning(
            "project %s: %d Labelbox rows carry a global key labelbridge never wrote (added in Labelbox by hand?), "
            "e.g. %s; their labels are not ingested", result.project, counts.not_ours, ", ".join(result.not_ours[:3]),
        )  # fmt: skip

