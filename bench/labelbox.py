"""Labelbox ingest benchmark: prints one JSON line.

A Labelbox export v2 NDJSON file of ``--rows`` data rows (default 100,000; each with one label of two
bounding boxes and a radio classification, the shape of fixtures/labelbox/export_v2.ndjson) is
ingested into a labeling DB whose tasks labelbridge wrote as rows (tasks and their ``tool_task``
rows made by SQL). The file is streamed from disk line by line, as it is from a bucket; the bucket's
own read speed is left out (the emulator's, not labelbridge's).

* ``ingest_rows_per_s``: the first ingest (every label created); ``reingest_rows_per_s``: the same
  file again (labels unchanged: read, compared, nothing rewritten; ``reingest_rewritten`` counts).
* ``*_per_cpu_s``: the same per CPU second of this process plus its PostgreSQL backend, which a
  loaded machine does not stretch as it stretches wall time (``load_average`` says how loaded).
* Peak RSS of the ingest alone, in child processes, at 10,000 rows and at ``--rows``: flat memory
  means the ratio stays near 1 (the file is 10x larger).

Usage: ``.venv/bin/python bench/labelbox.py [--rows 100000]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".demo" / "bench-airflow"))

import psycopg  # noqa: E402
from _common import CpuClock, add_rss_child_arg, report_peak_rss, rss_growth, scratch_database  # noqa: E402

import devservices  # noqa: E402
from labelbridge.tools.labelbox import IngestResult, LabelboxBinding, ingest_lines  # noqa: E402

BUCKET = "s3://bench-labelbox/"


def seed(dsn: str, count: int) -> tuple[int, int]:
    """``count`` tasks, each given to Labelbox as a row: (project id, tool_project id)."""
    with psycopg.connect(dsn) as conn:
        (project_id,) = conn.execute("INSERT INTO project (name) VALUES ('bench') RETURNING id").fetchone()  # type: ignore[misc]
        conn.execute(
            "INSERT INTO task (project_id, uri, data) SELECT %s, u, jsonb_build_object('image', u) "
            "FROM (SELECT %s || 'img/' || lpad(n::text, 8, '0') || '.jpg' AS u FROM generate_series(0, %s - 1) n) s",
            (project_id, BUCKET, count),
        )
        bound = LabelboxBinding.bind(conn, project_id, "bench")
        conn.execute(
            "INSERT INTO tool_task (tool_project_id, task_id, remote_id, data_hash) "
            "SELECT %s, id, id, '' FROM task WHERE project_id = %s",
            (bound.id, project_id),
        )
        conn.commit()
    return int(project_id), bound.id


def write_export(path: Path, count: int) -> None:
    """The export, written line by line (never whole in memory)."""
    with path.open("w") as out:
        for n in range(count):
            key = f"{BUCKET}img/{n:08d}.jpg"
            label = {
                "id": f"cklabel{n:08d}",
                "label_details": {"created_at": "2026-11-30T08:00:00.000+00:00",
                                  "updated_at": "2026-11-30T08:05:00.000+00:00", "created_by": "ann@example.com",
                                  "reviews": []},
                "performance_details": {"seconds_to_create": 12.5},
                "annotations": {
                    "objects": [
                        {"feature_id": f"ckf{n}a", "name": "dog", "annotation_kind": "ImageBoundingBox",
                         "bounding_box": {"top": 96, "left": 64, "height": 192, "width": 192}, "classifications": []},
                        {"feature_id": f"ckf{n}b", "name": "cat", "annotation_kind": "ImageBoundingBox",
                         "bounding_box": {"top": 240, "left": 323.2, "height": 48, "width": 78.4},
                         "classifications": []},
                    ],
                    "classifications": [{"feature_id": f"ckc{n}", "name": "quality",
                                         "radio_answer": {"name": "good", "value": "good"}}],
                    "relationships": [],
                },
            }  # fmt: skip
            line = {
                "data_row": {"id": f"ckdr{n:08d}", "global_key": key, "external_id": key.rsplit("/", 1)[-1],
                             "row_data": f"https://signed.invalid/{n}?X-Amz-Signature=0"},
                "media_attributes": {"width": 640, "height": 480, "mime_type": "image/jpeg"},
                "projects": {"ckproj": {"labels": [label], "project_details": {"workflow_status": "Done"}}},
            }  # fmt: skip
            out.write(json.dumps(line) + "\n")


def ingest(dsn: str, project_id: int, tool_project_id: int, path: Path) -> tuple[float, float, IngestResult]:
    """(wall seconds, CPU seconds of client and DB backend, result)."""
    result = IngestResult("bench", "bench")
    with psycopg.connect(dsn) as conn, path.open("rb") as lines:
        cpu = CpuClock(conn)
        started, cpu_started = time.perf_counter(), cpu()
        ingest_lines(conn, project_id, tool_project_id, lines, path.as_uri(), result)
        conn.commit()
        return time.perf_counter() - started, cpu() - cpu_started, result


def run(server: str, count: int, workdir: Path) -> dict[str, Any]:
    with scratch_database(server) as dsn:
        project_id, tool_project_id = seed(dsn, count)
        export = workdir / f"export-{count}.ndjson"
        write_export(export, count)
        first_s, first_cpu, first = ingest(dsn, project_id, tool_project_id, export)
        assert first.counts.created == count and first.counts.quarantined == 0, first.counts
        again_s, again_cpu, again = ingest(dsn, project_id, tool_project_id, export)
        return {
            "seconds": first_s, "again_seconds": again_s, "cpu_s": first_cpu, "again_cpu_s": again_cpu,
            "rewritten": again.counts.updated + again.counts.created,
            "unchanged": again.counts.unchanged, "file_mb": export.stat().st_size / 1e6,
        }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    add_rss_child_arg(parser)
    args = parser.parse_args()
    postgres = devservices.start_postgres()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            if args.rss_child:
                run(postgres.url, args.rss_child, Path(workdir))
                report_peak_rss()
                return
            measured = run(postgres.url, args.rows, Path(workdir))
        rss = rss_growth(__file__, args.rows)
    finally:
        postgres.stop()
    print(json.dumps({
        "bench": "labelbox_ingest",
        "rows": args.rows,
        "labels": args.rows,
        "file_mb": round(measured["file_mb"], 1),
        "ingest_rows_per_s": round(args.rows / measured["seconds"]),
        "reingest_rows_per_s": round(args.rows / measured["again_seconds"]),
        "reingest_rewritten": measured["rewritten"],
        "ingest_cpu_s": round(measured["cpu_s"], 1),
        "ingest_rows_per_cpu_s": round(args.rows / measured["cpu_s"]),
        "reingest_rows_per_cpu_s": round(args.rows / measured["again_cpu_s"]),
        "load_average": round(os.getloadavg()[0], 1),
        **rss,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
