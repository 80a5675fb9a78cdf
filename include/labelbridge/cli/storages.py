"""``labelbridge config check``, ``storages list`` and ``ls``: storages.yaml and what a storage lists."""

from __future__ import annotations

import argparse
import sys

from labelbridge.cli import starting_up
from labelbridge.cli._common import Subparsers, add_config_arg, load_config_warning, print_json
from labelbridge.cli._progress import live_progress
from labelbridge.config import load_config
from labelbridge.connections import make_store
from labelbridge.display import escaped


def cmd_config_check(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    for problem in config.problems:
        print(escaped(str(problem)), file=sys.stderr)
    print(
        f"{config.path}: {len(config.projects)} projects, {len(config.storages)} storages, "
        f"{len(config.export_targets)} export targets, {len(config.problems)} problems"
    )
    return 1 if config.problems else 0


def cmd_storages_list(args: argparse.Namespace) -> int:
    config = load_config_warning(args.config)
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
            print(escaped(f"{row['name']:<24} {row['role']:<7} {row['project']:<16} {where}"))
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    with starting_up():
        storage = load_config(args.config).storage(args.storage)
        store = make_store(storage, prefix=args.prefix, in_task=False)
    count = 0
    with live_progress(args, f"ls {escaped(storage.name)}", "objects") as progress:
        for page in store.iter_pages():
            count += len(page)
            for obj in page:
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
                    # Escaped: a key holding a newline would otherwise print a line that looks like another object.
                    print(f"{obj.size_bytes:>12}  {obj.last_modified:%Y-%m-%d %H:%M:%S}  {escaped(store.uri(obj.key))}")
            progress.advance(len(page))
    print(f"{count} objects", file=sys.stderr)
    return 0


def register(sub: Subparsers) -> None:
    config_parser = sub.add_parser("config", help="storages.yaml")
    config_sub = config_parser.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate; exit 1 naming every invalid entry")
    add_config_arg(check)
    check.set_defaults(handler=cmd_config_check)

    storages = sub.add_parser("storages", help="configured storages")
    storages_sub = storages.add_subparsers(dest="storages_command", required=True)
    listing = storages_sub.add_parser("list", help="source storages and export targets")
    add_config_arg(listing)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=cmd_storages_list)

    ls = sub.add_parser("ls", help="stream a storage's listing (filtered by its prefix and key regex)")
    add_config_arg(ls)
    ls.add_argument("storage")
    ls.add_argument("--prefix", help="list this prefix instead of the storage's own")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(handler=cmd_ls)
