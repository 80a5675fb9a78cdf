"""The labelbridge plugin's FastAPI app, mounted by the API server under ``/labelbridge``.

- ``GET /reports/``: the days that have a compliance report, newest first.
- ``GET /reports/{day}/compliance.html`` (or ``compliance.json``): one day's report, read from
  where the report task wrote it (``compliance.reports_dir`` and/or ``report_storage``), so the
  UI can open a report on a worker's disk or in a bucket that a browser cannot reach.
- ``GET /tasks/{dag_id}/{run_id}/{task_id}/summary?map_index=N``: a task's one-line summary
  from its XCom counts; the Airflow UI shows it as the "Summary" tab of every task instance.

Only the API server imports this module, on its first read of the plugin's ``fastapi_apps``
(:mod:`labelbridge.ui.plugin`): Airflow loads plugins in every task process too, and FastAPI
is not needed there. Every route asks the Airflow auth manager, as the REST API does: the JWT
from the ``Authorization`` header or the UI's ``_token`` cookie, then read access to the
compliance DAG's task instances (reports) or the DAG's XComs (summaries).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from html import escape
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from labelbridge.compliance.report import HTML_NAME, JSON_NAME, ReportSink
from labelbridge.operators.assets import COMPLIANCE_DAG_ID
from labelbridge.operators.links import REPORT_DAY, report_day, report_view_path

#: Only these names, only under a YYYY-MM-DD folder: nothing else in the reports place is served
#: (not the staged parts or bucket snapshots), and no path can climb out of it.
REPORT_FILES = {HTML_NAME: "text/html; charset=utf-8", JSON_NAME: "application/json"}

#: The report is self-contained (inline CSS, no scripts): forbid everything else, so a report
#: served from the Airflow origin can never run code there, and allow framing by the UI only.
REPORT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

#: Sync counts, then report counts, then bucket-check counts; other keys follow alphabetically.
SUMMARY_ORDER = ("listed", "inserted", "updated", "unchanged", "deleted", "restored", "quarantined",
                 "rows", "pass", "fail", "error", "waived", "blocking")

Authorize = Callable[[Request, str, str], Awaitable[None]]
SinksFactory = Callable[[], Sequence[ReportSink]]
XComReader = Callable[[str, str, str, int], Any]


async def airflow_authorize(request: Request, dag_id: str, access_entity: str) -> None:
    """Let the request through only if Airflow's auth manager gives its user GET on ``dag_id``'s entity."""
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag, resolve_user_from_token

    # As the REST API does: an explicit bearer token wins over the UI's session cookie.
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    token = credentials if scheme.lower() == "bearer" and credentials else request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    user = await resolve_user_from_token(token)  # 401 without a token, 403 for a bad one
    requires_access_dag("GET", DagAccessEntity[access_entity], param_dag_id=dag_id)(request, user)


def configured_sinks() -> Sequence[ReportSink]:
    """The report places of the current storages.yaml, first one first, as the report task uses them."""
    from labelbridge.config import load_config
    from labelbridge.connections import report_sinks

    return report_sinks(load_config())


def metadata_xcom(dag_id: str, run_id: str, task_id: str, map_index: int) -> Any:
    """The task instance's ``return_value`` XCom from Airflow's metadata database, or None."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.execute(
            XComModel.get_many(
                key="return_value", run_id=run_id, dag_ids=dag_id, task_ids=task_id, map_indexes=map_index
            ).with_only_columns(XComModel.value)
        ).first()
    if row is None:
        return None
    value = row.value
    # Plain JSON only, as Airflow's own XComOperatorLink reads it: never instantiate classes from XCom.
    return json.loads(value) if isinstance(value, str) else value


def create_app(
    *,
    sinks: SinksFactory = configured_sinks,
    read_xcom: XComReader = metadata_xcom,
    authorize: Authorize = airflow_authorize,
) -> FastAPI:
    app = FastAPI(title="labelbridge", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/reports/", response_class=HTMLResponse)
    async def report_index(request: Request) -> HTMLResponse:
        await authorize(request, COMPLIANCE_DAG_ID, "TASK_INSTANCE")
        days = sorted({day for sink in sinks() for day in sink.days()}, reverse=True)
        # Relative links: right also when the API server sits under a path behind a proxy.
        rows = "".join(f'<li><a href="{escape(day)}/{HTML_NAME}">{escape(day)}</a></li>' for day in days)
        body = f"<ul>{rows}</ul>" if rows else "<p>No compliance report yet.</p>"
        return HTMLResponse(_page("Compliance reports", body), headers=REPORT_HEADERS)

    @app.get("/reports/{day}/{name}")
    async def report_file(request: Request, day: str, name: str) -> Response:
        await authorize(request, COMPLIANCE_DAG_ID, "TASK_INSTANCE")
        if not REPORT_DAY.match(day) or name not in REPORT_FILES:
            raise HTTPException(404, f"no such report file: {day}/{name} (expected YYYY-MM-DD/compliance.html)")
        for sink in sinks():
            data = sink.read(f"{day}/{name}")
            if data is not None:
                return Response(data, media_type=REPORT_FILES[name], headers=REPORT_HEADERS)
        raise HTTPException(404, f"no compliance report for {day}")

    @app.get("/tasks/{dag_id}/{run_id}/{task_id}/summary", response_class=HTMLResponse)
    async def task_summary(
        request: Request, dag_id: str, run_id: str, task_id: str, map_index: str = "-1"
    ) -> HTMLResponse:
        await authorize(request, dag_id, "XCOM")
        # The UI leaves {MAP_INDEX} unreplaced on an unmapped task's page.
        index = int(map_index) if re.fullmatch(r"-?\d+", map_index) else -1
        value = read_xcom(dag_id, run_id, task_id, index)
        return HTMLResponse(_page(f"{task_id} summary", summary_html(value)), headers=REPORT_HEADERS)

    return app


def summary_line(value: Any) -> str | None:
    """One line from a task's XCom counts (labelbridge tasks return a flat dict of numbers)."""
    if not isinstance(value, Mapping):
        return None
    numbers = {k: v for k, v in value.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    if not numbers:
        return None
    seconds = numbers.pop("seconds", None)
    # The metadata DB keeps XCom as JSONB, which reorders keys: put the known ones in reading order.
    ordered = sorted(numbers, key=lambda k: (SUMMARY_ORDER.index(k) if k in SUMMARY_ORDER else len(SUMMARY_ORDER), k))
    line = ", ".join(f"{key.replace('_', ' ')} {numbers[key]}" for key in ordered)
    return f"{line} in {seconds:.1f}s" if seconds is not None else line


def summary_html(value: Any) -> str:
    line = summary_line(value)
    if line is None:
        return "<p>This task returned no counts to summarize.</p>"
    parts = [f'<p class="summary">{escape(line)}</p>']
    day = report_day(value.get("report") if isinstance(value, Mapping) else None)
    if day:
        href = report_view_path(day)
        parts.append(f'<p><a href="{escape(href)}" target="_blank">Open the compliance report</a></p>')
    return "".join(parts)


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:1rem;color:#222}"
        ".summary{font-size:1.1rem}a{color:#0b63c5}</style></head>"
        f"<body><h1 style=\"font-size:1.2rem\">{escape(title)}</h1>{body}</body></html>"
    )
