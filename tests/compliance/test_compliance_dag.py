"""The nightly compliance DAG, run with dag.test() against moto_server: one compliant bucket,
one hurried bucket and a day of access logs; the gate fails naming the broken rules, the report
holds every storage x rule, and no signature reaches the report or XCom."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from labelbridge.compliance.gate import gate_message
from labelbridge.config import Cloud
from labelbridge.connections import make_client
from tests.compliance.buckets.fixtures import make_compliant_s3, make_hurried_s3
from tests.compliance.buckets.snapshots import KMS_KEY
from tests.conftest import StoreFactory

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "compliance.py"
DAY = dt.date(2026, 11, 22)
SECRETS = ("X-Amz-Signature", "sig=", "X-Goog-Signature", "X-Amz-Credential", "X-Amz-Security-Token")
SIGNATURE = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"

pytestmark = pytest.mark.usefixtures("airflow_db")


def _log_line(bucket: str, *, ip: str, uri: str, auth: str, hour: int) -> str:
    return " ".join(
        [
            "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
            bucket,
            f"[22/Nov/2026:{hour:02d}:00:38 +0000]",
            ip,
            "arn:aws:iam::123456789012:user/sync",
            "3E57427F3EXAMPLE",
            "REST.GET.OBJECT",
            "images/cat.jpg",
            f'"GET /{bucket}/images/cat.jpg{uri} HTTP/1.1"',
            "200",
            "-",
            "2662992",
            "3462992",
            "70",
            "10",
            '"-"',
            '"curl/7.15.1"',
            "-",
            "s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234=",
            "SigV4",
            "ECDHE-RSA-AES128-GCM-SHA256",
            auth,
            f"{bucket}.s3.us-east-1.amazonaws.com",
            "TLSv1.2",
            "-",
            "-",
        ]
    )


def _presigned_query(expires: int) -> str:
    return (
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261122%2Fus-east-1%2Fs3%2F"
        f"aws4_request&X-Amz-Date=20261122T000000Z&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host"
        f"&X-Amz-Signature={SIGNATURE}"
    )


@pytest.fixture
def setup(new_store: StoreFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    client = make_client(Cloud.S3, "aws_default")
    good, bad, logs = new_store(Cloud.S3), new_store(Cloud.S3), new_store(Cloud.S3)
    make_compliant_s3(client, good.bucket, logs.bucket)
    make_hurried_s3(client, bad.bucket)
    logs.write(
        "access/2026-11-22-01-00-00-0A1B2C3D4E5F6A7B",
        (
            _log_line(bad.bucket, ip="10.1.2.3", uri="", auth="AuthHeader", hour=1)
            + "\n"
            + _log_line(bad.bucket, ip="203.0.113.9", uri=_presigned_query(604800), auth="QueryString", hour=1)
            + "\n"
        ).encode(),
    )
    logs.write(
        "access/2026-11-22-02-00-00-1A1B2C3D4E5F6A7B",
        (_log_line(bad.bucket, ip="10.1.2.4", uri=_presigned_query(300), auth="QueryString", hour=2) + "\n").encode(),
    )
    logs.write("access/2026-11-21-23-00-00-0A1B2C3D4E5F6A7B", b"not audited: another day\n")
    reports = tmp_path / "reports"
    config = tmp_path / "storages.yaml"
    config.write_text(
        f"""
projects: [{{name: p}}]
storages:
  - {{name: careful, project: p, cloud: s3, bucket: {good.bucket}}}
  - {{name: hurried, project: p, cloud: s3, bucket: {bad.bucket}, allowed_cidrs: [10.1.2.0/24]}}
compliance:
  schedule: "@daily"
  fail_on: high
  reports_dir: {reports}
  allowed_cidrs: [10.0.0.0/8, 127.0.0.0/8]
  kms_key_arns: [{KMS_KEY}]
  max_presign_ttl: 1d
  access_logs:
    - {{name: logs, bucket: {logs.bucket}, prefix: access/}}
"""
    )
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(config))
    return {"good": good.bucket, "bad": bad.bucket, "logs": logs.bucket, "reports": reports}


def _load_dag() -> Any:
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.get_dag("labelbridge_compliance")


def test_dag_shape_from_config(setup: dict[str, Any]) -> None:
    dag = _load_dag()
    assert dag.tags == ["labelbridge", "compliance"] or set(dag.tags) == {"labelbridge", "compliance"}
    assert dag.default_args["retries"] == 2
    assert {t.task_id for t in dag.tasks} == {
        "check_s3_buckets",
        "plan_access_log_shards",
        "audit_access_logs",
        "report",
        "gate",
    }
    assert dag.get_task("gate").retries == 0
    assert dag.get_task("report").trigger_rule == "all_done"


def test_nightly_run_reports_every_rule_and_the_gate_names_the_broken_ones(
    setup: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    dag = _load_dag()

    run = dag.test(run_conf={"day": DAY.isoformat()})

    states: dict[str, list[str]] = {}
    for ti in run.get_task_instances():
        states.setdefault(ti.task_id, []).append(ti.state)
    assert states == {
        "check_s3_buckets": ["success"] * 3,  # careful, hurried and the log bucket
        "plan_access_log_shards": ["success"],
        "audit_access_logs": ["success"],
        "report": ["success"],
        "gate": ["failed"],
    }
    assert run.state == "failed"

    report_file = setup["reports"] / DAY.isoformat() / "compliance.json"
    report = json.loads(report_file.read_text())
    rows = {(r["storage"], r["rule_id"]): r for r in report["rows"] if r["source"] == "buckets"}
    assert len(rows) == 3 * 12
    careful = {rule: r["status"] for (storage, rule), r in rows.items() if storage == "careful"}
    assert careful == {rule: "pass" for rule in careful}
    assert rows[("hurried", "s3.tls_only")]["status"] == "fail"
    assert rows[("hurried", "s3.tls_only")]["detail"] == "no Deny statement for aws:SecureTransport=false"
    assert rows[("hurried", "s3.no_public_policy")]["status"] == "fail"
    assert rows[("hurried", "s3.cors_restricted")]["detail"] == "a CORS rule allows origin * with PUT"
    assert rows[("logs", "s3.versioning")]["role"] == "access_logs"

    access = report["access_logs"]
    assert (access["objects_read"], access["lines_read"]) == (2, 3)
    log_rows = [r for r in report["rows"] if r["source"] == "access_logs"]
    assert {r["rule_id"] for r in log_rows} >= {"s3log.presign_ttl", "s3log.audit_complete"}
    assert any(r["rule_id"] == "s3log.presign_ttl" and r["status"] == "fail" for r in log_rows)
    # 203.0.113.9 is outside both the global list and the hurried storage's own.
    [outsider] = [r for r in log_rows if r["rule_id"] == "s3log.ip_not_allowed" and r["status"] == "fail"]
    assert outsider["resource"] == f"s3://{setup['bad']} from 203.0.113.9 (storage hurried)"
    assert outsider["detail"].startswith(
        "1 request from outside allowed_cidrs and the allowed networks of storage hurried between"
    )

    message = gate_message(report)
    assert message is not None
    assert message.startswith("compliance gate failed for 2026-11-22: ")
    for broken in ("s3.no_public_policy [critical] failed on hurried", "s3.tls_only [high] failed on hurried, logs"):
        assert broken in message
    assert "careful" not in message
    # The gate task raised exactly that (plus where the report is).
    out, err = capfd.readouterr()
    assert f"{message} (report: {report_file})" in out + err

    page = (setup["reports"] / DAY.isoformat() / "compliance.html").read_text()
    assert "<strong>Gate: FAIL</strong>" in page

    # Nothing the night wrote or pushed to XCom carries a signature.
    for file in setup["reports"].rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            text = (gzip.decompress(data) if file.suffix == ".gz" else data).decode()
            for secret in (*SECRETS, SIGNATURE, "AKIAIOSFODNN7EXAMPLE"):
                assert secret not in text, f"{secret} in {file}"
    for ti in run.get_task_instances():
        value = json.dumps(ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index), default=str)
        assert len(value) < 2000, (ti.task_id, value[:200])
        for secret in (*SECRETS, SIGNATURE):
            assert secret not in value, (ti.task_id, secret)


def test_second_night_reports_what_was_fixed_and_what_broke(setup: dict[str, Any]) -> None:
    dag = _load_dag()
    client = make_client(Cloud.S3, "aws_default")
    assert dag.test(run_conf={"day": "2026-11-21"}).state == "failed"
    # Overnight: the hurried bucket is brought in line, the careful one loses versioning.
    client.delete_bucket_cors(Bucket=setup["bad"])
    make_compliant_s3(client, setup["bad"], setup["logs"])
    client.put_bucket_versioning(Bucket=setup["good"], VersioningConfiguration={"Status": "Suspended"})

    run = dag.test(run_conf={"day": DAY.isoformat()})

    report = json.loads((setup["reports"] / DAY.isoformat() / "compliance.json").read_text())
    changes = report["changes"]
    assert changes["previous_day"] == "2026-11-21"
    fixed = {(c["storage"], c["rule_id"]) for c in changes["newly_fixed"]}
    assert ("hurried", "s3.tls_only") in fixed
    assert ("hurried", "s3.no_public_policy") in fixed
    assert [
        (c["storage"], c["rule_id"], c["was"], c["detail"])
        for c in changes["newly_failing"]
        if c["storage"] in ("careful", "hurried") and c["rule_id"].startswith("s3.")  # bucket settings
    ] == [("careful", "s3.versioning", "pass", "versioning suspended")]
    # Only the log bucket still breaks high rules.
    assert run.state == "failed"
    assert {b["storage"] for b in report["summary"]["blocking"] if b["rule_id"].startswith("s3.")} == {"logs"}
