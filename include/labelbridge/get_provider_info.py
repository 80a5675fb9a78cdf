"""labelbridge as an Airflow provider: what ``airflow providers list`` and the Connections form know of it.

Registered by the ``apache_airflow_provider`` entry point in pyproject.toml, as every provider is. A
plain dict, importing nothing: Airflow reads it in every process that lists providers. The
connection form's fields come from ``ui-field-behaviour`` here: Airflow 3.2+ reads it without
importing the hook (a hook's own ``get_ui_field_behaviour`` is deprecated).
"""

from __future__ import annotations

from typing import Any

VERSION = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "labelbridge",
        "name": "labelbridge",
        "description": "Cloud-bucket glue for labeling teams: sync, signed-URL rotation, export, compliance, "
        "and Label Studio over its REST API.",
        "versions": [VERSION],
        "integrations": [
            {"integration-name": "labelbridge", "tags": ["software"]},
            {"integration-name": "Label Studio", "external-doc-url": "https://labelstud.io", "tags": ["software"]},
            {
                "integration-name": "SageMaker Ground Truth",
                "external-doc-url": "https://docs.aws.amazon.com/sagemaker/latest/dg/sms.html",
                "tags": ["service"],
            },
            {"integration-name": "Labelbox", "external-doc-url": "https://docs.labelbox.com", "tags": ["software"]},
        ],
        "operators": [
            {
                "integration-name": "labelbridge",
                "python-modules": [
                    "labelbridge.operators.sync",
                    "labelbridge.operators.rotate",
                    "labelbridge.operators.export",
                    "labelbridge.operators.compliance",
                    "labelbridge.operators.events",
                ],
            },
            {"integration-name": "Label Studio", "python-modules": ["labelbridge.operators.label_studio"]},
            {"integration-name": "SageMaker Ground Truth", "python-modules": ["labelbridge.operators.ground_truth"]},
            {"integration-name": "Labelbox", "python-modules": ["labelbridge.operators.labelbox"]},
        ],
        "hooks": [{"integration-name": "Label Studio", "python-modules": ["labelbridge.hooks.label_studio"]}],
        # The Azure Storage Queue trigger of bucket events (SQS and Pub/Sub use the providers' own).
        "triggers": [{"integration-name": "labelbridge", "python-modules": ["labelbridge.hooks.event_queues"]}],
        "connection-types": [
            {
                "hook-class-name": "labelbridge.hooks.label_studio.LabelStudioHook",
                "hook-name": "Label Studio",
                "connection-type": "label_studio",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port", "extra"],
                    "relabeling": {"host": "Label Studio URL", "password": "Token"},
                    "placeholders": {
                        "host": "https://label-studio.example.com",
                        "password": "legacy token, or personal access token (Account & Settings)",
                    },
                },
            }
        ],
        "extra-links": [
            "labelbridge.operators.links.BucketConsoleLink",
            "labelbridge.operators.links.ComplianceReportLink",
        ],
        # Airflow loads this list only with [core] lazy_discover_providers = False; the
        # airflow.plugins entry point (pyproject.toml) names the same class for the default.
        "plugins": [{"name": "labelbridge", "plugin-class": "labelbridge.ui.plugin.LabelbridgeUIPlugin"}],
    }
