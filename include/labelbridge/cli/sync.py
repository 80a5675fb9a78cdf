"""``labelbridge sync`` and ``labelbridge quarantine``: the sync job without a scheduler."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from labelbridge.cli import starting_up
from labelbridge.cli._common import Subparsers, add_config_arg, add_db_arg, labeling_dsn, print_json
from labelbridge.display import escaped
from labelbridge.errors import ConfigError

# The config models, the database driver, the engine and the cloud SDKs load in the handlers:
# ``labelbridge sync --help`` needs none of them.


def render_prefix(prefix: str, logical_date: dt.date | None) -> str:
    """Render a prefix templated like a DAG's (``{{ ds }}``, ``{{ ds_nodash }}``, ``{{ logical_date }}``)."""
    if "{{" not in prefix and "{%" not in prefix:
        return prefix
    if logical_date is None:
        raise ConfigError(f"prefix {prefix!r} is templated; pass --logical-date YYYY-MM-DD to choose the partition")
    import jinja2

    moment = dt.datetime(logical_date.year, logical_date.month, logical_date.day, tzinfo=dt.UTC)
    template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(prefix)
    try:
        return template.render(ds=moment.strftime("%Y-%m-%d"), ds_nodash=moment.strftime("%Y%m%d"), logical_date=moment)
    except jinja2.UndefinedError as exc:
        raise ConfigError(f"prefix {prefix!r}: {exc}; the CLI knows ds, ds_nodash and logical_date") from None


def cmd_sync(args: argparse.Namespace) -> int:
    with starting_up():
        from labelbridge.cli._progress import live_progress
        from labelbridge.config import load_config
        from labelbridge.connections import make_store, page_source
        from labelbridge.sync.engine import sync_storage

        config = load_config(args.config)
        storage = config.storage(args.storage)
        prefix = render_prefix(args.prefix if args.prefix is not None else storage.prefix, args.logical_date)
        store = make_store(storage, prefix=prefix, in_task=False)
        dsn = labeling_dsn(args)
        source = page_source(storage, store, from_inventory=args.from_inventory, in_task=False)

    def show(action: str, uri: str, index: int) -> None:
        print(f"would {action:<6} {escaped(uri)}" + (f" #{index}" if storage.mode.value == "task_files" else ""))

    with live_progress(args, f"sync {escaped(storage.name)}", "objects") as progress:
        counts = sync_storage(
            dsn,
            store,
            storage=storage,
            project=config.projects.get(storage.project),
            exclude_prefixes=config.excluded_prefixes(storage),
            prefix=prefix,
            run_id="cli-dry-run" if args.dry_run else "cli",
            dry_run=args.dry_run,
            on_change=show if args.dry_run else None,
            progress=progress,
            source=source,
        )
    label = "dry run (nothing written)" if args.dry_run else "synced"
    print(f"{storage.name}: {label}: {counts.summary()}", file=sys.stderr)
    if args.json:
        print_json(counts.as_dict())
    return 1 if counts.quarantined and storage.fail_on_quarantine else 0


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    from labelbridge.db import connect

    query = """
        SELECT s.name, q.uri, q.item_index, q.etag, q.reason, q.first_seen_at, q.last_seen_at, q.resolved_at
        FROM quarantine q JOIN storage s ON s.id = q.storage_id
        WHERE (%(storage)s::text IS NULL OR s.name = %(storage)s) AND (%(all)s OR q.resolved_at IS NULL)
        ORDER BY s.name, q.uri
    """
    with connect(labeling_dsn(args)) as conn:
        rows = conn.execute(query, {"storage": args.storage, "all": args.all}).fetchall()
    for name, uri, index, etag, reason, first, last, resolved in rows:
        record: dict[str, Any] = {
            "storage": name, "uri": uri, "item_index": None if index < 0 else index, "etag": etag,
            "reason": reason, "first_seen_at": first, "last_seen_at": last, "resolved_at": resolved,
        }
        if args.json:
            print_json(record)
        else:
            state = f"resolved {resolved:%Y-%m-%d %H:%M}" if resolved else f"since {first:%Y-%m-%d %H:%M}"
            print(f"{escaped(name)}  {escaped(uri)}  ({state})\n    {escaped(reason)}")
    print(f"{len(rows)} quarantined", file=sys.stderr)
    return 0


def register(sub: Subparsers) -> None:
    sync = sub.add_parser("sync", help="sync one source storage into the labeling DB, as its DAG does")
    add_config_arg(sync)
    add_db_arg(sync)
    sync.add_argument("storage")
    sync.add_argument(
        "--dry-run", action="store_true", help="print what would be inserted, updated, deleted; write nothing"
    )
    sync.add_argument("--prefix", help="sync this prefix instead of the storage's own")
    sync.add_argument(
        "--logical-date", type=dt.date.fromisoformat, help="partition for a templated prefix (YYYY-MM-DD)"
    )
    source = sync.add_mutually_exclusive_group()
    source.add_argument(
        "--from-inventory", dest="from_inventory", action="store_const", const=True,
        help="read the newest complete inventory report (the storage's inventory section); default when it has one",
    )
    source.add_argument(
        "--from-listing", dest="from_inventory", action="store_const", const=False,
        help="list the bucket even when the storage has an inventory section",
    )
    sync.add_argument("--json", action="store_true", help="also print the counts as one JSON line")
    sync.set_defaults(handler=cmd_sync, from_inventory=None)

    quarantine = sub.add_parser("quarantine", help="task files set aside by sync, with where and why")
    quarantine_sub = quarantine.add_subparsers(dest="quarantine_command", required=True)
    listing = quarantine_sub.add_parser("list", help="unresolved entries (all with --all)")
    add_db_arg(listing)
    listing.add_argument("storage", nargs="?")
    listing.add_argument("--all", action="store_true", help="include resolved entries")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=cmd_quarantine_list)
