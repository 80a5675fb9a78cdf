"""Sync operators run as users run them in their own DAGs: execute() with AIRFLOW_CONN_* connections."""

from __future__ import annotations

from pathlib import Path

import pytest

from labelbridge.config import Cloud
from labelbridge.errors import ConfigError
from labelbridge.operators.sync import SYNC_OPERATORS, GCSSyncOperator
from tests.conftest import StoreFactory
from tests.sync.helpers import rows


def test_each_cloud_operator_syncs_its_storage(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(cloud)
    store.write("in/a.jpg", b"x")
    config = tmp_path / "storages.yaml"
    config.write_text(f"projects: [{{name: p}}]\nstorages:\n  - {{name: s, project: p, cloud: {cloud.value}, "
                      f"bucket: {store.bucket}, sas_kind: {'account_key' if cloud is Cloud.AZURE else 'auto'}}}\n")
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(config))

    counts = SYNC_OPERATORS[cloud](task_id="sync", storage="s", prefix="in/").execute(context={})

    assert (counts["listed"], counts["inserted"]) == (1, 1)
    assert rows(labeling_dsn, "SELECT uri FROM task") == [(store.uri("in/a.jpg"),)]


def test_operator_of_another_cloud_names_the_one_to_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "storages.yaml"
    config.write_text("projects: [{name: p}]\nstorages:\n  - {name: s, project: p, cloud: s3, bucket: b}\n")
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(config))

    with pytest.raises(ConfigError, match=r"^storage 's' is on s3; use the s3 sync operator, not GCSSyncOperator$"):
        GCSSyncOperator(task_id="sync", storage="s").execute(context={})
