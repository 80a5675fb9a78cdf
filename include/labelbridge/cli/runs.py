"""``labelbridge runs``: the run history of syncs and exports, newest first, with how each ended.

A run that died (killed, crashed, cut off from the database) shows as ``abandoned`` once the next run
of the same job has marked it (:mod:`labelbridge.db.runs`), with when it was last seen and what it had
committed; one still ``running`` holds its lease, so it is alive.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from labelbridge.cli._common import Subparsers, add_db_arg, labeling_dsn, print_json
from labelbridge.db import connect
from labelbridge.display import escaped

_SYNC_RUNS = """
    SELECT s.name, r.run_id, r.prefix, r.status, r.started_at, r.finished_at, r.last_seen_at,
           r.listed, r.inserted, r.updated, r.unchanged, r.deleted, r.restored, r.quarantined, r.error
    FROM sync_run r JOIN storage s ON s.id = r.storage_id
    WHERE %(name)s::text IS NULL OR s.name = %(name)s
    ORDER BY r.started_at DESC, r.id DESC LIMIT %(limit)s
"""
_SYNC_COUNTS = ("listed", "inserted", "updated", "unchanged", "deleted", "restored", "quarantined")
_EXPORT_RUNS = """
    SELECT target, run_key, format, status, started_at, finished_at, last_seen_at, counts, error
    FROM export_run
    WHERE %(name)s::text IS NULL OR target = %(name)s
    ORDER BY started_at DESC, id DESC LIMIT %(limit)s
"""


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else "-"


def _line(record: dict[str, Any]) -> str:
    counts = " ".join(f"{k}={v}" for k, v in record["counts"].items())
    ended = {"running": "", "abandoned": f" last seen {_when(record['last_seen_at'])}"}.get(
        record["status"], f" ended {_when(record['finished_at'])}"
    )
    what = f"{record['name']} {record['format']}" if "format" in record else record["name"]
    return f"{_when(record['started_at'])}  {what}  {record['status']}{ended}  {counts}".rstrip()


def cmd_runs(args: argparse.Namespace) -> int:
    params = {"name": args.name, "limit": args.limit}
    with connect(labeling_dsn(args)) as conn:
        rows = conn.execute(_EXPORT_RUNS if args.export else _SYNC_RUNS, params).fetchall()
    for row in rows:
        if args.export:
            name, run, fmt, status, started, finished, seen, counts, error = row
            record: dict[str, Any] = {"name": name, "run": run, "format": fmt, "counts": counts or {}}
        else:
            name, run, prefix, status, started, finished, seen, *numbers, error = row
            counted = dict(zip(_SYNC_COUNTS, numbers, strict=True))
            record = {"name": name, "run": run, "prefix": prefix, "counts": counted}
        record.update(status=status, started_at=started, finished_at=finished, last_seen_at=seen, error=error)
        if args.json:
            print_json(record)
            continue
        # Names come from config and errors may name keys: escaped, so no line can pose as another.
        print(escaped(_line(record)))
        if error:
            print(f"    {escaped(error)}")
    print(f"{len(rows)} {'export' if args.export else 'sync'} runs", file=sys.stderr)
    return 0


def register(sub: Subparsers) -> None:
    runs = sub.add_parser("runs", help="sync (or export) run history, newest first; dead runs show as abandoned")
    add_db_arg(runs)
    runs.add_argument("name", nargs="?", help="only this storage (or, with --export, this export target)")
    runs.add_argument("--export", action="store_true", help="export runs instead of sync runs")
    runs.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    runs.add_argument("--json", action="store_true", help="one JSON object per run")
    runs.set_defaults(handler=cmd_runs)
