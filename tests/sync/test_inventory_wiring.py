"""The inventory source end to end: storages.yaml's ``inventory`` section validated, then used by
the CLI (``labelbridge sync``, ``--from-inventory`` / ``--from-listing``) and the sync operator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from labelbridge import cli
from labelbridge.config import Cloud, load_config
from labelbridge.operators.sync import S3SyncOperator
from tests.conftest import StoreFactory
from tests.sync.helpers import rows
from tests.sync.inventory_reports import write_s3_report


def test_inventory_sections_are_validated_naming_file_entry_and_field(tmp_path: Path) -> None:
    path = tmp_path / "storages.yaml"
    path.write_text(
        "projects: [{name: p}]\nstorages:\n"
        "  - {name: ok, project: p, cloud: s3, bucket: b, inventory: {bucket: inv, fallback: list, max_age: 36h}}\n"
        "  - {name: orc, project: p, cloud: gcs, bucket: b, inventory: {bucket: inv, format: orc}}\n"
        "  - {name: fb, project: p, cloud: s3, bucket: b, inventory: {bucket: inv, fallback: maybe}}\n"
        "  - {name: sh, project: p, cloud: s3, bucket: b, shard_by_prefix: true, inventory: {bucket: inv}}\n"
        "  - {name: age, project: p, cloud: azure, bucket: b, inventory: {bucket: inv, rule: r, max_age: 0}}\n"
        "  - {name: rule, project: p, cloud: s3, bucket: b, inventory: {bucket: inv, rule: r}}\n"
        "  - {name: nob, project: p, cloud: s3, bucket: b, inventory: {prefix: x/}}\n"
    )

    config = load_config(path)

    assert [str(p) for p in config.problems] == [
        f"{path}: storages[1] 'orc': field 'inventory.format': 'orc' reports exist on S3 only, not gcs",
        f"{path}: storages[2] 'fb': field 'inventory.fallback': Input should be 'list' or 'fail'",
        f"{path}: storages[3] 'sh': field 'inventory': a sync from an inventory report reads it once at the "
        "database's speed; it does not combine with shard_by_prefix: true",
        f"{path}: storages[4] 'age': field 'inventory.max_age': must be positive",
        f"{path}: storages[5] 'rule': field 'inventory.rule': applies to Azure storages only, not s3",
        f"{path}: storages[6] 'nob': field 'inventory.bucket': required field is missing",
    ]
    inventory = config.storage("ok").inventory
    assert inventory is not None
    assert (inventory.conn_id, inventory.max_age, inventory.fallback) == ("aws_default", timedelta(hours=36), "list")


@pytest.fixture
def inventoried(tmp_path: Path, new_store: StoreFactory, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """An S3 bucket of two images, its report delivered, and a storages.yaml naming both."""
    source = new_store(Cloud.S3)
    for key in ("img/a.jpg", "img/b.jpg"):
        source.write(key, b"x")
    reports = new_store(Cloud.S3)
    reports.prefix = f"inv/{source.bucket}/daily/"
    write_s3_report(reports, source.bucket, list(source.iter_objects("")), when=datetime.now(UTC) - timedelta(hours=1))
    path = tmp_path / "storages.yaml"
    path.write_text(
        "projects: [{name: p}]\nstorages:\n"
        f"  - {{name: imgs, project: p, cloud: s3, bucket: {source.bucket}, prefix: img/,"
        f" inventory: {{bucket: {reports.bucket}, prefix: '{reports.prefix}'}}}}\n"
        f"  - {{name: plain, project: p, cloud: s3, bucket: {source.bucket}, prefix: img/}}\n"
    )
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(path))
    monkeypatch.setattr(cli, "_log_to_stderr", lambda verbose: None)
    return source.bucket, reports.uri(reports.prefix)


def _json_line(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return dict(json.loads(lines[-1]))


def test_cli_syncs_from_the_inventory_the_config_names_and_says_so(
    inventoried: tuple[str, str], labeling_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, report_folder = inventoried

    assert cli.main(["sync", "imgs", "--json"]) == 0
    first = _json_line(capsys)
    assert (first["listed"], first["inserted"]) == (2, 2)
    assert str(first["source"]).startswith(f"inventory {report_folder}")
    assert cli.main(["sync", "imgs", "--from-listing", "--json"]) == 0
    listed = _json_line(capsys)
    assert (listed["listed"], listed["unchanged"], "source" in listed) == (2, 2, False)
    assert cli.main(["sync", "plain", "--from-inventory"]) == 2
    assert "labelbridge: error: storage 'plain' has no inventory section in storages.yaml" in capsys.readouterr().err
    assert rows(labeling_dsn, "SELECT count(*) FROM task") == [(2,)]


def test_operator_syncs_from_the_inventory(inventoried: tuple[str, str], labeling_dsn: str) -> None:
    counts = S3SyncOperator(task_id="sync", storage="imgs").execute(context={})

    assert (counts["listed"], counts["inserted"]) == (2, 2)
    assert str(counts["source"]).startswith(f"inventory {inventoried[1]}")
    listed = S3SyncOperator(task_id="sync", storage="imgs", from_inventory=False).execute(context={})
    assert (listed["unchanged"], "source" in listed) == (2, False)
