"""The Label Studio jobs as users run them: the generated DAG (dag.test()), the operators, the CLI.

A storages.yaml with a project labeled in Label Studio, a bucket on the S3 emulator, the real
Label Studio of the session; the connection comes from ``AIRFLOW_CONN_LABEL_STUDIO_DEFAULT`` as
in a deployment.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag

from labelbridge.cli import main
from labelbridge.config import Cloud, load_config
from labelbridge.tools.label_studio import LabelStudioClient
from tests.conftest import StoreFactory
from tests.sync.helpers import rows
from tests.tools.label_studio_helpers import IMAGE_CONFIG, box

DAGS = Path(__file__).resolve().parents[2] / "dags"


def write_config(tmp_path: Path, bucket: str, **label_studio: Any) -> tuple[Path, str]:
    """storages.yaml: project ``birds`` fed by storage ``src`` and labeled in a new Label Studio project."""
    title = f"lb-jobs-{uuid.uuid4().hex[:8]}"
    (tmp_path / "birds.xml").write_text(IMAGE_CONFIG)
    config = {
        "projects": [
            {"name": "birds", "label_studio": {"project": title, "label_config": "birds.xml", "create": True,
                                               **label_studio}},
            {"name": "plain"},
        ],
        "storages": [
            {"name": "src", "project": "birds", "cloud": "s3", "bucket": bucket, "prefix": "img/",
             "media_field": "image", "url_ttl": "1d"},
        ],
        "export_targets": [
            {"name": "out", "project": "birds", "cloud": "s3", "bucket": bucket, "prefix": "exports",
             "formats": ["coco"], "sources": ["src"]},
        ],
    }  # fmt: skip
    path = tmp_path / "storages.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, title


@pytest.fixture
def connection(label_studio: Any, monkeypatch: pytest.MonkeyPatch) -> LabelStudioClient:
    conn = {"conn_type": "label_studio", "host": label_studio.url, "password": label_studio.token}
    monkeypatch.setenv("AIRFLOW_CONN_LABEL_STUDIO_DEFAULT", json.dumps(conn))
    return LabelStudioClient(label_studio.url, label_studio.token)


def remote_tasks(client: LabelStudioClient, title: str) -> list[dict[str, Any]]:
    (project,) = client.projects_titled(title)
    return client.list_tasks(int(project["id"]), include=("id", "data", "meta"), page=1)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def load_dags(config: Path, monkeypatch: pytest.MonkeyPatch) -> DagBag:
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(config))
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    return bag


def test_one_dag_per_labeled_project_pulls_pushes_renews_and_feeds_the_exports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = write_config(tmp_path, "bucket", schedule="*/30 * * * *")
    bag = load_dags(config, monkeypatch)

    dag = bag.dags["labelbridge_label_studio_birds"]
    assert "labelbridge_label_studio_plain" not in bag.dags
    order = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert order == {"pull": ["push"], "push": ["renew"], "renew": []}
    # After each sync of its storages, and every 30 minutes.
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    assert getattr(dag.timetable.asset_condition, "uri", None) == "labelbridge://storage/src"
    assert [o.name for o in dag.get_task("pull").outlets] == ["labelbridge-label-studio-birds"]
    export = bag.dags["labelbridge_export_out"]
    uris = {a.uri for a in export.timetable.asset_condition.objects}  # type: ignore[attr-defined]
    assert uris == {"labelbridge://storage/src", "labelbridge://label-studio/birds"}


def test_a_bad_label_studio_section_names_file_entry_and_field(tmp_path: Path) -> None:
    config, _ = write_config(tmp_path, "bucket", schedule="every hour")

    loaded = load_config(config)

    assert "birds" not in loaded.projects
    problem = str(loaded.problems[0])
    where = f"{config}: projects[0] 'birds': field 'label_studio.schedule'"
    assert problem.startswith(f"{where}: 'every hour' is not a cron expression")


@pytest.mark.parametrize("title", ["ab", "x" * 51])
def test_a_title_label_studio_would_refuse_is_an_error_at_load(tmp_path: Path, title: str) -> None:
    config, _ = write_config(tmp_path, "bucket")
    raw = yaml.safe_load(config.read_text())
    raw["projects"][0]["label_studio"]["project"] = title
    config.write_text(yaml.safe_dump(raw))

    (problem,) = [str(p) for p in load_config(config).problems if "projects[0]" in str(p)]

    assert f"a Label Studio title has 3 to 50 characters; {title!r} has {len(title)}" in problem


@pytest.mark.usefixtures("airflow_db")
def test_the_dag_closes_the_loop_and_updates_the_export_asset_only_when_annotations_changed(
    new_store: StoreFactory, labeling_dsn: str, connection: LabelStudioClient, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    store = new_store(Cloud.S3)
    for name in ("a.png", "b.png"):
        store.write(f"img/{name}", name.encode())
    config, title = write_config(tmp_path, store.bucket)
    assert main(["sync", "src", "--config", str(config), "--dsn", labeling_dsn]) == 0
    dag = load_dags(config, monkeypatch).dags["labelbridge_label_studio_birds"]

    first = dag.test()

    assert {ti.task_id: ti.state for ti in first.get_task_instances()} == dict.fromkeys(
        ("pull", "push", "renew"), "success"
    )
    assert len(remote_tasks(connection, title)) == 2
    assert _asset_events("labelbridge://label-studio/birds") == 0  # nothing came back yet
    task = remote_tasks(connection, title)[0]
    connection.request("POST", f"/api/tasks/{task['id']}/annotations/", json_body={"result": [box("cat")]})

    second = dag.test()

    assert second.state == "success"
    assert rows(labeling_dsn, "SELECT count(*) FROM annotation WHERE origin = 'tool'") == [(1,)]
    assert _asset_events("labelbridge://label-studio/birds") == 1
    assert dag.test().state == "success"
    assert _asset_events("labelbridge://label-studio/birds") == 1  # an empty pull leaves exports alone
    assert len(remote_tasks(connection, title)) == 2
    # XCom holds counts: no token, no URL, no signature.
    pushed = _xcoms(second.run_id)
    assert set(pushed) == {"pull", "push", "renew"} and pushed["pull"]["created"] == 1
    published = json.dumps(pushed)
    assert connection._token not in published and "http" not in published and "Signature" not in published


def _xcoms(run_id: str) -> dict[str, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(XComModel.task_id, XComModel.value).where(
                XComModel.run_id == run_id, XComModel.key == "return_value"
            )
        ).all()
    return {task: json.loads(value) if isinstance(value, str) else value for task, value in rows}


def _asset_events(uri: str) -> int:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        query = (
            select(func.count()).select_from(AssetEvent).join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri)
        )
        return int(session.scalar(query) or 0)


def test_the_cli_runs_each_job_and_status_says_where_the_project_stands(
    new_store: StoreFactory, labeling_dsn: str, connection: LabelStudioClient, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], label_studio: Any,
) -> None:  # fmt: skip
    store = new_store(Cloud.S3)
    for name in ("a.png", "b.png", "c.png"):
        store.write(f"img/{name}", name.encode())
    config, title = write_config(tmp_path, store.bucket)
    common = ["--config", str(config), "--dsn", labeling_dsn]
    assert main(["sync", "src", *common]) == 0

    code, out, _ = cli(capsys, "label-studio", "status", "birds", *common)
    assert code == 0 and "not pushed yet: 0 tasks in sync, 3 pending (3 new" in out

    code, out, _ = cli(capsys, "label-studio", "push", "birds", *common)
    assert code == 0 and ": 3 imported, 0 updated, 0 deleted" in out
    code, out, _ = cli(capsys, "label-studio", "push", "birds", *common, "--json")
    assert json.loads(out)["imported"] == 0

    code, out, _ = cli(capsys, "label-studio", "status", "birds", *common)
    assert "3 tasks in sync, 0 pending" in out and "earliest URL in Label Studio expires 20" in out
    assert "needs 0.00 PATCH/s of the 4/s it absorbs" in out

    task = remote_tasks(connection, title)[0]
    connection.request("POST", f"/api/tasks/{task['id']}/annotations/", json_body={"result": [box("dog")]})
    code, out, _ = cli(capsys, "label-studio", "pull", "birds", *common)
    assert code == 0 and ": 1 annotations created, 0 updated, 0 deleted" in out

    code, out, _ = cli(capsys, "label-studio", "renew", "birds", *common, "--json")
    assert code == 0 and json.loads(out)["plan"]["tasks"] == 3
    assert label_studio.token not in out


def test_the_cli_refuses_clearly_without_leaking_the_token(
    labeling_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], label_studio: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    config, _ = write_config(tmp_path, "bucket")
    common = ["--config", str(config), "--dsn", labeling_dsn]

    code, _, err = cli(capsys, "label-studio", "push", "plain", *common)
    assert code == 2 and "project 'plain'" in err and "has no label_studio section" in err and "birds" in err

    wrong = "wrongtoken" + label_studio.token[10:]
    conn = {"conn_type": "label_studio", "host": label_studio.url, "password": wrong}
    monkeypatch.setenv("AIRFLOW_CONN_LABEL_STUDIO_DEFAULT", json.dumps(conn))
    code, out, err = cli(capsys, "label-studio", "pull", "birds", *common)
    assert code == 2 and err.startswith("labelbridge: error: ") and "401" in err
    assert wrong not in out + err and label_studio.token not in out + err


def test_the_connection_forms_test_button_says_whose_token_it_is_or_why_not(
    connection: LabelStudioClient, label_studio: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labelbridge.hooks.label_studio import LabelStudioHook

    assert LabelStudioHook().test_connection() == (True, f"Connected to Label Studio as {label_studio.email}")

    wrong = "0" * 40
    conn = {"conn_type": "label_studio", "host": label_studio.url, "password": wrong}
    monkeypatch.setenv("AIRFLOW_CONN_LABEL_STUDIO_DEFAULT", json.dumps(conn))
    ok, message = LabelStudioHook().test_connection()
    assert not ok and "answered 401" in message and wrong not in message
