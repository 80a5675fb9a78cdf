"""What the CLI's live progress line costs a sync: prints one JSON line.

The same sync (``--objects``, default 20,000, a generated listing so the emulator's speed does not
blur it; the engine's own batch size) runs with the jobs' default ``NO_PROGRESS`` and with the
CLI's live line (``labelbridge.cli._progress.live_progress``) drawing on a pseudo-terminal, as on a
user's terminal: rich's refresh thread, the thread relaying other output, one advance per batch.
The two alternate over ``--rounds`` rounds (first one, then the other first), each on a fresh
database. Reported: the median of the paired ratios, for wall time and for this process's CPU
time (all its threads), and the ratio of the fastest runs. A sync of 20,000 objects takes a third
of a second here, so other load on the machine moves those by a few percent either way; the
steady cost is measured directly too: the CPU time of one redraw, times the redraws per second
(``line_cpu_pct_of_a_core``).

Usage: ``.venv/bin/python bench/progress.py [--objects 20000] [--rounds 10]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".demo" / "bench-airflow"))

import psycopg  # noqa: E402
from _common import scratch_database  # noqa: E402 - bench/ is the script's own folder
from sync import PAGE, GeneratedListing  # noqa: E402 - bench/sync.py's generated listing

import devservices  # noqa: E402
from labelbridge.cli._progress import REFRESH_PER_SECOND, live_progress  # noqa: E402
from labelbridge.config import Cloud, StorageConfig  # noqa: E402
from labelbridge.progress import NO_PROGRESS, Progress  # noqa: E402
from labelbridge.sync import StorageSync  # noqa: E402


@contextlib.contextmanager
def stderr_on_a_terminal() -> Iterator[None]:
    """fd 2 on a pseudo-terminal whose screen is read (and dropped) by a thread, as a terminal would."""
    master, slave = os.openpty()
    saved = os.dup(2)
    sys.stderr.flush()
    os.dup2(slave, 2)
    os.close(slave)

    def drain() -> None:
        with contextlib.suppress(OSError):
            while os.read(master, 65536):
                pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        reader.join(timeout=5)
        os.close(master)


def timed_sync(server: str, count: int, *, shown: bool) -> tuple[float, float]:
    """(wall s, CPU s) of one sync of ``count`` objects into a fresh database."""
    with scratch_database(server) as dsn:
        store = GeneratedListing("bench-bucket", count)
        storage = StorageConfig(name="bench", project="bench", cloud=Cloud.S3, bucket=store.bucket)
        with psycopg.connect(dsn) as conn, contextlib.ExitStack() as stack:
            progress: Progress = NO_PROGRESS
            if shown:
                stack.enter_context(stderr_on_a_terminal())
                progress = stack.enter_context(live_progress(argparse.Namespace(), "sync bench", "objects"))
                assert progress is not NO_PROGRESS, "stderr should be a terminal here"
            started, cpu_started = time.perf_counter(), time.process_time()
            counts = StorageSync(conn, store, storage, progress=progress).run()
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        assert counts.inserted == count, counts
        return wall, cpu


def refresh_cost(redraws: int = 500) -> float:
    """CPU ms of one redraw of the line (what its refresh thread spends, ``REFRESH_PER_SECOND`` times a second)."""
    with stderr_on_a_terminal(), live_progress(argparse.Namespace(), "sync bench", "objects") as progress:
        line = progress._line  # type: ignore[attr-defined]  # the rich Progress behind the live line
        started = time.process_time()
        for _ in range(redraws):
            progress.advance(PAGE)
            line.refresh()
        return (time.process_time() - started) / redraws * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=10, help="pairs without/with the line; medians are reported")
    args = parser.parse_args()
    postgres = devservices.start_postgres()
    try:
        timed_sync(postgres.url, PAGE, shown=True)  # warm-up: imports, the template's first use
        pairs = []
        for n in range(args.rounds):
            # Which goes first alternates: a sync right after another database was dropped runs slower.
            if n % 2:
                on = timed_sync(postgres.url, args.objects, shown=True)
                off = timed_sync(postgres.url, args.objects, shown=False)
            else:
                off = timed_sync(postgres.url, args.objects, shown=False)
                on = timed_sync(postgres.url, args.objects, shown=True)
            pairs.append((off, on))
    finally:
        postgres.stop()
    redraw_ms = refresh_cost()
    wall_ratio = statistics.median(on[0] / off[0] for off, on in pairs)
    best_ratio = min(on[0] for _, on in pairs) / min(off[0] for off, _ in pairs)
    cpu_ratio = statistics.median(on[1] / off[1] for off, on in pairs)
    print(json.dumps({
        "bench": "progress",
        "objects": args.objects,
        "rounds": args.rounds,
        "sync_s_without": round(statistics.median(off[0] for off, _ in pairs), 3),
        "sync_s_with_line": round(statistics.median(on[0] for _, on in pairs), 3),
        "wall_overhead_pct": round((wall_ratio - 1) * 100, 2),
        "cpu_overhead_pct": round((cpu_ratio - 1) * 100, 2),
        # The fastest run of each: the machine's other load only ever adds time.
        "best_wall_overhead_pct": round((best_ratio - 1) * 100, 2),
        "redraw_cpu_ms": round(redraw_ms, 3),
        "line_cpu_pct_of_a_core": round(redraw_ms * REFRESH_PER_SECOND / 10, 2),
    }))


if __name__ == "__main__":
    main()
