"""``manifest.json``: written last, so a reader that sees it sees a complete, verified export.

It holds no clock reading of its own (only the watermark range), so a rerun of the same run writes
it byte for byte again. ``files`` comes last and streams from the writer's spool: a YOLO export may
list a million files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from labelbridge.export.formats.base import ExportStats
from labelbridge.export.output import RunOutput

#: Bump when a field changes meaning or goes away; adding fields keeps the version.
SCHEMA_VERSION = 1


def manifest_header(
    header: dict[str, Any], stats: ExportStats, *, out: RunOutput, deleted_tasks: int
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        **header,
        "counts": {
            "files": out.files,
            "bytes": out.total_bytes,
            "tasks_read": stats.tasks_read,
            "tasks_exported": stats.tasks_exported,
            "annotations_read": stats.annotations_read,
            "annotations_exported": stats.annotations_exported,
            "regions_exported": stats.regions_exported,
            "deleted_tasks": deleted_tasks,
        },
        "skipped": {
            "tasks": _nonzero(stats.skipped_tasks),
            "annotations": _nonzero(stats.skipped_annotations),
            "results": _nonzero(stats.skipped_results),
        },
        "problems": stats.problems,
    }


def _nonzero(counts: Mapping[str, int]) -> dict[str, int]:
    return {key: value for key, value in sorted(counts.items()) if value}


def render(head: dict[str, Any], out: RunOutput) -> Iterator[bytes]:
    """The manifest as chunks: the header indented, then one file entry per line."""
    text = json.dumps(head, indent=2, ensure_ascii=False)
    yield text[: text.rfind("}")].rstrip().encode() + b',\n  "files": ['
    first = True
    for entry in out.iter_entries_json():
        yield (b"\n    " if first else b",\n    ") + entry.encode()
        first = False
    yield b"]\n}\n" if first else b"\n  ]\n}\n"
