"""A command loads what it uses: ``labelbridge sync`` never imports compliance, export or Label
Studio's client, and its ``--help`` not even the database driver or Airflow. Checked in a fresh
process (``sys.modules`` after the command ran), as a user starts it."""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from labelbridge import cli
from labelbridge.config import Cloud
from labelbridge.connections import make_client
from tests.conftest import DEFAULT_CONN_IDS, StoreFactory

# Runs the CLI as ``labelbridge ARGS`` does (main() reading sys.argv: the process's entry point),
# then prints the modules the process loaded.
_PROBE = """
import gc, json, sys
from labelbridge.cli import main
sys.argv = ["labelbridge", *sys.argv[1:]]
try:
    code = main()
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules), "gc": [gc.isenabled(), gc.get_freeze_count()]}))
"""

# Packages a sync has no use for: other jobs, other clouds' SDKs, inventory readers (only a
# storage with an inventory section reads reports), migrations, columnar formats.
NOT_FOR_SYNC = (
    "labelbridge.compliance", "labelbridge.export", "labelbridge.tools", "labelbridge.rotate",
    "labelbridge.cli.compliance", "labelbridge.cli.export", "labelbridge.cli.label_studio", "labelbridge.cli.rotate",
    "labelbridge.storage.inventory", "google.cloud.storage", "azure.storage.blob", "alembic", "pyarrow",
)
# And what --help has no use for on top.
NOT_FOR_HELP = (*NOT_FOR_SYNC, "airflow", "httpx", "psycopg", "boto3", "botocore", "pydantic", "labelbridge.sync",
                "labelbridge.config", "labelbridge.connections")


def _run(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    # As a user runs it: not in Airflow's unit-test mode, which announces itself on stdout at import.
    environ = {k: v for k, v in os.environ.items() if k != "AIRFLOW__CORE__UNIT_TEST_MODE"}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env={**environ, **(env or {})},
        check=True,
    )
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def _loaded(args: list[str], env: dict[str, str] | None = None) -> tuple[object, list[str]]:
    report = _run(args, env)
    return report["code"], report["modules"]


def _under(modules: list[str], packages: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)]


def test_sync_help_loads_no_driver_no_sdk_no_airflow() -> None:
    code, modules = _loaded(["sync", "--help"])
    assert code == 0
    assert _under(modules, NOT_FOR_HELP) == []


def test_an_empty_sync_loads_only_what_a_sync_uses(
    tmp_path: Path, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(Cloud.S3)
    config = tmp_path / "storages.yaml"
    config.write_text(
        f"projects: [{{name: p}}]\nstorages:\n  - {{name: empty, project: p, cloud: s3, bucket: {store.bucket}}}\n"
    )
    code, modules = _loaded(["sync", "empty", "--config", str(config), "--dsn", labeling_dsn, "--json"])
    assert code == 0
    assert _under(modules, NOT_FOR_SYNC) == []
    # The official hook made the client: the hooks stay.
    assert "airflow.providers.amazon.aws.hooks.s3" in modules


def test_a_cli_process_freezes_its_start_up_and_still_collects(
    tmp_path: Path, new_store: StoreFactory, labeling_dsn: str
) -> None:
    """Start-up's objects are frozen (never walked by the GC again, nor at exit); the job's are
    collected as usual: the GC is on again once the command ran."""
    store = new_store(Cloud.S3)
    config = tmp_path / "storages.yaml"
    config.write_text(
        f"projects: [{{name: p}}]\nstorages: [{{name: s, project: p, cloud: s3, bucket: {store.bucket}}}]\n"
    )
    report = _run(["sync", "s", "--config", str(config), "--dsn", labeling_dsn])
    assert report["code"] == 0
    enabled, frozen = report["gc"]
    assert enabled and frozen > 100_000


def test_main_called_in_process_leaves_the_gc_alone(tmp_path: Path) -> None:
    """A script or test calling main(argv) keeps its own GC: nothing frozen, collection on."""
    config = tmp_path / "storages.yaml"
    config.write_text("projects: [{name: p}]\n")
    frozen = gc.get_freeze_count()
    assert cli.main(["config", "check", "--config", str(config)]) == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_the_cli_sends_the_user_agent_the_aws_hook_would(new_store: StoreFactory) -> None:
    """Outside a task the hook's stack walk finds no operator (Caller/Unknown); the CLI skips the
    walk and sends the same user agent."""
    new_store(Cloud.S3)  # the emulator and its connection
    walked = make_client(Cloud.S3, DEFAULT_CONN_IDS[Cloud.S3])
    skipped = make_client(Cloud.S3, DEFAULT_CONN_IDS[Cloud.S3], in_task=False)
    assert "Caller/Unknown" in skipped.meta.config.user_agent_extra
    assert skipped.meta.config.user_agent_extra == walked.meta.config.user_agent_extra


def test_top_level_help_still_lists_every_command() -> None:
    help_text = cli.build_parser().format_help()
    for commands in cli.COMMANDS.values():
        for command in commands:
            if command not in ("check-bucket", "check-buckets", "logs"):  # old spellings, hidden from --help
                assert command in help_text


@pytest.mark.parametrize("module", list(cli.COMMANDS))
def test_each_module_registers_exactly_the_commands_listed_for_it(module: str) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(f"labelbridge.cli.{module}").register(sub)
    assert tuple(sub.choices) == cli.COMMANDS[module]


def test_a_command_line_builds_only_its_commands_parser() -> None:
    parser = cli.build_parser(["-v", "sync", "src"])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert tuple(sub.choices) == ("sync", "quarantine")
    # An unknown command gets the whole parser, so argparse names the choices.
    everything = cli.build_parser(["nonsense"])
    sub = next(a for a in everything._actions if isinstance(a, argparse._SubParsersAction))
    assert len(sub.choices) == sum(len(c) for c in cli.COMMANDS.values())
