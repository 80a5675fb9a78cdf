"""``labelbridge check-bucket`` on saved snapshots and ``labelbridge check-buckets`` on moto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labelbridge.cli import main
from labelbridge.config import Cloud
from labelbridge.connections import make_client
from tests.compliance.buckets.fixtures import make_compliant_s3, make_hurried_s3
from tests.compliance.buckets.snapshots import GOOD, KMS_KEY
from tests.conftest import StoreFactory

CONFIG = """
projects: [{{name: p}}]
storages:
{storages}
compliance:
  allowed_cidrs: [10.0.0.0/8, 127.0.0.0/8]
  allowed_account_ids: ["111122223333"]
  kms_key_arns: [{kms}]
  waivers:
    - {{rule: s3.cors_restricted, storage: hurried, reason: "public demo page, JIRA-7", expires: 2999-01-01}}
"""


def _config(tmp_path: Path, storages: str = "  []") -> Path:
    path = tmp_path / "storages.yaml"
    path.write_text(CONFIG.format(storages=storages, kms=KMS_KEY))
    return path


def test_check_bucket_prints_findings_as_json_and_exits_0_when_compliant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = tmp_path / "snap.json"
    snapshot.write_text(json.dumps(GOOD[Cloud.S3]))
    code = main(["check-bucket", "--cloud", "aws", str(snapshot), "--config", str(_config(tmp_path))])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert len(out) == 12
    assert out[0].keys() >= {"rule_id", "status", "severity", "detail"}
    assert {f["status"] for f in out} == {"pass"}


def test_check_bucket_policy_not_json_is_error_and_gate_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(json.dumps(GOOD[Cloud.S3]))
    document["settings"]["policy"] = "{not json"
    snapshot = tmp_path / "snap.json"
    snapshot.write_text(json.dumps(document))
    code = main(["check-bucket", "--cloud", "aws", str(snapshot), "--config", str(_config(tmp_path))])
    captured = capsys.readouterr()
    findings = {f["rule_id"]: f for f in json.loads(captured.out)}
    assert code == 1
    assert findings["s3.tls_only"]["status"] == "error"
    assert findings["s3.tls_only"]["detail"].startswith("policy is not valid JSON: ")
    assert findings["s3.versioning"]["status"] == "pass"
    assert "s3.tls_only [high] could not be checked on images" in captured.err


def test_check_bucket_with_the_wrong_cloud_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snapshot = tmp_path / "snap.json"
    snapshot.write_text(json.dumps(GOOD[Cloud.S3]))
    code = main(["check-bucket", "--cloud", "gcp", str(snapshot), "--config", str(_config(tmp_path))])
    assert code == 2
    assert capsys.readouterr().err == (
        f"labelbridge: error: {snapshot}: field 'cloud' is 'aws', but the gcp rules were asked for\n"
    )


def test_check_bucket_on_a_hand_written_snapshot_without_cloud_and_missing_sections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = tmp_path / "snap.json"
    snapshot.write_text(json.dumps({"bucket": "images", "settings": {"versioning": {"enabled": True}}}))
    code = main(["check-bucket", "--cloud", "gcp", str(snapshot), "--config", str(_config(tmp_path))])
    findings = {f["rule_id"]: f for f in json.loads(capsys.readouterr().out)}
    assert code == 1
    assert {f["status"] for f in findings.values()} == {"error"}
    assert findings["gcs.versioning"]["detail"] == "bucket missing from the snapshot"


def test_check_bucket_on_a_file_that_is_not_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snapshot = tmp_path / "snap.json"
    snapshot.write_text("{")
    code = main(["check-bucket", "--cloud", "aws", str(snapshot), "--config", str(_config(tmp_path))])
    assert code == 2
    assert capsys.readouterr().err == (
        f"labelbridge: error: {snapshot}: not valid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)\n"
    )


@pytest.mark.usefixtures("services")
def test_check_buckets_reads_every_configured_bucket_and_applies_waivers(
    new_store: StoreFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_client(Cloud.S3, "aws_default")
    good, bad, logs = new_store(Cloud.S3), new_store(Cloud.S3), new_store(Cloud.S3)
    make_compliant_s3(client, good.bucket, logs.bucket)
    make_hurried_s3(client, bad.bucket)
    config = _config(
        tmp_path,
        f"  - {{name: careful, project: p, cloud: s3, bucket: {good.bucket}}}\n"
        f"  - {{name: hurried, project: p, cloud: s3, bucket: {bad.bucket}}}",
    )
    code = main(["check-buckets", "--config", str(config), "--json", "--report-dir", str(tmp_path / "r")])
    captured = capsys.readouterr()
    # Airflow's hooks log through structlog to stdout; the rows are the JSON objects.
    rows = [json.loads(line) for line in captured.out.splitlines() if line.startswith('{"storage"')]
    assert code == 1
    assert len(rows) == 24
    status = {(r["storage"], r["rule_id"]): r["status"] for r in rows}
    assert {s for (storage, _), s in status.items() if storage == "careful"} == {"pass"}
    assert status[("hurried", "s3.cors_restricted")] == "waived"
    assert status[("hurried", "s3.tls_only")] == "fail"
    assert "s3.tls_only [high] failed on hurried" in captured.err
    assert list((tmp_path / "r").glob("*/compliance.html"))
