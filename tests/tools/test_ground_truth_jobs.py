"""The Ground Truth jobs as users run them: the generated DAG (dag.test()), the operators, the CLI,
with a storages.yaml, a bucket on the S3 emulator and the connection from ``AIRFLOW_CONN_AWS_DEFAULT``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag

from labelbridge.cli import main
from labelbridge.config import Cloud
from tests.conftest import StoreFactory
from tests.sync.helpers import rows
from tests.tools.ground_truth_helpers import FIXTURES
from tests.tools.test_label_studio_jobs import _asset_events, _xcoms

DAGS = Path(__file__).resolve().parents[2] / "dags"


def write_config(tmp_path: Path, bucket: str) -> Path:
    config = {
        "projects": [
            {"name": "birds", "labels": ["dog", "bone"], "ground_truth": {
                "region": "us-east-1", "manifests": f"s3://{bucket}/gt-input/", "outputs": f"s3://{bucket}/gt-output/",
                "task_type": "bounding_box", "label_attribute": "bounding-box", "schedule": "*/30 * * * *"}},
            {"name": "plain"},
        ],
        "storages": [{"name": "src", "project": "birds", "cloud": "s3", "bucket": bucket, "prefix": "images/"}],
        "export_targets": [{"name": "out", "project": "birds", "cloud": "s3", "bucket": bucket, "prefix": "exports",
                            "formats": ["coco"], "sources": ["src"]}],
    }  # fmt: skip
    path = tmp_path / "storages.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def put_output(bucket_store: object, bucket: str) -> None:
    text = (FIXTURES / "bounding_box.manifest").read_text().replace("s3://BUCKET/", f"s3://{bucket}/")
    bucket_store.write("gt-output/job-1/manifests/output/output.manifest", text.encode())  # type: ignore[attr-defined]


def load_dags(config: Path, monkeypatch: pytest.MonkeyPatch) -> DagBag:
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(config))
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag


def test_one_dag_per_project_with_a_ground_truth_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bag = load_dags(write_config(tmp_path, "bucket"), monkeypatch)

    dag = bag.dags["labelbridge_ground_truth_birds"]
    assert "labelbridge_ground_truth_plain" not in bag.dags
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {"ingest": ["manifest"], "manifest": []}
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    assert getattr(dag.timetable.asset_condition, "uri", None) == "labelbridge://storage/src"
    assert [o.name for o in dag.get_task("ingest").outlets] == ["labelbridge-ground-truth-birds"]
    export = bag.dags["labelbridge_export_out"]
    uris = {a.uri for a in export.timetable.asset_condition.objects}  # type: ignore[attr-defined]
    assert uris == {"labelbridge://storage/src", "labelbridge://ground-truth/birds"}


def test_the_dag_writes_the_manifest_ingests_the_output_and_feeds_the_exports(
    new_store: StoreFactory, labeling_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, airflow_db: None
) -> None:
    store = new_store(Cloud.S3)
    for name in ("a.png", "b.png", "c.png"):
        store.write(f"images/{name}", name.encode())
    config = write_config(tmp_path, store.bucket)
    assert main(["sync", "src", "--config", str(config), "--dsn", labeling_dsn]) == 0
    dag = load_dags(config, monkeypatch).dags["labelbridge_ground_truth_birds"]

    first = dag.test()

    assert {ti.task_id: ti.state for ti in first.get_task_instances()} == {"ingest": "success", "manifest": "success"}
    written = _xcoms(first.run_id)["manifest"]
    assert written["lines"] == 3 and written["manifest"].startswith(f"s3://{store.bucket}/gt-input/birds/input/")
    assert _asset_events("labelbridge://ground-truth/birds") == 0

    put_output(store, store.bucket)
    second = dag.test()

    ingested = _xcoms(second.run_id)["ingest"]
    # a, b, c; of the rest, d-h are quarantined (d-g malformed, h no task here) and i was not labeled
    assert (ingested["created"], ingested["quarantined"], ingested["unlabeled"]) == (3, 5, 1)
    assert _xcoms(second.run_id)["manifest"]["manifest"] is None  # nothing new to label
    assert _asset_events("labelbridge://ground-truth/birds") == 1
    assert dag.test().state == "success"
    assert _asset_events("labelbridge://ground-truth/birds") == 1  # nothing new ingested: exports left alone
    assert rows(labeling_dsn, "SELECT count(*) FROM annotation WHERE origin = 'tool'") == [(3,)]
    assert "Signature" not in json.dumps(_xcoms(second.run_id))


def test_the_cli_writes_ingests_and_lists_the_quarantine(
    new_store: StoreFactory, labeling_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = new_store(Cloud.S3)
    for name in ("a.png", "b.png", "d.png"):
        store.write(f"images/{name}", name.encode())
    config = write_config(tmp_path, store.bucket)
    common = ["--config", str(config), "--dsn", labeling_dsn]
    assert main(["sync", "src", *common]) == 0
    capsys.readouterr()

    assert main(["ground-truth", "manifest", "birds", *common]) == 0
    out = capsys.readouterr().out
    assert f"birds -> s3://{store.bucket}/gt-input/birds/input/" in out
    assert ": 3 lines (new tasks), 0 tasks refused" in out
    assert main(["ground-truth", "manifest", "birds", *common, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["manifest"] is None
    assert main(["ground-truth", "manifest", "birds", *common, "--full", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["lines"] == 3

    put_output(store, store.bucket)
    assert main(["ground-truth", "ingest", "birds", *common]) == 0
    out = capsys.readouterr().out
    assert "1 output manifests read (0 already ingested), 9 lines: 2 annotations created" in out
    assert "1 objects not labeled, 6 lines quarantined, 1 boxes cut back to the image" in out
    assert main(["ground-truth", "ingest", "birds", *common, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["manifests_skipped"] == 1

    assert main(["ground-truth", "quarantine", "birds", *common]) == 0
    out = capsys.readouterr().out.splitlines()
    uri = f"s3://{store.bucket}/gt-output/job-1/manifests/output/output.manifest"
    assert out[0] == f"{uri}:3: source-ref 's3://{store.bucket}/images/c.png' is no live task of this project " \
                     "(deleted, or never synced)"
    assert out[1] == f"{uri}:4: 'bounding-box' without its 'bounding-box-metadata': class names, job and date unknown"
    assert out[-1] == "6 lines quarantined"

    assert main(["ground-truth", "ingest", "plain", *common]) == 2
    err = capsys.readouterr().err
    assert "project 'plain'" in err and "has no ground_truth section; projects labeled in Ground Truth: birds" in err
