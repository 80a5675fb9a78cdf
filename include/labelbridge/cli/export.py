"""``labelbridge export`` and ``labelbridge convert``: the export without a scheduler."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from labelbridge.cli._common import Subparsers, add_config_arg, add_db_arg, labeling_dsn, print_json
from labelbridge.cli._progress import live_progress
from labelbridge.config import load_config
from labelbridge.connections import make_store
from labelbridge.display import escaped
from labelbridge.export.formats import FORMATS


def register(subparsers: Subparsers) -> None:
    export = subparsers.add_parser("export", help="export a target's project to its bucket (incremental by default)")
    add_config_arg(export)
    add_db_arg(export)
    export.add_argument("target", help="an export target named in storages.yaml")
    export.add_argument("--format", choices=sorted(FORMATS), help="one format (default: all the target's formats)")
    export.add_argument("--full", action="store_true", help="rebuild the whole snapshot, not just what changed")
    export.add_argument(
        "--run-key", help="run key of the files' folder; reuse one to redo that run (default: manual-<UTC time>)"
    )
    export.set_defaults(handler=cmd_export)

    convert = subparsers.add_parser("convert", help="convert a Label Studio JSON export file offline")
    convert.add_argument("--format", required=True, choices=sorted(FORMATS))
    convert.add_argument("--labels", default="", help="comma-separated label list: fixes class ids")
    convert.add_argument("--image-field", default="image", help="task data key holding the image (default: image)")
    convert.add_argument("tasks", type=Path, metavar="TASKS.json")
    convert.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    convert.set_defaults(handler=cmd_convert)


def cmd_export(args: argparse.Namespace) -> int:
    from labelbridge.export.run import export_target, image_field_of

    config = load_config(args.config)
    target = config.export_target(args.target)
    store = make_store(target, prefix="")
    run_key = args.run_key or f"manual-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    image_field = image_field_of(config, target)
    dsn = labeling_dsn(args)
    for fmt in [args.format] if args.format else list(target.formats):
        # Its output is JSON lines whatever the flags: the live line goes to the terminal only.
        with live_progress(args, f"export {escaped(target.name)} {fmt}", "tasks") as progress:
            result = export_target(
                dsn, store, target=target, fmt=fmt, run_key=run_key, full=args.full, image_field=image_field,
                progress=progress,
            )
        print_json({"format": fmt, "prefix": result.run_prefix, **result.counts()})
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from labelbridge.export.run import convert_file

    labels = tuple(label.strip() for label in args.labels.split(",") if label.strip())
    result = convert_file(args.tasks, args.out_dir, fmt=args.format, labels=labels, image_field=args.image_field)
    for problem in result.stats.problems:
        print(escaped(f"warning: task {problem['task_id']}: {problem['reason']}"), file=sys.stderr)
    print_json({"format": args.format, "out_dir": str(args.out_dir), **result.counts()})
    return 0
