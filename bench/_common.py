"""What the benchmarks share: a migrated scratch database per measurement, CPU seconds that the
machine's other load does not stretch, and the peak RSS of one job run alone in a child process.

A bench script puts the repo's root on ``sys.path`` (for ``devservices``) before importing this.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from peak_rss import peak_rss_mb

import devservices
from labelbridge import db


@contextmanager
def scratch_database(server: str) -> Iterator[str]:
    """A new labeling database on ``server``, migrated: its DSN; dropped on the way out."""
    name = f"lb_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = devservices.database_dsn(server, name)
        db.upgrade(dsn)
        yield dsn
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class CpuClock:
    """CPU seconds of this process plus those of ``conn``'s PostgreSQL backend (the server must be
    local: read from ``/proc``)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.stat = Path(f"/proc/{conn.info.backend_pid}/stat")
        self.tick = os.sysconf("SC_CLK_TCK")

    def __call__(self) -> float:
        # Fields 14 and 15 (utime, stime) of the backend; its name (field 2) holds no ") ".
        fields = self.stat.read_text().rsplit(") ", 1)[1].split()
        return time.process_time() + (int(fields[11]) + int(fields[12])) / self.tick


def add_rss_child_arg(parser: argparse.ArgumentParser) -> None:
    """``--rss-child N``, hidden: the script runs its job on N alone and ends with :func:`report_peak_rss`."""
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)


def child_peak_rss(script: str, count: int) -> float:
    """Peak RSS (MB) of ``script --rss-child COUNT``: the script's job alone, in a process of its own."""
    out = subprocess.run(
        [sys.executable, script, "--rss-child", str(count)], check=True, capture_output=True, text=True
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])["peak_rss_mb"])


def rss_growth(script: str, count: int) -> dict[str, float]:
    """The peak RSS of the script's job alone at ``count`` and at 10,000 (``count`` if fewer), as the
    benches' JSON lines end: flat memory keeps ``rss_growth_ratio`` near 1."""
    small = min(10_000, count)
    rss_small, rss_large = child_peak_rss(script, small), child_peak_rss(script, count)
    return {
        "peak_rss_mb": round(rss_large, 1),
        f"peak_rss_mb_at_{small}": round(rss_small, 1),
        "rss_growth_ratio": round(rss_large / rss_small, 2),
    }


def report_peak_rss() -> None:
    """The child's side of :func:`child_peak_rss`: its own peak RSS, as the last line on stdout."""
    print(json.dumps({"peak_rss_mb": peak_rss_mb()}))
