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
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, Context

from labelbridge.compliance.accesslog.shards import audit_log_shard, merge_shards, plan_shards
from labelbridge.compliance.buckets.collectors import (
    AzureBlobCollector,
    BucketCollector,
    GCSCollector,
    S3Collector,
)
from labelbridge.compliance.buckets.job import check_bucket
from labelbridge.compliance.buckets.targets import BucketTarget, bucket_targets
from labelbridge.compliance.gate import enforce_gate
from labelbridge.compliance.report import read_report
from labelbridge.compliance.report.nightly import compile_report
from labelbridge.compliance.report.sink import LocalReportSink, ReportSink, StoreReportSink
from labelbridge.config import AccessLogConfig, Cloud, LabelbridgeConfig, load_config
from labelbridge.errors import ComplianceError, ConfigError
from labelbridge.operators.connections import make_client, make_store
from labelbridge.operators.links import ComplianceReportLink
from labelbridge.storage import ObjectStore, S3Store

log = logging.getLogger(__name__)

DEFAULT_REPORTS_DIR = "compliance-reports"


# Clients and places, from connections and config ------------------------------------------


def s3_collector(conn_id: str) -> S3Collector:
    """An S3 collector with the account's id and an S3 Control client, when the connection allows."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.providers.amazon.aws.hooks.sts import StsHook
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        account_id: str | None = StsHook(aws_conn_id=conn_id).get_account_number()  # type: ignore[no-untyped-call]
    except (BotoCoreError, ClientError) as exc:
        # Without it only the account-level Block Public Access check is skipped (and said so).
        log.warning("%s: cannot tell the AWS account (%s); account-level settings not read", conn_id, exc)
        account_id = None
    s3control = AwsBaseHook(aws_conn_id=conn_id, client_type="s3control").get_conn()
    return S3Collector(make_client(Cloud.S3, conn_id), s3control=s3control, account_id=account_id)


def azure_collector(conn_id: str, management_conn_id: str | None) -> AzureBlobCollector:
    management = None
    if management_conn_id:
        from airflow.providers.microsoft.azure.hooks.base_azure import AzureBaseHook
        from azure.mgmt.storage import StorageManagementClient

        management = AzureBaseHook(sdk_client=StorageManagementClient, conn_id=management_conn_id).get_conn()
    return AzureBlobCollector(make_client(Cloud.AZURE, conn_id), management=management)


def report_sinks(config: LabelbridgeConfig) -> list[ReportSink]:
    """Where the report goes, first one first (it also holds the night's parts).

    ``compliance.reports_dir`` (a local or mounted directory) and/or ``compliance.report_storage``
    (an access-log entry, source storage or export target, under ``report_prefix``); with
    neither, ``$AIRFLOW_HOME/compliance-reports``.
    """
    settings = config.compliance
    sinks: list[ReportSink] = []
    if settings.reports_dir:
        sinks.append(LocalReportSink(settings.reports_dir))
    if settings.report_storage:
        sinks.append(StoreReportSink(_report_store(config, settings.report_storage), settings.report_prefix))
    if not sinks:
        home = Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()
        sinks.append(LocalReportSink(home / DEFAULT_REPORTS_DIR))
    return sinks


def _report_store(config: LabelbridgeConfig, name: str) -> ObjectStore:
    for entry in config.compliance.access_logs:
        if entry.name == name:
            return S3Store(make_client(Cloud.S3, entry.conn_id), entry.bucket)
    bucket_entry = config.storages.get(name) or config.export_targets.get(name)
    if bucket_entry is None:
        known = [a.name for a in config.compliance.access_logs] + list(config.storages) + list(config.export_targets)
        raise ConfigError(
            f"{config.path}: compliance.report_storage: no access-log entry, storage or export target named "
            f"{name!r}; known: {', '.join(known) or 'none'}"
        )
    return make_store(bucket_entry, prefix="")


def access_log_store(entry: AccessLogConfig) -> S3Store:
    return S3Store(make_client(Cloud.S3, entry.conn_id), entry.bucket)


def audited_day(day: str | None, context: Context) -> dt.date:
    """``day`` when given, else the day before the run's logical date (or run time)."""
    if day:
        try:
            return dt.date.fromisoformat(str(day).strip())
        except ValueError:
            raise ConfigError(f"day: expected YYYY-MM-DD, got {day!r}") from None
    moment = context.get("logical_date") or context["dag_run"].run_after
    return moment.date() - dt.timedelta(days=1)


class _ComplianceOperator(BaseOperator):
    template_fields: Sequence[str] = ("day",)
    ui_color = "#fdebd0"

    def __init__(self, *, day: str | None = None, config_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.day = day
        self.config_path = config_path


# Bucket settings ---------------------------------------------------------------------------


class BaseBucketSettingsOperator(_ComplianceOperator):
    """Read one bucket's settings, run its cloud's rules, stage the findings for the report.

    :param target: a :class:`BucketTarget` as ``to_dict()`` gives it (cloud, conn_id, bucket,
        the storages on it); the DAG maps this operator over the configured buckets.
    :returns (XCom): findings per status, e.g. ``{"pass": 10, "fail": 2}``.
    """

    cloud: ClassVar[Cloud]

    def __init__(self, *, target: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target

    def execute(self, context: Context) -> dict[str, int]:
        config = load_config(self.config_path)
        target = BucketTarget.from_dict(self.target)
        if target.cloud is not self.cloud:
            raise ConfigError(
                f"{target.key} is on {target.cloud.value}; {type(self).__name__} reads {self.cloud.value}"
            )
        day = audited_day(self.day, context)
        log.info("Checking %s://%s (%s) for %s", target.cloud.value, target.bucket, target.conn_id, day)
        return check_bucket(
            self.collector(target, config), target, settings=config.compliance, sink=report_sinks(config)[0],
            day=day.isoformat(),
        )

    def collector(self, target: BucketTarget, config: LabelbridgeConfig) -> BucketCollector:
        raise NotImplementedError(f"{type(self).__name__} must say how to build its cloud's collector")


class S3BucketSettingsOperator(BaseBucketSettingsOperator):
    cloud = Cloud.S3

    def collector(self, target: BucketTarget, config: LabelbridgeConfig) -> BucketCollector:
        return s3_collector(target.conn_id)


class GCSBucketSettingsOperator(BaseBucketSettingsOperator):
    cloud = Cloud.GCS

    def collector(self, target: BucketTarget, config: LabelbridgeConfig) -> BucketCollector:
        return GCSCollector(make_client(Cloud.GCS, target.conn_id))


class AzureBlobBucketSettingsOperator(BaseBucketSettingsOperator):
    cloud = Cloud.AZURE

    def collector(self, target: BucketTarget, config: LabelbridgeConfig) -> BucketCollector:
        return azure_collector(target.conn_id, config.compliance.azure_management_conn_id)


BUCKET_SETTINGS_OPERATORS: dict[Cloud, type[BaseBucketSettingsOperator]] = {
    Cloud.S3: S3BucketSettingsOperator,
    Cloud.GCS: GCSBucketSettingsOperator,
    Cloud.AZURE: AzureBlobBucketSettingsOperator,
}


# Access logs -------------------------------------------------------------------------------


class PlanAccessLogShardsOperator(_ComplianceOperator):
    """Count the day's access-log objects per configured log bucket and split them into shards.

    :returns (XCom): one small dict per shard, the kwargs of :class:`AuditAccessLogShardOperator`.
    """

    def execute(self, context: Context) -> list[dict[str, Any]]:
        config = load_config(self.config_path)
        day = audited_day(self.day, context)
        plan: list[dict[str, Any]] = []
        for entry in config.compliance.access_logs:
            store = access_log_store(entry)
            shards = plan_shards(store, entry.prefix, day=day)
            uri = store.uri(entry.prefix)
            plan.extend({"log_name": entry.name, "shard": i, "shards": shards, "uri": uri} for i in range(shards))
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
        config = load_config(self.config_path)
        entry = next((a for a in config.compliance.access_logs if a.name == self.log_name), None)
        if entry is None:
            raise ConfigError(f"{config.path}: compliance.access_logs has no entry named {self.log_name!r}")
        day = audited_day(self.day, context)
        log.info("Auditing %s shard %d of %d for %s", self.uri or self.log_name, self.shard + 1, self.shards, day)
        return audit_log_shard(
            access_log_store(entry),
            log_name=entry.name,
            prefix=entry.prefix,
            day=day,
            shard=self.shard,
            shards=self.shards,
            settings=config.compliance,
            sink=report_sinks(config)[0],
            storages=tuple(config.storages.values()),
        )


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
        config = load_config(self.config_path)
        day = audited_day(self.day, context)
        sinks = report_sinks(config)
        log.info("Writing the compliance report for %s to %s", day, ", ".join(map(repr, sinks)))
        expected = {entry.name: access_log_store(entry).uri(entry.prefix) for entry in config.compliance.access_logs}
        audit = merge_shards(
            sinks[0],
            day,
            plan=list(self.shard_plan or []),
            settings=config.compliance,
            expected=expected,
            storages=tuple(config.storages.values()),
        )
        return compile_report(
            sinks=sinks, day=day, targets=bucket_targets(config), settings=config.compliance, audit=audit
        )


class ComplianceGateOperator(_ComplianceOperator):
    """Fail, naming the broken rules, when a rule at or above ``fail_on`` failed unwaived
    (and, with ``gate_on_error``, when one could not be checked).

    :returns (XCom): the number of report rows checked.
    """

    def execute(self, context: Context) -> int:
        config = load_config(self.config_path)
        day = audited_day(self.day, context)
        sink = report_sinks(config)[0]
        report = read_report(sink, day)
        location = sink.location(f"{day.isoformat()}/compliance.json")
        if report is None:
            raise ComplianceError(f"no compliance report for {day} at {location}: the report task did not write one")
        log.info("Gating on %s (fail_on=%s)", location, report["fail_on"])
        return enforce_gate(report, location=location)
