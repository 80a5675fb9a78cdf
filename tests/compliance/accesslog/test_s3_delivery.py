"""Against moto_server: its real access-log delivery, and AWS-format log objects in a bucket,
found per day in both key layouts and streamed through the S3 store."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from labelbridge.compliance.accesslog import audit_access_logs, log_keys_for_day
from labelbridge.compliance.model import Status
from labelbridge.config import Cloud, ComplianceConfig
from labelbridge.storage import S3Store
from tests.compliance.accesslog.lines import SIGNATURE, line, presigned

SETTINGS = ComplianceConfig(allowed_cidrs=("192.0.2.0/24",))


def log_bucket(new_store: Any) -> S3Store:
    store = new_store(Cloud.S3)
    # S3 (and moto) refuse to deliver logs to a bucket the log-delivery group cannot write.
    store.client.put_bucket_acl(Bucket=store.bucket, ACL="log-delivery-write")
    return store  # type: ignore[no-any-return]


def test_moto_delivery_is_found_for_its_day_and_its_lines_reported_unparsed_without_their_text(new_store: Any) -> None:
    logs = log_bucket(new_store)
    source = new_store(Cloud.S3)
    source.client.put_bucket_logging(
        Bucket=source.bucket,
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": logs.bucket, "TargetPrefix": "access/"}},
    )
    source.write("images/cat.jpg", b"jpeg")
    assert source.read_bytes("images/cat.jpg") == b"jpeg"
    presigned_url = source.client.generate_presigned_url(
        "get_object", Params={"Bucket": source.bucket, "Key": "images/cat.jpg"}, ExpiresIn=60
    )
    assert "X-Amz-Signature=" in presigned_url
    # moto stamps delivered keys with its local clock.
    today = dt.datetime.now().date()

    keys = list(log_keys_for_day(logs, "access/", day=today))
    assert len(keys) >= 2 and all(key.startswith(f"access/{today.isoformat()}-") for key in keys)
    assert list(log_keys_for_day(logs, "access/", day=today - dt.timedelta(days=1))) == []

    result = audit_access_logs(logs, keys, settings=SETTINGS)
    # moto 5.2.5 writes the request line and the user agent without their quotes, unlike S3:
    # each of its lines is a line we cannot trust, so it is counted and located, not guessed at.
    assert (result.objects_read, result.lines_read, result.lines_unparsed) == (len(keys), len(keys), len(keys))
    assert {(u["line_no"], u["why"]) for u in result.unparsed} == {
        (1, "field 9 (request_uri): expected a quoted value or -, found an unquoted one")
    }
    assert sorted(u["object"] for u in result.unparsed) == sorted(logs.uri(k) for k in keys)
    assert result.who == []


def test_aws_format_objects_of_both_key_layouts_are_audited_through_the_store(new_store: Any) -> None:
    logs = log_bucket(new_store)
    day = dt.date(2019, 2, 6)
    simple = "access/2019-02-06-00-10-00-0123456789ABCDEF"
    partitioned = "access/123456789012/us-west-1/labels-bucket/2019/02/06/2019-02-06-01-00-00-FEDCBA9876543210"
    logs.write(simple, (line() + "\n" + presigned(uri_key_id="AKIAIOSFODNN7EXAMPLE") + "\n").encode())
    logs.write(partitioned, (line(remote_ip="203.0.113.9") + "\nnot a log line\n").encode())
    logs.write("access/2019-02-07-00-00-01-0000000000000000", line().encode())
    logs.write("access/123456789012/us-west-1/labels-bucket/2019/02/07/2019-02-07-00-00-00-X", line().encode())

    keys = list(log_keys_for_day(logs, "access/", day=day))
    assert keys == [simple, partitioned]
    assert list(log_keys_for_day(logs, "access/", day=day, layout="simple")) == [simple]
    assert list(log_keys_for_day(logs, "access/", day=day, layout="partitioned")) == [partitioned]

    result = audit_access_logs(logs, keys, settings=SETTINGS)
    assert (result.objects_read, result.lines_read, result.lines_unparsed) == (2, 4, 1)
    assert result.unparsed == [
        {"object": logs.uri(partitioned), "line_no": 2, "why": "ends after field 3 of at least 18"}
    ]
    failing = {(f.rule.id, f.resource) for f in result.findings if f.status is Status.FAIL}
    assert failing == {
        ("s3log.presign_long_term_key", "s3://labels-bucket signed by AKIA************MPLE"),
        ("s3log.ip_not_allowed", "s3://labels-bucket from 203.0.113.9"),
    }
    assert SIGNATURE not in json.dumps(result.to_dict())


def test_a_missing_log_object_is_reported_and_the_others_still_audited(new_store: Any) -> None:
    logs = log_bucket(new_store)
    logs.write("access/2019-02-06-00-00-00-A", line().encode())
    keys = ["access/2019-02-06-00-00-00-A", "access/2019-02-06-00-00-00-GONE"]
    result = audit_access_logs(logs, keys, settings=SETTINGS)
    assert (result.objects_read, result.lines_read) == (1, 1)
    assert result.unreadable == [
        {
            "object": logs.uri("access/2019-02-06-00-00-00-GONE"),
            "why": f"{logs.uri('access/2019-02-06-00-00-00-GONE')}: no such object",
        }
    ]


@pytest.fixture
def config_file(tmp_path: Any, new_store: Any) -> tuple[Any, S3Store]:
    logs = log_bucket(new_store)
    path = tmp_path / "storages.yaml"
    path.write_text(
        "compliance:\n"
        "  fail_on: high\n"
        "  allowed_cidrs: ['192.0.2.0/24']\n"
        f"  access_logs:\n    - name: labels-logs\n      bucket: {logs.bucket}\n      prefix: access/\n",
        encoding="utf-8",
    )
    return path, logs


def test_cli_audit_reads_the_configured_bucket_and_fails_the_gate_on_high_findings(
    config_file: tuple[Any, S3Store], tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from labelbridge.cli import main

    path, logs = config_file
    logs.write("access/2019-02-06-00-10-00-A", (line() + "\n" + line(remote_ip="203.0.113.9") + "\n").encode())
    out = tmp_path / "audit.json"
    code = main(["logs", "audit", "--config", str(path), "--day", "2019-02-06", "--out", str(out)])
    assert code == 1
    assert capsys.readouterr().err == "gate: s3log.ip_not_allowed: 1 failing finding(s)\n"
    report = json.loads(out.read_text(encoding="utf-8"))
    assert (report["day"], report["objects_read"], report["lines_read"]) == ("2019-02-06", 1, 2)

    assert main(["logs", "audit", "--config", str(path), "--day", "2019-02-05", "--out", str(out)]) == 0
