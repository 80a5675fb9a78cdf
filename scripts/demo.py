"""The demo: labelbridge's jobs on the bundled storages.yaml, with no cloud account.

Starts PostgreSQL (the machine's own when it answers, else an embedded one) and moto_server (S3)
on loopback, seeds the bucket ``labelbridge-demo`` with a few images and Label Studio task files
(one of them broken on purpose), then runs the sync DAGs through Airflow and the other jobs
through the CLI. Run it with ``./scripts/demo.sh``.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import devservices  # noqa: E402

BIN = Path(sys.executable).parent
STATE = ROOT / ".demo"
BUCKET = "labelbridge-demo"
IMAGES = {
    "cat-001": (200, 120, 80), "cat-002": (190, 110, 70), "cat-003": (180, 100, 60),
    "dog-001": (90, 60, 30), "dog-002": (100, 70, 40), "bird-001": (40, 120, 200), "bird-002": (50, 130, 210),
}


def png(rgb: tuple[int, int, int], size: int = 64) -> bytes:
    """A solid-colour PNG, built by hand so the demo needs no imaging library."""
    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def run(*args: str, check: bool = True) -> int:
    print("$ " + " ".join(args), flush=True)
    result = subprocess.run(args, env=os.environ, cwd=ROOT)
    if check and result.returncode != 0:
        raise SystemExit(f"demo: `{' '.join(args)}` failed with exit code {result.returncode}")
    return result.returncode


def seed_bucket() -> None:
    from labelbridge.config import Cloud
    from labelbridge.connections import make_client

    s3 = make_client(Cloud.S3, "aws_default")
    s3.create_bucket(Bucket=BUCKET)
    for name, rgb in IMAGES.items():
        s3.put_object(Bucket=BUCKET, Key=f"images/{name}.png", Body=png(rgb), ContentType="image/png")
    for path in sorted((ROOT / "demo" / "sample" / "tasks").iterdir()):
        s3.put_object(Bucket=BUCKET, Key=f"tasks/{path.name}", Body=path.read_bytes())
    # The access-log bucket the bundled compliance settings name.
    s3.create_bucket(Bucket=f"{BUCKET}-logs")
    print(f"seeded s3://{BUCKET}: {len(IMAGES)} images, 3 task files (one broken on purpose)")


def list_exports() -> None:
    from labelbridge.config import Cloud
    from labelbridge.connections import make_client
    from labelbridge.storage import S3Store

    for obj in S3Store(make_client(Cloud.S3, "aws_default"), BUCKET, prefix="exports/").iter_objects():
        print(f"{obj.size_bytes:>8}  s3://{BUCKET}/{obj.key}")


def prepare_database(server: devservices.Service) -> str:
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn:
        # A fresh labeling database each time, so the demo always shows the same story.
        conn.execute("DROP DATABASE IF EXISTS labelbridge_demo WITH (FORCE)")
        conn.execute("CREATE DATABASE labelbridge_demo")
    return devservices.database_dsn(server.url, "labelbridge_demo")


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(STATE, ignore_errors=True)
    (STATE / "airflow").mkdir(parents=True)
    os.environ.update(
        AIRFLOW_HOME=str(STATE / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        LABELBRIDGE_CONFIG=str(ROOT / "config" / "storages.yaml"),
        LABELBRIDGE_REPORTS_DIR=str(STATE / "reports"),
    )
    services: list[devservices.Service] = []
    try:
        step("Starting PostgreSQL and moto_server (S3) on loopback")
        postgres = devservices.start_postgres()
        services.append(postgres)
        moto = devservices.start_moto()
        services.append(moto)
        os.environ.update(moto.env)
        dsn = prepare_database(postgres)
        os.environ["AIRFLOW_CONN_LABELING_DB"] = devservices.airflow_postgres_uri(dsn)
        print(f"labeling DB: database labelbridge_demo; S3: {moto.url}")
        seed_bucket()

        step("Labeling database schema (Alembic)")
        run(str(BIN / "labelbridge"), "db", "upgrade")

        step("Configured storages (config/storages.yaml)")
        run(str(BIN / "labelbridge"), "storages", "list")

        step("Streaming the listing of demo-images through the storage layer")
        run(str(BIN / "labelbridge"), "ls", "demo-images")

        step("Airflow metadata DB (SQLite, for `airflow dags test`)")
        run(str(BIN / "airflow"), "db", "migrate")

        step("Sync DAG for demo-images, run by Airflow (objects as tasks)")
        run(str(BIN / "airflow"), "dags", "test", "labelbridge_sync_demo_images")

        step("Sync of demo-tasks (JSON task files), dry run first, then for real")
        run(str(BIN / "labelbridge"), "sync", "demo-tasks", "--dry-run", check=False)
        run(str(BIN / "labelbridge"), "sync", "demo-tasks", check=False)
        run(str(BIN / "labelbridge"), "quarantine", "list")

        step("Re-sync: incremental, nothing rewritten")
        run(str(BIN / "labelbridge"), "sync", "demo-images")

        step("Signed URLs for the new tasks (the rotation job; a canary fetches a few first)")
        run(str(BIN / "labelbridge"), "rotate", "demo-images", "demo-tasks")

        step("Export the annotations to s3://labelbridge-demo/exports/ (json and coco, manifest last)")
        run(str(BIN / "labelbridge"), "export", "demo-export")
        list_exports()

        step("Bucket-settings compliance (a fresh emulator bucket breaks several rules: the gate says which)")
        run(str(BIN / "labelbridge"), "check-buckets", "--report-dir", str(STATE / "reports"), check=False)

        step("What the labeling database now holds")
        import psycopg

        with psycopg.connect(dsn) as conn:
            for label, query in (
                ("tasks", "SELECT count(*) FROM task WHERE deleted_at IS NULL"),
                ("annotations", "SELECT count(*) FROM annotation"),
                ("predictions", "SELECT count(*) FROM prediction"),
                ("quarantined files", "SELECT count(*) FROM quarantine WHERE resolved_at IS NULL"),
                ("signed URLs", "SELECT count(*) FROM task_url"),
                ("exports", "SELECT count(*) FROM export_run WHERE status = 'success'"),
            ):
                print(f"{label:>18}: {conn.execute(query).fetchone()[0]}")  # type: ignore[index]
            for name, status, listed, inserted, unchanged, quarantined in conn.execute(
                "SELECT s.name, r.status, r.listed, r.inserted, r.unchanged, r.quarantined "
                "FROM sync_run r JOIN storage s ON s.id = r.storage_id ORDER BY r.id"
            ):
                print(f"  run {name:<12} {status:<8} listed={listed} inserted={inserted} "
                      f"unchanged={unchanged} quarantined={quarantined}")
        print(f"\ncompliance report: {STATE / 'reports'}")
        print(f"demo finished in {time.monotonic() - started:.0f}s")
        return 0
    finally:
        for service in reversed(services):
            service.stop()


if __name__ == "__main__":
    sys.exit(main())
