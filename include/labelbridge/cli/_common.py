"""What the commands share: the ``--config`` and labeling-DB arguments, JSON lines, config warnings."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, TypeAlias

from labelbridge.display import escaped

if TYPE_CHECKING:  # storages.yaml's models load with the command that reads them, not with --help
    from labelbridge.config import LabelbridgeConfig

#: What ``add_subparsers`` returns; each command module's ``register`` takes it.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_config_arg(parser: argparse.ArgumentParser, *, help: str | None = None) -> None:
    parser.add_argument(
        "--config", help=help or "storages.yaml to read (default: $LABELBRIDGE_CONFIG or the bundled one)"
    )


def add_db_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn",
        help="libpq DSN of the labeling database (default: the Airflow connection given by --conn-id)",
    )
    parser.add_argument("--conn-id", default="labeling_db", help="Airflow connection of the labeling DB")


def labeling_dsn(args: argparse.Namespace) -> str:
    """``--dsn``, else the DSN of the Airflow connection ``--conn-id``."""
    if args.dsn:
        return str(args.dsn)
    from labelbridge.connections import labeling_db_dsn

    return labeling_db_dsn(args.conn_id)


def print_json(value: Any) -> None:
    """One JSON object on one line, names exact: JSON escapes control characters (and, ASCII-only,
    everything else a terminal could act on), so the text output's escaping is not needed here."""
    sys.stdout.write(json.dumps(value, default=str, sort_keys=False) + "\n")


def load_config_warning(path: str | None) -> LabelbridgeConfig:
    """storages.yaml, with a ``warning:`` line on stderr per invalid entry (the valid ones still work)."""
    from labelbridge.config import load_config

    config = load_config(path)
    for problem in config.problems:
        print(f"warning: {escaped(str(problem))}", file=sys.stderr)
    return config
