"""``labelbridge``: the same jobs the DAGs run, without a scheduler, for debugging and scripting.

Core commands live here; each feature package adds its own through a ``register(subparsers)``
function listed in ``FEATURE_COMMANDS``. Connections come from Airflow (``AIRFLOW_CONN_*``
variables or the metadata DB), exactly as in a DAG run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from labelbridge.config import load_config
from labelbridge.errors import LabelbridgeError

log = logging.getLogger("labelbridge")

#: Modules whose ``register(subparsers)`` adds subcommands.
FEATURE_COMMANDS: tuple[str, ...] = (
    "labelbridge.sync.cli",
    "labelbridge.export.cli",
    "labelbridge.compliance.accesslog.cli",
    "labelbridge.urls.cli",
    "labelbridge.compliance.buckets.cli",
)


def _add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="storages.yaml to read (default: $LABELBRIDGE_CONFIG or the bundled one)")


def _add_db_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn",
        help="libpq DSN of the labeling database (default: the Airflow connection given by --conn-id)",
    )
    parser.add_argument("--conn-id", default="labeling_db", help="Airflow connection of the labeling DB")


def labeling_dsn(args: argparse.Namespace) -> str:
    if args.dsn:
        return str(args.dsn)
    from labelbridge.operators.connections import labeling_db_dsn

    return labeling_db_dsn(args.conn_id)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, default=str, sort_keys=False) + "\n")


# db ----------------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from labelbridge import db

    revision = db.upgrade(labeling_dsn(args), args.revision)
    print(f"labeling database at revision {revision}")
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    from labelbridge import db

    print(db.current_revision(labeling_dsn(args)) or "not migrated")
    return 0


# config and storages -----------------------------------------------------------------------


def cmd_config_check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    for problem in config.problems:
        print(problem, file=sys.stderr)
    print(
        f"{config.path}: {len(config.projects)} projects, {len(config.storages)} storages, "
        f"{len(config.export_targets)} export targets, {len(config.problems)} problems"
    )
    return 1 if config.problems else 0


def cmd_storages_list(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    for problem in config.problems:
        print(f"warning: {problem}", file=sys.stderr)
    rows = [
        {
            "name": s.name,
            "role": "source",
            "project": s.project,
            "cloud": s.cloud.value,
            "conn_id": s.conn_id,
            "bucket": s.bucket,
            "prefix": s.prefix,
            "mode": s.mode.value,
            "url_ttl_s": int(s.url_ttl.total_seconds()),
        }
        for s in config.storages.values()
    ] + [
        {
            "name": t.name,
            "role": "target",
            "project": t.project,
            "cloud": t.cloud.value,
            "conn_id": t.conn_id,
            "bucket": t.bucket,
            "prefix": t.prefix,
            "formats": list(t.formats),
        }
        for t in config.export_targets.values()
    ]
    if args.json:
        for row in rows:
            print_json(row)
    else:
        for row in rows:
            where = f"{row['cloud']}:{row['bucket']}/{row['prefix']}"
            print(f"{row['name']:<24} {row['role']:<7} {row['project']:<16} {where}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from labelbridge.operators.connections import make_store

    storage = load_config(args.config).storage(args.storage)
    store = make_store(storage, prefix=args.prefix)
    count = 0
    for obj in store.iter_objects():
        count += 1
        if args.json:
            print_json(
                {
                    "uri": store.uri(obj.key),
                    "size_bytes": obj.size_bytes,
                    "etag": obj.etag,
                    "last_modified": obj.last_modified.isoformat() if obj.last_modified else None,
                    "version_id": obj.version_id,
                }
            )
        else:
            print(f"{obj.size_bytes:>12}  {obj.last_modified:%Y-%m-%d %H:%M:%S}  {store.uri(obj.key)}")
    print(f"{count} objects", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labelbridge", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db_parser = sub.add_parser("db", help="labeling database schema")
    db_sub = db_parser.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply migrations (idempotent)")
    _add_db_arg(upgrade)
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(handler=cmd_db_upgrade)
    current = db_sub.add_parser("current", help="print the applied migration")
    _add_db_arg(current)
    current.set_defaults(handler=cmd_db_current)

    config_parser = sub.add_parser("config", help="storages.yaml")
    config_sub = config_parser.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate; exit 1 naming every invalid entry")
    _add_config_arg(check)
    check.set_defaults(handler=cmd_config_check)

    storages = sub.add_parser("storages", help="configured storages")
    storages_sub = storages.add_subparsers(dest="storages_command", required=True)
    listing = storages_sub.add_parser("list", help="source storages and export targets")
    _add_config_arg(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=cmd_storages_list)

    ls = sub.add_parser("ls", help="stream a storage's listing (filtered by its prefix and key regex)")
    _add_config_arg(ls)
    ls.add_argument("storage")
    ls.add_argument("--prefix", help="list this prefix instead of the storage's own")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(handler=cmd_ls)

    for module in FEATURE_COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def _log_to_stderr(*, verbose: bool) -> None:
    """Every log line to stderr, so stdout carries only a command's output (JSON lines pipe cleanly).

    Airflow's hooks log through structlog, to stdout unless told otherwise; its configuration
    also masks registered secrets, which plain logging would not.
    """
    level = "DEBUG" if verbose else "INFO"
    try:
        from airflow.sdk.log import configure_logging
    except ImportError:  # the offline commands work without Airflow installed
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
        return
    # The process's own stderr, not whatever sys.stderr is swapped for (a test's capture closes).
    configure_logging(log_level=level, output=sys.__stderr__)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _log_to_stderr(verbose=args.verbose)
    try:
        return int(args.handler(args))
    except LabelbridgeError as exc:
        print(f"labelbridge: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
