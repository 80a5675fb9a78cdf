"""Peak memory of the access-log audit on a log where every key is distinct; prints ONE JSON line.

    .venv/bin/python bench/audit_memory.py [--lines 1000000] [--rows 8] [--seed 7]
        [--baseline-src DIR] [--log FILE]

Writes a synthetic log of ``--lines`` ordinary GETs spread over ``--rows`` who-rows (requester x
remote IP), every key a new one: the worst case for the who-table's distinct-key counts (or
reads ``--log FILE``, e.g. the log ``bench/parse_logs.py`` writes). Then audits it, each run in
its own subprocess so its peak RSS is its own:

* ``idle_rss_mb``: the same worker auditing an empty log: interpreter and library;
* ``peak_rss_mb`` / ``lines_per_s``: the audit of this checkout;
* ``baseline_peak_rss_mb`` / ``baseline_lines_per_s``, with ``--baseline-src DIR``: the same
  audit importing ``labelbridge`` from ``DIR`` instead, e.g. an older commit's ``include/``
  (``git archive <commit> include | tar -x -C DIR/..``), run right after in the same process tree;
* ``max_rel_error``: the worst row's ``|distinct_keys - true| / true`` (true = its requests, as
  every generated key is distinct; meaningless with ``--log``), and ``estimated_rows``: rows
  flagged ``distinct_keys_estimated``.

Rates are lines per CPU second of the worker.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from peak_rss import peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]

LINE = (
    "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be labels-bucket "
    "[06/Feb/2019:{hh:02d}:{mm:02d}:{ss:02d} +0000] {ip} arn:aws:iam::123456789012:user/labeler-{row} "
    "{request_id} REST.GET.OBJECT {key} "
    '"GET /labels-bucket/{key} HTTP/1.1" 200 - {size} {size} 41 12 "-" '
    '"Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.10 lang/python#3.11.7 Botocore/1.34.0" - '
    "s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 "
    "ECDHE-RSA-AES128-GCM-SHA256 AuthHeader labels-bucket.s3.us-east-1.amazonaws.com TLSv1.2 - - us-east-1\n"
)


def generate(path: Path, lines: int, rows: int, seed: int) -> None:
    """Write ``lines`` lines spread round-robin over ``rows`` who-rows, every key distinct."""
    rng = random.Random(seed)
    with path.open("w", encoding="ascii") as out:
        for i in range(lines):
            row = i % rows
            second = i * 86_400 // max(lines, 1)
            out.write(
                LINE.format(
                    hh=second // 3600,
                    mm=second // 60 % 60,
                    ss=second % 60,
                    ip=f"192.0.2.{row % 250 + 1}",
                    row=row,
                    request_id=f"{rng.getrandbits(64):016X}",
                    key=f"projects/{i % 50}/images/{i:09d}_{rng.getrandbits(32):08x}.jpg",
                    size=rng.randrange(20_000, 3_000_000),
                )
            )


def worker(kind: str, log: Path, src: Path) -> dict[str, Any]:
    sys.path.insert(0, str(src))
    from labelbridge.compliance.accesslog import audit_streams
    from labelbridge.config import ComplianceConfig

    settings = ComplianceConfig(allowed_cidrs=("192.0.2.0/24",))
    started = time.process_time()
    with log.open("rb") as stream:
        result = audit_streams([(str(log), stream)], settings)
    seconds = time.process_time() - started
    errors = [abs(row["distinct_keys"] - row["requests"]) / row["requests"] for row in result.who]
    return {
        "lines": result.lines_read,
        "seconds": seconds,
        "who_rows": len(result.who),
        "estimated_rows": sum(1 for row in result.who if row.get("distinct_keys_estimated")),
        "max_rel_error": max(errors, default=0.0),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_worker(kind: str, log: Path, src: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", kind, "--log", str(log), "--src", str(src)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {kind} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=8, help="who-rows (requester x IP) the lines are spread over")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--log", type=Path, help="audit this log file instead of generating one")
    parser.add_argument("--baseline-src", type=Path, help="also audit with labelbridge imported from this directory")
    parser.add_argument("--worker", choices=("idle", "audit"), help=argparse.SUPPRESS)
    parser.add_argument("--src", type=Path, default=ROOT / "include", help=argparse.SUPPRESS)
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    if args.worker:
        print(json.dumps(worker(args.worker, args.log, args.src.resolve())))
        return

    src = args.src.resolve()
    with tempfile.TemporaryDirectory(prefix="audit_memory.") as tmp:
        log, empty = args.log or Path(tmp) / "access.log", Path(tmp) / "empty.log"
        if args.log is None:
            generate(log, args.lines, args.rows, args.seed)
        empty.touch()
        idle = run_worker("idle", empty, src)
        audit = run_worker("audit", log, src)
        baseline = run_worker("audit", log, args.baseline_src.resolve()) if args.baseline_src else None
        file_mb = log.stat().st_size / 1e6
    result: dict[str, Any] = {
        "bench": "audit_memory",
        "log": str(args.log) if args.log else f"generated: every key distinct over {args.rows} rows",
        "lines": audit["lines"],
        "file_mb": round(file_mb, 1),
        "who_rows": audit["who_rows"],
        "idle_rss_mb": round(idle["peak_rss_mb"], 1),
        "peak_rss_mb": round(audit["peak_rss_mb"], 1),
        "lines_per_s": round(audit["lines"] / audit["seconds"]),
        "estimated_rows": audit["estimated_rows"],
        "max_rel_error": round(audit["max_rel_error"], 4),
    }
    if baseline is not None:
        result |= {
            "baseline_peak_rss_mb": round(baseline["peak_rss_mb"], 1),
            "baseline_lines_per_s": round(baseline["lines"] / baseline["seconds"]),
            "rss_above_idle_ratio_vs_baseline": round(
                (audit["peak_rss_mb"] - idle["peak_rss_mb"]) / max(baseline["peak_rss_mb"] - idle["peak_rss_mb"], 0.1),
                3,
            ),
        }
    result |= {"cpus": os.cpu_count(), "load_at_start": round(load_at_start, 1)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
