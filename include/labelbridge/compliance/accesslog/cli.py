"""``labelbridge logs parse`` and ``labelbridge logs audit``: the access-log parser and audit
without a scheduler."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING

from labelbridge.compliance.accesslog.audit import (
    AccessLogAudit,
    audit_access_logs,
    audit_streams,
    log_keys_for_day,
    merge_audits,
)
from labelbridge.compliance.accesslog.parser import LineError, iter_records
from labelbridge.compliance.model import Severity, Status
from labelbridge.errors import ConfigError

if TYPE_CHECKING:
    from labelbridge.config import ComplianceConfig, StorageConfig


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = subparsers.add_parser("logs", help="S3 server access logs: parse, audit")
    logs_sub = logs.add_subparsers(dest="logs_command", required=True)

    parse = logs_sub.add_parser("parse", help="parse log files; bad lines go to stderr as file:line: why")
    parse.add_argument("files", nargs="+", metavar="FILE", help="log files ('-' for stdin)")
    parse.add_argument("--jsonl", action="store_true", help="one JSON object per record: the 27 fields + line_no")
    parse.set_defaults(handler=cmd_logs_parse)

    audit = logs_sub.add_parser(
        "audit", help="audit one day of a configured access-log bucket (or local files); exit 1 when the gate fails"
    )
    audit.add_argument("--config", help="storages.yaml to read (default: $LABELBRIDGE_CONFIG or the bundled one)")
    audit.add_argument("--day", type=dt.date.fromisoformat, help="UTC day to audit, YYYY-MM-DD (default: yesterday)")
    audit.add_argument(
        "--access-log", action="append", metavar="NAME", help="compliance.access_logs entry (default: all)"
    )
    audit.add_argument("--files", nargs="+", metavar="FILE", help="audit these local log files instead of a bucket")
    audit.add_argument("--out", type=Path, help="write the JSON here instead of stdout")
    audit.set_defaults(handler=cmd_logs_audit)


def cmd_logs_parse(args: argparse.Namespace) -> int:
    parsed = unparsed = 0
    for name, stream in _open_files(args.files):
        with stream:
            for line_no, item in iter_records(stream):
                if isinstance(item, LineError):
                    unparsed += 1
                    print(f"{name}:{line_no}: {item}", file=sys.stderr)
                    continue
                parsed += 1
                if args.jsonl:
                    sys.stdout.write(json.dumps({**item.to_json(), "line_no": line_no}) + "\n")
                else:
                    sys.stdout.write(
                        f"{item.time.isoformat()} {item.remote_ip or '-'} {item.requester or '-'} "
                        f"{item.operation or '-'} {item.http_status or '-'} {item.key or '-'}\n"
                    )
    print(f"{parsed} records, {unparsed} unparsed lines", file=sys.stderr)
    return 1 if unparsed else 0


def cmd_logs_audit(args: argparse.Namespace) -> int:
    from labelbridge.config import load_config

    config = load_config(args.config)
    settings = config.compliance
    storages = tuple(config.storages.values())
    day = args.day or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    if args.files:
        with ExitStack() as stack:
            streams = [(name, stack.enter_context(stream)) for name, stream in _open_files(args.files)]
            result = audit_streams(streams, settings, storages=storages)
    else:
        result = _audit_buckets(settings, storages, day, args.access_log)
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
    settings: ComplianceConfig, storages: tuple[StorageConfig, ...], day: dt.date, names: list[str] | None
) -> AccessLogAudit:
    from labelbridge.config import Cloud
    from labelbridge.operators.connections import make_client
    from labelbridge.storage import S3Store

    entries = [e for e in settings.access_logs if names is None or e.name in names]
    unknown = set(names or ()) - {e.name for e in entries}
    if unknown or not entries:
        known = ", ".join(e.name for e in settings.access_logs) or "none configured"
        raise ConfigError(f"no compliance.access_logs entry named {', '.join(sorted(unknown))} (known: {known})")
    audits = []
    for entry in entries:
        store = S3Store(make_client(Cloud.S3, entry.conn_id), entry.bucket)
        keys = log_keys_for_day(store, entry.prefix, day=day)
        audits.append(audit_access_logs(store, keys, settings=settings, storages=storages))
    return merge_audits(audits, settings, storages=storages)


def _open_files(files: list[str]) -> Iterator[tuple[str, IO[bytes]]]:
    for name in files:
        if name == "-":
            yield "<stdin>", sys.stdin.buffer
        else:
            yield name, open(name, "rb")  # noqa: SIM115 - closed by the caller's with
