"""labelbridge in the Airflow UI: compliance reports, per-task summaries, the operators' extra links.

- A FastAPI app at ``/labelbridge`` on the API server (:mod:`labelbridge.ui.app`): the report view
  the compliance task's "Compliance report" link opens, and the task summaries below.
- "Compliance reports" in the UI's Plugins menu: the list of reported days.
- A "Summary" tab on every task instance: the one-line summary of the task's XCom counts (for a
  sync task: listed, inserted, updated, unchanged, deleted, restored, quarantined, seconds).
- ``operator_extra_links``: the "Bucket" and "Compliance report" links, listed here as Airflow's
  docs show it. They do not depend on it: Airflow 3 computes a declared link on the worker when
  the task ends and stores it in XCom, and the API server reads it from there. (A link class with
  ``operators = [...]`` here would instead be called by the API server, with the serialized
  operator, which has no storage name or rendered prefix; so ours name no operators.)

How Airflow 3.3 finds it (``airflow/plugins_manager.py``): by the ``airflow.plugins`` entry point
in pyproject.toml, always; by the provider metadata's ``plugins`` only with
``[core] lazy_discover_providers = False``. So both name this class, as the OpenLineage provider
does; with that setting Airflow loads it once and skips the second by name, with a warning.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from labelbridge.operators.links import UI_PREFIX, BucketConsoleLink, ComplianceReportLink


class FastAPIAppsOnFirstRead:
    """``fastapi_apps``, built when first read: only the API server reads it.

    Every Airflow process loads plugins, each task process included, so FastAPI and the app module
    are imported here on first read, not at import. Not ``functools.cached_property``: Airflow uses
    an entry-point plugin as an instance but a provider's plugin as the class itself.
    """

    def __init__(self) -> None:
        self._apps: list[dict[str, Any]] | None = None

    def __get__(self, instance: object, owner: type | None = None) -> list[dict[str, Any]]:
        if self._apps is None:
            from labelbridge.ui.app import create_app

            self._apps = [{"app": create_app(), "url_prefix": UI_PREFIX, "name": "labelbridge"}]
        return self._apps


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
    fastapi_apps = FastAPIAppsOnFirstRead()
