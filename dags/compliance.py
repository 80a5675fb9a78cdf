"""
### labelbridge compliance: nightly bucket settings and S3 access-log audit, one report, one gate

For every bucket behind a source storage, an export target or an access-log bucket in
storages.yaml, and for the previous day's S3 server access logs:

* `check_s3_buckets` / `check_gcs_buckets` / `check_azure_buckets`: one mapped task per bucket
  reads its settings (policy, public access, TLS, encryption, logging, versioning, CORS, IP
  limits, SAS policy...) and runs the rules; counts in XCom, findings beside the report.
* `plan_access_log_shards` → `audit_access_logs` (mapped): the day's log objects, split over
  shards, parsed and judged; only when `compliance.access_logs` is configured.
* `report`: one report, `<reports>/<day>/compliance.json` and `compliance.html`, with every
  storage and rule, waivers, the access-log audit and the change since the previous report.
  Runs even when a check failed: that bucket's rules show as ERROR.
* `gate`: fails, naming the broken rules, when a rule at or above `compliance.fail_on` fails
  unwaived (or could not be checked, unless `gate_on_error: false`). Not retried: a verdict.

Trigger with `{"day": "YYYY-MM-DD"}` to audit another day (default: the day before the run).
See docs/compliance.md for rules, waivers and where the report goes.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag

from labelbridge.compliance.buckets.targets import bucket_targets
from labelbridge.operators.assets import COMPLIANCE_DAG_ID, load_config_for_dags
from labelbridge.operators.compliance import (
    BUCKET_SETTINGS_OPERATORS,
    AuditAccessLogShardOperator,
    ComplianceGateOperator,
    ComplianceReportOperator,
    PlanAccessLogShardsOperator,
)

CONFIG = load_config_for_dags()

DAY = "{{ params.day or '' }}"


@dag(
    dag_id=COMPLIANCE_DAG_ID,
    schedule=CONFIG.compliance.schedule,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["labelbridge", "compliance"],
    doc_md=__doc__,
    description="Nightly bucket-settings and access-log compliance report, with a gate",
    params={"day": Param(None, type=["null", "string"], description="audited day, YYYY-MM-DD (default: yesterday)")},
)
def labelbridge_compliance() -> None:
    targets = bucket_targets(CONFIG)
    checks = [
        operator.partial(task_id=f"check_{cloud.value}_buckets", day=DAY).expand(
            target=[t.to_dict() for t in targets if t.cloud is cloud]
        )
        for cloud, operator in BUCKET_SETTINGS_OPERATORS.items()
        if any(t.cloud is cloud for t in targets)
    ]
    shard_plan = None
    if CONFIG.compliance.access_logs:
        plan = PlanAccessLogShardsOperator(task_id="plan_access_log_shards", day=DAY)
        audits = AuditAccessLogShardOperator.partial(task_id="audit_access_logs", day=DAY).expand_kwargs(plan.output)
        checks.append(audits)
        shard_plan = plan.output
    report = ComplianceReportOperator(task_id="report", day=DAY, shard_plan=shard_plan, trigger_rule="all_done")
    gate = ComplianceGateOperator(task_id="gate", day=DAY, retries=0)
    for check in checks:
        check >> report
    report >> gate


labelbridge_compliance()
