"""Sync benchmark: prints one JSON line.

* End to end: a real bucket on moto_server (``--e2e-objects``) synced through S3Hook's client.
* DB side alone (``--objects``, default 100k): the same sync engine fed by a generated listing,
  so the emulator's listing speed does not bound it; then a re-sync of the unchanged listing,
  counting rows rewritten (row versions whose xmin moved).
* Baseline, same objects, same run: the way users write it today: the whole listing as one list,
  then one INSERT … ON CONFLICT per object through executemany.
* Ours and the baseline alternate over ``--rounds`` rounds; the round with the median ratio is reported.
* CPU seconds too (``db_cpu_s``, ``baseline_db_cpu_s``, ``cpu_ratio_vs_baseline``): this process'
  plus its PostgreSQL backend's (read from ``/proc``; the server must be local), which the
  machine's other load does not stretch as it stretches wall time. Medians over the rounds.
* Peak RSS of the DB-side sync in child processes at 10k and at ``--objects``: it must not grow.

Usage: ``.venv/bin/python bench/sync.py [--objects 100000] [--e2e-objects 5000]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".demo" / "bench-airflow"))

import psycopg  # noqa: E402
from _common import CpuClock, add_rss_child_arg, report_peak_rss, rss_growth, scratch_database  # noqa: E402

import devservices  # noqa: E402
from labelbridge.config import Cloud, StorageConfig  # noqa: E402
from labelbridge.storage import ObjectInfo, S3Store  # noqa: E402
from labelbridge.sync import StorageSync  # noqa: E402

PAGE = 1000
MODIFIED = datetime(2025, 1, 1, tzinfo=UTC)


class GeneratedListing(S3Store):
    """An S3 store whose listing is generated page by page: the DB side, without the emulator."""

    def __init__(self, bucket: str, count: int) -> None:
        super().__init__(client=None, bucket=bucket, page_size=PAGE)
        self.count = count
        self.listing_seconds = 0.0  # time spent making pages: subtracted from the DB side

    def _list_pages(self, prefix: str, delimiter: str | None) -> Iterator[list[ObjectInfo]]:
        for start in range(0, self.count, PAGE):
            began = time.perf_counter()
            page = [
                ObjectInfo(f"{prefix}img/{n:08d}.jpg", 1000 + n, f"{n:032x}", MODIFIED)
                for n in range(start, min(start + PAGE, self.count))
            ]
            self.listing_seconds += time.perf_counter() - began
            yield page


def storage(bucket: str) -> StorageConfig:
    return StorageConfig(name="bench", project="bench", cloud=Cloud.S3, bucket=bucket)


def db_side(dsn: str, count: int) -> tuple[float, float, int, float]:
    """(rows/s first sync, rows/s re-sync, rows rewritten by the re-sync, CPU s of the first sync)."""
    store = GeneratedListing("bench-bucket", count)
    with psycopg.connect(dsn) as conn:
        cpu = CpuClock(conn)
        started, cpu_started = time.perf_counter(), cpu()
        first = StorageSync(conn, store, storage(store.bucket)).run()
        first_s = time.perf_counter() - started - store.listing_seconds
        # Making the listing is CPU-bound, so its wall time is its CPU time.
        first_cpu = cpu() - cpu_started - store.listing_seconds
        assert first.inserted == count, first
        before = conn.execute("SELECT txid_current()").fetchone()[0]  # type: ignore[index]
        conn.commit()
        store.listing_seconds = 0.0
        started = time.perf_counter()
        again = StorageSync(conn, store, storage(store.bucket)).run()
        again_s = time.perf_counter() - started - store.listing_seconds
        assert again.unchanged == count, again
        rewritten = conn.execute(
            "SELECT (SELECT count(*) FROM task WHERE xmin::text::bigint > %(t)s)"
            " + (SELECT count(*) FROM source_object WHERE xmin::text::bigint > %(t)s)",
            {"t": before},
        ).fetchone()[0]  # type: ignore[index]
    return count / first_s, count / again_s, int(rewritten), first_cpu


def baseline(dsn: str, count: int) -> tuple[float, float]:
    """Whole listing in one list, then executemany of one upsert per object: (rows/s, CPU s)."""
    store = GeneratedListing("bench-bucket", count)
    keys = [obj.key for obj in store.iter_objects()]  # what S3Hook.list_keys returns: every key at once
    with psycopg.connect(dsn) as conn:
        project = conn.execute("INSERT INTO project (name) VALUES ('baseline') RETURNING id").fetchone()[0]  # type: ignore[index]
        cpu = CpuClock(conn)
        started, cpu_started = time.perf_counter(), cpu()
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO task (project_id, uri, item_index, data) VALUES (%s, %s, 0, %s) "
                "ON CONFLICT (project_id, uri_key_head(uri), uri_key_tail(uri), item_index)"
                " DO UPDATE SET data = EXCLUDED.data",
                [(project, f"s3://bench-bucket/{k}", json.dumps({"image": f"s3://bench-bucket/{k}"})) for k in keys],
            )
        conn.commit()
        return count / (time.perf_counter() - started), cpu() - cpu_started


def end_to_end(server: str, count: int) -> float:
    moto = devservices.start_moto()
    os.environ.update(moto.env)
    try:
        from labelbridge.connections import make_client

        client = make_client(Cloud.S3, "aws_default")
        bucket = "bench-e2e"
        client.create_bucket(Bucket=bucket)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda n: client.put_object(Bucket=bucket, Key=f"img/{n:06d}.jpg", Body=b"x"), range(count)))
        store = S3Store(client, bucket, page_size=PAGE)
        with scratch_database(server) as dsn, psycopg.connect(dsn) as conn:
            started = time.perf_counter()
            result = StorageSync(conn, store, storage(bucket)).run()
            elapsed = time.perf_counter() - started
        assert result.inserted == count, result
        return count / elapsed
    finally:
        moto.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--e2e-objects", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3, help="ours/baseline pairs; the median ratio is reported")
    add_rss_child_arg(parser)
    args = parser.parse_args()
    postgres = devservices.start_postgres()
    try:
        if args.rss_child:
            with scratch_database(postgres.url) as dsn:
                db_side(dsn, args.rss_child)
            report_peak_rss()
            return
        # Ours and the baseline alternate, round after round, each on a fresh database: the
        # machine's load drifts, and a ratio measured side by side is what holds.
        rounds = []
        for _ in range(args.rounds):
            with scratch_database(postgres.url) as dsn:
                rounds.append((*db_side(dsn, args.objects), *baseline(dsn, args.objects)))
        ratios = sorted(r[0] / r[4] for r in rounds)
        median = rounds[[r[0] / r[4] for r in rounds].index(ratios[len(ratios) // 2])]
        db_rows_per_s, resync_rows_per_s, _, _, baseline_rows_per_s, _ = median
        db_cpu = sorted(r[3] for r in rounds)[len(rounds) // 2]
        baseline_cpu = sorted(r[5] for r in rounds)[len(rounds) // 2]
        rewritten = max(r[2] for r in rounds)
        e2e_per_s = end_to_end(postgres.url, args.e2e_objects)
        rss = rss_growth(__file__, args.objects)
    finally:
        postgres.stop()
    print(json.dumps({
        "bench": "sync",
        "objects": args.objects,
        "e2e_objects": args.e2e_objects,
        "sync_objects_per_s": round(e2e_per_s),
        "db_rows_per_s": round(db_rows_per_s),
        "resync_db_rows_per_s": round(resync_rows_per_s),
        "resync_rows_rewritten": rewritten,
        "baseline_db_rows_per_s": round(baseline_rows_per_s),
        "ratio_vs_baseline": round(db_rows_per_s / baseline_rows_per_s, 2),
        "ratios_per_round": [round(r, 2) for r in ratios],
        "db_cpu_s": round(db_cpu, 2),
        "baseline_db_cpu_s": round(baseline_cpu, 2),
        "cpu_ratio_vs_baseline": round(baseline_cpu / db_cpu, 2),
        **rss,
    }))


if __name__ == "__main__":
    main()
