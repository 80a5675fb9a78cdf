"""Ground Truth ingest benchmark: prints one JSON line.

A 100,000-line output manifest (``--lines``) of bounding-box jobs in AWS's documented format
(docs: sms-data-output; two boxes per line, one line in a thousand malformed and quarantined) on
moto_server, ingested into a labeling DB holding the matching tasks, through the same
``ingest_outputs`` the DAG runs: streamed line by line, batches of 1,000 written per statement.

* ``lines_per_s``: lines ingested per second (reading from the emulator included).
* Peak RSS of the ingest alone, in child processes at 10k and at ``--lines`` lines: a streamed
  ingest stays flat (``rss_growth_ratio`` near 1); reading the file whole would grow with it.
  Each child reports its peak minus its RSS just before the ingest (imports, connections).

Usage: ``.venv/bin/python bench/ground_truth.py [--lines 100000] [--no-analyze]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".demo" / "bench-airflow"))

import psycopg  # noqa: E402

import devservices  # noqa: E402
from labelbridge import db  # noqa: E402
from labelbridge.config import Cloud, ProjectConfig  # noqa: E402
from labelbridge.storage import S3Store  # noqa: E402

BUCKET = "bench-gt"
KEY = "gt-output/bench-job/manifests/output/output.manifest"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def write_manifest(path: Path, lines: int) -> None:
    """The output manifest, written line by line to disk (never held whole)."""
    meta = {"objects": [{"confidence": 0.8}, {"confidence": 0.9}], "class-map": {"0": "dog", "5": "bone"},
            "type": "groundtruth/object-detection", "human-annotated": "yes",
            "creation-date": "2026-12-01T10:00:00.000000", "job-name": "bench-job"}  # fmt: skip
    with path.open("w") as out:
        for n in range(lines):
            if n % 1000 == 999:
                out.write('{"source-ref": "s3://' + BUCKET + '/images/broken.png", "bounding-box": \n')
                continue
            box = {"image_size": [{"width": 640, "height": 480, "depth": 3}], "annotations": [
                {"class_id": 0, "left": n % 500, "top": 10, "width": 61, "height": 128},
                {"class_id": 5, "left": 20, "top": n % 300, "width": 30, "height": 30}]}  # fmt: skip
            out.write(json.dumps({"source-ref": f"s3://{BUCKET}/images/{n:07d}.png", "bounding-box": box,
                                  "bounding-box-metadata": meta}) + "\n")  # fmt: skip


def child(lines: int, server: str, *, analyze: bool = True) -> dict[str, float]:
    """Set up ``lines`` tasks and their output manifest, then measure the ingest alone."""
    from labelbridge.connections import make_client
    from labelbridge.tools.ground_truth import ingest_outputs

    name = f"lb_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = devservices.database_dsn(server, name)
    try:
        db.upgrade(dsn)
        with psycopg.connect(dsn) as conn:
            (project_id,) = conn.execute("INSERT INTO project (name) VALUES ('bench') RETURNING id").fetchone()  # type: ignore[misc]
            conn.execute(
                "INSERT INTO task (project_id, uri, data) SELECT %s, u, jsonb_build_object('image', u) FROM ("
                " SELECT 's3://" + BUCKET + "/images/' || lpad(i::text, 7, '0') || '.png' AS u"
                " FROM generate_series(0, %s - 1) i) s",
                (project_id, lines),
            )
            if analyze:
                # The bench server runs with autovacuum off; a deployment's autovacuum analyzes a table
                # after a bulk load such as a first sync. --no-analyze measures the table without statistics.
                conn.commit()
                conn.execute("ANALYZE task")
        client = make_client(Cloud.S3, "aws_default")
        bucket = f"{BUCKET}-{uuid.uuid4().hex[:6]}"
        client.create_bucket(Bucket=bucket)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "output.manifest"
            write_manifest(path, lines)
            client.upload_file(str(path), bucket, KEY)
            size_mb = path.stat().st_size / 2**20
        project = ProjectConfig.model_validate({"name": "bench", "ground_truth": {
            "region": "us-east-1", "manifests": f"s3://{bucket}/gt-input/", "outputs": f"s3://{bucket}/gt-output/",
            "task_type": "bounding_box", "label_attribute": "bounding-box"}})  # fmt: skip
        store = S3Store(client, bucket)
        before = current_rss_mb()
        started = time.perf_counter()
        result = ingest_outputs(dsn, project=project, output_store=store)
        elapsed = time.perf_counter() - started
        counts = result.counts
        assert counts.lines == lines and counts.created + counts.quarantined == lines, counts
        return {"lines_per_s": lines / elapsed, "seconds": elapsed, "rss_before_mb": before,
                "peak_rss_mb": peak_rss_mb(), "ingest_rss_mb": peak_rss_mb() - before, "manifest_mb": size_mb,
                "quarantined": counts.quarantined}  # fmt: skip
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_child(lines: int, server: str, env: dict[str, str], *, analyze: bool) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(lines), "--server", server, *([] if analyze else ["--no-analyze"])],
        check=True, capture_output=True, text=True, env={**os.environ, **env},
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--no-analyze", action="store_true", help="leave the task table without statistics")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.server, analyze=not args.no_analyze)))
        return
    postgres = devservices.start_postgres()
    moto = devservices.start_moto()
    try:
        small_lines = min(10_000, args.lines)
        small = run_child(small_lines, postgres.url, moto.env, analyze=not args.no_analyze)
        large = run_child(args.lines, postgres.url, moto.env, analyze=not args.no_analyze)
    finally:
        moto.stop()
        postgres.stop()
    print(json.dumps({
        "bench": "ground_truth_ingest",
        "lines": args.lines,
        "task_table_analyzed": not args.no_analyze,
        "manifest_mb": round(large["manifest_mb"], 1),
        "lines_per_s": round(large["lines_per_s"]),
        "seconds": round(large["seconds"], 1),
        "quarantined": int(large["quarantined"]),
        f"lines_per_s_at_{small_lines}": round(small["lines_per_s"]),
        "peak_rss_mb": round(large["peak_rss_mb"], 1),
        f"peak_rss_mb_at_{small_lines}": round(small["peak_rss_mb"], 1),
        "ingest_rss_mb": round(large["ingest_rss_mb"], 1),
        f"ingest_rss_mb_at_{small_lines}": round(small["ingest_rss_mb"], 1),
        "rss_growth_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 2),
    }))


if __name__ == "__main__":
    main()
