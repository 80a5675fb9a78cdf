"""``labelbridge compliance ...``: the bucket rules and the access-log audit without a scheduler.

``compliance check-bucket --cloud aws SNAPSHOT.json`` judges a saved snapshot (the nightly run
keeps one per bucket beside the report), so a finding can be replayed, or a hand-edited fix
tried, with no cloud access at all. ``compliance check-buckets`` reads every configured storage's
bucket now. ``compliance logs-parse`` and ``compliance logs-audit`` parse and audit S3 server
access logs. Exit status: 0 when the gate would pass, 1 when it would fail, 2 on a usage or
config error. The earlier spellings (``check-bucket``, ``check-buckets``, ``logs parse``,
``logs audit``) still work as hidden aliases.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from labelbridge.cli._common import Subparsers, add_config_arg, load_config_warning
from labelbridge.cli._progress import live_progress
from labelbridge.compliance.accesslog.audit import (
    AccessLogAudit,
    audit_access_logs,
    audit_streams,
    log_keys_for_day,
    merge_audits,
)
from labelbridge.compliance.accesslog.parser import LineError, iter_records
from labelbridge.compliance.buckets.evaluate import evaluate_snapshot
from labelbridge.compliance.buckets.snapshot import CLOUD_NAMES, BucketSnapshot
from labelbridge.compliance.gate import gate_message
from labelbridge.compliance.model import Finding, Severity, Status
from labelbridge.compliance.report.redact import redact
from labelbridge.config import ComplianceConfig, StorageConfig, load_config
from labelbridge.connections import access_log_store, collector_for
from labelbridge.display import escaped
from labelbridge.errors import ConfigError
from labelbridge.progress import Progress

# Bucket settings ---------------------------------------------------------------------------


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
    from labelbridge.compliance.buckets.targets import bucket_targets
    from labelbridge.compliance.report import write_report
    from labelbridge.compliance.report.build import BucketResult, build_report
    from labelbridge.compliance.report.sink import LocalReportSink
    from labelbridge.compliance.report.trend import read_nights

    config = load_config_warning(args.config)
    targets = [
        t for t in bucket_targets(config) if not args.storage or any(s.storage in args.storage for s in t.storages)
    ]
    results = []
    for target in targets:
        snapshot = collector_for(target, config).collect(target.bucket)
        results.append(BucketResult(target, evaluate_snapshot(snapshot, config.compliance)))
    today = dt.date.today()
    # With --report-dir, the report's trend reads the earlier reports kept there.
    earlier = read_nights(LocalReportSink(args.report_dir), today) if args.report_dir else []
    report = build_report(day=today, settings=config.compliance, buckets=results, earlier_nights=earlier)
    for row in report["rows"]:
        if args.json:
            keys = ("storage", "role", "cloud", "resource", "rule_id", "severity", "status", "detail")
            sys.stdout.write(json.dumps({k: row[k] for k in keys}) + "\n")
        else:
            line = f"{row['status']:<7} {row['severity']:<8} {row['rule_id']:<26} {row['storage']:<20} {row['detail']}"
            sys.stdout.write(escaped(line) + "\n")
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


# Access logs -------------------------------------------------------------------------------


def cmd_logs_parse(args: argparse.Namespace) -> int:
    parsed = unparsed = 0
    with live_progress(args, "logs parse", "lines") as progress:
        for name, stream in _open_files(args.files):
            with stream:
                for line_no, item in iter_records(stream, progress=progress):
                    if isinstance(item, LineError):
                        unparsed += 1
                        print(escaped(f"{name}:{line_no}: {item}"), file=sys.stderr)
                        continue
                    parsed += 1
                    if args.jsonl:
                        sys.stdout.write(json.dumps({**item.to_json(), "line_no": line_no}) + "\n")
                    else:
                        # Escaped: the key and requester are whatever a request sent.
                        line = (
                            f"{item.time.isoformat()} {item.remote_ip or '-'} {item.requester or '-'} "
                            f"{item.operation or '-'} {item.http_status or '-'} {item.key or '-'}"
                        )
                        sys.stdout.write(escaped(line) + "\n")
    print(f"{parsed} records, {unparsed} unparsed lines", file=sys.stderr)
    return 1 if unparsed else 0


def cmd_logs_audit(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    settings = config.compliance
    storages = tuple(config.storages.values())
    day = args.day or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    with live_progress(args, "logs audit", "lines") as progress:
        if args.files:
            with ExitStack() as stack:
                streams = [(name, stack.enter_context(stream)) for name, stream in _open_files(args.files)]
                result = audit_streams(streams, settings, storages=storages, progress=progress)
        else:
            result = _audit_buckets(settings, storages, day, args.access_log, progress)
    report = {"day": day.isoformat(), **result.to_dict()}
    text = json.dumps(report, indent=2, default=str) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    blocking = gate(result, Severity.parse(settings.fail_on))
    for rule_id, count in blocking.items():
        print(f"gate: {rule_id}: {count} failing finding(s)", file=sys.stderr)
    return 1 if blocking else 0


def gate(result: AccessLogAudit, fail_on: Severity) -> dict[str, int]:
    """Failing findings per rule at or above ``fail_on``: what fails the run."""
    counts: dict[str, int] = {}
    for finding in result.findings:
        if finding.status is Status.FAIL and finding.rule.severity >= fail_on:
            counts[finding.rule.id] = counts.get(finding.rule.id, 0) + 1
    return counts


def _audit_buckets(
    settings: ComplianceConfig,
    storages: tuple[StorageConfig, ...],
    day: dt.date,
    names: list[str] | None,
    progress: Progress,
) -> AccessLogAudit:
    entries = [e for e in settings.access_logs if names is None or e.name in names]
    unknown = set(names or ()) - {e.name for e in entries}
    if unknown or not entries:
        known = ", ".join(e.name for e in settings.access_logs) or "none configured"
        raise ConfigError(f"no compliance.access_logs entry named {', '.join(sorted(unknown))} (known: {known})")
    audits = []
    for entry in entries:
        store = access_log_store(entry)
        keys = log_keys_for_day(store, entry.prefix, day=day)
        audits.append(audit_access_logs(store, keys, settings=settings, storages=storages, progress=progress))
    return merge_audits(audits, settings, storages=storages)


def _open_files(files: list[str]) -> Iterator[tuple[str, IO[bytes]]]:
    for name in files:
        if name == "-":
            yield "<stdin>", sys.stdin.buffer
        else:
            yield name, open(name, "rb")  # noqa: SIM115 - closed by the caller's with


# Parsers -----------------------------------------------------------------------------------

Adder = Callable[..., argparse.ArgumentParser]


def _check_bucket_args(add: Adder, name: str, **shown: str) -> None:
    one = add(name, **shown)
    one.add_argument("--cloud", required=True, choices=sorted(CLOUD_NAMES), help="whose rules to run")
    one.add_argument("snapshot", help="snapshot JSON, e.g. <reports>/<day>/snapshots/<bucket>.json")
    add_config_arg(one, help="storages.yaml with the compliance settings (allowlists, KMS keys)")
    one.set_defaults(handler=cmd_check_bucket)


def _check_buckets_args(add: Adder, name: str, **shown: str) -> None:
    every = add(name, **shown)
    add_config_arg(every)
    every.add_argument("--storage", action="append", help="only the bucket of this storage (repeatable)")
    every.add_argument("--report-dir", help="also write the JSON + HTML report under this directory")
    every.add_argument("--json", action="store_true", help="one JSON object per storage and rule")
    every.set_defaults(handler=cmd_check_buckets)


def _logs_parse_args(add: Adder, name: str, **shown: str) -> None:
    parse = add(name, **shown)
    parse.add_argument("files", nargs="+", metavar="FILE", help="log files ('-' for stdin)")
    parse.add_argument("--jsonl", action="store_true", help="one JSON object per record: the 27 fields + line_no")
    parse.set_defaults(handler=cmd_logs_parse)


def _logs_audit_args(add: Adder, name: str, **shown: str) -> None:
    audit = add(name, **shown)
    add_config_arg(audit)
    audit.add_argument("--day", type=dt.date.fromisoformat, help="UTC day to audit, YYYY-MM-DD (default: yesterday)")
    audit.add_argument(
        "--access-log", action="append", metavar="NAME", help="compliance.access_logs entry (default: all)"
    )
    audit.add_argument("--files", nargs="+", metavar="FILE", help="audit these local log files instead of a bucket")
    audit.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    audit.set_defaults(handler=cmd_logs_audit)


def register(subparsers: Subparsers) -> None:
    compliance = subparsers.add_parser("compliance", help="bucket-settings rules and the S3 access-log audit")
    sub = compliance.add_subparsers(dest="compliance_command", required=True, metavar="COMMAND")
    _check_bucket_args(
        sub.add_parser, "check-bucket", help="judge a saved bucket-settings snapshot (JSON) against the bucket rules"
    )
    _check_buckets_args(
        sub.add_parser, "check-buckets", help="read every configured storage's bucket settings now and run the rules"
    )
    _logs_parse_args(sub.add_parser, "logs-parse", help="parse log files; bad lines go to stderr as file:line: why")
    _logs_audit_args(
        sub.add_parser,
        "logs-audit",
        help="audit one day of a configured access-log bucket (or local files); exit 1 when the gate fails",
    )

    # The spellings before the compliance group: parsed as before, left out of --help (no help=).
    _check_bucket_args(subparsers.add_parser, "check-bucket")
    _check_buckets_args(subparsers.add_parser, "check-buckets")
    logs = subparsers.add_parser("logs")
    logs_sub = logs.add_subparsers(dest="logs_command", required=True)
    _logs_parse_args(logs_sub.add_parser, "parse")
    _logs_audit_args(logs_sub.add_parser, "audit")
