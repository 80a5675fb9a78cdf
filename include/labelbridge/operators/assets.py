"""The names that tie the DAGs, the operators and the UI plugin together, written once.

Asset URIs (a sync updates ``labelbridge://storage/<name>``, which the rotation, Label Studio and
export DAGs are scheduled on; a pull that brought annotations from Label Studio updates
``labelbridge://label-studio/<project>``, which export DAGs are scheduled on too; an export task
updates ``labelbridge://export/<target>/<format>``), the DAG ids built from storages.yaml names,
and the config load every DAG file starts with.
"""

from __future__ import annotations

import os
import warnings

from airflow.sdk import Asset, AssetAlias

from labelbridge.config import LabelbridgeConfig, load_config

COMPLIANCE_DAG_ID = "labelbridge_compliance"
ROTATE_DAG_ID = "labelbridge_rotate_urls"


def storage_asset(name: str) -> Asset:
    """The Asset a source storage's sync updates."""
    return Asset(f"labelbridge://storage/{name}")


def label_studio_asset(project: str) -> Asset:
    """The Asset a pull updates when it brought annotations (new, edited or deleted) from Label Studio."""
    return Asset(f"labelbridge://label-studio/{project}")


def label_studio_alias(project: str) -> AssetAlias:
    """What a pull task declares as its outlet: it attaches :func:`label_studio_asset`'s event only
    when annotations changed, so exports do not rerun after every hourly pull that found nothing."""
    return AssetAlias(f"labelbridge-label-studio-{project}")


def ground_truth_asset(project: str) -> Asset:
    """The Asset an ingest updates when Ground Truth's output manifests brought annotations."""
    return Asset(f"labelbridge://ground-truth/{project}")


def ground_truth_alias(project: str) -> AssetAlias:
    """An ingest task's outlet: :func:`ground_truth_asset` gets an event only when annotations changed."""
    return AssetAlias(f"labelbridge-ground-truth-{project}")


def labelbox_asset(project: str) -> Asset:
    """The Asset an ingest updates when it brought labels (new, edited or deleted) from Labelbox."""
    return Asset(f"labelbridge://labelbox/{project}")


def labelbox_alias(project: str) -> AssetAlias:
    """What an ingest task declares as its outlet (see :func:`label_studio_alias`)."""
    return AssetAlias(f"labelbridge-labelbox-{project}")


def export_asset(target: str, fmt: str) -> Asset:
    """The Asset an export target's task for one format updates."""
    return Asset(f"labelbridge://export/{target}/{fmt}")


def sync_dag_id(storage: str) -> str:
    return f"labelbridge_sync_{storage.replace('-', '_')}"


def label_studio_dag_id(project: str) -> str:
    return f"labelbridge_label_studio_{project.replace('-', '_')}"


def ground_truth_dag_id(project: str) -> str:
    return f"labelbridge_ground_truth_{project.replace('-', '_')}"


def labelbox_dag_id(project: str) -> str:
    return f"labelbridge_labelbox_{project.replace('-', '_')}"


def export_dag_id(target: str) -> str:
    return f"labelbridge_export_{target.replace('-', '_')}"


def load_config_for_dags(path: str | os.PathLike[str] | None = None) -> LabelbridgeConfig:
    """storages.yaml for a DAG file: each invalid entry becomes one import warning in the UI,
    and the valid entries still get their DAGs."""
    config = load_config(path)
    for problem in dict.fromkeys(str(p) for p in config.problems):
        warnings.warn(f"labelbridge: {problem}", stacklevel=2)
    return config
