"""Batched task upsert: COPY + one set-based upsert against executemany; prints ONE JSON line.

    .venv/bin/python bench/upsert.py [--rows 100000] [--batch 10000] [--pg postgresql://…/postgres]

On a fresh, migrated labeling database (created and dropped here), the same task-like rows
(``project_id, uri, item_index, data, meta``) go into an empty ``task`` table two ways:

* ``bulk``: :func:`labelbridge.db.copy_rows` into a temp staging table, then
  :func:`labelbridge.db.upsert_from_stage` (one ``INSERT … ON CONFLICT … DO UPDATE … WHERE …
  IS DISTINCT FROM``), one transaction per batch, as the sync engine does;
* ``executemany`` (the baseline): psycopg's ``executemany`` (pipelined) of the same upsert, row by
  row, one transaction per batch.

Then the bulk path runs again over the unchanged rows: ``rerun_rows_rewritten`` must be 0, checked
three ways: the upsert's own count, ``pg_stat_user_tables.n_tup_upd`` and every row's ``xmin``. A
control run with 1 object in 100 re-uploaded shows the same counters do move (``control_*``).
PostgreSQL: ``--pg``, else ``$LABELBRIDGE_PG_DSN``, else 127.0.0.1:5432 (user postgres), else an
embedded ``pgserver`` (``devservices.start_postgres``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import devservices
from labelbridge import db
from labelbridge.db.identity import TASK_KEY

COLUMNS = ("project_id", "uri", "item_index", "data", "meta")
COMPARE = ("data", "meta")

EXECUTEMANY_UPSERT = """
    INSERT INTO task AS t (project_id, uri, item_index, data, meta) VALUES (%s, %s, %s, %s, %s)
    ON CONFLICT (project_id, uri_key_head(uri), uri_key_tail(uri), item_index) DO UPDATE
       SET data = EXCLUDED.data, meta = EXCLUDED.meta, updated_at = now()
     WHERE (t.data, t.meta) IS DISTINCT FROM (EXCLUDED.data, EXCLUDED.meta)
"""


def task_rows(project_id: int, start: int, stop: int, *, touched_every: int = 0) -> Iterator[tuple[Any, ...]]:
    """Objects-as-tasks rows as a sync of an image bucket produces them.

    :param touched_every: give every n-th object a new ETag (a re-uploaded file); 0 for none.
    """
    for i in range(start, stop):
        etag = f"{i + 1 if touched_every and i % touched_every == 0 else i:032x}"
        key = f"images/{i // 1000:04d}/{i:08d}.jpg"
        yield (
            project_id,
            f"s3://bench-bucket/{key}",
            0,
            Jsonb({"image": f"s3://bench-bucket/{key}", "shard": i % 64}),
            Jsonb({"etag": etag, "size_bytes": 50_000 + i % 9_000, "last_modified": "2025-01-01T00:00:00Z"}),
        )


def run_bulk(
    dsn: str, project_id: int, rows: int, batch: int, *, touched_every: int = 0
) -> tuple[float, db.UpsertCounts]:
    total = db.UpsertCounts()
    began = time.perf_counter()
    with db.connect(dsn) as conn:
        for start in range(0, rows, batch):
            with conn.transaction(), conn.cursor() as cur:
                page = task_rows(project_id, start, min(rows, start + batch), touched_every=touched_every)
                db.copy_rows(cur, "_bench_tasks", "task", COLUMNS, page)
                total += db.upsert_from_stage(
                    cur, "_bench_tasks", "task", columns=COLUMNS, key=TASK_KEY, compare=COMPARE,
                    extra_set={"updated_at": sql.SQL("now()")},
                )
    return time.perf_counter() - began, total


def run_executemany(dsn: str, project_id: int, rows: int, batch: int) -> float:
    began = time.perf_counter()
    with db.connect(dsn) as conn:
        for start in range(0, rows, batch):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(EXECUTEMANY_UPSERT, list(task_rows(project_id, start, min(rows, start + batch))))
    return time.perf_counter() - began


def table_fingerprint(dsn: str) -> tuple[int, str]:
    """(n_tup_upd of ``task``, a digest of every row's (id, xmin)): both move if any row is rewritten."""
    with db.connect(dsn, autocommit=True) as conn:
        # Statistics reach pg_stat_* asynchronously; flush this backend's and drop the cached snapshot.
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT (SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'task'),"
            " md5(string_agg(id::text || ':' || xmin::text, ',' ORDER BY id)) FROM task"
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def reset(dsn: str) -> int:
    with db.connect(dsn) as conn:
        conn.execute("TRUNCATE task, source_object, project RESTART IDENTITY CASCADE")
        row = conn.execute("INSERT INTO project (name) VALUES ('bench') RETURNING id").fetchone()
    assert row is not None
    return int(row[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000, help="rows per transaction (a sync page batch)")
    parser.add_argument("--pg", help="server DSN used to create and drop the bench database")
    args = parser.parse_args()

    server = devservices.Service("postgres", args.pg, {}) if args.pg else devservices.start_postgres()
    name = f"lb_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = devservices.database_dsn(server.url, name)
    try:
        db.upgrade(dsn)

        project_id = reset(dsn)
        executemany_s = run_executemany(dsn, project_id, args.rows, args.batch)

        project_id = reset(dsn)
        bulk_s, inserted = run_bulk(dsn, project_id, args.rows, args.batch)
        assert inserted == db.UpsertCounts(inserted=args.rows), inserted

        before = table_fingerprint(dsn)
        rerun_s, rerun = run_bulk(dsn, project_id, args.rows, args.batch)
        after = table_fingerprint(dsn)
        # Control: the same checks do see rewrites when 1 object in 100 changed.
        _, touched = run_bulk(dsn, project_id, args.rows, args.batch, touched_every=100)
        after_touch = table_fingerprint(dsn)
    finally:
        with psycopg.connect(server.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.stop()

    bulk_rps = args.rows / bulk_s
    executemany_rps = args.rows / executemany_s
    result = {
        "bench": "upsert",
        "rows": args.rows,
        "batch": args.batch,
        "bulk_rows_per_s": round(bulk_rps),
        "executemany_rows_per_s": round(executemany_rps),
        "ratio_bulk_vs_executemany": round(bulk_rps / executemany_rps, 2),
        "rerun_unchanged_rows_per_s": round(args.rows / rerun_s),
        "rerun_counts": {"inserted": rerun.inserted, "updated": rerun.updated, "unchanged": rerun.unchanged},
        "rerun_rows_rewritten": rerun.inserted + rerun.updated,
        "rerun_n_tup_upd_delta": after[0] - before[0],
        "rerun_xmin_unchanged": after[1] == before[1],
        "control_touched_rows": args.rows // 100,
        "control_counts_updated": touched.updated,
        "control_n_tup_upd_delta": after_touch[0] - after[0],
        "server": "pgserver" if server.cleanup else "postgresql",
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
