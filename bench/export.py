"""Export throughput and memory against loading the whole project into pandas; prints ONE JSON line.

    .venv/bin/python bench/export.py [--annotations 1000000] [--formats json,jsonl,csv,coco,yolo] [--rounds 3]
                                     [--target-dir /dev/shm]

Seeds a throwaway labeling database (one image task per annotation: a rectangle, a polygon and a
choice), then, each in its own subprocess so peak RSS is its own:

* ``export_annotations_per_s[fmt]``: :func:`write_export` from the DB (server-side cursors) to a
  local-directory target (so the number is export work, not an emulator's speed);
* ``baseline_annotations_per_s``: what users do today: ``pandas.read_sql`` of tasks joined with
  annotations, then one ``DataFrame.to_json`` blob written to the same kind of target;
* ``peak_rss_mb``: the largest of the streamed exports; ``peak_rss_mb_at`` gives every format's (and
  the baseline's) peak at a tenth of the size and at full size (flat means streaming works).

Targets are directories under ``--target-dir``: by default ``/dev/shm`` (tmpfs) where there is one,
so yolo and voc (a file per image) measure export work rather than the disk's cost of creating a
file, which on a busy virtual machine's ext4 ranges from 0.1 to 1.5 ms of kernel time per file.
The baseline writes its one blob there too. ``target_dir`` in the output says which was used.

The machine may be shared: the baseline and every format run once per round, interleaved, for
``--rounds`` rounds, and each reports its best round, so a neighbour's burst skews no ratio.

Needs PostgreSQL (default ``postgresql://postgres@127.0.0.1:5432/postgres``, ``--pg`` to change).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from peak_rss import peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
sys.path.insert(0, str(ROOT))


def _result(i: int) -> list[dict[str, Any]]:
    x = (i % 50) + 1.0
    return [
        {"id": f"r{i}", "from_name": "label", "to_name": "image", "type": "rectanglelabels",
         "original_width": 640, "original_height": 480,
         "value": {"x": x, "y": x / 2, "width": 20.0, "height": 10.0, "rotation": 0, "rectanglelabels": ["cat"]}},
        {"id": f"p{i}", "from_name": "poly", "to_name": "image", "type": "polygonlabels",
         "original_width": 640, "original_height": 480,
         "value": {"points": [[x, x], [x + 10, x], [x + 10, x + 10]], "polygonlabels": ["dog"]}},
        {"id": f"c{i}", "from_name": "scene", "to_name": "image", "type": "choices",
         "value": {"choices": ["indoor"]}},
    ]


def seed(dsn: str, start: int, stop: int) -> None:
    import psycopg

    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO project (name, labels) VALUES ('bench', '[\"cat\", \"dog\"]') ON CONFLICT DO NOTHING")
        with cur.copy("COPY task (id, project_id, uri, item_index, data) FROM STDIN") as copy:
            for i in range(start, stop):
                data = json.dumps({"image": f"s3://bench/images/{i // 1000}/{i}.jpg"})
                copy.write_row((i + 1, 1, "s3://bench/tasks.json", i, data))
        with cur.copy(
            "COPY annotation (task_id, origin, origin_key, result, completed_by, lead_time, extra) FROM STDIN"
        ) as copy:
            for i in range(start, stop):
                copy.write_row((i + 1, "file", str(i), json.dumps(_result(i)), "7", 3.5, json.dumps({"id": i})))
        cur.execute("SELECT setval('task_id_seq', %s)", (stop,))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE task")
        conn.execute("VACUUM ANALYZE annotation")


def run_export(dsn: str, fmt: str, out_dir: Path) -> dict[str, Any]:
    from datetime import UTC, datetime

    from labelbridge.export.directory import DirectoryTarget
    from labelbridge.export.formats import FormatContext
    from labelbridge.export.run import write_export
    from labelbridge.export.source import DatabaseSource, Window, open_snapshot

    started = time.perf_counter()
    with open_snapshot(dsn) as conn:
        source = DatabaseSource(conn, 1, window=Window(datetime.now(UTC), full=True), batch_size=2000)
        # Small files inline, as convert writes to a local directory (threads pay off for buckets).
        result = write_export(source, DirectoryTarget(out_dir), prefix="", fmt=fmt,
                              context=FormatContext(labels=("cat", "dog")), header={"format": fmt}, writer_threads=0)
    seconds = time.perf_counter() - started
    return {"annotations": result.stats.annotations_read, "seconds": seconds}


def run_baseline(dsn: str, out_dir: Path) -> dict[str, Any]:
    import warnings

    import pandas as pd
    import psycopg

    from labelbridge.export.directory import DirectoryTarget

    started = time.perf_counter()
    with psycopg.connect(dsn) as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas prefers SQLAlchemy; a DBAPI connection works
        frame = pd.read_sql(
            "SELECT t.id, t.data, t.meta, t.created_at, t.updated_at, a.id AS annotation_id, a.result,"
            " a.completed_by, a.was_cancelled, a.ground_truth, a.lead_time, a.extra, a.created_at AS a_created"
            " FROM task t JOIN annotation a ON a.task_id = t.id WHERE t.project_id = 1 ORDER BY t.id",
            conn,
        )
    blob = frame.to_json(orient="records", date_format="iso").encode()
    DirectoryTarget(out_dir).write("result.json", blob)
    seconds = time.perf_counter() - started
    return {"annotations": len(frame), "seconds": seconds}


def child(args: argparse.Namespace) -> None:
    out_dir = Path(tempfile.mkdtemp(prefix="lb-bench-out-", dir=args.target_dir))
    try:
        measured = run_baseline(args.dsn, out_dir) if args.child == "baseline" else run_export(
            args.dsn, args.child, out_dir
        )
    finally:
        subprocess.run(["rm", "-rf", str(out_dir)], check=True)
    measured["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(measured))


def measure(dsn: str, what: str, target_dir: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", what, "--dsn", dsn, "--target-dir", target_dir],
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{what} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--annotations", type=int, default=1_000_000)
    parser.add_argument("--formats", default="json,jsonl,json_min,csv,coco,yolo,voc")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; each variant reports its best")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--target-dir", default="/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir(),
                        help="where the export targets' directories go (default: tmpfs when there is one)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    import psycopg
    from psycopg.conninfo import make_conninfo

    from labelbridge import db

    name = f"lb_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = make_conninfo(args.pg, dbname=name)
    try:
        db.upgrade(dsn)
        small = max(args.annotations // 10, 1)
        formats = args.formats.split(",")
        variants = ["baseline", *formats]
        seed(dsn, 0, small)
        rss_small = {variant: measure(dsn, variant, args.target_dir)["peak_rss_mb"] for variant in variants}
        seed(dsn, small, args.annotations)
        runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in variants}
        for _ in range(args.rounds):
            for variant in variants:
                runs[variant].append(measure(dsn, variant, args.target_dir))
    finally:
        with psycopg.connect(args.pg, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def best_rate(variant: str) -> float:
        return max(m["annotations"] / m["seconds"] for m in runs[variant])

    def peak(variant: str) -> float:
        return round(max(m["peak_rss_mb"] for m in runs[variant]), 1)

    baseline_rate = best_rate("baseline")
    rates = {fmt: best_rate(fmt) for fmt in formats}
    print(json.dumps({
        "annotations": args.annotations,
        "rounds": args.rounds,
        "export_annotations_per_s": {fmt: round(rate) for fmt, rate in rates.items()},
        "peak_rss_mb": max(peak(fmt) for fmt in formats),
        "peak_rss_mb_at": {str(small): {variant: round(rss, 1) for variant, rss in rss_small.items()},
                           str(args.annotations): {variant: peak(variant) for variant in variants}},
        "baseline_annotations_per_s": round(baseline_rate),
        "baseline_peak_rss_mb": peak("baseline"),
        "ratio_vs_baseline": {fmt: round(rate / baseline_rate, 2) for fmt, rate in rates.items()},
        "target_dir": args.target_dir,
    }))


if __name__ == "__main__":
    main()
