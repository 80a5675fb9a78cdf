"""``labelbridge events drain``: apply what a storage's event queue holds, without a scheduler."""

from __future__ import annotations

import argparse
import sys

from labelbridge.cli._common import Subparsers, add_config_arg, add_db_arg, labeling_dsn, print_json
from labelbridge.config import load_config
from labelbridge.connections import make_store
from labelbridge.errors import ConfigError


def cmd_events_drain(args: argparse.Namespace) -> int:
    from labelbridge.hooks.event_queues import drain, event_queue

    config = load_config(args.config)
    storage = config.storage(args.storage)
    if storage.events is None:
        raise ConfigError(f"storage {storage.name!r} has no events section: nothing to drain")
    counts = drain(event_queue(storage), dsn=labeling_dsn(args), store=make_store(storage), config=config,
                   limit=args.limit, run_id="cli-events")
    print(f"{storage.name}: events applied: {counts.summary()}", file=sys.stderr)
    if args.json:
        print_json(counts.as_dict())
    return 0


def register(sub: Subparsers) -> None:
    events = sub.add_parser("events", help="bucket events: new objects as tasks within seconds")
    events_sub = events.add_subparsers(dest="events_command", required=True)
    drain = events_sub.add_parser(
        "drain", help="sync the objects named by the messages queued for a storage, delete the messages, "
        "stop when the queue is empty"
    )
    add_config_arg(drain)
    add_db_arg(drain)
    drain.add_argument("storage")
    drain.add_argument("--limit", type=int, help="take at most this many messages")
    drain.add_argument("--json", action="store_true", help="also print the counts as one JSON line")
    drain.set_defaults(handler=cmd_events_drain)
