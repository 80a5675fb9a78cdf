"""Split a day's access-log objects over mapped tasks, and merge the shards back into one audit.

A key's shard is ``crc32(key) % shards``: stable while S3 keeps delivering late objects for
the day (an index into the listing would shift, reading some objects twice and others never).
Each shard's mergeable state is kept beside the report (the path is :mod:`.report.layout`'s);
XCom carries only the plan and counts.
A shard that did not finish becomes an ERROR finding, so an incomplete audit never passes.
"""

from __future__ import annotations

import datetime as dt
import logging
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from labelbridge.compliance.accesslog.audit import (
    audit_access_logs,
    dump_partial,
    load_partial,
    log_keys_for_day,
    merge_audits,
)
from labelbridge.compliance.model import Finding, RuleMeta, Severity
from labelbridge.compliance.report.layout import accesslog_part
from labelbridge.compliance.report.sink import ReportSink
from labelbridge.config import ComplianceConfig, StorageConfig
from labelbridge.storage import ObjectStore

log = logging.getLogger(__name__)

KEYS_PER_SHARD = 2000
MAX_SHARDS = 32

AUDIT_COMPLETE = RuleMeta(
    id="s3log.audit_complete",
    severity=Severity.HIGH,
    title="Every access-log shard of the day was audited",
    rationale="A shard that failed leaves requests unaudited; its absence must not read as a clean day.",
    remediation="Clear the failed audit_access_logs task (its log says why) and rerun the report.",
)


def plan_shards(
    store: ObjectStore, prefix: str, *, day: dt.date, keys_per_shard: int = KEYS_PER_SHARD, max_shards: int = MAX_SHARDS
) -> int:
    """How many shards the day's log objects need (at least one, so an empty day is reported)."""
    count = sum(1 for _ in log_keys_for_day(store, prefix, day=day))
    shards = max(1, min(max_shards, -(-count // keys_per_shard)))
    log.info("%d access-log objects for %s under %s: %d shard(s)", count, day, store.uri(prefix), shards)
    return shards


def shard_keys(store: ObjectStore, prefix: str, *, day: dt.date, shard: int, shards: int) -> Iterator[str]:
    """The day's log keys that fall in shard ``shard`` (0-based) of ``shards``."""
    for key in log_keys_for_day(store, prefix, day=day):
        if zlib.crc32(key.encode()) % shards == shard:
            yield key


def part_path(day: dt.date, log_name: str, *, shard: int, shards: int) -> str:
    """Where one shard's mergeable state is kept under the report sink."""
    return accesslog_part(day, log_name, shard=shard, shards=shards)


def audit_log_shard(
    store: ObjectStore,
    *,
    log_name: str,
    prefix: str,
    day: dt.date,
    shard: int,
    shards: int,
    settings: ComplianceConfig,
    sink: ReportSink,
    storages: Iterable[StorageConfig] = (),
) -> dict[str, int]:
    """Audit one shard and keep its mergeable state in ``sink``; return small counts.

    :param storages: the configured storages, whose own IP allowlists the audit also applies.
    """
    keys = shard_keys(store, prefix, day=day, shard=shard, shards=shards)
    audit = audit_access_logs(store, keys, settings=settings, storages=storages)
    path = part_path(day, log_name, shard=shard, shards=shards)
    sink.write(path, dump_partial(audit), content_type="application/gzip")
    return audit.summary()



def merge_shards(
    sink: ReportSink,
    day: dt.date,
    *,
    plan: Sequence[Mapping[str, Any]],
    settings: ComplianceConfig,
    expected: Mapping[str, str] | None = None,
    storages: Sequence[StorageConfig] = (),
) -> dict[str, Any] | None:
    """The day's merged audit as ``AccessLogAudit.to_dict()``, plus an ERROR finding per
    missing shard; ``None`` when no access logs are configured.

    :param plan: the shard plan, ``[{"log_name": ..., "shard": 0, "shards": 4, "uri": ...}, ...]``.
    :param expected: every configured log entry's name onto its URI; one absent from the plan
        (the planning task failed) is an ERROR finding, never a silently missing audit.
    :param storages: the storages the shards were audited with (their IP allowlists).
    """
    expected = dict(expected or {})
    if not plan and not expected:
        return None
    audits = []
    missing: dict[str, list[int]] = {}
    for item in plan:
        raw = sink.read(part_path(day, str(item["log_name"]), shard=int(item["shard"]), shards=int(item["shards"])))
        if raw is None:
            missing.setdefault(str(item["log_name"]), []).append(int(item["shard"]))
        else:
            audits.append(load_partial(raw, settings, storages=storages))
    merged: dict[str, Any] = (
        merge_audits(audits, settings=settings, storages=storages).to_dict()
        if audits
        else {"objects_read": 0, "lines_read": 0, "lines_unparsed": 0, "who": [], "unparsed": [], "findings": []}
    )
    totals = {str(item["log_name"]): int(item["shards"]) for item in plan}
    uris = {str(item["log_name"]): str(item.get("uri", item["log_name"])) for item in plan}
    for name, shards in sorted(missing.items()):
        detail = f"{len(shards)} of {totals[name]} shard(s) not audited (shard {', '.join(map(str, shards))})"
        log.warning("access logs %s: %s", uris[name], detail)
        merged["findings"].append(Finding.error(AUDIT_COMPLETE, uris[name], detail).to_dict())
    for name in sorted(set(expected) - set(totals)):
        log.warning("access logs %s: no shard plan", expected[name])
        merged["findings"].append(
            Finding.error(
                AUDIT_COMPLETE, expected[name], "not audited: the shard plan is missing (planning failed)"
            ).to_dict()
        )
    for name in sorted(set(totals) - set(missing)):
        merged["findings"].append(
            Finding.passed(AUDIT_COMPLETE, uris[name], f"all {totals[name]} shard(s) audited").to_dict()
        )
    return merged
