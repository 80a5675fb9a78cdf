"""What the commands share: the ``--config`` and labeling-DB arguments, JSON lines, config warnings,
and the ``COMMAND VERB PROJECT`` shape of the labeling tools' command groups."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from labelbridge.display import escaped

if TYPE_CHECKING:  # storages.yaml's models load with the command that reads them, not with --help
    from labelbridge.config import AnnotationTool, LabelbridgeConfig, ProjectConfig

#: What ``add_subparsers`` returns; each command module's ``register`` takes it.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
#: A command's handler: the parsed arguments in, the exit status out.
Handler: TypeAlias = Callable[[argparse.Namespace], int]


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


def add_project_verbs(
    subparsers: Subparsers,
    command: str,
    *,
    help: str,
    description: str,
    verbs: Sequence[tuple[str, str]],
    project_help: str,
    handler: Handler,
    verb_options: Mapping[str, Callable[[argparse.ArgumentParser], object]] | None = None,
    json_help: str = "one JSON object instead of sentences",
) -> dict[str, argparse.ArgumentParser]:
    """``labelbridge COMMAND VERB PROJECT``, a labeling tool's jobs on one project of storages.yaml.

    Each verb of ``verbs`` (name, help; its description is the help as a sentence) takes PROJECT,
    then the options ``verb_options[verb]`` adds, then ``--json``, ``--config`` and the labeling-DB
    options, and runs ``handler``, which reads ``args.verb``. Returns the verbs' parsers by name.
    """
    group = subparsers.add_parser(command, help=help, description=description)
    verb_parsers = group.add_subparsers(dest="verb", required=True, metavar="VERB")
    parsers: dict[str, argparse.ArgumentParser] = {}
    for verb, text in verbs:
        parser = verb_parsers.add_parser(verb, help=text, description=text[0].upper() + text[1:] + ".")
        parser.add_argument("project", metavar="PROJECT", help=project_help)
        if verb_options and verb in verb_options:
            verb_options[verb](parser)
        parser.add_argument("--json", action="store_true", help=json_help)
        add_config_arg(parser)
        add_db_arg(parser)
        parser.set_defaults(handler=handler)
        parsers[verb] = parser
    return parsers


class ChosenProject(NamedTuple):
    """What a verb of :func:`add_project_verbs` works with."""

    config: LabelbridgeConfig
    project: ProjectConfig
    dsn: str


def load_project(args: argparse.Namespace, tool: AnnotationTool) -> ChosenProject:
    """storages.yaml (warnings on stderr), the project PROJECT names, which must be labeled in ``tool``
    (else :class:`~labelbridge.errors.ConfigError`), and the labeling DB's DSN, in that order: a wrong
    project name fails before any Airflow connection is read."""
    config = load_config_warning(args.config)
    project = config.tool_project(args.project, tool)
    return ChosenProject(config, project, labeling_dsn(args))


def print_result(args: argparse.Namespace, value: Any, text: str) -> int:
    """``value`` as one JSON line under ``--json``, else ``text``; exit status 0."""
    if args.json:
        print_json(value)
    else:
        print(text)
    return 0
