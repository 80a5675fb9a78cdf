"""Operator extra links: a sync task to its bucket, the compliance report task to its report.

Airflow 3 computes a link on the worker when the task ends (``get_link`` with the real, rendered
operator) and stores it in XCom under ``_link_<class name>``; the API server only reads that XCom
back (``XComOperatorLink``), so the links work without the API server knowing labelbridge. A link
is never a signed URL: the bucket link goes to the cloud's console (or, for an emulator or an
S3-compatible server, its plain listing URL); the report link goes to the ``labelbridge`` plugin's
report view in the Airflow UI, which serves the report from wherever the report task wrote it.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

from labelbridge.config import Cloud
from labelbridge.errors import ConfigError
from labelbridge.storage import store_class

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

log = logging.getLogger(__name__)

#: Where the UI plugin (labelbridge.ui.plugin) mounts its FastAPI app on the API server.
UI_PREFIX = "/labelbridge"

#: A report folder's name: one UTC day, and nothing that could climb out of the reports place.
REPORT_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REPORT_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})/compliance\.json$")

def bucket_console_url(cloud: Cloud, client: Any, bucket: str, prefix: str = "") -> str:
    """Where a person looks at ``bucket``/``prefix``: the cloud console, or an emulator's listing.

    :param client: the SDK client the storage uses (boto3 S3, ``google.cloud.storage.Client``,
        ``BlobServiceClient``); only its endpoint, region and account are read, no request is made.
    """
    return store_class(cloud).console_url(client, bucket, prefix)


def report_view_path(day: str, name: str = "compliance.html") -> str:
    """The plugin's URL path of one day's report file (relative to the API server's base URL)."""
    if not REPORT_DAY.match(day):
        raise ValueError(f"report day must be YYYY-MM-DD, got {day!r}")
    return f"{UI_PREFIX}/reports/{day}/{name}"


def _ui_url(path: str) -> str:
    from airflow.sdk.configuration import conf

    # Without [api] base_url a path is still right when the UI and the API server share a host.
    base = (conf.get("api", "base_url", fallback=None) or "").rstrip("/")
    return f"{base}{path}"


class BucketConsoleLink(BaseOperatorLink):
    """From a sync task to the bucket prefix it listed, in the cloud's console."""

    name = "Bucket"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from labelbridge.config import load_config
        from labelbridge.connections import make_client

        try:
            storage = load_config(getattr(operator, "config_path", None)).storage(operator.storage)  # type: ignore[attr-defined]
        except ConfigError as exc:
            # The task itself fails on the same error, with the whole message; no link then.
            log.warning("No bucket link: %s", exc)
            return ""
        # The rendered prefix of this run (e.g. one date partition), else the storage's own.
        prefix = operator.prefix if operator.prefix is not None else storage.prefix  # type: ignore[attr-defined]
        return bucket_console_url(storage.cloud, make_client(storage.cloud, storage.conn_id), storage.bucket, prefix)


class ComplianceReportLink(BaseOperatorLink):
    """From the compliance report task to the HTML report it wrote, served by the labelbridge plugin."""

    name = "Compliance report"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.execution_time.xcom import XCom

        # The report task returns {"report": "<place>/<day>/compliance.json", ...}; no report, no link.
        written = XCom.get_value(ti_key=ti_key, key="return_value")
        return report_link_from_xcom(written)


def report_link_from_xcom(written: Any) -> str:
    """The report view's URL for the report task's XCom, or ``""`` when it wrote none."""
    day = report_day(written.get("report") if isinstance(written, dict) else None)
    return _ui_url(report_view_path(day)) if day else ""


def report_day(location: object) -> str | None:
    """The day (``YYYY-MM-DD``) of a report location ``<place>/<day>/compliance.json``, else None."""
    found = _REPORT_DAY.search(str(location or ""))
    return found.group(1) if found else None
