"""Export one project to one target in one format: read, write, verify, manifest, then watermark.

Order matters and is the point of this module:

1. an earlier attempt's files under the run prefix are removed (manifest first);
2. tasks stream from the DB snapshot through the format into the target;
3. counts are checked: annotations read == the DB's count for the window == exported + skipped;
4. the target's listing is checked against every file written (names, sizes);
5. ``manifest.json`` is written, then checked too;
6. only then the run is marked done and the watermark moves.

Any failure before 6 leaves no manifest and the watermark where it was.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labelbridge.config import ExportTargetConfig, LabelbridgeConfig
from labelbridge.db import connect
from labelbridge.errors import ExportError, LabelbridgeError
from labelbridge.export.directory import DirectoryTarget
from labelbridge.export.formats import FORMATS, ExportStats, FormatContext
from labelbridge.export.manifest import manifest_header, render
from labelbridge.export.output import MANIFEST_NAME, WRITER_THREADS, ExportTarget, RunOutput, Tally
from labelbridge.export.source import DatabaseSource, FileSource, TaskSource, open_snapshot
from labelbridge.export.watermark import begin_run, fail_run, finish_run
from labelbridge.progress import NO_PROGRESS, Progress, counted

log = logging.getLogger(__name__)

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._=-]+")
#: Tasks between two advances of the progress line.
_PROGRESS_EVERY = 500


@dataclass(frozen=True)
class ExportResult:
    """What a run wrote; :meth:`counts` is small enough for XCom."""

    format: str
    run_prefix: str
    files: int
    bytes: int
    stats: ExportStats
    deleted_tasks: int

    def counts(self) -> dict[str, int]:
        return {
            "files": self.files,
            "bytes": self.bytes,
            "tasks_exported": self.stats.tasks_exported,
            "annotations_read": self.stats.annotations_read,
            "annotations_exported": self.stats.annotations_exported,
            "annotations_skipped": sum(self.stats.skipped_annotations.values()),
            "malformed_tasks": self.stats.skipped_tasks["malformed"],
            "deleted_tasks": self.deleted_tasks,
        }


def image_field_of(config: LabelbridgeConfig, target: ExportTargetConfig) -> str:
    """The image key in task data: the ``media_field`` of the target's first source storage, else ``image``."""
    fields = [config.storages[name].media_field for name in target.sources if name in config.storages]
    return fields[0] if fields else "image"


def run_key_part(run_key: str) -> str:
    """A run id or logical date as a key segment (``manual__2025-01-01T00:00:00+00:00`` ->
    ``manual__2025-01-01T00_00_00_00_00``)."""
    return _UNSAFE_KEY_CHARS.sub("_", run_key).strip("_") or "run"


def run_prefix(target_prefix: str, project: str, *, fmt: str, run_key: str) -> str:
    """``<prefix>/<project>/<format>/<run key>/``."""
    base = target_prefix if not target_prefix or target_prefix.endswith("/") else target_prefix + "/"
    return f"{base}{project}/{fmt}/{run_key_part(run_key)}/"


def export_target(
    dsn: str,
    store: ExportTarget,
    *,
    target: ExportTargetConfig,
    fmt: str,
    run_key: str,
    full: bool = False,
    image_field: str = "image",
    batch_size: int = 2000,
    progress: Progress = NO_PROGRESS,
) -> ExportResult:
    """Export ``target.project`` in ``fmt`` to ``store``; the watermark moves only after verification.

    :param store: the target's store, already narrowed to nothing (keys are built here from ``target.prefix``).
    :param target: the export target's config: project, bucket prefix, formats.
    :param run_key: the Airflow run id or logical date; a rerun with the same key rewrites the same files.
    :param full: export every live task instead of what changed since the last successful run.
    :param progress: advanced by the tasks written, a few hundred at a time (the CLI's live line).
    :raises ExportError: counts or the upload did not check out; nothing was published.
    """
    _check_format(fmt, target.formats)
    prefix = run_prefix(target.prefix, target.project, fmt=fmt, run_key=run_key)
    with connect(dsn, autocommit=True) as book:
        run = begin_run(book, target=target.name, project=target.project, fmt=fmt, run_key=run_key, full=full)
        window = run.window
        log.info(
            "exporting project %s to %s in %s: %s window [%s, %s)%s",
            target.project, prefix, fmt, "full" if window.full else "incremental",
            window.since.isoformat() if window.since else "start", window.until.isoformat(),
            " (rerun: same window)" if run.rerun else "",
        )
        header = {
            "target": target.name,
            "project": target.project,
            "format": fmt,
            "run_key": run_key,
            "full": window.full,
            "watermark": {
                "from": None if window.full or window.since is None else _iso(window.since),
                "to": _iso(window.until),
            },
        }
        context = FormatContext(labels=run.labels, image_field=image_field, created=_iso(window.until))
        try:
            with open_snapshot(dsn) as snapshot:
                source = DatabaseSource(snapshot, run.project_id, window=window, batch_size=batch_size)
                result = write_export(
                    source, store, prefix=prefix, fmt=fmt, context=context, header=header, progress=progress
                )
        except BaseException as exc:
            # Record the failure whatever its cause (SDK errors, a killed task too), then let it go on.
            fail_run(book, run, error=str(exc) if isinstance(exc, LabelbridgeError) else f"{type(exc).__name__}: {exc}")
            raise
        finish_run(book, run, target=target.name, fmt=fmt, counts=result.counts())
    log.info("export %s verified, watermark at %s: %s", prefix, _iso(window.until), result.counts())
    return result


def convert_file(tasks_file: Path, out_dir: Path, *, fmt: str, labels: tuple[str, ...] = (),
                 image_field: str = "image") -> ExportResult:
    """Convert a Label Studio JSON export file into ``out_dir`` with the same writers, offline.

    ``out_dir`` must be empty, new, or an earlier ``convert`` output (it holds a manifest.json).
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not tasks_file.is_file():
        raise ExportError(f"{tasks_file}: no such file")
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MANIFEST_NAME).is_file():
        raise ExportError(f"{out_dir}: not empty and not an earlier convert output; choose an empty directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    header = {"source": tasks_file.name, "format": fmt}
    context = FormatContext(labels=labels, image_field=image_field, created="")
    return write_export(FileSource(tasks_file), DirectoryTarget(out_dir), prefix="", fmt=fmt, context=context,
                        header=header, writer_threads=0)


def write_export(
    source: TaskSource,
    target: ExportTarget,
    *,
    prefix: str,
    fmt: str,
    context: FormatContext,
    header: dict[str, Any],
    writer_threads: int = WRITER_THREADS,
    progress: Progress = NO_PROGRESS,
) -> ExportResult:
    """Steps 1-5 of the module docstring, for any source and target.

    :param writer_threads: threads writing small files (one per image); 0 writes them inline, which
        suits a local directory (see :class:`~labelbridge.export.output.RunOutput`).
    :param progress: advanced by the tasks handed to the format's writer.
    """
    writer_class = FORMATS[fmt]
    plan = writer_class.read_plan
    if plan.duplicate_image_paths:
        context = replace(context, duplicate_paths=frozenset(source.duplicate_image_paths(context.image_field)))
    writer = writer_class(context, csv_keys=source.csv_keys() if plan.csv_keys else ())
    out = RunOutput(target, prefix, writer_threads=writer_threads)
    try:
        out.clear()
        tasks = source.iter_tasks(decode_results=plan.decode_results, details=plan.details,
                                  image_field=context.image_field if plan.image_paths else None)
        tasks = counted(tasks, progress, every=_PROGRESS_EVERY)
        writer.write(tasks, out)
        out.flush()
        deleted = _write_deleted(source.iter_deleted(), out)
        _check_counts(writer.stats, source.annotation_count(), prefix)
        out.verify()
        head = manifest_header(header, writer.stats, out=out, deleted_tasks=deleted)
        files, total = out.files, out.total_bytes
        manifest = out.write_stream(MANIFEST_NAME, render(head, out), tally=Tally(), content_type="application/json")
        listed = [o.size_bytes for o in target.iter_objects(out.key(MANIFEST_NAME)) if o.key == out.key(MANIFEST_NAME)]
        if listed != [manifest.size_bytes]:
            raise ExportError(f"{out.key(MANIFEST_NAME)}: verification failed: the manifest did not land whole")
    finally:
        out.close()
    return ExportResult(fmt, prefix, files, total, writer.stats, deleted)


def _write_deleted(deleted: Iterator[tuple[int, str]], out: RunOutput) -> int:
    """Incremental runs list the tasks deleted in their window, so readers can drop them too."""
    first = next(deleted, None)
    if first is None:
        return 0
    tally = Tally()

    def lines() -> Iterator[bytes]:
        for task_id, deleted_at in itertools.chain([first], deleted):
            tally.tasks += 1
            yield json.dumps({"id": task_id, "deleted_at": deleted_at}).encode() + b"\n"

    out.write_stream("deleted_tasks.jsonl", lines(), tally=tally, content_type="application/x-ndjson")
    return tally.tasks


def _check_counts(stats: ExportStats, in_db: int, where: str) -> None:
    accounted = stats.annotations_exported + sum(stats.skipped_annotations.values())
    if stats.annotations_read != in_db:
        raise ExportError(
            f"{where}: verification failed: read {stats.annotations_read} annotations, the window holds {in_db}"
        )
    if accounted != stats.annotations_read:
        raise ExportError(
            f"{where}: verification failed: {stats.annotations_read} annotations read but "
            f"{stats.annotations_exported} exported + {accounted - stats.annotations_exported} skipped"
        )


def _check_format(fmt: str, configured: tuple[str, ...]) -> None:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt not in configured:
        raise ExportError(f"format {fmt!r} is not among the target's formats ({', '.join(configured)})")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
