"""labelbridge in the Airflow UI: compliance reports, per-task summaries, the operators' extra links.

- A FastAPI app at ``/labelbridge`` on the API server (``labelbridge_ui_app``): the report view the
  compliance task's "Compliance report" link opens, and the task summaries below.
- "Compliance reports" in the UI's Plugins menu: the list of reported days.
- A "Summary" tab on every task instance: the one-line summary of the task's XCom counts (for a
  sync task: listed, inserted, updated, unchanged, deleted, restored, quarantined, seconds).
- ``operator_extra_links``: the "Bucket" and "Compliance report" links, listed here as Airflow's
  docs show it. They do not depend on it: Airflow 3 computes a declared link on the worker when
  the task ends and stores it in XCom, and the API server reads it from there. (A link class with
  ``operators = [...]`` here would instead be called by the API server, with the serialized
  operator, which has no storage name or rendered prefix; so ours name no operators.)
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from labelbridge.operators.links import UI_PREFIX, BucketConsoleLink, ComplianceReportLink


class LabelbridgeUIPlugin(AirflowPlugin):
    name = "labelbridge"
    operator_extra_links = [BucketConsoleLink(), ComplianceReportLink()]  # noqa: RUF012 (Airflow's API)
    external_views = [  # noqa: RUF012
        {
            "name": "Compliance reports",
            "href": f"{UI_PREFIX}/reports/",
            "destination": "nav",
            "url_route": "labelbridge-reports",
        },
        {
            "name": "Summary",
            "href": f"{UI_PREFIX}/tasks/{{DAG_ID}}/{{RUN_ID}}/{{TASK_ID}}/summary?map_index={{MAP_INDEX}}",
            "destination": "task_instance",
            "url_route": "labelbridge-summary",
        },
    ]

    # Built on first use, i.e. in the API server only: every task process loads plugins too.
    @cached_property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        from labelbridge_ui_app import create_app

        return [{"app": create_app(), "url_prefix": UI_PREFIX, "name": "labelbridge"}]
