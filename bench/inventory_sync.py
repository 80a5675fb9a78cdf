"""Inventory sync benchmark: prints one JSON line.

* A Parquet S3 Inventory report of ``--objects`` (default 1,000,000) objects, rows shuffled over
  ``--files`` data files, written in S3's layout (manifest.json, manifest.checksum, data/*.parquet)
  into a moto_server bucket; then, in a child process on a fresh labeling database, one sync from it
  end to end (find the newest complete report, download and check each file, read it row group by
  row group, sort in bounded memory, write the tasks): ``inventory_objects_per_s``.
* CPU seconds of that sync (the child's plus its PostgreSQL backend's, from ``/proc``), which the
  machine's other load does not stretch as it stretches wall time: ``inventory_objects_per_cpu_s``.
* In the same child, the unchanged re-sync from the same report: its rate, and the rows it rewrote
  (row versions whose xmin moved): ``resync_rows_rewritten``, which must be 0.
* Peak RSS of such a child at ``--small-objects`` (100k) and at ``--objects``: it must stay flat.
* The listing path in the same run: ``--listing-objects`` (default 10,000) objects put into a moto
  bucket and synced through S3Hook's client as every run did before inventories
  (``listing_objects_per_s``). Uploading a million objects to moto takes hours (about 180 PUT/s
  here), so the listing is measured on fewer objects: its rate is per page of 1,000 keys, one
  request each, and does not rise with the bucket's size. ``ratio_vs_listing`` divides the two rates.

Usage: ``.venv/bin/python bench/inventory_sync.py [--objects 1000000] [--listing-objects 10000]``
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".demo" / "bench-airflow"))

import psycopg  # noqa: E402
from _common import CpuClock, scratch_database  # noqa: E402 - bench/ is the script's own folder
from peak_rss import peak_rss_mb  # noqa: E402

import devservices  # noqa: E402
from labelbridge.config import Cloud, StorageConfig  # noqa: E402
from labelbridge.storage import S3Store  # noqa: E402
from labelbridge.storage.inventory import S3InventoryReader  # noqa: E402
from labelbridge.sync import StorageSync  # noqa: E402
from labelbridge.sync.sources import InventorySource  # noqa: E402

SOURCE = "bench-source"
REPORTS = "bench-inventory"
LISTED = "bench-listed"
PAGE = 1000


def storage(bucket: str) -> StorageConfig:
    return StorageConfig(name="bench", project="bench", cloud=Cloud.S3, bucket=bucket)


def client() -> Any:
    from labelbridge.connections import make_client

    return make_client(Cloud.S3, "aws_default")


def write_report(count: int, files: int, prefix: str) -> None:
    """A Parquet S3 Inventory of ``count`` objects under ``prefix``, rows in random order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    reports = S3Store(client(), REPORTS, prefix=prefix)
    order = list(range(count))
    random.Random(19).shuffle(order)
    modified = datetime(2026, 1, 1, tzinfo=UTC)
    entries = []
    for part in range(files):
        numbers = order[part::files]
        table = pa.table({
            "bucket": pa.array([SOURCE] * len(numbers), pa.string()),
            "key": pa.array([f"img/{n:08d}.jpg" for n in numbers], pa.string()),
            "version_id": pa.nulls(len(numbers), pa.string()),
            "is_latest": pa.array([True] * len(numbers)),
            "is_delete_marker": pa.array([False] * len(numbers)),
            "size": pa.array([1000 + n for n in numbers], pa.int64()),
            "last_modified_date": pa.array([modified] * len(numbers), pa.timestamp("ms", tz="UTC")),
            "e_tag": pa.array([f"{n:032x}" for n in numbers], pa.string()),
            "storage_class": pa.array(["STANDARD"] * len(numbers), pa.string()),
        })
        sink = io.BytesIO()
        pq.write_table(table, sink, row_group_size=50_000)  # S3 writes row groups of this order
        body = sink.getvalue()
        key = f"{prefix}data/part-{part:03d}.parquet"
        reports.write(key, io.BytesIO(body))
        entries.append({"key": key, "size": len(body), "MD5checksum": hashlib.md5(body).hexdigest()})
    when = datetime.now(UTC) - timedelta(hours=1)
    manifest = json.dumps({
        "sourceBucket": SOURCE, "destinationBucket": f"arn:aws:s3:::{REPORTS}", "version": "2016-11-30",
        "creationTimestamp": str(int(when.timestamp() * 1000)), "fileFormat": "Parquet",
        "fileSchema": "message s3.inventory { required binary bucket (STRING); required binary key (STRING); }",
        "files": entries,
    }).encode()
    folder = f"{prefix}{when:%Y-%m-%dT%H-%MZ}/"
    reports.write(folder + "manifest.json", manifest)
    reports.write(folder + "manifest.checksum", hashlib.md5(manifest).hexdigest().encode())


def child(server: str, count: int, prefix: str) -> dict[str, Any]:
    """One inventory sync and its unchanged re-sync on a fresh database, in this (child) process."""
    with scratch_database(server) as dsn:
        s3 = client()
        store = S3Store(s3, SOURCE, page_size=PAGE)
        reader = S3InventoryReader(S3Store(s3, REPORTS, prefix=prefix), source_bucket=SOURCE)
        with psycopg.connect(dsn) as conn:
            cpu = CpuClock(conn)
            started, cpu_started = time.perf_counter(), cpu()
            first = StorageSync(conn, store, storage(SOURCE), source=InventorySource(store, reader)).run()
            first_s = time.perf_counter() - started
            first_cpu = cpu() - cpu_started
            assert first.inserted == count, first
            before = conn.execute("SELECT txid_current()").fetchone()[0]  # type: ignore[index]
            conn.commit()
            started = time.perf_counter()
            again = StorageSync(conn, store, storage(SOURCE), source=InventorySource(store, reader)).run()
            again_s = time.perf_counter() - started
            assert again.unchanged == count, again
            rewritten = conn.execute(
                "SELECT count(*) FROM task WHERE xmin::text::bigint > %s", (before,)
            ).fetchone()[0]  # type: ignore[index]
    return {"objects_per_s": count / first_s, "seconds": first_s, "cpu_s": first_cpu,
            "resync_objects_per_s": count / again_s,
            "rewritten": int(rewritten), "peak_rss_mb": peak_rss_mb()}


def run_child(count: int, prefix: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(count), "--child-prefix", prefix],
        check=True, capture_output=True, text=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def listing(server: str, count: int) -> float:
    """Objects/s of a first sync by listing ``count`` objects from moto, as before inventories."""
    s3 = client()
    s3.create_bucket(Bucket=LISTED)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: s3.put_object(Bucket=LISTED, Key=f"img/{n:08d}.jpg", Body=b"x"), range(count)))
    with scratch_database(server) as dsn, psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        result = StorageSync(conn, S3Store(s3, LISTED, page_size=PAGE), storage(LISTED)).run()
        elapsed = time.perf_counter() - started
    assert result.inserted == count, result
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--small-objects", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=8, help="data files the report is split into")
    parser.add_argument("--listing-objects", type=int, default=10_000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-prefix", help=argparse.SUPPRESS)
    args = parser.parse_args()
    postgres = devservices.start_postgres()
    try:
        if args.child:
            print(json.dumps(child(postgres.url, args.child, args.child_prefix)))
            return
        moto = devservices.start_moto()
        os.environ.update(moto.env)
        try:
            s3 = client()
            for bucket in (SOURCE, REPORTS):
                s3.create_bucket(Bucket=bucket)
            small_prefix, large_prefix = f"small/{SOURCE}/daily/", f"large/{SOURCE}/daily/"
            write_report(args.small_objects, max(1, args.files // 4), small_prefix)
            write_report(args.objects, args.files, large_prefix)
            small = run_child(args.small_objects, small_prefix)
            large = run_child(args.objects, large_prefix)
            listing_per_s = listing(postgres.url, args.listing_objects)
        finally:
            moto.stop()
    finally:
        postgres.stop()
    print(json.dumps({
        "bench": "inventory_sync",
        "objects": args.objects,
        "format": "parquet",
        "files": args.files,
        "inventory_objects_per_s": round(large["objects_per_s"]),
        "inventory_seconds": round(large["seconds"], 1),
        "inventory_cpu_s": round(large["cpu_s"], 1),
        "inventory_objects_per_cpu_s": round(args.objects / large["cpu_s"]),
        f"inventory_objects_per_s_at_{args.small_objects}": round(small["objects_per_s"]),
        "resync_objects_per_s": round(large["resync_objects_per_s"]),
        "resync_rows_rewritten": large["rewritten"],
        "listing_objects": args.listing_objects,
        "listing_objects_per_s": round(listing_per_s),
        "ratio_vs_listing": round(large["objects_per_s"] / listing_per_s, 1),
        "peak_rss_mb": round(large["peak_rss_mb"], 1),
        f"peak_rss_mb_at_{args.small_objects}": round(small["peak_rss_mb"], 1),
        "rss_growth_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 2),
    }))


if __name__ == "__main__":
    main()
