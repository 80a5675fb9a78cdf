"""Label Studio benchmark, against a real Label Studio (.ls-venv) and the S3 emulator: prints one JSON line.

* ``bucket_to_tasks_s``: a bucket of ``--objects`` images (default 10,000) to visible tasks in a Label
  Studio project: labelbridge's sync + push (URLs signed on the way), versus Label Studio's own S3
  storage sync of the same bucket on the same emulator (its storage created and synced over its API,
  presigned URLs, the way its docs set it up): ``ratio_vs_label_studio_sync`` (target >= 10).
* ``pull_tasks_per_s``: the pull of the same project once every task carries an annotation (made in
  bulk: predictions imported, then Label Studio's own "predictions to annotations" action).
* ``renew_patches_per_s``: the renewal's PATCH stage (``patch_task_data``, one PATCH per task: Label
  Studio has no bulk update) on ``--renew-tasks`` tasks, serial versus ``renew_concurrency``.
* ``peak_rss_mb``: labelbridge's side (sync + push + pull) in a child process, at 10,000 and at
  ``--large`` objects (default 50,000; 0 skips): it must stay flat. Label Studio's own processes are
  not counted.

Our side runs in child processes (``--child``), one per size, so each measures its own peak RSS;
the machine is shared (2 cores, Label Studio's runserver and the emulator on the same cores), so
compare the ratio, not the absolute times.

Usage: ``.venv/bin/python bench/label_studio.py [--objects 10000] [--large 50000] [--renew-tasks 200]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".demo" / "bench-airflow"))

import psycopg  # noqa: E402
from peak_rss import peak_rss_mb  # noqa: E402 - bench/ is the script's own folder

import devservices  # noqa: E402
from labelbridge import db  # noqa: E402
from labelbridge.config import Cloud, LabelStudioConfig, ProjectConfig, StorageConfig  # noqa: E402
from labelbridge.tools.label_studio import LabelStudioClient, pull_project, push_project  # noqa: E402
from labelbridge.tools.label_studio.patch import patch_task_data  # noqa: E402

LABEL_CONFIG = """<View>
  <Image name="image" value="$image"/>
  <RectangleLabels name="box" toName="image"><Label value="cat"/><Label value="dog"/></RectangleLabels>
</View>"""
BOX = [{
    "from_name": "box", "to_name": "image", "type": "rectanglelabels", "original_width": 64, "original_height": 64,
    "value": {"x": 10, "y": 10, "width": 20, "height": 20, "rotation": 0, "rectanglelabels": ["cat"]},
}]  # fmt: skip


def say(text: str) -> None:
    print(f"bench/label_studio: {text}", file=sys.stderr, flush=True)


def seed(bucket: str, count: int) -> None:
    from labelbridge.connections import make_client

    s3 = make_client(Cloud.S3, "aws_default")
    s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(10) as pool:  # the S3 client's connection pool holds 10
        list(pool.map(lambda n: s3.put_object(Bucket=bucket, Key=f"img/{n:07d}.png", Body=b"x"), range(count)))


def task_count(ls: LabelStudioClient, project_id: int) -> int:
    return int(ls.project(project_id).get("task_number") or 0)


def label_studio_sync(ls: LabelStudioClient, moto_url: str, bucket: str, count: int) -> float:
    """Seconds for Label Studio's own S3 storage to make ``count`` tasks visible in a new project."""
    project = ls.create_project(f"bench-ls-sync-{uuid.uuid4().hex[:6]}", LABEL_CONFIG)
    project_id = int(project["id"])
    storage = ls.request("POST", "/api/storages/s3", json_body={
        "project": project_id, "title": "bench", "bucket": bucket, "prefix": "img/", "regex_filter": r".*\.png",
        "use_blob_urls": True, "presign": True, "presign_ttl": 60, "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing", "s3_endpoint": moto_url, "region_name": "us-east-1",
    }).json()  # fmt: skip
    started = time.perf_counter()
    # Community edition without Redis syncs inside the request (the client's timeout is 10 minutes).
    ls.request("POST", f"/api/storages/s3/{storage['id']}/sync")
    while task_count(ls, project_id) < count:
        status = ls.request("GET", f"/api/storages/s3/{storage['id']}").json().get("status")
        if status == "failed":
            raise RuntimeError("Label Studio's S3 sync failed")
        time.sleep(0.5)
    return time.perf_counter() - started


def annotate_all(ls: LabelStudioClient, project_id: int) -> int:
    """One annotation on every task, in bulk: predictions imported, then turned into annotations."""
    ids: list[int] = []
    page = 1
    while rows := ls.list_tasks(project_id, include=("id",), page=page, page_size=1000):
        ids += [int(r["id"]) for r in rows]
        page += 1
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        ls.request("POST", f"/api/projects/{project_id}/import/predictions",
                   json_body=[{"task": i, "result": BOX, "model_version": "bench"} for i in chunk])  # fmt: skip
        # Explicit ids: an action without a selection applies to every task of the project.
        selection = {"selectedItems": {"all": False, "included": chunk}, "model_version": "bench"}
        ls.request("POST", "/api/dm/actions", params={"id": "predictions_to_annotations", "project": project_id},
                   json_body=selection)  # fmt: skip
    return len(ids)


def child(args: argparse.Namespace) -> None:
    """labelbridge's side on one size: sync + push timed, then (with --annotate) pull timed."""
    logging.disable(logging.WARNING)
    from labelbridge.connections import make_store
    from labelbridge.sync import StorageSync

    name = f"lb_bench_ls_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dsn = devservices.database_dsn(args.server_dsn, name)
    try:
        db.upgrade(dsn)
        storage = StorageConfig.model_validate(
            {"name": "bench", "project": "bench", "cloud": "s3", "bucket": args.bucket, "prefix": "img/",
             "url_ttl": "1d"}
        )
        config_dir = Path(tempfile.mkdtemp())
        (config_dir / "bench.xml").write_text(LABEL_CONFIG)
        project = ProjectConfig(name="bench", label_studio=LabelStudioConfig(
            project=f"bench-lb-{uuid.uuid4().hex[:6]}", label_config="bench.xml", create=True, batch_size=5000))
        ls = LabelStudioClient(args.url, args.token, timeout_s=600)
        store = make_store(storage)
        started = time.perf_counter()
        with psycopg.connect(dsn) as conn:
            StorageSync(conn, store, storage).run()
        out_sync_rss = rss_mb()
        pushed = push_project(dsn, ls, project=project, stores=[(storage, store)], config_dir=config_dir, canary_size=0)
        visible = task_count(ls, pushed.label_studio_project)
        sync_push_s = time.perf_counter() - started
        out: dict[str, Any] = {"sync_push_s": sync_push_s, "visible": visible, "rss_mb_after_sync": out_sync_rss,
                               "rss_mb_after_push": rss_mb()}
        if args.annotate:
            annotate_all(ls, pushed.label_studio_project)
        started = time.perf_counter()
        pulled = pull_project(dsn, ls, project=project, config_dir=config_dir, check_deleted=False, page_size=1000)
        out.update(pull_s=time.perf_counter() - started, pulled_tasks=pulled.counts.tasks_seen,
                   annotations=pulled.counts.created, label_studio_project=pulled.label_studio_project)
        if args.renew_tasks:
            out.update(renew(ls, pulled.label_studio_project, args.renew_tasks, args.concurrency))
        out["peak_rss_mb"] = rss_mb()
        print(json.dumps(out))
    finally:
        with psycopg.connect(args.server_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rss_mb() -> float:
    """This process's peak RSS so far, in MB."""
    return peak_rss_mb()


def renew(ls: LabelStudioClient, project_id: int, count: int, concurrency: int) -> dict[str, float]:
    """PATCHes per second of the renewal's update stage, serial and at ``concurrency``, on distinct tasks."""
    tasks = ls.list_tasks(project_id, include=("id", "data"), page=1, page_size=2 * count)
    items = [(int(t["id"]), {**t["data"], "image": t["data"]["image"] + "&renewed=1"}) for t in tasks]
    serial = patch_task_data(ls, items[:count], concurrency=1)
    concurrent = patch_task_data(ls, items[count : 2 * count], concurrency=concurrency)
    assert not serial.error and not concurrent.error
    return {
        "renew_serial_per_s": len(serial.updated) / serial.seconds,
        "renew_concurrent_per_s": len(concurrent.updated) / concurrent.seconds,
    }


def run_child(server_dsn: str, ls: Any, bucket: str, *extra: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "--server-dsn", server_dsn, "--url", ls.url, "--token", ls.token,
               "--bucket", bucket, *extra]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def rss_by_step(child_out: dict[str, Any]) -> dict[str, float]:
    """Peak RSS after sync, after push, and at the end (pull): where any growth comes from."""
    return {
        "sync": round(child_out["rss_mb_after_sync"], 1),
        "push": round(child_out["rss_mb_after_push"], 1),
        "pull": round(child_out["peak_rss_mb"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=50_000, help="objects for the RSS comparison (0: skip)")
    parser.add_argument("--renew-tasks", type=int, default=200, help="PATCHes per renewal measurement")
    parser.add_argument("--concurrency", type=int, default=LabelStudioConfig(project=1).renew_concurrency)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--annotate", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--server-dsn", "--url", "--token", "--bucket"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    # Airflow's hooks log through structlog, to stdout unless told otherwise: stdout is the JSON line's.
    from airflow.sdk.log import configure_logging

    configure_logging(log_level="WARNING", output=sys.__stderr__)
    if args.child:
        child(args)
        return
    started: list[devservices.Service] = []
    try:
        postgres = devservices.start_postgres()
        started.append(postgres)
        moto = devservices.start_moto()
        started.append(moto)
        os.environ.update(moto.env)
        say("starting Label Studio (20-45 s)")
        server = devservices.start_label_studio(postgres.url)
        started.append(server)
        ls = LabelStudioClient(server.url, server.token, timeout_s=600)
        say(f"seeding {args.objects} objects")
        seed("bench-small", args.objects)
        say("Label Studio's own S3 storage sync")
        theirs = label_studio_sync(ls, moto.url, "bench-small", args.objects)
        say("labelbridge: sync + push, bulk annotations, pull, renewal PATCHes")
        ours = run_child(postgres.url, server, "bench-small", "--annotate", "--renew-tasks", str(args.renew_tasks),
                         "--concurrency", str(args.concurrency))  # fmt: skip
        large = None
        if args.large:
            say(f"seeding {args.large} objects for the memory comparison")
            seed("bench-large", args.large)
            large = run_child(postgres.url, server, "bench-large", "--renew-tasks", "0")
    finally:
        for service in reversed(started):
            service.stop()
    result: dict[str, Any] = {
        "bench": "label_studio",
        "label_studio": "1.23.2",
        "objects": args.objects,
        "bucket_to_tasks_s": round(ours["sync_push_s"], 2),
        "label_studio_sync_s": round(theirs, 2),
        "ratio_vs_label_studio_sync": round(theirs / ours["sync_push_s"], 1),
        "visible_tasks": ours["visible"],
        "pull_tasks_per_s": round(ours["pulled_tasks"] / ours["pull_s"]),
        "pulled_annotations": ours["annotations"],
        "renew_serial_patches_per_s": round(ours["renew_serial_per_s"], 2),
        "renew_concurrent_patches_per_s": round(ours["renew_concurrent_per_s"], 2),
        "renew_concurrency": args.concurrency,
        "peak_rss_mb": round(ours["peak_rss_mb"], 1),
        "peak_rss_mb_by_step": rss_by_step(ours),
    }
    if large is not None:
        result.update({
            f"peak_rss_mb_at_{args.large}": round(large["peak_rss_mb"], 1),
            "rss_growth_ratio": round(large["peak_rss_mb"] / ours["peak_rss_mb"], 2),
            f"bucket_to_tasks_s_at_{args.large}": round(large["sync_push_s"], 1),
            f"peak_rss_mb_by_step_at_{args.large}": rss_by_step(large),
        })  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
