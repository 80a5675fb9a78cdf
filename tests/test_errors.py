"""Every exception labelbridge defines is in errors.py's tree, or private and listed there as
internal with where it is converted (issue 17); nothing reaches the CLI as a traceback."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

import labelbridge
from labelbridge import errors
from labelbridge.config import Cloud
from labelbridge.errors import LabelbridgeError
from tests.compliance.accesslog.lines import line
from tests.conftest import StoreFactory


def _module_names() -> list[str]:
    # From the files, not pkgutil.walk_packages, which skips a folder without __init__.py.
    root = Path(labelbridge.__file__).parent
    names = []
    for path in sorted(root.rglob("*.py")):
        parts = (root.name, *path.relative_to(root).with_suffix("").parts)
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _defined_exceptions() -> list[type[BaseException]]:
    found = []
    for name in _module_names():
        if ".db.migrations" in name:
            continue  # Alembic revision scripts import alembic's op proxy, only usable in a migration
        if name.endswith(".__main__"):
            continue  # `python -m labelbridge.cli`: importing it runs the CLI
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found.append(value)
    return found


def _internal_names() -> set[str]:
    """The names listed under "Internal, never escapes" in errors.py's docstring."""
    doc = errors.__doc__ or ""
    section = doc.split("Internal, never escapes", 1)[1].split("\n\n", 2)[1]
    return {line.split()[0] for line in section.splitlines() if line.strip() and not line.startswith(" " * 8)}


def _private(cls: type[BaseException]) -> bool:
    return cls.__name__.startswith("_") or any(part.startswith("_") for part in cls.__module__.split("."))


def test_every_exception_is_in_the_tree_or_private_and_listed_internal() -> None:
    internal = _internal_names()
    exceptions = _defined_exceptions()
    assert {c.__name__ for c in exceptions} >= {"Unreadable", "OverlappingShards", "_NotCollected", "_WriteFailed"}
    stray = [
        f"{c.__module__}.{c.__qualname__}"
        for c in exceptions
        if not issubclass(c, LabelbridgeError)
        and not (_private(c) and c.__name__ in internal)
    ]
    assert stray == [], "subclass LabelbridgeError, or make it private and list it in errors.py as internal"


def test_every_listed_internal_exception_exists() -> None:
    names = {c.__name__ for c in _defined_exceptions()}
    assert _internal_names() <= names, "errors.py lists an internal exception that no module defines"


def test_the_tree_in_the_docstring_names_every_public_exception() -> None:
    drawn = errors.__doc__ or ""
    public = [c for c in _defined_exceptions() if issubclass(c, LabelbridgeError) and not _private(c)]
    assert [c.__name__ for c in public if not re.search(rf"(?m)^[ │├└─]*{c.__name__}\b", drawn)] == []


def test_the_compliance_leaves_are_still_value_errors() -> None:
    from labelbridge.compliance.accesslog import LineError, OverlappingShards
    from labelbridge.compliance.buckets.policy import PolicyParseError

    assert all(issubclass(c, ValueError) for c in (LineError, OverlappingShards, PolicyParseError))


def test_an_error_that_used_to_escape_is_one_line_on_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], new_store: StoreFactory
) -> None:
    # Two access_logs entries on the same bucket and prefix read the same log object: merging
    # their audits raises OverlappingShards, which once reached the terminal as a traceback.
    from labelbridge.cli import main

    logs = new_store(Cloud.S3)
    logs.write("access/2019-02-06-00-10-00-A", (line() + "\n").encode())
    config = tmp_path / "storages.yaml"
    entry = f"{{bucket: {logs.bucket}, prefix: access/}}"
    config.write_text(
        f"compliance:\n  access_logs:\n    - {{name: one, {entry[1:]}\n    - {{name: two, {entry[1:]}\n",
        encoding="utf-8",
    )
    assert main(["logs", "audit", "--config", str(config), "--day", "2019-02-06"]) == 2
    assert capsys.readouterr().err == (
        f"labelbridge: error: 1 log object(s) audited in two shards, e.g. {logs.uri('access/2019-02-06-00-10-00-A')}; "
        "shard the day's keys so each object is read once\n"
    )
