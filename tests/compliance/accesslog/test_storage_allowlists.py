"""``s3log.ip_not_allowed`` with per-storage allowlists: the global list holds for every bucket,
and a storage's own list (``allowed_cidrs``, by default its ``ip_range``) also holds for requests
under its bucket and prefix; findings name the storage."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from labelbridge.cli import main
from labelbridge.compliance.accesslog import AccessLogAudit, audit_streams, dump_partial, load_partial, merge_audits
from labelbridge.compliance.model import Status
from labelbridge.config import ComplianceConfig, StorageConfig
from tests.compliance.accesslog.lines import line

RULE = "s3log.ip_not_allowed"
SPAN = "between 2019-02-06T00:00:38+00:00 and 2019-02-06T00:00:38+00:00"
GLOBAL = ComplianceConfig(allowed_cidrs=("192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"))


def storage(name: str, prefix: str = "", bucket: str = "labels-bucket", **fields: Any) -> StorageConfig:
    return StorageConfig(
        name=name, project="p", cloud=fields.pop("cloud", "s3"), bucket=bucket, prefix=prefix, **fields
    )


def audit(
    *lines: str, storages: tuple[StorageConfig, ...], settings: ComplianceConfig = GLOBAL, name: str = "s3://logs/a"
) -> AccessLogAudit:
    stream = io.BytesIO(("\n".join(lines) + "\n").encode())
    return audit_streams([(name, stream)], settings, storages=storages)


def failed(result: AccessLogAudit) -> list[tuple[str, str]]:
    return [(f.resource, f.detail) for f in result.findings if f.rule.id == RULE and f.status is Status.FAIL]


def test_a_storage_list_holds_for_its_prefix_in_ipv4_and_ipv6() -> None:
    images = storage("images", "images/", allowed_cidrs=("198.51.100.0/24", "2001:db8:1::/48"))
    result = audit(
        line(remote_ip="198.51.100.7"),  # in both lists
        line(remote_ip="2001:db8:1::5"),  # in both lists
        line(remote_ip="192.0.2.3"),  # in the global list only
        line(remote_ip="2001:db8:2::5"),  # in the global /32, outside the storage's /48
        storages=(images,),
    )
    assert failed(result) == [
        (
            "s3://labels-bucket from 192.0.2.3 (storage images)",
            f"1 request from outside the allowed networks of storage images {SPAN}",
        ),
        (
            "s3://labels-bucket from 2001:db8:2::5 (storage images)",
            f"1 request from outside the allowed networks of storage images {SPAN}",
        ),
    ]
    finding = next(f for f in result.findings if f.status is Status.FAIL)
    assert finding.evidence["storages"] == ["images"]


def test_two_storages_on_one_bucket_each_judge_their_own_prefix() -> None:
    images = storage("images", "images/", allowed_cidrs=("198.51.100.0/24",))
    tasks = storage("tasks", "tasks/", allowed_cidrs=("192.0.2.0/24",))
    result = audit(
        line(remote_ip="192.0.2.3", key="images/cat.jpg"),
        line(remote_ip="192.0.2.3", key="tasks/batch-1.json"),
        line(remote_ip="198.51.100.7", key="images/dog.jpg"),
        line(remote_ip="198.51.100.7", key="tasks/batch-2.json"),
        line(remote_ip="198.51.100.7", key="exports/coco.json"),  # no storage's prefix: global only
        storages=(images, tasks),
    )
    assert [resource for resource, _ in failed(result)] == [
        "s3://labels-bucket from 192.0.2.3 (storage images)",
        "s3://labels-bucket from 198.51.100.7 (storage tasks)",
    ]


def test_overlapping_storages_must_all_allow_and_a_finding_names_every_one_broken() -> None:
    wide = storage("all-images", "images/", allowed_cidrs=("192.0.2.0/24", "198.51.100.0/24"))
    narrow = storage("cats", "images/cats/", allowed_cidrs=("198.51.100.0/24",))
    result = audit(
        line(remote_ip="192.0.2.3", key="images/cats/1.jpg"),
        line(remote_ip="203.0.113.9", key="images/cats/2.jpg"),
        storages=(wide, narrow),
    )
    assert failed(result) == [
        (
            "s3://labels-bucket from 192.0.2.3 (storage cats)",
            f"1 request from outside the allowed networks of storage cats {SPAN}",
        ),
        (
            "s3://labels-bucket from 203.0.113.9 (storages all-images, cats)",
            f"1 request from outside allowed_cidrs and the allowed networks of storages all-images, cats {SPAN}",
        ),
    ]


def test_a_bucket_no_storage_covers_is_judged_by_the_global_list_only() -> None:
    images = storage("images", allowed_cidrs=("198.51.100.0/24",))
    result = audit(
        line(bucket="other-bucket", remote_ip="192.0.2.3"),
        line(bucket="other-bucket", remote_ip="203.0.113.9"),
        storages=(images,),
    )
    assert failed(result) == [("s3://other-bucket from 203.0.113.9", f"1 request from outside allowed_cidrs {SPAN}")]


def test_an_empty_storage_list_leaves_the_global_list_alone_and_ip_range_is_the_default() -> None:
    no_list = storage("no-list", "a/")
    opted_out = storage("opted-out", "b/", ip_range="198.51.100.0/24", allowed_cidrs=())
    by_ip_range = storage("by-ip-range", "c/", ip_range="198.51.100.0/24")
    assert (no_list.access_cidrs, opted_out.access_cidrs, by_ip_range.access_cidrs) == ((), (), ("198.51.100.0/24",))
    result = audit(
        line(remote_ip="192.0.2.3", key="a/1.jpg"),
        line(remote_ip="192.0.2.3", key="b/1.jpg"),
        line(remote_ip="192.0.2.4", key="c/1.jpg"),
        storages=(no_list, opted_out, by_ip_range),
    )
    assert [resource for resource, _ in failed(result)] == ["s3://labels-bucket from 192.0.2.4 (storage by-ip-range)"]


def test_without_any_list_the_rule_is_not_evaluated_and_a_storage_list_alone_evaluates_it() -> None:
    nothing = ComplianceConfig()
    unlisted = (storage("images"), storage("azure-twin", cloud="azure", ip_range="198.51.100.0/24"))
    result = audit(line(remote_ip="203.0.113.9"), storages=unlisted, settings=nothing)
    assert result.not_evaluated[0] == {
        "rule_id": RULE,
        "why": "compliance.allowed_cidrs is empty and no s3 storage sets allowed_cidrs or ip_range",
    }
    assert RULE not in {f.rule.id for f in result.findings}

    listed = audit(
        line(remote_ip="203.0.113.9"),
        line(bucket="other-bucket", remote_ip="203.0.113.9"),  # no list applies: not judged
        storages=(storage("images", allowed_cidrs=("198.51.100.0/24",)),),
        settings=nothing,
    )
    assert RULE not in {n["rule_id"] for n in listed.not_evaluated}
    assert failed(listed) == [
        (
            "s3://labels-bucket from 203.0.113.9 (storage images)",
            f"1 request from outside the allowed networks of storage images {SPAN}",
        )
    ]


def test_bucket_level_requests_count_for_a_whole_bucket_storage_only_and_encoded_keys_match_their_prefix() -> None:
    whole = storage("whole", bucket="whole-bucket", allowed_cidrs=("198.51.100.0/24",))
    prefixed = storage("scans", "raw scans/", allowed_cidrs=("198.51.100.0/24",))
    listing = {"operation": "REST.GET.BUCKET", "key": "-", "remote_ip": "192.0.2.3"}
    result = audit(
        line(bucket="whole-bucket", **listing),
        line(**listing),  # a listing of labels-bucket names no key: not the scans storage's
        line(key="raw%20scans/1.tif", remote_ip="192.0.2.3"),
        storages=(whole, prefixed),
    )
    assert [resource for resource, _ in failed(result)] == [
        "s3://labels-bucket from 192.0.2.3 (storage scans)",
        "s3://whole-bucket from 192.0.2.3 (storage whole)",
    ]


def test_shards_merge_with_the_storage_lists_as_in_one_pass() -> None:
    images = (storage("images", "images/", allowed_cidrs=("198.51.100.0/24",)),)
    lines_a = [line(remote_ip="192.0.2.3"), line(remote_ip="198.51.100.7")]
    lines_b = [line(remote_ip="192.0.2.3", time="[06/Feb/2019:00:09:00 +0000]"), line(remote_ip="203.0.113.9")]
    one_pass = audit_streams(
        [
            ("s3://logs/a", io.BytesIO("\n".join(lines_a).encode())),
            ("s3://logs/b", io.BytesIO("\n".join(lines_b).encode())),
        ],
        GLOBAL,
        storages=images,
    )
    parts = [
        load_partial(dump_partial(audit(*lines, storages=images, name=name)), GLOBAL, storages=images)
        for name, lines in (("s3://logs/b", lines_b), ("s3://logs/a", lines_a))
    ]
    merged = merge_audits(parts, GLOBAL, storages=images)
    assert merged.to_dict() == one_pass.to_dict()
    assert [resource for resource, _ in failed(merged)] == [
        "s3://labels-bucket from 192.0.2.3 (storage images)",
        "s3://labels-bucket from 203.0.113.9 (storage images)",
    ]


def test_logs_audit_cli_applies_the_storages_of_its_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "a.log"
    log.write_text(line(remote_ip="192.0.2.3") + "\n", encoding="utf-8")
    config = tmp_path / "storages.yaml"
    config.write_text(
        "projects: [{name: p}]\n"
        "storages:\n"
        "  - {name: images, project: p, cloud: s3, bucket: labels-bucket, prefix: images/, ip_range: 198.51.100.0/24}\n"
        "compliance:\n  allowed_cidrs: ['192.0.2.0/24']\n",
        encoding="utf-8",
    )
    assert main(["logs", "audit", "--config", str(config), "--files", str(log), "--day", "2019-02-06"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    [finding] = [f for f in report["findings"] if f["rule_id"] == RULE and f["status"] == "fail"]
    assert finding["resource"] == "s3://labels-bucket from 192.0.2.3 (storage images)"
    assert captured.err == "gate: s3log.ip_not_allowed: 1 failing finding(s)\n"
