"""URL rotation throughput: URLs re-signed and written per second, per cloud, vs the baseline.

Baseline: what a careful user writes today: one reused boto3 client, ``generate_presigned_url``
per task, one ``INSERT … ON CONFLICT`` per row (committed every 1,000 rows). Ours: the rotation
library end to end (server-side cursor, lock + re-read per batch, SDK signing, one batched upsert
per batch), canary off. Signing is offline (no emulator needed); PostgreSQL is real.

Also: ``db_rows_per_s`` (the batched upsert alone), the RSA-SHA256 sign rate of the GCS key
(the bound on V4 RSA URLs), the SDK's V4 signing alone, and ``peak_rss_mb``. Phases run in
interleaved rounds over task-id slices, so load from neighbours on a shared machine skews them
alike. Prints ONE JSON line.

    .venv/bin/python bench/rotate.py [--urls 100000] [--baseline-urls 100000] [--dsn postgresql://…/postgres]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from peak_rss import peak_rss_mb

from labelbridge import db
from labelbridge.config import StorageConfig
from labelbridge.rotate import rotate_storage
from labelbridge.rotate.rotation import _UPSERT
from labelbridge.storage import AzureBlobStore, GCSStore, ObjectStore, S3Store

AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
TTL = timedelta(hours=12)


def make_stores() -> dict[str, ObjectStore]:
    import boto3
    from azure.storage.blob import BlobServiceClient
    from botocore.config import Config
    from google.cloud import storage

    from tests.rotate.verify import service_account_credentials

    s3 = boto3.client(
        "s3",
        aws_access_key_id="AKIAEXAMPLEEXAMPLE",
        aws_secret_access_key="bench-secret",
        region_name="eu-west-1",
        config=Config(signature_version="s3v4"),
    )
    gcs_credentials = service_account_credentials()
    gcs = storage.Client(project="bench", credentials=gcs_credentials)
    azure = BlobServiceClient(
        "https://benchaccount.blob.core.windows.net",
        credential={"account_name": "benchaccount", "account_key": AZURITE_KEY},
    )
    return {
        "s3": S3Store(s3, "bench-s3"),
        "gcs": GCSStore(gcs, "bench-gcs"),
        "azure": AzureBlobStore(azure, "bench-azure"),
    }


def fill(dsn: str, project: str, head: str, count: int) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO project (name) VALUES (%s)", (project,))
        conn.execute(
            """
            INSERT INTO task (project_id, uri, item_index, data)
            SELECT p.id, %(head)s || 'images/' || g || '.jpg', 0,
                   jsonb_build_object('image', %(head)s || 'images/' || g || '.jpg', 'caption', 'task ' || g)
            FROM project p, generate_series(1, %(count)s) g WHERE p.name = %(project)s
            """,
            {"head": head, "count": count, "project": project},
        )
        conn.execute("ANALYZE task")


def storage(name: str, store: ObjectStore) -> StorageConfig:
    return StorageConfig.model_validate(
        {"name": name, "project": name, "cloud": store.cloud, "bucket": store.bucket, "url_ttl": "12h"}
    )


def ours(dsn: str, name: str, store: ObjectStore, id_range: tuple[int, int]) -> tuple[int, float]:
    started = time.perf_counter()
    result = rotate_storage(
        dsn, store, storage=storage(name, store), id_range=id_range, batch_size=1000, canary_size=0
    )
    return result.counts.signed, time.perf_counter() - started


def baseline(dsn: str, store: S3Store, project: str, id_range: tuple[int, int]) -> tuple[int, float]:
    client = store.client
    started = time.perf_counter()
    signed = 0
    with psycopg.connect(dsn) as read, psycopg.connect(dsn) as write:
        with read.transaction():
            cursor = read.cursor(name="baseline")
            cursor.execute(
                "SELECT t.id, t.data ->> 'image' FROM task t JOIN project p ON p.id = t.project_id "
                "WHERE p.name = %s AND t.id >= %s AND t.id < %s",
                (project, *id_range),
            )
            for task_id, uri in cursor:
                key = uri.split("/", 3)[3]
                url = client.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": store.bucket, "Key": key},
                    ExpiresIn=int(TTL.total_seconds()),
                )
                now = datetime.now(UTC)
                write.execute(
                    "INSERT INTO task_url (task_id, field, uri, url, signed_at, expires_at, requested_ttl_s, signer) "
                    "VALUES (%s, 'image', %s, %s, %s, %s, %s, 'baseline') ON CONFLICT (task_id, field) DO UPDATE "
                    "SET url = EXCLUDED.url, signed_at = EXCLUDED.signed_at, expires_at = EXCLUDED.expires_at",
                    (task_id, uri, url, now, now + TTL, int(TTL.total_seconds())),
                )
                signed += 1
                if signed % 1000 == 0:
                    write.commit()
        write.commit()
    return signed, time.perf_counter() - started


def db_write_rate(dsn: str, project: str) -> float:
    """The batched upsert alone: rewrite every URL row of ``project`` in batches of 1,000."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT u.task_id, u.field, u.uri, u.url FROM task_url u JOIN task t ON t.id = u.task_id "
            "JOIN project p ON p.id = t.project_id WHERE p.name = %s",
            (project,),
        ).fetchall()
        now = datetime.now(UTC)
        started = time.perf_counter()
        for i in range(0, len(rows), 1000):
            batch = rows[i : i + 1000]
            conn.execute(
                _UPSERT,
                {
                    "task_ids": [r[0] for r in batch],
                    "fields": [r[1] for r in batch],
                    "uris": [r[2] for r in batch],
                    "urls": [r[3] for r in batch],
                    "signed_at": now,
                    "expires_at": now + TTL,
                    "ttl_s": 43200,
                    "ip_range": None,
                    "signer": "bench",
                    "credential_expires_at": None,
                },
            )
            conn.commit()
        return len(rows) / (time.perf_counter() - started)


def rsa_sign_seconds(store: GCSStore, samples: int) -> float:
    credentials: Any = store.client._credentials
    payload = b"GOOG4-RSA-SHA256\n20260101T000000Z\n20260101/auto/storage/goog4_request\n" + b"0" * 64
    started = time.perf_counter()
    for _ in range(samples):
        credentials.sign_bytes(payload)
    return time.perf_counter() - started


def id_bounds(dsn: str, project: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT min(t.id), max(t.id) + 1 FROM task t JOIN project p ON p.id = t.project_id WHERE p.name = %s",
            (project,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def slices(bounds: tuple[int, int], rounds: int) -> list[tuple[int, int]]:
    lo, hi = bounds
    step = -(-(hi - lo) // rounds)
    return [(start, min(start + step, hi)) for start in range(lo, hi, step)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--urls", type=int, default=100_000)
    parser.add_argument("--baseline-urls", type=int, default=None, help="default: --urls")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (fair under varying load)")
    parser.add_argument(
        "--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres", help="server to bench on"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    baseline_urls = args.baseline_urls or args.urls

    name = f"lb_bench_rotate_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = psycopg.conninfo.make_conninfo(args.dsn, dbname=name)
    try:
        db.upgrade(dsn)
        stores = make_stores()
        for cloud, store in stores.items():
            fill(dsn, cloud, store.uri(""), args.urls)
        fill(dsn, "baseline", stores["s3"].uri(""), baseline_urls)

        # Interleaved rounds: every phase runs in every round, so a neighbour's load on this
        # shared machine slows all of them alike and the ratios stay fair.
        plans = {name: slices(id_bounds(dsn, name), args.rounds) for name in [*stores, "baseline"]}
        signed = dict.fromkeys([*stores, "baseline"], 0)
        seconds = dict.fromkeys([*stores, "baseline", "rsa", "gcs_sign_only"], 0.0)
        rsa_samples = 0
        for round_index in range(args.rounds):
            for cloud, store in stores.items():
                count, took = ours(dsn, cloud, store, plans[cloud][round_index])
                signed[cloud] += count
                seconds[cloud] += took
            count, took = baseline(dsn, stores["s3"], "baseline", plans["baseline"][round_index])  # type: ignore[arg-type]
            signed["baseline"] += count
            seconds["baseline"] += took
            samples = max(200, args.urls // args.rounds // 10)
            seconds["rsa"] += rsa_sign_seconds(stores["gcs"], samples)  # type: ignore[arg-type]
            started = time.perf_counter()
            stores["gcs"].sign_urls([f"images/{i}.jpg" for i in range(samples)], TTL)
            seconds["gcs_sign_only"] += time.perf_counter() - started
            rsa_samples += samples
        for cloud in stores:
            assert signed[cloud] == args.urls, (cloud, signed[cloud])
        rates = {cloud: signed[cloud] / seconds[cloud] for cloud in stores}
        base_signed = signed["baseline"]
        baseline_rate = base_signed / seconds["baseline"]
        rsa_rate = rsa_samples / seconds["rsa"]
        gcs_sign_only_rate = rsa_samples / seconds["gcs_sign_only"]
        db_rate = db_write_rate(dsn, "s3")
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print(
        json.dumps(
            {
                "bench": "rotate",
                "urls": args.urls,
                "rounds": args.rounds,
                "urls_per_s": {cloud: round(rate) for cloud, rate in rates.items()},
                "db_rows_per_s": round(db_rate),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "baseline_urls": base_signed,
                "baseline_urls_per_s": round(baseline_rate),
                "ratio_vs_baseline": round(rates["s3"] / baseline_rate, 2),
                "azure_vs_s3": round(rates["azure"] / rates["s3"], 2),
                "gcs_rsa_sign_per_s": round(rsa_rate),
                "gcs_rsa_bound_vs_ours": round(rsa_rate / rates["gcs"], 2),
                # The SDK's V4 signing alone (no DB): how much of the gap is the SDK, not the write.
                "gcs_sign_only_per_s": round(gcs_sign_only_rate),
                "gcs_rsa_bound_vs_sign_only": round(rsa_rate / gcs_sign_only_rate, 2),
                "gcs_hmac_note": "HMAC keys (GOOG4-HMAC-SHA256) would sign at S3 SigV4 rates, but "
                "google-cloud-storage only signs V4 with RSA (a key or signBlob)",
            }
        )
    )


if __name__ == "__main__":
    main()
