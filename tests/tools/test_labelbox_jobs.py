"""The Labelbox jobs as users run them: the generated DAG (dag.test()), the operators, the CLI, and
the config section's validation. Buckets on the emulators, connections from ``AIRFLOW_CONN_*``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from labelbridge.cli import main
from labelbridge.config import Cloud, load_config
from tests.conftest import StoreFactory
from tests.sync.helpers import rows
from tests.tools.labelbox_helpers import FIXTURES, IMAGES
from tests.tools.test_label_studio_export import png
from tests.tools.test_label_studio_jobs import _asset_events, _xcoms, cli, load_dags


def write_config(tmp_path: Path, bucket: str, target: Any = None, **labelbox: Any) -> Path:
    """Project ``birds`` fed by storage ``src`` (S3), its Labelbox files in ``target`` (default: the same bucket)."""
    cloud, target_bucket = (target.cloud.value, target.bucket) if target is not None else ("s3", bucket)
    config = {
        "projects": [
            {"name": "birds", "labels": ["dog", "cat"],
             "labelbox": {"cloud": cloud, "bucket": target_bucket, "prefix": "labelbox/", "dataset": "birds-v1",
                          **labelbox}},
            {"name": "plain"},
        ],
        "storages": [
            {"name": "src", "project": "birds", "cloud": "s3", "bucket": bucket, "prefix": "images/",
             "media_field": "image", "url_ttl": "1d"},
        ],
        "export_targets": [
            {"name": "out", "project": "birds", "cloud": "s3", "bucket": bucket, "prefix": "exports/",
             "formats": ["coco"], "sources": ["src"]},
        ],
    }  # fmt: skip
    path = tmp_path / "storages.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_one_dag_per_project_with_a_labelbox_section_feeding_the_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bag = load_dags(write_config(tmp_path, "bucket", schedule="*/30 * * * *"), monkeypatch)

    dag = bag.dags["labelbridge_labelbox_birds"]
    assert "labelbridge_labelbox_plain" not in bag.dags
    assert {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} == {"ingest": ["rows"], "rows": []}
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    assert getattr(dag.timetable.asset_condition, "uri", None) == "labelbridge://storage/src"
    assert [o.name for o in dag.get_task("ingest").outlets] == ["labelbridge-labelbox-birds"]
    export = bag.dags["labelbridge_export_out"]
    uris = {a.uri for a in export.timetable.asset_condition.objects}  # type: ignore[attr-defined]
    assert uris == {"labelbridge://storage/src", "labelbridge://labelbox/birds"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rows_per_file", 200_000, "Input should be less than or equal to 150000"),
        ("media_type", "PICTURE", "Input should be 'IMAGE', 'VIDEO', 'TEXT', 'AUDIO', 'DOCUMENT' or 'HTML'"),
        ("cloud", "dropbox", "Input should be 's3', 'gcs' or 'azure'"),
        ("prefix", "labelbox", "'labelbox': a folder relative to the bucket, ending in '/'"),
        ("long_keys", "truncate", "Input should be 'shorten' or 'skip'"),
        ("schedule", "every hour", "'every hour' is not a cron expression"),
    ],
)
def test_a_bad_labelbox_section_names_file_entry_and_field(
    tmp_path: Path, field: str, value: Any, message: str
) -> None:
    config = write_config(tmp_path, "bucket", **{field: value})

    loaded = load_config(config)

    assert "birds" not in loaded.projects
    problem = str(loaded.problems[0])
    where = f"{config}: projects[0] 'birds': field 'labelbox.{field}'"
    assert problem.startswith(f"{where}: {message}"), problem


@pytest.mark.usefixtures("airflow_db")
def test_the_dag_writes_rows_ingests_exports_and_updates_the_export_asset_only_on_change(
    new_store: StoreFactory, labeling_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(Cloud.S3)
    for name, (width, height) in IMAGES.items():
        store.write(f"images/{name}", png(width, height, 2))
    config = write_config(tmp_path, store.bucket)
    assert main(["sync", "src", "--config", str(config), "--dsn", labeling_dsn]) == 0
    dag = load_dags(config, monkeypatch).dags["labelbridge_labelbox_birds"]

    first = dag.test()

    assert {ti.task_id: ti.state for ti in first.get_task_instances()} == {"ingest": "success", "rows": "success"}
    written = _xcoms(first.run_id)["rows"]
    assert written["new"] == 4 and written["file_uris"][0].endswith("/new-0001.json")
    assert _asset_events("labelbridge://labelbox/birds") == 0
    export = (FIXTURES / "export_v2.ndjson").read_text().replace("BUCKET/", store.uri(""))
    store.write("labelbox/exports/1.ndjson", export.encode())

    second = dag.test()

    assert second.state == "success"
    assert rows(labeling_dsn, "SELECT count(*) FROM annotation WHERE origin = 'tool'") == [(3,)]
    assert _asset_events("labelbridge://labelbox/birds") == 1
    assert dag.test().state == "success"
    assert _asset_events("labelbridge://labelbox/birds") == 1  # nothing new: exports left alone
    pushed = _xcoms(second.run_id)
    assert pushed["ingest"]["created"] == 3 and pushed["ingest"]["quarantined"] == 3
    # XCom holds counts and canonical URIs: the signed URLs in the files (and in the export) stay there.
    published = json.dumps([pushed, written])
    assert "Signature" not in published and "http" not in published


def test_the_cli_writes_rows_to_gcs_and_ingests(
    new_store: StoreFactory, labeling_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, target = new_store(Cloud.S3), new_store(Cloud.GCS)
    for name, (width, height) in IMAGES.items():
        store.write(f"images/{name}", png(width, height, 2))
    config = write_config(tmp_path, store.bucket, target)
    common = ["--config", str(config), "--dsn", labeling_dsn]
    assert main(["sync", "src", *common]) == 0

    code, out, _ = cli(capsys, "labelbox", "rows", "birds", *common)
    assert code == 0 and "birds -> Labelbox dataset birds-v1: 4 new rows, 0 changed" in out
    assert f"in 1 files at gs://{target.bucket}/labelbox/imports/birds-v1/" in out
    code, out, _ = cli(capsys, "labelbox", "rows", "birds", *common, "--json")
    assert json.loads(out)["new"] == 0

    export = (FIXTURES / "export_v2.ndjson").read_text().replace("BUCKET/", store.uri(""))
    target.write("labelbox/exports/1.ndjson", export.encode())
    code, out, _ = cli(capsys, "labelbox", "ingest", "birds", *common)
    assert code == 0 and "labels 3 new, 0 edited, 0 deleted, 0 unchanged on 4 rows" in out
    assert f"quarantined gs://{target.bucket}/labelbox/exports/1.ndjson:6: no 'data_row' object" in out
    assert "never written by labelbridge: s3://somebody-else/hand-added.png" in out
    assert "Signature" not in out
    code, out, _ = cli(capsys, "labelbox", "ingest", "birds", *common, "--json")
    assert json.loads(out)["files"] == 0

    code, _, err = cli(capsys, "labelbox", "rows", "plain", *common)
    assert code != 0 and "project 'plain'" in err and "has no labelbox section" in err
