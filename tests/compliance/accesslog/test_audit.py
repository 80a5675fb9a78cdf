"""The audit rules, the who-fetched-what table, and exact merging of shards."""

from __future__ import annotations

import importlib
import io
import json
from datetime import timedelta
from typing import Any

import pytest

from labelbridge.compliance.accesslog import (
    ALL_RULES,
    AccessLogAudit,
    OverlappingShards,
    audit_streams,
    dump_partial,
    load_partial,
    merge_audits,
)
from labelbridge.compliance.accesslog.audit import PASS_RESOURCE
from labelbridge.compliance.model import Status
from labelbridge.config import ComplianceConfig
from tests.compliance.accesslog.lines import SIGNATURE, TOKEN, line, presigned

SETTINGS = ComplianceConfig(
    allowed_cidrs=("192.0.2.0/24", "2001:db8::/32"),
    allowed_account_ids=("123456789012",),
    max_presign_ttl=timedelta(days=1),
    burst_403_threshold=3,
    burst_403_window=timedelta(minutes=1),
)


def audit(
    *lines: str, name: str = "s3://logs/2019-02-06-00-00-00-A", settings: ComplianceConfig = SETTINGS
) -> AccessLogAudit:
    return audit_streams([(name, io.BytesIO(("\n".join(lines) + "\n").encode()))], settings)


def failed(result: AccessLogAudit, rule_id: str) -> list[tuple[str, str]]:
    return [(f.resource, f.detail) for f in result.findings if f.rule.id == rule_id and f.status is Status.FAIL]


def statuses(result: AccessLogAudit) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for finding in result.findings:
        out.setdefault(finding.rule.id, set()).add(finding.status.value)
    return out


def test_rule_ids_match_their_module_names() -> None:
    for rule in ALL_RULES:
        module = importlib.import_module(f"labelbridge.compliance.accesslog.rules.{rule.id.replace('.', '_')}")
        assert module.RULE is rule
    assert len({r.id for r in ALL_RULES}) == 8


def test_ordinary_traffic_passes_every_rule_once() -> None:
    result = audit(line(), line(remote_ip="2001:db8::7", time="[06/Feb/2019:00:00:40 +0000]"))
    assert statuses(result) == {rule.id: {"pass"} for rule in ALL_RULES}
    assert {(f.resource, f.detail) for f in result.findings} == {
        (PASS_RESOURCE, "no request broke it among 2 parsed requests")
    }


@pytest.mark.parametrize(
    ("rule_id", "bad_line", "resource", "detail"),
    [
        (
            "s3log.presign_ttl",
            presigned(uri_expires="604800"),
            "s3://labels-bucket signed by ASIA************MPLE",
            "1 presigned request valid for up to 7d (limit 1d) between 2019-02-06T00:00:38+00:00 and "
            "2019-02-06T00:00:38+00:00",
        ),
        (
            "s3log.presign_long_term_key",
            presigned(uri_key_id="AKIAIOSFODNN7EXAMPLE", uri_token=""),
            "s3://labels-bucket signed by AKIA************MPLE",
            "1 presigned request signed with a long-term AKIA key between 2019-02-06T00:00:38+00:00 and "
            "2019-02-06T00:00:38+00:00",
        ),
        (
            "s3log.ip_not_allowed",
            line(remote_ip="203.0.113.9"),
            "s3://labels-bucket from 203.0.113.9",
            "1 request from outside allowed_cidrs between 2019-02-06T00:00:38+00:00 and 2019-02-06T00:00:38+00:00",
        ),
        (
            "s3log.ip_not_allowed",
            line(remote_ip="2001:db9::1"),
            "s3://labels-bucket from 2001:db9::1",
            "1 request from outside allowed_cidrs between 2019-02-06T00:00:38+00:00 and 2019-02-06T00:00:38+00:00",
        ),
        (
            "s3log.insecure_transport",
            line(cipher_suite="-", tls_version="-"),
            "s3://labels-bucket from 192.0.2.3",
            "1 request over plain HTTP between 2019-02-06T00:00:38+00:00 and 2019-02-06T00:00:38+00:00",
        ),
        (
            "s3log.insecure_transport",
            line(tls_version="TLSV1.1"),
            "s3://labels-bucket from 192.0.2.3",
            "1 request over TLSV1.1 between 2019-02-06T00:00:38+00:00 and 2019-02-06T00:00:38+00:00",
        ),
        (
            "s3log.sigv2",
            line(signature_version="SigV2"),
            "s3://labels-bucket by arn:aws:iam::123456789012:user/alice",
            "1 SigV2 request between 2019-02-06T00:00:38+00:00 and 2019-02-06T00:00:38+00:00",
        ),
        (
            "s3log.anonymous_success",
            line(requester="-", signature_version="-", auth_type="-"),
            "s3://labels-bucket",
            "1 anonymous request answered 2xx (REST.GET.OBJECT) between 2019-02-06T00:00:38+00:00 and "
            "2019-02-06T00:00:38+00:00",
        ),
        (
            "s3log.account_not_allowed",
            line(requester="arn:aws:sts::999999999999:assumed-role/vendor/session"),
            "s3://labels-bucket by account 999999999999",
            "1 request by principals of an account not in allowed_account_ids between 2019-02-06T00:00:38+00:00 "
            "and 2019-02-06T00:00:38+00:00",
        ),
    ],
)
def test_each_rule_fails_on_its_offending_request_only(rule_id: str, bad_line: str, resource: str, detail: str) -> None:
    result = audit(line(), bad_line)
    assert failed(result, rule_id) == [(resource, detail)]
    others = {r for r, s in statuses(result).items() if "fail" in s} - {rule_id}
    assert others == set()


def test_tls_1_2_in_either_case_and_pre_2019_lines_without_tls_are_not_insecure() -> None:
    result = audit(line(tls_version="TLSV1.2"), line(tls_version="TLSv1.3"), line(fields=18))
    assert failed(result, "s3log.insecure_transport") == []


def test_anonymous_denials_and_s3_internal_operations_are_not_anonymous_successes() -> None:
    result = audit(
        line(requester="-", http_status="403", error_code="AccessDenied"),
        line(requester="-", remote_ip="-", operation="S3.EXPIRE.OBJECT"),
    )
    assert failed(result, "s3log.anonymous_success") == []


def test_rules_without_an_allowlist_are_reported_as_not_evaluated_never_as_passing() -> None:
    result = audit(line(remote_ip="203.0.113.9"), settings=ComplianceConfig())
    assert result.not_evaluated == [
        {
            "rule_id": "s3log.ip_not_allowed",
            "why": "compliance.allowed_cidrs is empty and no s3 storage sets allowed_cidrs or ip_range",
        },
        {"rule_id": "s3log.account_not_allowed", "why": "compliance.allowed_account_ids is empty"},
    ]
    assert "s3log.ip_not_allowed" not in statuses(result)


def denied(second: int, ip: str = "198.51.100.7") -> str:
    return line(
        remote_ip=ip, http_status="403", error_code="AccessDenied", time=f"[06/Feb/2019:10:00:{second:02d} +0000]"
    )


def test_a_403_burst_within_the_window_fails_and_a_spread_out_one_does_not() -> None:
    burst = audit(denied(0), denied(20), denied(59))
    assert failed(burst, "s3log.burst_403") == [
        (
            "s3://labels-bucket from 198.51.100.7",
            "3 403 responses to 198.51.100.7 within 1m from 2019-02-06T10:00:00+00:00 (threshold 3)",
        )
    ]
    spread = audit(
        denied(0), denied(30), line(remote_ip="198.51.100.7", http_status="403", time="[06/Feb/2019:10:01:00 +0000]")
    )
    assert failed(spread, "s3log.burst_403") == []


def test_merging_shards_equals_one_pass_even_when_a_burst_and_keys_span_shards() -> None:
    lines_a = [denied(0), line(key="a.jpg"), line(key="b.jpg"), presigned(uri_expires="604800")]
    lines_b = [denied(10), denied(20), line(key="b.jpg"), line(key="c.jpg", remote_ip="203.0.113.9"), "junk"]
    one_pass = audit_streams(
        [
            ("s3://logs/a", io.BytesIO("\n".join(lines_a).encode())),
            ("s3://logs/b", io.BytesIO("\n".join(lines_b).encode())),
        ],
        SETTINGS,
    )
    shard_a = audit(*lines_a, name="s3://logs/a")
    shard_b = audit(*lines_b, name="s3://logs/b")
    assert failed(shard_a, "s3log.burst_403") == [] and failed(shard_b, "s3log.burst_403") == []

    # Through bytes, as between mapped tasks, and in both orders.
    for order in ([shard_a, shard_b], [shard_b, shard_a]):
        merged = merge_audits([load_partial(dump_partial(s), SETTINGS) for s in order], SETTINGS)
        assert merged.to_dict() == one_pass.to_dict()
    merged = merge_audits([shard_a, shard_b], SETTINGS)
    assert len(failed(merged, "s3log.burst_403")) == 1
    # a.jpg, b.jpg, b.jpg over one auth header from one IP: the presigned GET is its own row.
    alice = next(row for row in merged.who if row["remote_ip"] == "192.0.2.3" and row["auth_type"] == "AuthHeader")
    assert (alice["requests"], alice["distinct_keys"]) == (3, 2)
    assert (merged.objects_read, merged.lines_read, merged.lines_unparsed) == (2, 9, 1)


def test_merging_the_same_object_twice_is_refused() -> None:
    shard = audit(line(), name="s3://logs/a")
    with pytest.raises(OverlappingShards, match=r"1 log object\(s\) audited in two shards, e.g. s3://logs/a"):
        merge_audits([shard, audit(line(), name="s3://logs/a")], SETTINGS)


def test_who_fetched_what() -> None:
    result = audit(
        line(key="a.jpg", bytes_sent="100"),
        line(key="a.jpg", bytes_sent="100", time="[06/Feb/2019:00:05:00 +0000]"),
        line(key="b.jpg", bytes_sent="-", time="[06/Feb/2019:00:06:00 +0000]"),
        line(requester="-", signature_version="-", auth_type="-", remote_ip="2001:db8::1", http_status="403"),
    )
    assert result.who == [
        {
            "requester": "arn:aws:iam::123456789012:user/alice",
            "remote_ip": "192.0.2.3",
            "auth_type": "AuthHeader",
            "signature_version": "SigV4",
            "bucket": "labels-bucket",
            "requests": 3,
            "bytes_sent": 200,
            "distinct_keys": 2,
            "distinct_keys_estimated": False,
            "first_seen": "2019-02-06T00:00:38+00:00",
            "last_seen": "2019-02-06T00:06:00+00:00",
        },
        {
            "requester": None,
            "remote_ip": "2001:db8::1",
            "auth_type": None,
            "signature_version": None,
            "bucket": "labels-bucket",
            "requests": 1,
            "bytes_sent": 2662992,
            "distinct_keys": 1,
            "distinct_keys_estimated": False,
            "first_seen": "2019-02-06T00:00:38+00:00",
            "last_seen": "2019-02-06T00:00:38+00:00",
        },
    ]


def test_unparsed_lines_are_listed_by_object_and_line_without_their_text() -> None:
    broken = presigned(http_status="OK")
    result = audit(line(), broken, "", line(), name="s3://logs/2019-02-06-00-00-00-A")
    assert (result.lines_read, result.lines_unparsed) == (3, 1)
    assert result.unparsed == [
        {
            "object": "s3://logs/2019-02-06-00-00-00-A",
            "line_no": 2,
            "why": "fields 10-15: expected status, error code and four numbers or - after the request URI",
        }
    ]


def test_the_report_dict_is_json_and_holds_no_signature_token_or_full_key_id() -> None:
    result = audit(
        presigned(uri_key_id="AKIAIOSFODNN7EXAMPLE", uri_expires="604800"),
        line(referer=f'"https://x.example/?X-Amz-Signature={SIGNATURE}"', signature_version="SigV2"),
        presigned(http_status="OK"),
    )
    text = json.dumps(result.to_dict())
    for secret in (SIGNATURE, TOKEN, "AKIAIOSFODNN7EXAMPLE", "X-Amz-Signature", "X-Amz-Security-Token"):
        assert secret not in text
    body: dict[str, Any] = json.loads(text)
    assert {r["rule_id"]: r["failed"] for r in body["rules"]}["s3log.presign_ttl"] == 1
