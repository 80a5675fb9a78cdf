"""The export operators (``execute(context={})`` with connections from AIRFLOW_CONN_*) and the DAG file."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
import yaml

from labelbridge.config import Cloud
from labelbridge.errors import ConfigError
from labelbridge.operators.export import AzureBlobExportOperator, GCSExportOperator, S3ExportOperator
from tests.conftest import StoreFactory

OPERATORS = {Cloud.S3: S3ExportOperator, Cloud.GCS: GCSExportOperator, Cloud.AZURE: AzureBlobExportOperator}


def write_config(path: Path, cloud: Cloud, bucket: str, *, schedule: str | None = None) -> Path:
    config = {
        "projects": [{"name": "demo", "labels": ["bird", "cat", "dog"]}],
        "storages": [{"name": "src", "project": "demo", "cloud": "s3", "bucket": "in", "mode": "task_files"}],
        "export_targets": [{"name": "out", "project": "demo", "cloud": cloud.value, "bucket": bucket,
                            "prefix": "exports", "formats": ["json", "yolo"], "sources": ["src"],
                            "schedule": schedule}],
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_operator_exports_and_returns_counts(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str, seeded: list[int], tmp_path: Path
) -> None:
    store = new_store(cloud)
    config = write_config(tmp_path / "storages.yaml", cloud, store.bucket)
    op = OPERATORS[cloud](task_id="export_yolo", target="out", fmt="yolo", run_key="manual__1", full="True",
                          config_path=str(config))

    counts = op.execute(context={})  # type: ignore[arg-type]

    assert counts["files"] == 7 and counts["annotations_exported"] == 3
    manifest = json.loads(store.read_bytes("exports/demo/yolo/manual__1/manifest.json"))
    assert manifest["full"] is True


def test_operator_of_the_wrong_cloud_says_which_to_use(tmp_path: Path) -> None:
    config = write_config(tmp_path / "storages.yaml", Cloud.GCS, "b")
    op = S3ExportOperator(task_id="t", target="out", fmt="json", config_path=str(config))

    with pytest.raises(ConfigError, match="export target 'out' is on gcs; use the gcs export operator, not "
                                          "S3ExportOperator"):
        op.execute(context={})  # type: ignore[arg-type]


@pytest.mark.parametrize("schedule", [None, "0 3 * * *"])
def test_dag_per_target_on_source_assets_and_cron(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schedule: str | None
) -> None:
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(write_config(tmp_path / "storages.yaml", Cloud.S3, "b",
                                                              schedule=schedule)))
    import dags.export as module

    module = importlib.reload(module)
    dag = module.DAGS["labelbridge_export_out"]
    tasks = {t.task_id: t for t in dag.tasks}

    assert dag.dag_id == "labelbridge_export_out"
    assert sorted(tasks) == ["export_json", "export_yolo"]
    assert isinstance(tasks["export_yolo"], S3ExportOperator) and tasks["export_yolo"].fmt == "yolo"
    assert [o.uri for o in tasks["export_json"].outlets] == ["labelbridge://export/out/json"]
    timetable = dag.timetable
    condition = getattr(timetable, "asset_condition", None)
    assert getattr(condition, "uri", None) == "labelbridge://storage/src"
    assert (type(timetable).__name__ == "AssetOrTimeSchedule") == (schedule is not None)
