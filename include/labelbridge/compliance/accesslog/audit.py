"""Audit a day of S3 server access logs: findings per rule, and who fetched what.

The nightly DAG maps :func:`audit_access_logs` over shards of :func:`log_keys_for_day`, writes
each shard's :func:`dump_partial` to the report location, and merges them with
:func:`load_partial` + :func:`merge_audits`; merging gives the one-pass result (see :mod:`.state`).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from labelbridge.compliance.accesslog.rules import ALL_RULES, RECORD_RULES, WINDOW_RULES
from labelbridge.compliance.accesslog.rules.base import RuleContext
from labelbridge.compliance.accesslog.state import UNPARSED_CAP, WHO_FIELDS, AuditState, merged
from labelbridge.compliance.model import Finding, RuleMeta, Status
from labelbridge.config import ComplianceConfig, StorageConfig
from labelbridge.errors import StorageError
from labelbridge.progress import NO_PROGRESS, Progress
from labelbridge.storage import ObjectStore

log = logging.getLogger(__name__)

#: The resource named by a rule's PASS finding: the rule held over every audited request.
PASS_RESOURCE = "s3 access logs"


@dataclass(frozen=True)
class AccessLogAudit:
    """The outcome of auditing some access-log objects (one shard, or a merged day).

    :param findings: one FAIL per rule per offending resource, else one PASS per rule; rules the
        settings cannot evaluate (an empty allowlist) get neither and are in ``not_evaluated``.
    :param who: one row per (requester, remote_ip, auth_type, signature_version, bucket), busiest
        first; ``distinct_keys`` is exact up to :data:`~.distinct.EXACT_LIMIT` (2048), above it an
        estimate within 0.8 % (one standard error), with ``distinct_keys_estimated: true``.
    :param unparsed: the first ``UNPARSED_CAP`` (100) bad lines by (object, line): where and why,
        never the text; ``lines_unparsed`` counts them all. ``object`` is the log object's URI
        (``s3://log-bucket/key``) so audits of several log buckets merge without clashes.
    :param unreadable: log objects that could not be read at all, with why.
    """

    findings: list[Finding]
    who: list[dict[str, Any]]
    objects_read: int
    lines_read: int
    lines_unparsed: int
    unparsed: list[dict[str, Any]]
    unreadable: list[dict[str, Any]] = field(default_factory=list)
    not_evaluated: list[dict[str, str]] = field(default_factory=list)
    requests: int = 0
    state: AuditState | None = field(default=None, compare=False, repr=False)

    unparsed_cap = UNPARSED_CAP

    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.status is Status.FAIL]

    def counts_by_rule(self) -> dict[str, int]:
        """Failing findings per rule id (0 for rules that passed), for the report and XCom."""
        counts = {rule.id: 0 for rule in ALL_RULES if rule.id not in {n["rule_id"] for n in self.not_evaluated}}
        for finding in self.failed():
            counts[finding.rule.id] = counts.get(finding.rule.id, 0) + 1
        return counts

    def summary(self) -> dict[str, int]:
        """Small counts only: what an operator may push to XCom."""
        return {
            "objects_read": self.objects_read,
            "lines_read": self.lines_read,
            "lines_unparsed": self.lines_unparsed,
            "requests": self.requests,
            "failed_findings": len(self.failed()),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-able. Holds no request URI or referer: signatures and tokens cannot reach it,
        and access key ids appear masked (``AKIA************MPLE``)."""
        failed = self.counts_by_rule()
        return {
            "kind": "s3_access_logs",
            **self.summary(),
            "unparsed_cap": UNPARSED_CAP,
            "unparsed": self.unparsed,
            "unreadable": self.unreadable,
            "rules": [
                {
                    "rule_id": rule.id,
                    "title": rule.title,
                    "severity": rule.severity.label,
                    "rationale": rule.rationale,
                    "failed": failed.get(rule.id),
                }
                for rule in ALL_RULES
            ],
            "not_evaluated": self.not_evaluated,
            "findings": [f.to_dict() for f in self.findings],
            "who": self.who,
        }


def audit_access_logs(
    store: ObjectStore,
    keys: Iterable[str],
    *,
    settings: ComplianceConfig,
    storages: Iterable[StorageConfig] = (),
    progress: Progress = NO_PROGRESS,
) -> AccessLogAudit:
    """Stream each log object through the parser and the rules; one bad object or line is
    recorded and skipped, and the run goes on.

    :param store: the bucket the logs are delivered to.
    :param keys: log object keys, e.g. one shard of :func:`log_keys_for_day`.
    :param storages: the configured storages (``config.storages.values()``): an S3 storage's
        own ``allowed_cidrs`` (or ``ip_range``) also holds for requests under its bucket and prefix.
    :param progress: advanced by the log lines read, a batch at a time (the CLI's live line).
    """
    state = AuditState(RuleContext.from_settings(settings, storages=storages))
    for key in keys:
        # Named by URI, not bare key: audits of two log buckets may merge, and keys can repeat.
        uri = store.uri(key)
        try:
            with store.open(key) as stream:
                state.add_object(uri, stream, progress)
        except StorageError as exc:
            log.warning("access log %s unreadable: %s", uri, exc)
            state.add_unreadable(uri, str(exc))
    return finish(state)


def audit_streams(
    streams: Iterable[tuple[str, IO[bytes]]],
    settings: ComplianceConfig,
    *,
    storages: Iterable[StorageConfig] = (),
    progress: Progress = NO_PROGRESS,
) -> AccessLogAudit:
    """Like :func:`audit_access_logs` over already-open streams named by ``(name, stream)``."""
    state = AuditState(RuleContext.from_settings(settings, storages=storages))
    for name, stream in streams:
        state.add_object(name, stream, progress)
    return finish(state)


def merge_audits(
    audits: Iterable[AccessLogAudit], settings: ComplianceConfig, *, storages: Iterable[StorageConfig] = ()
) -> AccessLogAudit:
    """One audit of the union of the shards' log objects, exactly as if read in one pass, given
    the settings and storages the shards were audited with.

    :raises OverlappingShards: two shards read the same object.
    :raises ValueError: an audit lost its partial state (built by hand, not by this module).
    """
    states = []
    for audit in audits:
        if audit.state is None:
            raise ValueError("cannot merge an AccessLogAudit without its partial state; use load_partial()")
        states.append(audit.state)
    return finish(merged(states, RuleContext.from_settings(settings, storages=storages)))


def dump_partial(audit: AccessLogAudit) -> bytes:
    """The shard's mergeable state as gzipped JSON, to store beside the report (never XCom)."""
    if audit.state is None:
        raise ValueError("this AccessLogAudit has no partial state to dump")
    return gzip.compress(json.dumps(audit.state.to_json(), separators=(",", ":")).encode())


def load_partial(data: bytes, settings: ComplianceConfig, *, storages: Iterable[StorageConfig] = ()) -> AccessLogAudit:
    """An audit back from :func:`dump_partial`, ready for :func:`merge_audits`."""
    ctx = RuleContext.from_settings(settings, storages=storages)
    state = AuditState.from_json(json.loads(gzip.decompress(data)), ctx)
    return finish(state)


def finish(state: AuditState) -> AccessLogAudit:
    """Turn a tally into findings (FAIL per offending resource, else PASS) and who-rows."""
    ctx = state.ctx
    findings: list[Finding] = []
    not_evaluated: list[dict[str, str]] = []
    for rule in RECORD_RULES:
        why = rule.not_evaluated(ctx)
        if why is not None:
            not_evaluated.append({"rule_id": rule.meta.id, "why": why})
            continue
        offences = sorted(
            ((resource, o) for (rule_id, resource), o in state.offences.items() if rule_id == rule.meta.id),
            key=lambda item: (-item[1].requests, item[0]),
        )
        for resource, offence in offences:
            findings.append(Finding.failed(rule.meta, resource, rule.describe(offence, ctx), **offence.evidence()))
        if not offences:
            findings.append(_passed(rule.meta, state))
    for window_rule in WINDOW_RULES:
        meta: RuleMeta = window_rule.RULE
        bursts = window_rule.evaluate(state.denied, ctx)
        for resource, detail, evidence in bursts:
            findings.append(Finding.failed(meta, resource, detail, **evidence))
        if not bursts:
            findings.append(_passed(meta, state))
    ranked = sorted(state.who.items(), key=lambda item: (-item[1].requests, json.dumps(item[0])))
    who = [
        {
            **dict(zip(WHO_FIELDS, who_key, strict=True)),
            "requests": t.requests,
            "bytes_sent": t.bytes_sent,
            "distinct_keys": t.keys.count(),
            "distinct_keys_estimated": t.keys.estimated,
            "first_seen": t.first_seen.isoformat() if t.first_seen else None,
            "last_seen": t.last_seen.isoformat() if t.last_seen else None,
        }
        for who_key, t in ranked
    ]
    return AccessLogAudit(
        findings=findings,
        who=who,
        objects_read=len(state.objects) - len(state.unreadable),
        lines_read=state.lines_read,
        lines_unparsed=state.lines_unparsed,
        unparsed=[{"object": k, "line_no": n, "why": why} for k, n, why in state.listed_unparsed()],
        unreadable=[{"object": k, "why": why} for k, why in state.unreadable],
        not_evaluated=not_evaluated,
        requests=state.requests,
        state=state,
    )


def _passed(rule: RuleMeta, state: AuditState) -> Finding:
    return Finding.passed(rule, PASS_RESOURCE, f"no request broke it among {state.requests} parsed requests")


# Finding the day's log objects -------------------------------------------------------------

_ACCOUNT_FOLDER = re.compile(r"^\d{12}/$")


def log_keys_for_day(
    store: ObjectStore, prefix: str, *, day: dt.date, layout: Literal["auto", "simple", "partitioned"] = "auto"
) -> Iterator[str]:
    """Keys of the access-log objects S3 delivered on ``day`` (UTC) under ``prefix``.

    Both key formats S3 writes: simple, ``{prefix}YYYY-mm-DD-HH-MM-SS-{unique}``, and
    partitioned, ``{prefix}{account}/{region}/{bucket}/YYYY/mm/DD/YYYY-mm-DD-HH-MM-SS-{unique}``.
    The date in a key is when the object was *delivered* (or, for partitioned keys with
    EventTime, when its events happened): a request at 23:59 can sit in the next day's first
    objects. Auditing consecutive days reads every object exactly once.

    :param layout: ``auto`` looks for both; finding the partitioned account folders pages
        through the whole top level of ``prefix``, which under a simple layout is every log
        object ever delivered there: pass the layout when you know it.
    """
    if layout != "partitioned":
        yield from (obj.key for obj in store.iter_objects(f"{prefix}{day.isoformat()}-"))
    if layout == "simple":
        return
    for account in store.list_prefixes(prefix):
        if not _ACCOUNT_FOLDER.match(account[len(prefix) :]):
            continue
        for region in store.list_prefixes(account):
            for bucket in store.list_prefixes(region):
                yield from (obj.key for obj in store.iter_objects(f"{bucket}{day:%Y/%m/%d}/"))
