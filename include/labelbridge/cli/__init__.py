"""``labelbridge``: the same jobs the DAGs run, without a scheduler, for debugging and scripting.

One module per command group, named for it: ``db.py`` (db upgrade|current), ``storages.py``
(config check, storages list, ls), ``sync.py`` (sync, quarantine list), ``runs.py`` (run
history), ``events.py`` (events drain), ``rotate.py``, ``label_studio.py`` (label-studio push|renew|pull|status),
``ground_truth.py`` (ground-truth manifest|ingest|quarantine), ``labelbox.py`` (labelbox rows|ingest),
``export.py`` (export, convert), ``compliance.py`` (compliance check-bucket|check-buckets|
logs-parse|logs-audit). Connections come from Airflow (``AIRFLOW_CONN_*`` variables or the
metadata DB), exactly as in a DAG run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import logging
import sys
from collections.abc import Iterator, Sequence

from labelbridge.display import escaped
from labelbridge.errors import LabelbridgeError
from labelbridge.secrets import install_log_redaction

log = logging.getLogger("labelbridge")

#: The command modules, in ``--help`` order, and the commands each one's ``register(subparsers)``
#: adds. A command line naming one of them imports only its module: a command pays for what it
#: uses (``sync`` never loads compliance, export or Label Studio's client). tests/cli checks that
#: each module registers exactly these.
COMMANDS: dict[str, tuple[str, ...]] = {
    "db": ("db",),
    "storages": ("config", "storages", "ls"),
    "sync": ("sync", "quarantine"),
    "events": ("events",),
    "runs": ("runs",),
    "rotate": ("rotate",),
    "label_studio": ("label-studio",),
    "ground_truth": ("ground-truth",),
    "labelbox": ("labelbox",),
    "export": ("export", "convert"),
    "compliance": ("compliance", "check-bucket", "check-buckets", "logs"),
}
_MODULE_OF = {command: module for module, commands in COMMANDS.items() for command in commands}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or only of the command ``argv`` names (its ``--help`` included)."""
    parser = argparse.ArgumentParser(prog="labelbridge", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    named = next((arg for arg in argv or () if not arg.startswith("-")), None)
    modules = [_MODULE_OF[named]] if named in _MODULE_OF else list(COMMANDS)
    for module in modules:
        importlib.import_module(f"labelbridge.cli.{module}").register(sub)
    return parser


def _log_to_stderr(*, verbose: bool) -> None:
    """Every log line to stderr, so stdout carries only a command's output (JSON lines pipe cleanly).

    Airflow's hooks log through structlog, to stdout unless told otherwise; its configuration
    also masks registered secrets, which plain logging would not. Either way every record then
    passes the redacting filter: with ``-v`` the SDKs print each request's headers at DEBUG.
    """
    level = "DEBUG" if verbose else "INFO"
    try:
        from airflow.sdk.log import configure_logging
    except ImportError:  # the offline commands work without Airflow installed
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    else:
        # The process's own stderr, not whatever sys.stderr is swapped for (a test's capture closes).
        configure_logging(log_level=level, output=sys.__stderr__)
    install_log_redaction()


# Start-up (Airflow's import, the SDKs', a client, storages.yaml) makes about a million objects
# that live until the process ends. The cyclic GC would walk them over and over while they are
# made (0.4 CPU-s), and once more as the interpreter exits (0.5 CPU-s): a third of an empty
# sync. In its own process the CLI pauses the GC while starting up and then freezes what start-up
# made (gc.freeze: kept, never walked again); the job's own objects are collected as usual.
_own_process = False


@contextlib.contextmanager
def starting_up() -> Iterator[None]:
    """Around a command's set-up (imports, config, clients): the GC paused, then what it made frozen.

    Only when :func:`main` runs as the process's entry point; called in-process (tests, scripts)
    it changes nothing. Freezing also keeps the few cycles start-up left behind: kB, until exit.
    """
    if not _own_process:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv``; its exit code.

    Without ``argv`` this is the process's entry point (the ``labelbridge`` script, ``python -m
    labelbridge.cli``): it reads ``sys.argv`` and may tune the process for a run that ends with it
    (:func:`starting_up`).
    """
    global _own_process
    _own_process = argv is None
    argv = sys.argv[1:] if argv is None else argv
    with starting_up():
        args = build_parser(argv).parse_args(argv)
        _log_to_stderr(verbose=args.verbose)
    try:
        return int(args.handler(args))
    except LabelbridgeError as exc:
        print(error_line(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # The live progress line is closed by now; a traceback would only bury this.
        print("labelbridge: interrupted", file=sys.stderr)
        return 130
    finally:
        if _own_process:
            # The interpreter's last collections at exit then skip the job's objects too.
            gc.freeze()


def error_line(exc: LabelbridgeError) -> str:
    """``labelbridge: error: ...``, escaped: a name inside the message cannot start a line of its own.

    A message of several problems (every invalid entry of storages.yaml) keeps one line each,
    the later ones indented.
    """
    first, *more = str(exc).split("\n")
    return "\n".join([f"labelbridge: error: {escaped(first)}", *(f"  {escaped(line)}" for line in more)])


__all__ = ["build_parser", "main", "starting_up"]
