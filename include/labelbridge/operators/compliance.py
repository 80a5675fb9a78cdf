"""Nightly compliance operators: bucket settings per cloud, access-log shards, the report, the gate.

Usable in your own DAGs; ``dags/compliance.py`` wires them as the ``labelbridge_compliance`` DAG.
Every operator's ``day`` is the audited day (``YYYY-MM-DD``, templated); left empty it is the
day before the run's logical date (a run at 00:00 on the 23rd audits the 22nd).
Results travel through the report location (see docs/compliance.md); XCom carries counts and
the report's location only.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from airflow.sdk import Context

from labelbridge.compliance.accesslog.shards import audit_log_shard, merge_shards, plan_shards
from labelbridge.compliance.buckets.job import check_bucket
from labelbridge.compliance.buckets.targets import BucketTarget, bucket_targets
from labelbridge.compliance.gate import enforce_gate
from labelbridge.compliance.report import layout, read_report
from labelbridge.compliance.report.nightly import compile_report
from labelbridge.config import Cloud
from labelbridge.connections import access_log_store, collector_for, make_client, report_sinks
from labelbridge.errors import ComplianceError, ConfigError
from labelbridge.lineage import LineageDataset, RunLineage, object_dataset, report_dataset, store_dataset
from labelbridge.operators.base import ConfiguredOperator, PerCloud, by_cloud
from labelbridge.operators.links import ComplianceReportLink
from labelbridge.storage import AzureBlobStore, GCSStore, S3Store

log = logging.getLogger(__name__)


def audited_day(day: str | None, context: Context) -> dt.date:
    """``day`` when given, else the day before the run's logical date (or run time)."""
    if day:
        try:
            return dt.date.fromisoformat(str(day).strip())
        except ValueError:
            raise ConfigError(f"day: expected YYYY-MM-DD, got {day!r}") from None
    moment = context.get("logical_date") or context["dag_run"].run_after
    return moment.date() - dt.timedelta(days=1)


class _ComplianceOperator(ConfiguredOperator):
    template_fields: Sequence[str] = ("day",)
    ui_color = "#fdebd0"

    def __init__(self, *, day: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.day = day


# Bucket settings ---------------------------------------------------------------------------


class BaseBucketSettingsOperator(PerCloud, _ComplianceOperator):
    """Read one bucket's settings, run its cloud's rules, stage the findings for the report (any cloud).

    :param target: a :class:`BucketTarget` as ``to_dict()`` gives it (cloud, conn_id, bucket,
        the storages on it); the DAG maps this operator over the configured buckets.
    :returns (XCom): findings per status, e.g. ``{"pass": 10, "fail": 2}``.
    """

    def __init__(self, *, target: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target

    def execute(self, context: Context) -> dict[str, int]:
        config = self.load_config()
        target = BucketTarget.from_dict(self.target)
        pinned = self.pinned_cloud()
        if pinned is not None and target.cloud is not pinned:
            raise ConfigError(f"{target.key} is on {target.cloud.value}; {type(self).__name__} reads {pinned.value}")
        day = audited_day(self.day, context)
        log.info("Checking %s://%s (%s) for %s", target.cloud.value, target.bucket, target.conn_id, day)
        sink = report_sinks(config)[0]
        lineage = RunLineage("compliance.bucket_settings", (_bucket_dataset(target),), (report_dataset(sink),),
                             details={"day": day.isoformat()})
        self.lineage = lineage
        findings = check_bucket(
            collector_for(target, config), target, settings=config.compliance, sink=sink, day=day.isoformat(),
        )
        self.lineage = lineage.with_counts(findings)
        return findings


class S3BucketSettingsOperator(BaseBucketSettingsOperator):
    store_class = S3Store


class GCSBucketSettingsOperator(BaseBucketSettingsOperator):
    store_class = GCSStore


class AzureBlobBucketSettingsOperator(BaseBucketSettingsOperator):
    store_class = AzureBlobStore


BUCKET_SETTINGS_OPERATORS: dict[Cloud, type[BaseBucketSettingsOperator]] = by_cloud(
    S3BucketSettingsOperator, GCSBucketSettingsOperator, AzureBlobBucketSettingsOperator
)


# Access logs -------------------------------------------------------------------------------


class PlanAccessLogShardsOperator(_ComplianceOperator):
    """Count the day's access-log objects per configured log bucket and split them into shards.

    :returns (XCom): one small dict per shard, the kwargs of :class:`AuditAccessLogShardOperator`.
    """

    def execute(self, context: Context) -> list[dict[str, Any]]:
        config = self.load_config()
        day = audited_day(self.day, context)
        plan: list[dict[str, Any]] = []
        logs: list[LineageDataset] = []
        for entry in config.compliance.access_logs:
            store = access_log_store(entry)
            logs.append(store_dataset(store, entry.prefix))
            self.lineage = RunLineage("compliance.access_log_plan", tuple(logs), details={"day": day.isoformat()})
            shards = plan_shards(store, entry.prefix, day=day)
            uri = store.uri(entry.prefix)
            plan.extend({"log_name": entry.name, "shard": i, "shards": shards, "uri": uri} for i in range(shards))
        if self.lineage is not None:
            self.lineage = self.lineage.with_counts({"logs": len(logs), "shards": len(plan)})
        return plan


class AuditAccessLogShardOperator(_ComplianceOperator):
    """Audit one shard of one log bucket's day and keep its mergeable state beside the report.

    :returns (XCom): counts (objects, lines, unparsed lines, requests, failed findings).
    """

    def __init__(self, *, log_name: str, shard: int, shards: int, uri: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log_name = log_name
        self.shard = shard
        self.shards = shards
        self.uri = uri

    def execute(self, context: Context) -> dict[str, int]:
        config = self.load_config()
        entry = next((a for a in config.compliance.access_logs if a.name == self.log_name), None)
        if entry is None:
            raise ConfigError(f"{config.path}: compliance.access_logs has no entry named {self.log_name!r}")
        day = audited_day(self.day, context)
        log.info("Auditing %s shard %d of %d for %s", self.uri or self.log_name, self.shard + 1, self.shards, day)
        store, sink = access_log_store(entry), report_sinks(config)[0]
        lineage = RunLineage("compliance.access_log_audit", (store_dataset(store, entry.prefix),),
                             (report_dataset(sink),), details={"day": day.isoformat(), "log": entry.name})
        self.lineage = lineage
        counts = audit_log_shard(
            store,
            log_name=entry.name,
            prefix=entry.prefix,
            day=day,
            shard=self.shard,
            shards=self.shards,
            settings=config.compliance,
            sink=sink,
            storages=tuple(config.storages.values()),
        )
        self.lineage = lineage.with_counts(counts)
        return counts


# Report and gate ---------------------------------------------------------------------------


class ComplianceReportOperator(_ComplianceOperator):
    """Merge the night's bucket findings and access-log shards into one report (JSON + HTML).

    Runs even when some checks failed (``trigger_rule="all_done"`` in the DAG): their buckets
    or shards appear as ERROR rows rather than vanish.

    :param shard_plan: the access-log shard plan (the plan task's XCom), or empty.
    :returns (XCom): the report's location and counts (rows, fail, error, waived, blocking).
    """

    # shard_plan is usually an XComArg: templated fields are where Airflow resolves those.
    template_fields: Sequence[str] = ("day", "shard_plan")
    # A "Compliance report" button on the task: the HTML report, through the labelbridge plugin.
    operator_extra_links = (ComplianceReportLink(),)

    def __init__(self, *, shard_plan: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shard_plan = shard_plan

    def execute(self, context: Context) -> dict[str, Any]:
        config = self.load_config()
        day = audited_day(self.day, context)
        sinks = report_sinks(config)
        log.info("Writing the compliance report for %s to %s", day, ", ".join(map(repr, sinks)))
        expected = {entry.name: access_log_store(entry).uri(entry.prefix) for entry in config.compliance.access_logs}
        # What the report judges: every configured bucket and access-log prefix; it goes to every sink.
        judged = [_bucket_dataset(target) for target in bucket_targets(config)]
        judged += [store_dataset(access_log_store(e), e.prefix) for e in config.compliance.access_logs]
        lineage = RunLineage("compliance.report", tuple(judged), tuple(map(report_dataset, sinks)),
                             details={"day": day.isoformat()})
        self.lineage = lineage
        audit = merge_shards(
            sinks[0],
            day,
            plan=list(self.shard_plan or []),
            settings=config.compliance,
            expected=expected,
            storages=tuple(config.storages.values()),
        )
        result = compile_report(
            sinks=sinks, day=day, targets=bucket_targets(config), settings=config.compliance, audit=audit
        )
        details = {**lineage.details, "report": str(result["report"])}
        self.lineage = replace(lineage, details=details).with_counts(result)
        return result


class ComplianceGateOperator(_ComplianceOperator):
    """Fail, naming the broken rules, when a rule at or above ``fail_on`` failed unwaived
    (and, with ``gate_on_error``, when one could not be checked).

    :returns (XCom): the number of report rows checked.
    """

    def execute(self, context: Context) -> int:
        config = self.load_config()
        day = audited_day(self.day, context)
        sink = report_sinks(config)[0]
        location = sink.location(layout.report_json(day))
        self.lineage = RunLineage("compliance.gate", (report_dataset(sink),),
                                  details={"day": day.isoformat(), "report": location})
        report = read_report(sink, day)
        if report is None:
            raise ComplianceError(f"no compliance report for {day} at {location}: the report task did not write one")
        log.info("Gating on %s (fail_on=%s)", location, report["fail_on"])
        checked = enforce_gate(report, location=location)
        self.lineage = self.lineage.with_counts({"rows": checked})
        return checked


def _bucket_dataset(target: BucketTarget) -> LineageDataset:
    """A judged bucket as a whole; an Azure container's account comes from its connection's client
    (building it makes no request)."""
    account = make_client(target.cloud, target.conn_id).account_name if target.cloud is Cloud.AZURE else None
    return object_dataset(target.cloud, target.bucket, account=account)
