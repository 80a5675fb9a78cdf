"""``labelbridge db upgrade|current``: the labeling database's schema."""

from __future__ import annotations

import argparse

from labelbridge import db
from labelbridge.cli._common import Subparsers, add_db_arg, labeling_dsn


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    revision = db.upgrade(labeling_dsn(args), args.revision)
    print(f"labeling database at revision {revision}")
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    print(db.current_revision(labeling_dsn(args)) or "not migrated")
    return 0


def register(sub: Subparsers) -> None:
    db_parser = sub.add_parser("db", help="labeling database schema")
    db_sub = db_parser.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply migrations (idempotent)")
    add_db_arg(upgrade)
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(handler=cmd_db_upgrade)
    current = db_sub.add_parser("current", help="print the applied migration")
    add_db_arg(current)
    current.set_defaults(handler=cmd_db_current)
