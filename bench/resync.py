"""Re-sync benchmark (issue 19, part 3): prints one JSON line.

* ``engine_vs_listing`` at 10k and 100k unchanged objects on moto_server: the engine's time for
  a re-sync of an unchanged bucket (``StorageSync.run``, the objects listed page by page through
  S3Hook's client) over a bare boto3 listing of the same objects (``list_objects_v2`` paginator,
  same client), alternating in the same run; the median of ``--rounds`` rounds. The same with
  the prefetch off (``engine_vs_listing_no_prefetch``) shows what overlapping pages buys.
* ``cli_overhead_vs_airflow_import_s``: a fresh process running ``labelbridge sync`` of an empty
  bucket (connections from ``AIRFLOW_CONN_*``, the official S3Hook, a real labeling database)
  minus a fresh ``python -c "import airflow"``; medians of ``--cli-reps`` alternating runs. The same
  in CPU seconds (``..._cpu_s``, the children's user + system time), which a loaded machine
  stretches far less than wall time. The CLI pauses the GC while it starts and freezes what
  start-up made (``labelbridge.cli.starting_up``), which also spares Airflow's import a third of its
  cost; ``..._gc_frozen_cpu_s`` compares with an ``import airflow`` treated alike, so what the CLI
  adds on top of Airflow stays visible. ``--only cli`` runs this part alone (a minute or two).
* ``parallel_listing_speedup``: a listing of ``--parallel-objects`` objects through a loopback
  proxy adding ``--delay-ms`` per request (``bench/delay_proxy.py``), single against
  ``list_concurrency=--list-concurrency``; both return the same keys in the same order. In pages
  of 1,000 and of ``--small-page`` (``_page_100``): moto_server sorts the whole bucket for every
  request and renders each page in Python, so at 1,000 keys its own cost per page, on two cores
  shared with the client, outweighs the 50 ms; ``listing_without_delay_s`` (no proxy) shows it.
  ``latency_only_*``: the splitting alone, over a source that only waits ``--delay-ms`` per page
  of 1,000 names (the largest ``--objects``): speed-up, and requests made over a single listing's.

moto_server is started by this script with its buckets filled in its own process (putting 100k
objects over HTTP takes ten minutes here); everything the sync does goes over HTTP.

Usage: ``.venv/bin/python bench/resync.py [--objects 10000,100000] [--rounds 3] [--only cli]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".demo" / "bench-airflow"))

PAGE = 1000
EMPTY_BUCKET = "resync-empty"


def bucket_of(count: int) -> str:
    return f"resync-{count}"


# moto_server, filled in its own process -------------------------------------------------------


def serve_filled_moto(port: int, counts: list[int]) -> None:
    """(child) moto_server on ``port`` with a bucket of ``n`` objects per count, and an empty one."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(EMPTY_BUCKET, "us-east-1")
    for count in counts:
        backend.create_bucket(bucket_of(count), "us-east-1")
        for n in range(count):
            backend.put_object(bucket_of(count), f"img/{n:07d}.jpg", b"x")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    print("ready", flush=True)
    sys.stdin.read()  # until the parent closes our stdin
    server.stop()


def start_filled_moto(counts: list[int]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    import devservices

    port = devservices.free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--moto-child", str(port), ",".join(map(str, counts))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError("the filled moto_server did not start")
    return process, aws_connection(f"http://127.0.0.1:{port}", "AWS_DEFAULT")


def aws_connection(endpoint: str, name: str) -> dict[str, str]:
    conn = {
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1", "config_kwargs": {"signature_version": "s3v4"}},
    }
    return {f"AIRFLOW_CONN_{name}": json.dumps(conn), "AWS_DEFAULT_REGION": "us-east-1"}


# 1. engine vs listing ------------------------------------------------------------------------


def engine_vs_listing(dsn: str, count: int, rounds: int) -> dict[str, Any]:
    import psycopg

    from labelbridge.config import Cloud, StorageConfig
    from labelbridge.connections import make_client
    from labelbridge.storage import S3Store
    from labelbridge.sync import StorageSync

    client = make_client(Cloud.S3, "aws_default")
    bucket = bucket_of(count)
    storage = StorageConfig(name=f"bench-{count}", project="bench", cloud=Cloud.S3, bucket=bucket)
    store = S3Store(client, bucket, page_size=PAGE)

    def bare_listing() -> float:
        started, listed = time.perf_counter(), 0
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix="", PaginationConfig={"PageSize": PAGE}):
            listed += len(page.get("Contents", []))
        assert listed == count, listed
        return time.perf_counter() - started

    def resync(prefetch_pages: int) -> float:
        with psycopg.connect(dsn) as conn:
            started = time.perf_counter()
            counts = StorageSync(conn, store, storage, prefetch_pages=prefetch_pages).run()
            elapsed = time.perf_counter() - started
        assert counts.unchanged == count and counts.inserted == counts.updated == counts.deleted == 0, counts
        return elapsed

    with psycopg.connect(dsn) as conn:
        first = StorageSync(conn, store, storage).run()
    assert first.inserted == count, first
    samples = []
    for _ in range(rounds):
        listing = bare_listing()
        engine = resync(2)
        plain = resync(0)
        samples.append((engine / listing, plain / listing, listing, engine, plain))
    samples.sort()
    ratio, plain_ratio, listing, engine, plain = samples[len(samples) // 2]
    return {
        "engine_vs_listing": round(ratio, 3),
        "engine_vs_listing_no_prefetch": round(plain_ratio, 3),
        "ratios_per_round": [round(s[0], 3) for s in samples],
        "listing_s": round(listing, 2),
        "engine_s": round(engine, 2),
        "engine_no_prefetch_s": round(plain, 2),
    }


# 2. CLI fixed cost ---------------------------------------------------------------------------


def cli_overhead(dsn: str, reps: int, env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "storages.yaml"
        config.write_text(
            "projects:\n  - name: bench\nstorages:\n"
            f"  - {{name: empty, project: bench, cloud: s3, bucket: {EMPTY_BUCKET}, prefix: img/}}\n"
        )
        # Bytecode cached as in an install (pip compiles it): with PYTHONDONTWRITEBYTECODE, set in many
        # dev shells, every run would compile labelbridge's modules afresh, 0.1 CPU-s no user pays.
        # The warm-up run writes it all under tmp, touching neither the tree nor the venv.
        child_env = {
            **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
            **env, "PYTHONPATH": str(ROOT / "include"), "AIRFLOW_HOME": tmp, "PYTHONPYCACHEPREFIX": f"{tmp}/pyc",
        }
        airflow_cmd = [sys.executable, "-c", "import airflow"]
        # Airflow's import with the GC treatment the CLI gives its own start-up (paused, then frozen,
        # which also spares the collections at exit): what the CLI adds over this is labelbridge's
        # code, the provider hook, the SDK client, the driver and the sync.
        airflow_frozen_cmd = [sys.executable, "-c", "import gc; gc.disable(); import airflow; gc.freeze()"]
        sync_cmd = [sys.executable, "-m", "labelbridge.cli", "sync", "empty", "--config", str(config), "--dsn", dsn]

        def timed(cmd: list[str]) -> tuple[float, float]:
            """Wall and CPU seconds (user + system) of one run of ``cmd``."""
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(cmd, env=child_env, check=True, capture_output=True)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

        timed(airflow_cmd), timed(airflow_frozen_cmd), timed(sync_cmd)  # warm the file cache and bytecode
        airflow_runs, frozen_runs, sync_runs = [], [], []
        for _ in range(reps):
            airflow_runs.append(timed(airflow_cmd))
            frozen_runs.append(timed(airflow_frozen_cmd))
            sync_runs.append(timed(sync_cmd))

    def median(runs: list[tuple[float, float]], which: int) -> float:
        return statistics.median(run[which] for run in runs)

    return {
        "airflow_import_s": round(median(airflow_runs, 0), 3),
        "cli_empty_sync_s": round(median(sync_runs, 0), 3),
        "cli_overhead_vs_airflow_import_s": round(median(sync_runs, 0) - median(airflow_runs, 0), 3),
        # CPU time is what a loaded machine stretches least: the same overhead, in CPU seconds.
        "airflow_import_cpu_s": round(median(airflow_runs, 1), 3),
        "cli_empty_sync_cpu_s": round(median(sync_runs, 1), 3),
        "cli_overhead_vs_airflow_import_cpu_s": round(median(sync_runs, 1) - median(airflow_runs, 1), 3),
        "airflow_import_gc_frozen_cpu_s": round(median(frozen_runs, 1), 3),
        "cli_overhead_vs_airflow_import_gc_frozen_cpu_s": round(median(sync_runs, 1) - median(frozen_runs, 1), 3),
    }


# 3. parallel listing through a delaying proxy ----------------------------------------------------


def parallel_listing(
    upstream: str, count: int, delay_ms: float, concurrency: int, rounds: int, page_size: int = PAGE
) -> dict[str, Any]:
    from delay_proxy import DelayProxy

    from labelbridge.config import Cloud
    from labelbridge.connections import make_client
    from labelbridge.storage import S3Store

    proxy = DelayProxy(upstream, delay_s=delay_ms / 1000)
    os.environ.update(aws_connection(proxy.url, "AWS_SLOW"))
    try:
        client = make_client(Cloud.S3, "aws_slow")
        single = S3Store(client, bucket_of(count), page_size=page_size)
        parallel = S3Store(client, bucket_of(count), page_size=page_size, list_concurrency=concurrency)
        direct = S3Store(make_client(Cloud.S3, "aws_default"), bucket_of(count), page_size=page_size)

        def timed(store: S3Store) -> tuple[float, list[str]]:
            started = time.perf_counter()
            keys = [obj.key for page in store.iter_pages() for obj in page]
            return time.perf_counter() - started, keys

        samples = []
        for _ in range(rounds):
            single_s, single_keys = timed(single)
            parallel_s, parallel_keys = timed(parallel)
            # Without the proxy: what the emulator and the client cost per listing, delay aside.
            direct_s, _ = timed(direct)
            assert parallel_keys == single_keys and len(single_keys) == count
            samples.append((single_s / parallel_s, single_s, parallel_s, direct_s))
        samples.sort()
        speedup, single_s, parallel_s, direct_s = samples[len(samples) // 2]
    finally:
        proxy.stop()
    tag = "" if page_size == PAGE else f"_page_{page_size}"
    return {
        f"single_listing_s{tag}": round(single_s, 2),
        f"parallel_listing_s{tag}": round(parallel_s, 2),
        f"listing_without_delay_s{tag}": round(direct_s, 2),
        f"parallel_listing_speedup{tag}": round(speedup, 2),
    }


def latency_only(count: int, delay_ms: float, concurrency: int) -> dict[str, Any]:
    """The splitting alone: a listing source that only waits ``delay_ms`` per page of sorted keys
    (no emulator, no SDK, nothing to parse), single against ``concurrency`` ranges."""
    import bisect
    import threading
    from collections.abc import Iterator

    from labelbridge.storage import ObjectInfo
    from labelbridge.storage.parallel import ranged_pages

    keys = [f"img/{n:07d}.jpg" for n in range(count)]
    requests = [0]
    lock = threading.Lock()

    def list_from(prefix: str, after: str | None) -> Iterator[list[ObjectInfo]]:
        at = 0 if after is None else bisect.bisect_right(keys, after)
        while True:
            with lock:
                requests[0] += 1
            time.sleep(delay_ms / 1000)
            yield [ObjectInfo(key, 1, None, None) for key in keys[at : at + PAGE]]
            at += PAGE
            if at >= count:
                return

    started = time.perf_counter()
    single = [obj.key for page in list_from("img/", None) for obj in page]
    single_s, single_requests = time.perf_counter() - started, requests[0]
    requests[0] = 0
    started = time.perf_counter()
    parallel = [obj.key for page in ranged_pages(list_from, "img/", concurrency=concurrency, page_size=PAGE)
                for obj in page]
    parallel_s = time.perf_counter() - started
    assert parallel == single == keys
    return {
        "latency_only_objects": count,
        "latency_only_speedup": round(single_s / parallel_s, 2),
        "latency_only_requests_ratio": round(requests[0] / single_requests, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", default="10000,100000", help="unchanged bucket sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cli-reps", type=int, default=7)
    parser.add_argument("--parallel-objects", type=int, default=10000)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--list-concurrency", type=int, default=8)
    parser.add_argument(
        "--small-page", type=int, default=100,
        help="also list in pages of this size, where the delay outweighs the emulator's own cost per page",
    )
    parser.add_argument(
        "--only", choices=("cli",),
        help="run one part: 'cli' measures the CLI's fixed cost alone (a minute instead of many)",
    )
    parser.add_argument("--moto-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.moto_child:
        serve_filled_moto(int(args.moto_child[0]), [int(c) for c in args.moto_child[1].split(",") if c])
        return

    from _common import scratch_database

    import devservices

    # Airflow's structlog writes the hooks' notices to stdout: send everything to stderr, and keep
    # the real stdout for the one JSON line.
    sys.stdout.flush()
    result_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    counts = [] if args.only == "cli" else [int(c) for c in args.objects.split(",")]
    postgres = devservices.start_postgres()
    moto, env = start_filled_moto(sorted({*counts, args.parallel_objects}) if counts else [])
    os.environ.update(env)
    result: dict[str, Any] = {"bench": "resync"}
    try:
        for count in counts:
            with scratch_database(postgres.url) as dsn:
                for key, value in engine_vs_listing(dsn, count, args.rounds).items():
                    result[f"{key}_{count}" if key != "engine_vs_listing" else f"engine_vs_listing_{count}"] = value
        with scratch_database(postgres.url) as dsn:
            result.update(cli_overhead(dsn, args.cli_reps, env))
        if counts:
            upstream = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]["endpoint_url"]
            result.update(
                parallel_listing_objects=args.parallel_objects,
                parallel_listing_delay_ms=args.delay_ms,
                parallel_listing_concurrency=args.list_concurrency,
            )
            for page_size in (PAGE, args.small_page):
                result.update(parallel_listing(
                    upstream, args.parallel_objects, args.delay_ms, args.list_concurrency, args.rounds, page_size
                ))
            result.update(latency_only(max(counts), args.delay_ms, args.list_concurrency))
    finally:
        assert moto.stdin is not None
        moto.stdin.close()
        moto.wait(timeout=30)
        postgres.stop()
    result_out.write(json.dumps(result) + "\n")
    result_out.close()


if __name__ == "__main__":
    main()
