"""``labelbridge check-bucket`` and ``labelbridge check-buckets``: the bucket rules without a scheduler.

``check-bucket --cloud aws SNAPSHOT.json`` judges a saved snapshot (the nightly run keeps one
per bucket beside the report), so a finding can be replayed, or a hand-edited fix tried, with
no cloud access at all. ``check-buckets`` reads every configured storage's bucket now.
Exit status: 0 when the gate would pass, 1 when it would fail, 2 on a usage or config error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from labelbridge.compliance.buckets.evaluate import evaluate_snapshot
from labelbridge.compliance.buckets.snapshot import CLOUD_NAMES, BucketSnapshot
from labelbridge.compliance.gate import gate_message
from labelbridge.compliance.model import Finding
from labelbridge.compliance.report.redact import redact
from labelbridge.config import Cloud, load_config


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "rule_id": finding.rule.id,
        "status": finding.status.value,
        "severity": finding.rule.severity.label,
        "resource": finding.resource,
        "detail": finding.detail,
        "title": finding.rule.title,
        "remediation": finding.rule.remediation,
    }


def cmd_check_bucket(args: argparse.Namespace) -> int:
    from labelbridge.compliance.buckets.targets import BucketTarget, StorageRef
    from labelbridge.compliance.report.build import BucketResult, build_report

    settings = load_config(args.config).compliance
    snapshot = BucketSnapshot.load(args.snapshot, cloud=CLOUD_NAMES[args.cloud])
    findings = evaluate_snapshot(snapshot, settings)
    sys.stdout.write(json.dumps(redact([_finding_json(f) for f in findings]), indent=1) + "\n")
    # The gate's verdict, as the nightly run would give it (without waivers: no storage is named).
    target = BucketTarget(snapshot.cloud, "-", snapshot.bucket, (StorageRef(snapshot.bucket, "snapshot"),))
    report = build_report(day=dt.date.today(), settings=settings, buckets=[BucketResult(target, findings)])
    return _verdict(report)


def cmd_check_buckets(args: argparse.Namespace) -> int:
    from labelbridge.compliance.buckets.collectors import BucketCollector, GCSCollector
    from labelbridge.compliance.buckets.targets import bucket_targets
    from labelbridge.compliance.report import write_report
    from labelbridge.compliance.report.build import BucketResult, build_report
    from labelbridge.compliance.report.sink import LocalReportSink
    from labelbridge.operators.compliance import azure_collector, s3_collector
    from labelbridge.operators.connections import make_client

    config = load_config(args.config)
    for problem in config.problems:
        print(f"warning: {problem}", file=sys.stderr)
    targets = [
        t for t in bucket_targets(config) if not args.storage or any(s.storage in args.storage for s in t.storages)
    ]
    results = []
    for target in targets:
        collector: BucketCollector
        if target.cloud is Cloud.S3:
            collector = s3_collector(target.conn_id)
        elif target.cloud is Cloud.GCS:
            collector = GCSCollector(make_client(Cloud.GCS, target.conn_id))
        else:
            collector = azure_collector(target.conn_id, config.compliance.azure_management_conn_id)
        snapshot = collector.collect(target.bucket)
        results.append(BucketResult(target, evaluate_snapshot(snapshot, config.compliance)))
    report = build_report(day=dt.date.today(), settings=config.compliance, buckets=results)
    for row in report["rows"]:
        if args.json:
            keys = ("storage", "role", "cloud", "resource", "rule_id", "severity", "status", "detail")
            sys.stdout.write(json.dumps({k: row[k] for k in keys}) + "\n")
        else:
            sys.stdout.write(
                f"{row['status']:<7} {row['severity']:<8} {row['rule_id']:<26} {row['storage']:<20} {row['detail']}\n"
            )
    if args.report_dir:
        for location in write_report([LocalReportSink(args.report_dir)], report):
            print(f"report written to {location}", file=sys.stderr)
    return _verdict(report)


def _verdict(report: dict[str, Any]) -> int:
    message = gate_message(report)
    if message:
        print(message, file=sys.stderr)
        return 1
    return 0


def register(subparsers: Any) -> None:
    one = subparsers.add_parser(
        "check-bucket", help="judge a saved bucket-settings snapshot (JSON) against the bucket rules"
    )
    one.add_argument("--cloud", required=True, choices=sorted(CLOUD_NAMES), help="whose rules to run")
    one.add_argument("snapshot", help="snapshot JSON, e.g. <reports>/<day>/snapshots/<bucket>.json")
    one.add_argument("--config", help="storages.yaml with the compliance settings (allowlists, KMS keys)")
    one.set_defaults(handler=cmd_check_bucket)

    every = subparsers.add_parser(
        "check-buckets", help="read every configured storage's bucket settings now and run the rules"
    )
    every.add_argument("--config", help="storages.yaml to read (default: $LABELBRIDGE_CONFIG or the bundled one)")
    every.add_argument("--storage", action="append", help="only the bucket of this storage (repeatable)")
    every.add_argument("--report-dir", help="also write the JSON + HTML report under this directory")
    every.add_argument("--json", action="store_true", help="one JSON object per storage and rule")
    every.set_defaults(handler=cmd_check_buckets)


__all__ = ["register"]
