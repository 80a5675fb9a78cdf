"""storages.yaml: projects, source storages, export targets and compliance settings.

Loading validates every entry on its own, so one bad entry is reported (file, entry, field,
why) while the others still load and their DAGs still appear. :func:`load_config` returns
both; :func:`load_config_strict` raises on the first problem, for the CLI's ``config check``.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# Cloud and SyncMode live in clouds.py (so storage/ need not import this module); re-exported
# here because storages.yaml is where users meet them.
from labelbridge.clouds import Cloud as Cloud
from labelbridge.clouds import SyncMode as SyncMode
from labelbridge.errors import ConfigError
from labelbridge.storage import store_class

CONFIG_ENV_VAR = "LABELBRIDGE_CONFIG"

#: A project's annotation-tool sections, and each tool's name in messages.
AnnotationTool = Literal["label_studio", "ground_truth", "labelbox"]
TOOL_NAMES: dict[str, str] = {"label_studio": "Label Studio", "ground_truth": "Ground Truth", "labelbox": "Labelbox"}
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "storages.yaml"

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> Any:
    """Accept ``90s``, ``30m``, ``12h``, ``7d``, ``1w`` or a number of seconds; pass the rest on."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '12h' or '7d', got a boolean")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def check_cron(value: str) -> str:
    """A cron expression or preset, as Airflow's own cron parser reads it."""
    from croniter import croniter

    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a cron expression or preset (such as '@hourly' or '*/15 * * * *')")
    return value


#: An annotation tool's DAG schedule (cron or preset), checked when storages.yaml loads.
CronSchedule = Annotated[str, AfterValidator(check_cron)]


def check_cidrs(values: tuple[str, ...]) -> tuple[str, ...]:
    """Every value an IPv4 or IPv6 network (host bits allowed: ``10.1.2.3/8`` means ``10.0.0.0/8``)."""
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ValueError(f"invalid CIDR {value!r}: {exc}") from None
    return values


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=200)


class LabelStudioConfig(BaseModel):
    """Where a project's tasks are labeled in Label Studio, and how they go there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Airflow connection of type ``label_studio``: host = server URL, password = token
    #: (a legacy token or a personal access token).
    conn_id: str = "label_studio_default"
    #: The Label Studio project: its id, or its title (looked up; created when ``create`` is set).
    project: int | str
    #: Create the project (titled ``project``) with this label config when no project has that title.
    #: A path relative to storages.yaml, to a Label Studio labeling-interface XML file.
    label_config: str | None = None
    create: bool = False
    #: ``signed``: the task data holds signed URLs; Label Studio needs no cloud credential.
    #: ``uri``: canonical ``s3://`` URIs, for a Label Studio with its own storage connection.
    urls: Literal["signed", "uri"] = "signed"
    #: Tasks whose objects vanished: ``delete_unannotated`` deletes them in Label Studio unless they
    #: carry an annotation (kept ones are reported); ``keep`` leaves them; ``delete`` deletes them all.
    vanished: Literal["delete_unannotated", "keep", "delete"] = "delete_unannotated"
    #: Tasks imported per request (Label Studio's own cap: 250k tasks and 200 MB per request).
    batch_size: int = Field(default=1000, ge=1, le=50_000)
    #: Concurrent PATCH requests when renewing URLs (Label Studio has no bulk update).
    renew_concurrency: int = Field(default=4, ge=1, le=64)
    #: PATCHes per second this Label Studio absorbs (measured 4-7/s on a 2-core runserver); the
    #: renewal plan warns when the steady state needs more.
    max_patch_rate: float = Field(default=4.0, gt=0)
    #: When the project's DAG runs besides after each sync (cron or preset); renewal takes its share per run.
    schedule: CronSchedule = "@hourly"

    @property
    def interval(self) -> timedelta:
        """The shortest gap between two scheduled runs: what each renewal run plans its share for."""
        from croniter import croniter

        runs = croniter(self.schedule, datetime(2025, 1, 1, tzinfo=UTC))
        times: list[datetime] = [runs.get_next(datetime) for _ in range(25)]
        return min(b - a for a, b in itertools.pairwise(times))

    @model_validator(mode="after")
    def _creatable(self) -> LabelStudioConfig:
        if self.create and (self.label_config is None or not isinstance(self.project, str)):
            raise ValueError("create: true needs a project title (not an id) and a label_config file")
        # Label Studio 1.23 refuses other titles (PROJECT_TITLE_MIN_LEN / _MAX_LEN): say so at load, not mid-run.
        if isinstance(self.project, str) and not 3 <= len(self.project) <= 50:
            raise ValueError(f"project: a Label Studio title has 3 to 50 characters; {self.project!r} has "
                             f"{len(self.project)}")
        return self


#: Ground Truth task types labelbridge writes manifests for and reads output manifests of, with the
#: ``type`` their output's ``-metadata`` carries (docs: sms-data-output).
GROUND_TRUTH_TYPES = {
    "image_classification": "groundtruth/image-classification",
    "image_classification_multilabel": "groundtruth/image-classification-multilabel",
    "text_classification": "groundtruth/text-classification",
    "text_classification_multilabel": "groundtruth/text-classification-multilabel",
    "bounding_box": "groundtruth/object-detection",
    "semantic_segmentation": "groundtruth/semantic-segmentation",
}
_S3_LOCATION = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.*)$")


class GroundTruthConfig(BaseModel):
    """Where a project's SageMaker Ground Truth manifests go and come from, and how to read its labels."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Amazon connection that writes input manifests and reads output manifests.
    conn_id: str = "aws_default"
    #: The labeling jobs' region: Ground Truth reads only buckets in it.
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    #: ``s3://bucket/prefix/`` where input manifests are written (``<project>/input/...manifest``).
    manifests: str
    #: ``s3://bucket/prefix/``: the jobs' ``S3OutputPath``; every ``*/manifests/output/output.manifest``
    #: under it is ingested once.
    outputs: str
    task_type: Literal[
        "image_classification", "image_classification_multilabel", "text_classification",
        "text_classification_multilabel", "bounding_box", "semantic_segmentation",
    ]  # fmt: skip
    #: The jobs' ``LabelAttributeName``: its value and ``<name>-metadata`` are read from each line.
    label_attribute: str = Field(min_length=1, max_length=127, pattern=r"^[A-Za-z0-9](-*[A-Za-z0-9])*$")
    #: The task data field holding the object's ``s3://`` URI (``source-ref``) or, for text, the text (``source``).
    source_field: str = "image"
    #: Other task data fields carried into each manifest line (Ground Truth passes them through).
    carry_fields: tuple[str, ...] = ()
    #: Class id -> name, for output lines whose metadata has no class map (it wins over none, never over the job's).
    class_map: dict[int, str] = Field(default_factory=dict)
    #: When the project's DAG runs besides after each sync (cron or preset).
    schedule: CronSchedule = "@hourly"

    @field_validator("manifests", "outputs")
    @classmethod
    def _s3_location(cls, value: str) -> str:
        if not _S3_LOCATION.match(value):
            raise ValueError(f"{value!r} is not an s3://bucket/prefix location (Ground Truth reads S3 only)")
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _attribute_fits_type(self) -> GroundTruthConfig:
        # Ground Truth's own rules for LabelAttributeName (docs: sms-data-output).
        if "-metadata" in self.label_attribute:
            raise ValueError("label_attribute: Ground Truth refuses a name containing '-metadata'")
        ends_ref = self.label_attribute.endswith("-ref")
        if self.task_type == "semantic_segmentation" and not ends_ref:
            raise ValueError("label_attribute: a semantic_segmentation job's name must end in '-ref'")
        if self.task_type != "semantic_segmentation" and ends_ref:
            raise ValueError(f"label_attribute: only semantic_segmentation names end in '-ref', not {self.task_type}")
        if any(not name.strip() for name in self.class_map.values()):
            raise ValueError("class_map: a class name is empty")
        return self

    @property
    def text(self) -> bool:
        """Text tasks: the manifest carries the text itself (``source``), not an object URI."""
        return self.task_type.startswith("text_")

    @property
    def metadata_type(self) -> str:
        return GROUND_TRUTH_TYPES[self.task_type]

    @staticmethod
    def split(location: str) -> tuple[str, str]:
        """``s3://bucket/prefix/`` -> (bucket, prefix)."""
        match = _S3_LOCATION.match(location)
        assert match is not None
        return match.group(1), match.group(2)


class LabelboxConfig(BaseModel):
    """Where a project's Labelbox files go and come from: data-row import files written, export v2
    NDJSON files read. Labelbox itself is never called (labelbridge holds no Labelbox key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The bucket (S3, GCS or Azure container) labelbridge writes import files to.
    cloud: Cloud
    conn_id: str = ""
    bucket: str = Field(min_length=1)
    #: Import files go under ``<prefix>imports/``; exports are read from ``<prefix>exports/``.
    prefix: str = ""
    #: The Labelbox dataset the rows are meant for: recorded, and the name the files carry.
    dataset: str = Field(min_length=1, max_length=200)
    #: Labelbox's ``media_type`` of every row.
    media_type: Literal["IMAGE", "VIDEO", "TEXT", "AUDIO", "DOCUMENT", "HTML"] = "IMAGE"
    #: Rows per import file (Labelbox recommends at most 150,000 per call, 30,000 with metadata).
    rows_per_file: int = Field(default=50_000, ge=1, le=150_000)
    #: A canonical URI longer than Labelbox's 200-character global key: ``shorten`` keeps its
    #: first characters and ends it with a hash of the whole URI (unique); ``skip`` leaves the task
    #: out, reported.
    long_keys: Literal["shorten", "skip"] = "shorten"
    #: Only labels of this Labelbox project id are ingested (an export may hold several projects).
    project_id: str | None = None
    #: When the project's DAG runs besides after each sync (cron or preset).
    schedule: CronSchedule = "@hourly"

    @field_validator("prefix")
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith("/") or (value and not value.endswith("/")):
            raise ValueError(f"{value!r}: a folder relative to the bucket, ending in '/' (e.g. 'labelbox/')")
        return value

    @model_validator(mode="after")
    def _default_conn_id(self) -> LabelboxConfig:
        if not self.conn_id:
            object.__setattr__(self, "conn_id", store_class(self.cloud).default_conn_id)
        return self

class ProjectConfig(_Entry):
    """A labeling project: tasks from several storages may feed it."""

    title: str = ""
    labels: tuple[str, ...] = ()
    label_studio: LabelStudioConfig | None = None
    ground_truth: GroundTruthConfig | None = None
    labelbox: LabelboxConfig | None = None


class _BucketEntry(_Entry):
    project: str
    cloud: Cloud
    conn_id: str = ""
    bucket: str = Field(min_length=1, description="S3/GCS bucket, or Azure container")
    prefix: str = ""

    @model_validator(mode="after")
    def _default_conn_id(self) -> _BucketEntry:
        if not self.conn_id:
            object.__setattr__(self, "conn_id", store_class(self.cloud).default_conn_id)
        return self


class InventoryConfig(BaseModel):
    """Where a storage's cloud inventory reports are delivered, and what to do when none is usable.

    With it, a sync reads the newest complete report instead of listing the bucket (docs/sync.md,
    "Inventory reports"): S3 Inventory, GCS Storage Insights inventory reports, Azure Blob Inventory.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The bucket (Azure: container) the reports are delivered to.
    bucket: str = Field(min_length=1)
    #: Where this report configuration writes: S3 ``destination-prefix/source-bucket/config-ID/``;
    #: GCS the destination path; Azure where the dated folders start (usually empty).
    prefix: str = ""
    #: Airflow connection to that bucket; default: the storage's own.
    conn_id: str = ""
    #: Azure only: the inventory rule's name (default: the newest run of any rule).
    rule: str | None = None
    #: The data files' format: ``auto`` takes what the manifest says; another value refuses a
    #: report in any other (``orc`` exists on S3 only).
    format: Literal["auto", "csv", "parquet", "orc"] = "auto"
    #: No usable report (none, incomplete, a file missing or failing its checksum, too old):
    #: ``list`` the bucket instead, or ``fail`` the run.
    fallback: Literal["list", "fail"] = "fail"
    #: A newest complete report older than this is refused (reports are daily or weekly).
    max_age: Duration = timedelta(days=2)

    @field_validator("max_age")
    @classmethod
    def _positive_age(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        return value


class EventsConfig(BaseModel):
    """A storage's bucket events: the queue its bucket's object events arrive on (docs/sync.md#events).

    :param queue: S3: the SQS queue URL (direct notifications or an EventBridge rule's target);
        GCS: the Pub/Sub subscription name; Azure: the Storage Queue name Event Grid writes to.
    :param conn_id: the connection that reads the queue (default: the cloud's default connection;
        Azure: the storage's own, whose account holds the queue).
    :param project_id: GCS only: the subscription's project (or give ``queue`` as
        ``projects/<project>/subscriptions/<name>``).
    :param max_messages: messages handed over together, as one batch (SQS: in receives of 10).
    :param visibility_timeout: seconds a received message stays hidden before it is delivered again
        unless acknowledged: longer than a batch takes to reach the labeling DB.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str = Field(min_length=1)
    conn_id: str = ""
    project_id: str | None = None
    max_messages: int = Field(default=50, ge=1, le=1000)
    visibility_timeout: int = Field(default=300, ge=10, le=43200)


class StorageConfig(_BucketEntry):
    """A source storage: a bucket (or container) prefix whose objects become tasks."""

    mode: SyncMode = SyncMode.OBJECTS
    key_regex: str | None = None
    media_field: str = "image"
    url_ttl: Duration = timedelta(days=1)
    url_lead_time: Duration | None = None
    #: Your own cap below the cloud's, e.g. an Azure account's SAS expiration policy.
    url_max_ttl: Duration | None = None
    #: Azure only. "auto" follows the connection (account key: account-key SAS; Entra ID: user
    #: delegation SAS) and so caps url_ttl at 7d; "account_key" lifts that cap.
    sas_kind: Literal["auto", "account_key", "user_delegation"] = "auto"
    ip_range: str | None = None
    #: Networks this storage's objects may be fetched from (IPv4 and IPv6 CIDRs). The S3
    #: access-log audit holds requests under the storage's bucket and prefix to it, on top of
    #: compliance.allowed_cidrs. Unset: ``[ip_range]`` when ip_range is set; ``[]``: no list.
    allowed_cidrs: tuple[str, ...] | None = None
    schedule: str | None = "@hourly"
    #: First logical date of the sync DAG: what `airflow backfill create` may reach back to.
    start_date: date = date(2025, 1, 1)
    shard_by_prefix: bool = False
    max_shards: int = Field(default=64, ge=1, le=1000)
    fail_on_quarantine: bool = True
    page_size: int = Field(default=1000, ge=1, le=5000)
    #: Read the cloud's inventory reports instead of listing the bucket.
    inventory: InventoryConfig | None = None
    #: Bucket events: new objects become tasks within seconds, besides the scheduled listing.
    events: EventsConfig | None = None
    #: Listing requests in flight at once (disjoint key ranges, handed on in key order); for a
    #: large bucket far from the worker, where one listing waits on each page's round trip.
    list_concurrency: int = Field(default=1, ge=1, le=32)

    @field_validator("key_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regex {value!r}: {exc}") from None
        return value

    @field_validator("ip_range")
    @classmethod
    def _is_network(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError as exc:
                raise ValueError(f"invalid IP range {value!r}: {exc}") from None
        return value

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, values: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if values is None else check_cidrs(values)

    @field_validator("url_ttl")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        return value

    @model_validator(mode="after")
    def _inventory_fits(self) -> StorageConfig:
        inventory = self.inventory
        if inventory is None:
            return self
        if inventory.format == "orc" and self.cloud is not Cloud.S3:
            raise ValueError(f"field 'inventory.format': 'orc' reports exist on S3 only, not {self.cloud.value}")
        if inventory.rule is not None and self.cloud is not Cloud.AZURE:
            raise ValueError(f"field 'inventory.rule': applies to Azure storages only, not {self.cloud.value}")
        if self.shard_by_prefix:
            raise ValueError("field 'inventory': a sync from an inventory report reads it once at the database's "
                             "speed; it does not combine with shard_by_prefix: true")
        if not inventory.conn_id:
            object.__setattr__(inventory, "conn_id", self.conn_id)
        return self

    @model_validator(mode="after")
    def _within_cloud_limits(self) -> StorageConfig:
        if self.sas_kind != "auto" and self.cloud is not Cloud.AZURE:
            raise ValueError(f"sas_kind applies to Azure storages only, not {self.cloud.value}")
        cap = store_class(self.cloud).url_ttl_cap(self.sas_kind)
        if cap is not None and self.url_ttl > cap:
            hint = " (or sas_kind: account_key)" if self.cloud is Cloud.AZURE else ""
            raise ValueError(
                f"url_ttl {self.url_ttl} exceeds the {self.cloud.value} signed-URL cap of {cap}; "
                f"set url_ttl to {int(cap.total_seconds() // 86400)}d or less{hint}"
            )
        if self.events is not None:
            self._check_events(self.events)
        if self.url_max_ttl is not None and self.url_ttl > self.url_max_ttl:
            raise ValueError(f"url_ttl {self.url_ttl} exceeds this storage's url_max_ttl of {self.url_max_ttl}")
        if self.lead_time >= self.url_ttl:
            raise ValueError(
                f"url_lead_time {self.lead_time} must be shorter than url_ttl {self.url_ttl}, "
                "or every rotation re-signs every URL"
            )
        return self

    def _check_events(self, events: EventsConfig) -> None:
        queue = events.queue
        if self.cloud is Cloud.S3 and not re.match(r"^https?://[^/]+/[^/]+/[^/]+$", queue):
            raise ValueError(f"events.queue: an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>), "
                             f"not {queue!r}")
        if self.cloud is not Cloud.S3 and "/" in queue and not queue.startswith("projects/"):
            raise ValueError(f"events.queue: a {'subscription' if self.cloud is Cloud.GCS else 'queue'} name, "
                             f"not {queue!r}")
        if self.cloud is Cloud.GCS and events.project_id is None and not re.fullmatch(
            r"projects/[^/]+/subscriptions/[^/]+", queue
        ):
            raise ValueError("events.project_id: required on GCS (the subscription's project; the DAG file must not "
                             "read connections), or give queue as projects/<project>/subscriptions/<name>")
        if events.project_id is not None and self.cloud is not Cloud.GCS:
            raise ValueError(f"events.project_id applies to GCS storages only, not {self.cloud.value}")
        if self.cloud is Cloud.AZURE and not re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}", queue):
            raise ValueError(f"events.queue: {queue!r} is not a Storage Queue name (3-63 lowercase letters, "
                             "digits and single hyphens)")

    @property
    def lead_time(self) -> timedelta:
        """Re-sign a URL once less than this is left: by default the last fifth of its life."""
        return self.url_lead_time if self.url_lead_time is not None else self.url_ttl / 5

    @property
    def access_cidrs(self) -> tuple[str, ...]:
        """The networks requests to this storage must come from: ``allowed_cidrs``, else ``ip_range``."""
        if self.allowed_cidrs is not None:
            return self.allowed_cidrs
        return (self.ip_range,) if self.ip_range else ()


ExportFormat = Literal["json", "json_min", "jsonl", "csv", "coco", "yolo", "voc"]


class ExportTargetConfig(_BucketEntry):
    """Where a project's annotations are written, in which formats."""

    formats: tuple[ExportFormat, ...] = ("json",)
    schedule: str | None = None
    sources: tuple[str, ...] = ()

    @field_validator("prefix")
    @classmethod
    def _confined(cls, value: str) -> str:
        # Whoever copies an export to disk with a sync tool resolves these segments as paths.
        if value.startswith("/"):
            raise ValueError(f"{value!r} must be relative to the bucket: drop the leading '/'")
        segments = value.split("/")
        if any(segment in {".", ".."} for segment in segments):
            raise ValueError(f"{value!r} holds a '.' or '..' segment; name the folder itself")
        if "" in segments[:-1]:
            raise ValueError(f"{value!r} holds an empty segment ('//')")
        if _CONTROL_CHARACTERS.search(value):
            raise ValueError(f"{value!r} holds a control character")
        return value


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class AccessLogConfig(_Entry):
    """An S3 bucket that receives server access logs for some of the storages."""

    conn_id: str = "aws_default"
    bucket: str = Field(min_length=1)
    prefix: str = ""


class WaiverConfig(BaseModel):
    """A known, accepted failure of one rule on one storage, until ``expires`` (inclusive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str = Field(min_length=1)
    storage: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    expires: date


class ComplianceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule: str | None = "@daily"
    fail_on: Literal["info", "low", "medium", "high", "critical"] = "high"
    access_logs: tuple[AccessLogConfig, ...] = ()
    allowed_cidrs: tuple[str, ...] = ()
    #: The web origins a bucket's CORS rules may name: your labeling UI's, e.g. Label Studio's
    #: ``https://label-studio.example.com`` (its front end fetches text and audio by script). Unset:
    #: any origin but ``*``; set: exactly these.
    allowed_origins: tuple[str, ...] = ()
    allowed_account_ids: tuple[str, ...] = ()
    max_presign_ttl: Duration = timedelta(days=7)
    burst_403_threshold: int = Field(default=20, ge=1)
    burst_403_window: Duration = timedelta(minutes=5)
    kms_key_arns: tuple[str, ...] = ()
    waivers: tuple[WaiverConfig, ...] = ()
    #: Where the nightly report goes: a local (or mounted) directory, and/or the access-log
    #: entry named by ``report_storage`` under ``report_prefix`` (see docs/compliance.md).
    reports_dir: str | None = None
    report_storage: str | None = None
    report_prefix: str = "compliance-reports/"
    #: Whether a rule that could not be checked (ERROR) at or above ``fail_on`` fails the gate.
    gate_on_error: bool = True
    #: Azure Resource Manager connection (``azure`` type) for account-level settings.
    azure_management_conn_id: str | None = None

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return check_cidrs(values)


@dataclass(frozen=True)
class ConfigProblem:
    """One invalid entry: where it is and why it was left out."""

    path: Path
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.where}: {self.message}"


@dataclass(frozen=True)
class LabelbridgeConfig:
    """The valid part of storages.yaml, plus what was left out and why."""

    path: Path
    projects: Mapping[str, ProjectConfig]
    storages: Mapping[str, StorageConfig]
    export_targets: Mapping[str, ExportTargetConfig]
    compliance: ComplianceConfig
    problems: tuple[ConfigProblem, ...] = field(default=())

    def storage(self, name: str) -> StorageConfig:
        try:
            return self.storages[name]
        except KeyError:
            raise ConfigError(self._unknown("storage", name, self.storages)) from None

    def project(self, name: str) -> ProjectConfig:
        try:
            return self.projects[name]
        except KeyError:
            raise ConfigError(self._unknown("project", name, self.projects)) from None

    def project_storages(self, project: str) -> list[StorageConfig]:
        """The source storages whose tasks feed ``project``."""
        return [s for s in self.storages.values() if s.project == project]

    def tool_projects(self, tool: AnnotationTool) -> list[ProjectConfig]:
        """The projects labeled in ``tool`` (those with its section)."""
        return [p for p in self.projects.values() if getattr(p, tool) is not None]

    def tool_project(self, name: str, tool: AnnotationTool) -> ProjectConfig:
        """``name``'s entry, which must have ``tool``'s section: the error names the projects that do."""
        project = self.project(name)
        if getattr(project, tool) is None:
            labeled = ", ".join(p.name for p in self.tool_projects(tool)) or "none"
            raise ConfigError(
                f"project {name!r} in {self.path} has no {tool} section; "
                f"projects labeled in {TOOL_NAMES[tool]}: {labeled}"
            )
        return project

    def label_studio_projects(self) -> list[ProjectConfig]:
        return self.tool_projects("label_studio")

    def ground_truth_projects(self) -> list[ProjectConfig]:
        return self.tool_projects("ground_truth")

    def labelbox_projects(self) -> list[ProjectConfig]:
        return self.tool_projects("labelbox")

    def export_target(self, name: str) -> ExportTargetConfig:
        try:
            return self.export_targets[name]
        except KeyError:
            raise ConfigError(self._unknown("export target", name, self.export_targets)) from None

    def excluded_prefixes(self, storage: StorageConfig) -> tuple[str, ...]:
        """Export prefixes on the storage's bucket: what labelbridge wrote is never read back as tasks."""
        return tuple(
            t.prefix
            for t in self.export_targets.values()
            if t.cloud == storage.cloud and t.bucket == storage.bucket and t.prefix
        )

    def _unknown(self, kind: str, name: str, known: Mapping[str, Any]) -> str:
        reason = next((str(p) for p in self.problems if f"{name!r}" in p.where), None)
        if reason:
            return f"{kind} {name!r} in {self.path} is invalid: {reason}"
        return f"no {kind} named {name!r} in {self.path}; known: {', '.join(sorted(known)) or 'none'}"


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The file to read: the argument, else ``$LABELBRIDGE_CONFIG``, else the bundled default."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(CONFIG_ENV_VAR) or DEFAULT_CONFIG_PATH)


def load_config(path: str | os.PathLike[str] | None = None) -> LabelbridgeConfig:
    """Read and validate storages.yaml, keeping every valid entry.

    :raises ConfigError: only when the file as a whole is unusable (missing, not YAML,
        not a mapping); invalid entries are returned in ``problems`` instead.
    """
    file = config_path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: file not found; set {CONFIG_ENV_VAR} to your storages.yaml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: expected a mapping at the top level, got {type(raw).__name__}")
    return _Loader(file).load(raw)


def load_config_strict(path: str | os.PathLike[str] | None = None) -> LabelbridgeConfig:
    """Like :func:`load_config`, but any invalid entry is an error naming all of them."""
    config = load_config(path)
    if config.problems:
        raise ConfigError("\n".join(str(p) for p in config.problems))
    return config


_M = TypeVar("_M", bound=_Entry)

_SECTIONS = ("projects", "storages", "export_targets", "compliance")


class _Loader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[ConfigProblem] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.path, where, message))

    def load(self, raw: dict[str, Any]) -> LabelbridgeConfig:
        for key in raw:
            if key not in _SECTIONS:
                self.problem(f"{key}", f"unknown section; expected one of {', '.join(_SECTIONS)}")
        projects = self.entries(raw, "projects", ProjectConfig)
        storages = self.entries(raw, "storages", StorageConfig)
        targets = self.entries(raw, "export_targets", ExportTargetConfig)
        project_names = {p.name for p in projects.values()}
        for entries in (storages, targets):
            for where, entry in list(entries.items()):
                if entry.project not in project_names:
                    known = ", ".join(sorted(project_names)) or "none declared"
                    self.problem(where, f"field 'project': unknown project {entry.project!r} (known: {known})")
                    del entries[where]
        storage_names = {s.name for s in storages.values()}
        for where, target in list(targets.items()):
            missing = [s for s in target.sources if s not in storage_names]
            if missing:
                self.problem(where, f"field 'sources': unknown storage(s) {', '.join(map(repr, missing))}")
                del targets[where]
                continue
            covered = _sources_covered_by(target, storages.values())
            if covered:
                self.problem(where, f"field 'prefix': {target.prefix!r} on {target.cloud.value} bucket "
                             f"{target.bucket!r} covers source storage(s) {', '.join(map(repr, covered))}; "
                             "an export there would land among their tasks: choose a prefix outside them")
                del targets[where]
        compliance = ComplianceConfig()
        if raw.get("compliance") is not None:
            try:
                compliance = ComplianceConfig.model_validate(raw["compliance"])
            except ValidationError as exc:
                for message in _field_messages(exc):
                    self.problem("compliance", message)
        return LabelbridgeConfig(
            path=self.path,
            projects={p.name: p for p in projects.values()},
            storages={s.name: s for s in storages.values()},
            export_targets={t.name: t for t in targets.values()},
            compliance=compliance,
            problems=tuple(self.problems),
        )

    def entries(self, raw: dict[str, Any], section: str, model: type[_M]) -> dict[str, _M]:
        items = raw.get(section) or []
        if not isinstance(items, Sequence) or isinstance(items, str):
            self.problem(section, f"expected a list of entries, got {type(items).__name__}")
            return {}
        valid: dict[str, _M] = {}
        seen: set[str] = set()
        for index, item in enumerate(items):
            name = item.get("name") if isinstance(item, dict) else None
            where = f"{section}[{index}]" + (f" {name!r}" if isinstance(name, str) else "")
            if not isinstance(item, dict):
                self.problem(where, f"expected a mapping, got {type(item).__name__}")
                continue
            try:
                entry = model.model_validate(item)
            except ValidationError as exc:
                for message in _field_messages(exc):
                    self.problem(where, message)
                continue
            if entry.name in seen:
                self.problem(where, f"field 'name': duplicate name {entry.name!r}; names must be unique in {section}")
                continue
            seen.add(entry.name)
            valid[where] = entry
        return valid


def _sources_covered_by(target: ExportTargetConfig, storages: Iterable[StorageConfig]) -> list[str]:
    """Source storages on the target's bucket whose prefix lies inside the target's prefix.

    A target inside a source's prefix is fine: that source's sync skips it (``excluded_prefixes``).
    """
    return [
        s.name for s in storages
        if s.cloud == target.cloud and s.bucket == target.bucket
        # A templated prefix ("scans/{{ ds }}/") covers what its literal start covers.
        and s.prefix.split("{{", 1)[0].startswith(target.prefix)
    ]


def _field_messages(exc: ValidationError) -> Iterable[str]:
    for error in exc.errors():
        loc = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] == "extra_forbidden":
            message = "unknown field"
        yield f"field '{loc}': {message}" if loc else message
