"""Labelbox data-row import files: what a user uploads to a Labelbox dataset, written by labelbridge.

Labelbox's own guide for private buckets without its IAM integration is "generate signed URLs for
each asset, create a file containing the signed URLs, upload the import file"; this module is that
file, kept current. Each run writes, under ``<labelbox.prefix>imports/<dataset>/<run>/``:

- ``new-0001.json`` ...: rows Labelbox has not been given (``row_data`` = a signed URL, ``global_key``
  = the task's canonical URI, ``external_id``, ``media_type``), a JSON array per file, at most
  ``labelbox.rows_per_file`` rows each (docs.labelbox.com/reference/data-row, "create_data_rows");
- ``changed-0001.json`` ...: the same rows again, keyed by ``global_key``, for those whose URL was
  renewed (the URL rotation re-signed it) or whose object was rewritten: an upsert
  (``dataset.upsert_data_rows``) updates them in place, labels kept;
- ``removed-0001.json`` ...: the global keys of rows whose objects vanished;
- ``manifest.json``, last: the run's counts and files, so an upload step waits for it.

A file's rows are recorded as given to Labelbox only once the file is written; a run killed before
that writes them again (an upsert of the same rows changes nothing). Signed URLs go into the
files, never into logs, results or exceptions.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import psycopg
from psycopg import sql

from labelbridge.config import LabelboxConfig, ProjectConfig, StorageConfig
from labelbridge.db import connect, projects
from labelbridge.rotate import rotate_storage
from labelbridge.storage.base import ObjectStore
from labelbridge.tools import base
from labelbridge.tools.label_studio.push import heads
from labelbridge.tools.labelbox.keys import full_key, global_key
from labelbridge.tools.labelbox.project import IMPORTS, LabelboxBinding, labelbox_config

log = logging.getLogger(__name__)

#: Files are built on disk past this size, never whole in memory.
_SPOOL_BYTES = 8 * 1024 * 1024

# What Labelbox holds is the signed data, so a row is compared on it: a renewed URL is a new row_data
# even when its expiry is the same (capped by the signing credentials' own expiry), and a rewritten
# object (a new version under the same key) changes it too.
_SIGNED_HASH = "md5(v.data::text || coalesce(t.object_version, ''))"
# Rows not given to Labelbox yet; {ready}: every media field holds a live signed URL.
_NEW = (
    """
SELECT t.id, t.uri, t.item_index, t.data, v.data, """
    + _SIGNED_HASH
    + """, v.urls_expire_at
FROM task t JOIN task_with_urls v ON v.id = t.id
WHERE t.project_id = %(project_id)s AND t.deleted_at IS NULL AND {ready}
  AND NOT EXISTS (SELECT 1 FROM tool_task m WHERE m.tool_project_id = %(tool_project_id)s AND m.task_id = t.id)
ORDER BY t.id
"""
)
# Rows Labelbox holds whose URL was renewed since or whose object changed.
_CHANGED = (
    """
SELECT t.id, t.uri, t.item_index, t.data, v.data, """
    + _SIGNED_HASH
    + """, v.urls_expire_at
FROM tool_task m JOIN task t ON t.id = m.task_id JOIN task_with_urls v ON v.id = t.id
WHERE m.tool_project_id = %(tool_project_id)s AND m.remote_deleted_at IS NULL AND {ready}
  AND m.data_hash <> """
    + _SIGNED_HASH
    + """
ORDER BY t.id
"""
)
# Rows whose objects vanished, not yet put in a removed file.
_VANISHED = """
SELECT t.id, t.uri, t.item_index FROM tool_task m JOIN task t ON t.id = m.task_id
WHERE m.tool_project_id = %(tool_project_id)s AND m.remote_deleted_at IS NULL AND t.deleted_at IS NOT NULL
ORDER BY t.id
"""
_MARK_REMOVED = "UPDATE tool_task SET remote_deleted_at = now() WHERE tool_project_id = %s AND task_id = ANY(%s)"
# A removed row whose object came back is a new row again.
_FORGET_RESTORED = """
DELETE FROM tool_task m USING task t
WHERE m.task_id = t.id AND m.tool_project_id = %(tool_project_id)s AND m.remote_deleted_at IS NOT NULL
  AND t.deleted_at IS NULL
"""


@dataclass
class RowsCounts:
    """What one run wrote; counts only (XCom, CLI, logs)."""

    new: int = 0
    changed: int = 0
    removed: int = 0
    files: int = 0
    #: Tasks whose canonical URI is longer than Labelbox's 200-character global key.
    keys_shortened: int = 0
    keys_too_long_skipped: int = 0
    #: Tasks with no media field holding one of the project's storage URIs: nothing to point at.
    no_media: int = 0
    #: Tasks still without a signed URL (their storage could not sign): pending, tried next run.
    waiting_for_urls: int = 0
    signed: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


@dataclass
class RowsResult:
    project: str
    dataset: str
    #: The canonical URI of the run's folder (where its manifest is), or None when nothing was written.
    location: str | None = None
    files: list[str] = field(default_factory=list)
    counts: RowsCounts = field(default_factory=RowsCounts)


def write_rows(
    dsn: str,
    *,
    project: ProjectConfig,
    stores: Sequence[tuple[StorageConfig, ObjectStore]],
    target: ObjectStore,
    canary_size: int = 3,
    now: datetime | None = None,
) -> RowsResult:
    """Write ``project``'s new, changed and removed Labelbox rows to ``target`` (the ``labelbox``
    section's bucket). Signs first: the rotation signs the URLs new tasks lack and renews due ones.

    :param stores: the project's source storages with their stores (they sign the URLs).
    """
    started = time.monotonic()
    lb = labelbox_config(project)
    result = RowsResult(project.name, lb.dataset)
    counts = result.counts
    for storage, store in stores:
        counts.signed += rotate_storage(dsn, store, storage=storage, canary_size=canary_size).counts.signed
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    folder = f"{lb.prefix}{IMPORTS}{lb.dataset}/{stamp}/"
    with connect(dsn) as listing, connect(dsn) as conn:
        project_id = projects.project_id(conn, project.name)
        if project_id is None:
            log.info("project %s: no tasks yet (sync has not run); no Labelbox rows to write", project.name)
            return result
        conn.commit()  # what follows commits transaction by transaction: the listing connection sees it
        with conn.transaction():
            bound = LabelboxBinding.bind(conn, project_id, lb.dataset)
            conn.execute(_FORGET_RESTORED, {"tool_project_id": bound.id})
        storage_heads = heads([s for s, _ in stores])
        params: dict[str, Any] = {"project_id": project_id, "tool_project_id": bound.id, "heads": storage_heads}
        ready = sql.SQL(base.ready_clause(True))
        writer = _Files(target, folder, lb.rows_per_file, result)
        for kind, query in (("new", _NEW), ("changed", _CHANGED)):
            media = [s.media_field for s, _ in stores]
            rows = _rows(listing, sql.SQL(query).format(ready=ready), params, lb, storage_heads, media, counts)
            for chunk in _chunks(rows, lb.rows_per_file):
                writer.write(kind, [item for item, _ in chunk])
                with conn.transaction():
                    base.record_pushed(conn, bound.id, [record for _, record in chunk])
                setattr(counts, kind, getattr(counts, kind) + len(chunk))
        with listing.transaction():
            cursor = listing.cursor(name="labelbridge_lb_removed")
            cursor.execute(_VANISHED, params)
            while batch := cursor.fetchmany(lb.rows_per_file):
                keys = [(int(r[0]), global_key(r[1], int(r[2]), shorten=lb.long_keys == "shorten")) for r in batch]
                writer.write("removed", [k for _, k in keys if k is not None])
                with conn.transaction():
                    conn.execute(_MARK_REMOVED, (bound.id, [task_id for task_id, _ in keys]))
                counts.removed += sum(1 for _, k in keys if k is not None)
        with conn.transaction():
            base.stamp(conn, bound.id, "pushed_at")
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM ({q}) q").format(q=sql.SQL(_NEW).format(ready=sql.SQL("TRUE"))),
                params,
            ).fetchone()
            counts.waiting_for_urls = max(0, int(row[0]) - counts.keys_too_long_skipped - counts.no_media) if row else 0
    counts.seconds = round(time.monotonic() - started, 3)
    if result.files:
        manifest = {
            "project": project.name, "dataset": lb.dataset, "media_type": lb.media_type,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": [f.rsplit("/", 1)[-1] for f in result.files], "counts": counts.as_dict(),
        }  # fmt: skip
        target.write(f"{folder}manifest.json", json.dumps(manifest, indent=1).encode(), content_type="application/json")
        result.location = target.uri(folder)
    log.info(
        "project %s -> Labelbox dataset %s: %d new rows, %d changed (URL renewed or object rewritten), %d removed "
        "in %d files at %s; %d global keys shortened, %d skipped (too long), %d without media, %d waiting for a "
        "signed URL; %.1fs",
        project.name, lb.dataset, counts.new, counts.changed, counts.removed, counts.files, result.location or "-",
        counts.keys_shortened, counts.keys_too_long_skipped, counts.no_media, counts.waiting_for_urls, counts.seconds,
    )  # fmt: skip
    return result


Row = tuple[dict[str, Any], tuple[int, int, str, datetime | None]]


def _rows(
    listing: psycopg.Connection[Any],
    query: sql.Composed,
    params: dict[str, Any],
    lb: LabelboxConfig,
    storage_heads: Sequence[str],
    media_fields: Sequence[str],
    counts: RowsCounts,
) -> Iterator[Row]:
    """Each task as a Labelbox row, with what ``tool_task`` records for it; streamed."""
    with listing.transaction():
        cursor = listing.cursor(name="labelbridge_lb_rows")
        cursor.itersize = 5000
        cursor.execute(query, params)
        for task_id, uri, item_index, data, signed, data_hash, expires in cursor:
            key = global_key(uri, int(item_index), shorten=lb.long_keys == "shorten")
            if key is None:
                counts.keys_too_long_skipped += 1
                log.warning(
                    "task %d: its global key would have %d characters, over Labelbox's 200; skipped "
                    "(labelbox.long_keys: skip)",
                    task_id,
                    len(uri),
                )
                continue
            url_field = _media_field(data, storage_heads, media_fields)
            if url_field is None:
                counts.no_media += 1
                continue
            if key != full_key(uri, int(item_index)):
                counts.keys_shortened += 1
            media_uri = str(data[url_field])
            item = {
                "row_data": signed[url_field],
                "global_key": key,
                "external_id": media_uri.split("/", 3)[-1],
                "media_type": lb.media_type,
            }
            yield item, (int(task_id), int(task_id), str(data_hash), expires)


def _media_field(data: Any, storage_heads: Sequence[str], media_fields: Sequence[str]) -> str | None:
    """The field holding the task's object: a storage's ``media_field`` first, else the first field
    (by name) holding a canonical URI of one of the project's storages."""
    if not isinstance(data, dict):
        return None
    fields = [f for f in media_fields if f in data] + sorted(data)
    for name in fields:
        value = data.get(name)
        if isinstance(value, str) and any(value.startswith(h) for h in storage_heads):
            return str(name)
    return None


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Files:
    """Numbered JSON-array files of one run, each built in a spooled temporary file."""

    def __init__(self, target: ObjectStore, folder: str, rows_per_file: int, result: RowsResult) -> None:
        self.target, self.folder, self.result = target, folder, result
        self.numbers: dict[str, int] = {}

    def write(self, kind: str, items: Sequence[Any]) -> None:
        if not items:
            return
        number = self.numbers[kind] = self.numbers.get(kind, 0) + 1
        key = f"{self.folder}{kind}-{number:04d}.json"
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
            _json_array(spool, items)
            spool.seek(0)
            self.target.write(key, spool, content_type="application/json")
        self.result.files.append(self.target.uri(key))
        self.result.counts.files += 1


def _json_array(out: IO[bytes], items: Iterable[Any]) -> None:
    out.write(b"[\n")
    for index, item in enumerate(items):
        if index:
            out.write(b",\n")
        out.write(json.dumps(item, ensure_ascii=False).encode())
    out.write(b"\n]\n")
