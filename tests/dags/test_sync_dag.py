"""A generated sync DAG, run end to end with dag.test() against moto_server and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pendulum
import pytest
from airflow.dag_processing.dagbag import DagBag

from labelbridge.config import Cloud
from tests.conftest import StoreFactory
from tests.sync.helpers import rows

SYNC_DAGS = Path(__file__).resolve().parents[2] / "dags" / "sync.py"

pytestmark = pytest.mark.usefixtures("airflow_db")


def load_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, storage_yaml: str, dag_id: str):  # type: ignore[no-untyped-def]
    config = tmp_path / "storages.yaml"
    config.write_text("projects: [{name: p}]\nstorages:\n" + storage_yaml)
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(config))
    bag = DagBag(dag_folder=str(SYNC_DAGS))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id)


def test_generated_dag_syncs_and_fails_its_check_on_quarantine(
    new_store: StoreFactory, labeling_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(Cloud.S3)
    store.write("t/a.json", json.dumps([{"text": "one"}, {"text": "two"}]).encode())
    store.write("t/broken.json", b"{oops")
    dag = load_dag(tmp_path, monkeypatch, f"  - {{name: files, project: p, cloud: s3, bucket: {store.bucket}, "
                   "prefix: t/, mode: task_files}\n", "labelbridge_sync_files")

    run = dag.test()

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"sync": "success", "check_quarantine": "failed"}
    assert rows(labeling_dsn, "SELECT count(*) FROM task WHERE deleted_at IS NULL") == [(2,)]
    runs = rows(labeling_dsn, "SELECT run_id LIKE 'manual__%%', status, listed, inserted, quarantined FROM sync_run")
    assert runs == [(True, "success", 2, 2, 1)]


def test_date_partitioned_prefix_syncs_one_partition_per_logical_date(
    new_store: StoreFactory, labeling_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(Cloud.S3)
    for day in ("20250101", "20250102", "20250103", "20250104"):
        store.write(f"daily/{day}/img.jpg", b"x")
    dag = load_dag(tmp_path, monkeypatch, f"  - {{name: daily, project: p, cloud: s3, bucket: {store.bucket}, "
                   "prefix: 'daily/{{ ds_nodash }}/', schedule: '@daily'}\n", "labelbridge_sync_daily")

    for day in (1, 2, 3):
        assert dag.test(logical_date=pendulum.datetime(2025, 1, day, tz="UTC")).state == "success"

    assert [u.split("/", 3)[3] for (u,) in rows(labeling_dsn, "SELECT uri FROM task ORDER BY uri")] == [
        "daily/20250101/img.jpg", "daily/20250102/img.jpg", "daily/20250103/img.jpg",
    ]
    assert rows(labeling_dsn, "SELECT prefix, inserted, deleted FROM sync_run ORDER BY prefix") == [
        ("daily/20250101/", 1, 0), ("daily/20250102/", 1, 0), ("daily/20250103/", 1, 0),
    ]


def test_sharded_dag_maps_one_task_per_folder_group_and_deletes_vanished_folders(
    new_store: StoreFactory, labeling_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(Cloud.S3)
    for key in ("root.jpg", "a/1.jpg", "b/2.jpg", "c/3.jpg", "c/deep/4.jpg"):
        store.write(key, b"x")
    dag = load_dag(tmp_path, monkeypatch, f"  - {{name: big, project: p, cloud: s3, bucket: {store.bucket}, "
                   "shard_by_prefix: true, max_shards: 2}\n", "labelbridge_sync_big")

    first = dag.test()
    sync_tis = [ti for ti in first.get_task_instances() if ti.task_id == "sync"]
    assert sorted(ti.map_index for ti in sync_tis) == [0, 1]
    assert rows(labeling_dsn, "SELECT count(*) FROM task WHERE deleted_at IS NULL") == [(5,)]

    store.delete("c/3.jpg")
    store.delete("c/deep/4.jpg")
    assert dag.test().state == "success"

    live = rows(labeling_dsn, "SELECT uri FROM task WHERE deleted_at IS NULL")
    assert sorted(u.split("/", 3)[3] for (u,) in live) == ["a/1.jpg", "b/2.jpg", "root.jpg"]
