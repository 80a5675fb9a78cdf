"""The names that tie the DAGs, the operators and the UI plugin together, written once.

Asset URIs (a sync updates ``labelbridge://storage/<name>``, which the rotation and export DAGs
are scheduled on; an export task updates ``labelbridge://export/<target>/<format>``), the DAG
ids built from storages.yaml names, and the config load every DAG file starts with.
"""

from __future__ import annotations

import os
import warnings

from airflow.sdk import Asset

from labelbridge.config import LabelbridgeConfig, load_config

COMPLIANCE_DAG_ID = "labelbridge_compliance"
ROTATE_DAG_ID = "labelbridge_rotate_urls"


def storage_asset(name: str) -> Asset:
    """The Asset a source storage's sync updates."""
    return Asset(f"labelbridge://storage/{name}")


def export_asset(target: str, fmt: str) -> Asset:
    """The Asset an export target's task for one format updates."""
    return Asset(f"labelbridge://export/{target}/{fmt}")


def sync_dag_id(storage: str) -> str:
    return f"labelbridge_sync_{storage.replace('-', '_')}"


def export_dag_id(target: str) -> str:
    return f"labelbridge_export_{target.replace('-', '_')}"


def load_config_for_dags(path: str | os.PathLike[str] | None = None) -> LabelbridgeConfig:
    """storages.yaml for a DAG file: each invalid entry becomes one import warning in the UI,
    and the valid entries still get their DAGs."""
    config = load_config(path)
    for problem in dict.fromkeys(str(p) for p in config.problems):
        warnings.warn(f"labelbridge: {problem}", stacklevel=2)
    return config
