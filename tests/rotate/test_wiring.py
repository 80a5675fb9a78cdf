"""The operator, the DAG and the CLI over the same rotation, with Airflow connections as in production."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from labelbridge.cli import main
from labelbridge.config import Cloud
from labelbridge.operators.rotate import RotateUrlsOperator, plan_rotation_shards
from tests.conftest import StoreFactory
from tests.rotate.helpers import add_tasks, rows
from tests.rotate.verify import SECRET_MARKERS, http_get, service_account_info

ROTATE_DAG = Path(__file__).resolve().parents[2] / "dags" / "rotate_urls.py"


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *storages: dict[str, Any]) -> Path:
    path = tmp_path / "storages.yaml"
    entries = [{"project": "proj", "url_ttl": "1d", **s} for s in storages]
    path.write_text(yaml.safe_dump({"projects": [{"name": "proj"}], "storages": entries}))
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(path))
    return path


def images(store: Any, count: int) -> list[dict[str, str]]:
    for index in range(count):
        store.write(f"img{index}.jpg", b"pixels")
    return [{"image": store.uri(f"img{index}.jpg")} for index in range(count)]


def test_operator_rotates_through_the_connections(
    new_store: StoreFactory,
    labeling_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = new_store(Cloud.S3)
    add_tasks(labeling_dsn, "proj", images(store, 3))
    write_config(tmp_path, monkeypatch, {"name": "imgs", "cloud": "s3", "bucket": store.bucket})
    caplog.set_level(logging.DEBUG)

    xcom = RotateUrlsOperator(task_id="rotate", storage="imgs").execute(context={})  # type: ignore[arg-type]

    assert {k: v for k, v in xcom.items() if k != "seconds"} == {
        "due": 3,
        "signed": 3,
        "skipped_locked": 0,
        "already_fresh": 0,
        "pruned": 0,
        "canary_checked": 3,
        "batches": 1,
    }
    assert "storage imgs: signing with s3-sigv4/explicit; credentials expire not before the URLs" in caplog.text
    for marker in SECRET_MARKERS:
        assert marker not in caplog.text + json.dumps(xcom)


def test_gcs_service_account_connection_signs(
    new_store: StoreFactory, labeling_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A keyfile connection signs offline; only the canary talks to the emulator, over HTTP.
    store = new_store(Cloud.GCS)
    add_tasks(labeling_dsn, "proj", images(store, 2))
    conn = {
        "conn_type": "google_cloud_platform",
        "extra": {"keyfile_dict": json.dumps(service_account_info()), "project": "labelbridge-test"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_GCS_SIGNER", json.dumps(conn))
    write_config(
        tmp_path,
        monkeypatch,
        {"name": "imgs", "cloud": "gcs", "bucket": store.bucket, "conn_id": "gcs_signer"},
    )

    xcom = RotateUrlsOperator(task_id="rotate", storage="imgs").execute(context={})  # type: ignore[arg-type]

    assert (xcom["signed"], xcom["canary_checked"]) == (2, 2)
    assert rows(labeling_dsn, "SELECT DISTINCT signer FROM task_url") == [("gcs-v4/service-account-key",)]


def test_plan_shards_for_mapping(
    new_store: StoreFactory, labeling_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(Cloud.S3)
    ids = add_tasks(labeling_dsn, "proj", [{"image": store.uri(f"k{i}")} for i in range(5)])
    write_config(tmp_path, monkeypatch, {"name": "imgs", "cloud": "s3", "bucket": store.bucket})

    assert plan_rotation_shards("imgs", tasks_per_shard=2) == [
        [None, ids[2]],
        [ids[2], ids[4]],
        [ids[4], None],
    ]


@pytest.mark.usefixtures("airflow_db")
def test_dag_maps_one_rotation_per_storage_shard(
    new_store: StoreFactory,
    labeling_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    s3, azure = new_store(Cloud.S3), new_store(Cloud.AZURE)
    add_tasks(labeling_dsn, "proj", images(s3, 2) + images(azure, 2))
    write_config(
        tmp_path,
        monkeypatch,
        {"name": "s3-imgs", "cloud": "s3", "bucket": s3.bucket},
        {"name": "azure-imgs", "cloud": "azure", "bucket": azure.bucket, "ip_range": "127.0.0.0/8"},
    )
    bag = DagBag(dag_folder=str(ROTATE_DAG))
    assert bag.import_errors == {}
    dag = bag.get_dag("labelbridge_rotate_urls")
    assert dag is not None and "signed-urls" in dag.tags and dag.default_args["retries"] == 2
    # Hourly, and after either storage's sync.
    assert dag.timetable.timetable.expression == "0 * * * *"
    assert sorted(a.uri for a in dag.timetable.asset_condition.objects) == [
        "labelbridge://storage/azure-imgs",
        "labelbridge://storage/s3-imgs",
    ]
    caplog.set_level(logging.INFO)

    run = dag.test()

    states = sorted((ti.task_id, ti.state) for ti in run.get_task_instances())
    assert states == [
        ("azure-imgs.plan", "success"),
        ("azure-imgs.rotate", "success"),
        ("s3-imgs.plan", "success"),
        ("s3-imgs.rotate", "success"),
    ]
    served = rows(labeling_dsn, "SELECT data ->> 'image' FROM task_with_urls ORDER BY id")
    assert [http_get(url)[0] for (url,) in served] == [200, 200, 200, 200]
    xcoms = _xcoms(run)
    assert sorted(x["signed"] for x in xcoms if isinstance(x, dict)) == [2, 2]
    published = caplog.text + json.dumps(xcoms)
    assert (
        "storage azure-imgs: signing with azure-sas/account-key" in published
    )  # the task logs were captured
    for marker in SECRET_MARKERS:
        assert marker not in published


def _xcoms(run: Any) -> list[Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        found = (
            session.query(XComModel)
            .filter(XComModel.run_id == run.run_id, XComModel.dag_id == run.dag_id)
            .all()
        )
        return [XComModel.deserialize_value(x) for x in found]


def test_cli_dry_run_then_rotate(
    new_store: StoreFactory,
    labeling_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = new_store(Cloud.AZURE)
    add_tasks(labeling_dsn, "proj", images(store, 3))
    config = write_config(
        tmp_path,
        monkeypatch,
        {"name": "imgs", "cloud": "azure", "bucket": store.bucket, "url_lead_time": "2h"},
    )
    base = ["--config", str(config), "--dsn", labeling_dsn]

    assert main(["rotate", "imgs", "--dry-run", *base]) == 0
    assert capsys.readouterr().out == (
        "imgs: 3 URLs would be re-signed (3 never signed), 0 signed; next expiry none signed yet, next due -\n"
    )
    assert main(["rotate", *base]) == 0
    out = capsys.readouterr().out
    assert out.startswith("imgs: 3 of 3 due URLs re-signed by azure-sas/account-key, earliest expiry ")
    assert main(["rotate", "--dry-run", "--json", *base]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert (plan["due"], plan["unsigned"], plan["signed"]) == (0, 0, 3)
    assert plan["next_due"] < plan["next_expiry"]
    assert main(["rotate", "nope", *base]) == 2
    assert "no storage named 'nope'" in capsys.readouterr().err
