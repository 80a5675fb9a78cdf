"""The compliance operators one by one, with execute() and AIRFLOW_CONN_* connections on the
emulators: each cloud's bucket operator, where reports go, and which day is audited."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from labelbridge.compliance.buckets.targets import BucketTarget, StorageRef
from labelbridge.config import Cloud, load_config
from labelbridge.connections import make_client, report_sinks
from labelbridge.errors import ComplianceError, ConfigError
from labelbridge.operators.compliance import (
    AzureBlobBucketSettingsOperator,
    ComplianceGateOperator,
    GCSBucketSettingsOperator,
    S3BucketSettingsOperator,
    audited_day,
)
from tests.conftest import StoreFactory, unique_bucket

pytestmark = pytest.mark.usefixtures("services")


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "storages.yaml"
    path.write_text(f"projects: [{{name: p}}]\ncompliance:\n  reports_dir: {tmp_path / 'reports'}\n{extra}")
    return path


@pytest.mark.parametrize(
    ("operator", "cloud", "conn_id"),
    [
        (S3BucketSettingsOperator, Cloud.S3, "aws_default"),
        (GCSBucketSettingsOperator, Cloud.GCS, "google_cloud_default"),
        (AzureBlobBucketSettingsOperator, Cloud.AZURE, "wasb_default"),
    ],
    ids=["s3", "gcs", "azure"],
)
def test_bucket_operator_stages_snapshot_and_findings_and_returns_counts(
    operator: Any, cloud: Cloud, conn_id: str, new_store: StoreFactory, tmp_path: Path
) -> None:
    store = new_store(cloud)
    target = BucketTarget(cloud, conn_id, store.bucket, (StorageRef("images", "source"),))
    task = operator(task_id="check", target=target.to_dict(), day="2026-11-22", config_path=str(_config(tmp_path)))

    counts = task.execute(context={})

    day = tmp_path / "reports" / "2026-11-22"
    part = json.loads((day / "parts" / "buckets" / f"{target.key}.json").read_text())
    assert sum(counts.values()) == len(part["findings"]) == {Cloud.S3: 12, Cloud.GCS: 6, Cloud.AZURE: 5}[cloud]
    assert counts.get("pass", 0) + counts.get("fail", 0) + counts.get("error", 0) == sum(counts.values())
    snapshot = json.loads((day / "snapshots" / f"{target.key}.json").read_text())
    assert snapshot["bucket"] == store.bucket


def test_bucket_operator_refuses_another_clouds_bucket(tmp_path: Path) -> None:
    target = BucketTarget(Cloud.GCS, "google_cloud_default", "b", (StorageRef("images", "source"),))
    task = S3BucketSettingsOperator(
        task_id="check", target=target.to_dict(), day="2026-11-22", config_path=str(_config(tmp_path))
    )
    with pytest.raises(ConfigError) as info:
        task.execute(context={})
    assert str(info.value) == "gcs-google_cloud_default-b is on gcs; S3BucketSettingsOperator reads s3"


def test_gate_without_a_report_says_where_it_looked(tmp_path: Path) -> None:
    task = ComplianceGateOperator(task_id="gate", day="2026-11-22", config_path=str(_config(tmp_path)))
    with pytest.raises(ComplianceError) as info:
        task.execute(context={})
    assert str(info.value) == (
        f"no compliance report for 2026-11-22 at {tmp_path / 'reports' / '2026-11-22' / 'compliance.json'}: "
        "the report task did not write one"
    )


def test_report_goes_to_the_directory_and_the_named_bucket(tmp_path: Path) -> None:
    client = make_client(Cloud.S3, "aws_default")
    logs = unique_bucket("logs")
    client.create_bucket(Bucket=logs)
    config = load_config(
        _config(
            tmp_path,
            f"  report_storage: logs\n  report_prefix: nightly\n  access_logs:\n    - {{name: logs, bucket: {logs}}}\n",
        )
    )
    local, bucket = report_sinks(config)
    local.write("2026-11-22/compliance.json", b"{}", content_type="application/json")
    bucket.write("2026-11-22/compliance.json", b"{}", content_type="application/json")
    assert local.location("2026-11-22/compliance.json") == str(tmp_path / "reports" / "2026-11-22" / "compliance.json")
    assert bucket.location("2026-11-22/compliance.json") == f"s3://{logs}/nightly/2026-11-22/compliance.json"
    assert bucket.days() == ["2026-11-22"]


def test_unknown_report_storage_is_a_config_error_naming_what_exists(tmp_path: Path) -> None:
    path = _config(tmp_path, "  report_storage: nowhere\n")
    with pytest.raises(ConfigError) as info:
        report_sinks(load_config(path))
    assert str(info.value) == (
        f"{path}: compliance.report_storage: no access-log entry, storage or export target named 'nowhere'; known: none"
    )


def test_default_report_place_is_under_airflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "storages.yaml"
    path.write_text("projects: [{name: p}]\n")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    (sink,) = report_sinks(load_config(path))
    assert sink.location("x") == str(tmp_path / "home" / "compliance-reports" / "x")


def test_audited_day_is_the_day_before_the_logical_date_unless_given() -> None:
    midnight = dt.datetime(2026, 11, 23, 0, 0, tzinfo=dt.UTC)
    assert audited_day(None, {"logical_date": midnight}) == dt.date(2026, 11, 22)  # type: ignore[typeddict-item]
    assert audited_day("", {"logical_date": midnight}) == dt.date(2026, 11, 22)  # type: ignore[typeddict-item]
    assert audited_day("2026-01-05", {}) == dt.date(2026, 1, 5)  # type: ignore[typeddict-item]
    with pytest.raises(ConfigError) as info:
        audited_day("yesterday", {})  # type: ignore[typeddict-item]
    assert str(info.value) == "day: expected YYYY-MM-DD, got 'yesterday'"
