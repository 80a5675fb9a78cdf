"""``labelbridge rotate [STORAGE ...] [--dry-run]``: URL rotation without a scheduler."""

from __future__ import annotations

import argparse

from labelbridge.cli._common import (
    Subparsers,
    add_config_arg,
    add_db_arg,
    labeling_dsn,
    load_config_warning,
    print_json,
)
from labelbridge.cli._progress import live_progress
from labelbridge.connections import make_store
from labelbridge.display import escaped
from labelbridge.rotate import DEFAULT_BATCH_SIZE, DEFAULT_CANARY_SIZE, plan_rotation, rotate_storage


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "rotate",
        help="re-sign signed URLs that expire within each storage's lead time",
        description="Re-sign the signed URLs of source storages' tasks that are missing or expire "
        "within the storage's lead time. Prints counts, never URLs.",
    )
    parser.add_argument("storages", nargs="*", metavar="STORAGE", help="source storages (default: all)")
    parser.add_argument(
        "--dry-run", action="store_true", help="only show how many URLs are due and when the next one expires"
    )
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="URLs per transaction")
    parser.add_argument(
        "--canary",
        type=int,
        default=DEFAULT_CANARY_SIZE,
        metavar="N",
        help="URLs fetched before writing (0: off)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per storage")
    add_config_arg(parser)
    add_db_arg(parser)
    parser.set_defaults(handler=cmd_rotate)


def cmd_rotate(args: argparse.Namespace) -> int:
    config = load_config_warning(args.config)
    storages = [config.storage(name) for name in args.storages] or list(config.storages.values())
    dsn = labeling_dsn(args)
    for storage in storages:
        if args.dry_run:
            plan = plan_rotation(dsn, storage)
            if args.json:
                print_json(plan.as_dict())
                continue
            next_expiry = plan.next_expiry.isoformat() if plan.next_expiry else "none signed yet"
            next_due = plan.next_due.isoformat() if plan.next_due else "-"
            print(
                f"{escaped(storage.name)}: {plan.due} URLs would be re-signed ({plan.unsigned} never signed), "
                f"{plan.signed} signed; next expiry {next_expiry}, next due {next_due}"
            )
            continue
        with live_progress(args, f"rotate {escaped(storage.name)}", "URLs") as progress:
            result = rotate_storage(
                dsn, make_store(storage), storage=storage, batch_size=args.batch_size, canary_size=args.canary,
                progress=progress,
            )
        counts = result.counts.as_dict()
        if args.json:
            print_json({"storage": storage.name, **counts, "signer": result.signer})
        else:
            expiry = result.earliest_expiry.isoformat() if result.earliest_expiry else "-"
            print(
                f"{escaped(storage.name)}: {counts['signed']} of {counts['due']} due URLs re-signed by "
                f"{result.signer or '-'}, earliest expiry {expiry}; {counts['skipped_locked']} held by "
                f"another run, {counts['pruned']} stale pruned"
            )
    return 0
