"""OpenLineage events of the labelbridge operators, as the OpenLineage provider emits them.

The DAGs run with ``dag.test()``; the provider's own listener builds the events (calling each
operator's ``get_openlineage_facets_on_complete``) and its ``file`` transport, configured as a
deployment would (``AIRFLOW__OPENLINEAGE__TRANSPORT``), writes them one JSON per line. The tests
read that file: dataset namespaces and names per OpenLineage's naming spec for S3, GCS, Azure
Blob Storage and PostgreSQL, the counts, and no secret anywhere in an event.
"""

from __future__ import annotations

import json
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg.conninfo
import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag

import devservices
from labelbridge.config import Cloud
from labelbridge.lineage import (
    RunLineage,
    label_studio_dataset,
    labeling_db_tables,
    object_dataset,
    operator_lineage,
    postgres_address,
)
from labelbridge.secrets import SECRET_MARKERS
from tests.compliance.test_compliance_dag import SIGNATURE, setup  # noqa: F401  (setup is a fixture)
from tests.conftest import StoreFactory
from tests.export.conftest import seed
from tests.rotate.helpers import add_tasks
from tests.tools.test_label_studio_jobs import connection, write_config  # noqa: F401  (connection is a fixture)

DAGS = Path(__file__).resolve().parents[2] / "dags"
#: A password in the labeling DB's Airflow connection (the test server trusts loopback, so any works).
DB_PASSWORD = "lineage-Pw-7c1e9f"
Events = Callable[[], list[dict[str, Any]]]

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture
def lineage_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Events]:
    """The provider's listener with a file transport into this test's folder; returns a reader."""
    from airflow.listeners.listener import get_listener_manager
    from airflow.providers.openlineage import conf
    from airflow.providers.openlineage.plugins.listener import get_openlineage_listener
    from airflow.sdk.listener import get_listener_manager as get_sdk_listener_manager

    log = tmp_path / "openlineage" / "events.jsonl"
    log.parent.mkdir()
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT",
                       json.dumps({"type": "file", "log_file_path": str(log), "append": True}))
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__DISABLED", "False")
    # Emit from a thread of the task process rather than a fork of pytest.
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD", "True")
    _clear(conf)
    listener = get_openlineage_listener()
    listener.adapter._client = None  # the transport is read when the client is built
    # Task events go through the task SDK's own listener manager, DAG-run events through the core
    # one; each is built once per process and keeps what it had then (an earlier test's dag.test()
    # makes the SDK's without OpenLineage), so this test's listener joins both, in place of any other.
    managers = [get_listener_manager(), get_sdk_listener_manager()]
    replaced: list[tuple[Any, Any]] = []
    for manager in managers:
        for other in [p for p in manager.pm.get_plugins() if isinstance(p, type(listener))]:
            manager.pm.unregister(other)
            replaced.append((manager, other))
        manager.add_listener(listener)

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    yield read
    for manager in managers:
        manager.pm.unregister(listener)
    for manager, other in replaced:
        manager.pm.register(other)
    listener.before_stopping(None)  # DAG-run events go through a process pool holding its own client
    listener.adapter._client = None
    _clear(conf)


def _clear(conf: Any) -> None:
    for value in vars(conf).values():
        if hasattr(value, "cache_clear"):
            value.cache_clear()


def task_event(events: list[dict[str, Any]], job: str, event_type: str = "COMPLETE") -> dict[str, Any]:
    found = [e for e in events if e["job"]["name"] == job and e["eventType"] == event_type]
    assert len(found) == 1, f"{event_type} events of {job}: {[(e['job']['name'], e['eventType']) for e in events]}"
    return found[0]


def names(datasets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def assert_no_secret(events: list[dict[str, Any]], *secrets: str) -> None:
    text = json.dumps(events)
    for secret in (DB_PASSWORD, devservices.AZURITE_KEY, *secrets):
        assert secret not in text
    labelbridge_parts = json.dumps(
        [[e["run"]["facets"].get("labelbridge"), e["inputs"], e["outputs"]] for e in events]
    )
    for marker in SECRET_MARKERS:
        assert marker not in labelbridge_parts


@pytest.fixture
def db_with_password(labeling_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The labeling DB's connection with a password, as production has one."""
    params = psycopg.conninfo.conninfo_to_dict(labeling_dsn)
    params["password"] = DB_PASSWORD
    monkeypatch.setenv("AIRFLOW_CONN_LABELING_DB", devservices.airflow_postgres_uri(
        psycopg.conninfo.make_conninfo(**params)))  # type: ignore[arg-type]
    return labeling_dsn


def table_names(dsn: str, *tables: str) -> list[tuple[str, str]]:
    namespace, database = postgres_address(dsn)
    return [(namespace, f"{database}.public.{table}") for table in tables]


def load_dag(dag_file: str, dag_id: str) -> Any:
    bag = DagBag(dag_folder=str(DAGS / dag_file))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id)


# Sync, on each cloud ---------------------------------------------------------------------------


def test_sync_reads_the_bucket_prefix_and_writes_the_labeling_tables(
    cloud: Cloud, new_store: StoreFactory, db_with_password: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    lineage_events: Events,
) -> None:
    store = new_store(cloud)
    store.write("in/a.jpg", b"x")
    store.write("in/b.jpg", b"y")
    config = tmp_path / "storages.yaml"
    config.write_text(yaml.safe_dump({"projects": [{"name": "p"}], "storages": [
        {"name": "imgs", "project": "p", "cloud": cloud.value, "bucket": store.bucket, "prefix": "in/",
         "sas_kind": "account_key" if cloud is Cloud.AZURE else "auto"}]}))
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(config))

    assert load_dag("sync.py", "labelbridge_sync_imgs").test().state == "success"

    events = lineage_events()
    event = task_event(events, "labelbridge_sync_imgs.sync")
    expected_namespace = {
        Cloud.S3: f"s3://{store.bucket}",
        Cloud.GCS: f"gs://{store.bucket}",
        Cloud.AZURE: f"wasbs://{store.bucket}@{devservices.AZURITE_ACCOUNT}.dfs.core.windows.net",
    }[cloud]
    assert names(event["inputs"]) == [(expected_namespace, "in")]
    assert event["inputs"][0]["inputFacets"]["inputStatistics"]["fileCount"] == 2
    assert names(event["outputs"]) == table_names(db_with_password, "task", "source_object", "quarantine",
                                                  "sync_run")
    assert event["outputs"][0]["namespace"].startswith("postgres://")
    assert event["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 2
    facet = event["run"]["facets"]["labelbridge"]
    assert facet["job"] == "sync" and facet["details"] == {"storage": "imgs"}
    assert (facet["counts"]["listed"], facet["counts"]["inserted"]) == (2, 2)
    assert facet["_schemaURL"].endswith("/include/labelbridge/lineage/facets.json#/$defs/LabelbridgeRunFacet")
    assert_no_secret(events)


def test_dataset_names_agree_with_the_openlineage_client_naming_helpers() -> None:
    from openlineage.client.naming import dataset as naming

    pairs = [
        (object_dataset(Cloud.S3, "b", "in/"), naming.S3("b", "in")),
        (object_dataset(Cloud.GCS, "b", "a/b.jpg"), naming.GCS("b", "a/b.jpg")),
        (object_dataset(Cloud.AZURE, "c", "in/", account="acct"), naming.WASBS("c", "acct", "in")),
        (labeling_db_tables("host=db.internal port=6432 dbname=lab user=u password=pw", "task")[0],
         naming.Postgres("db.internal", "6432", "lab", "public", "task")),
    ]
    for ours, theirs in pairs:
        assert (ours.namespace, ours.name) == (theirs.get_namespace(), theirs.get_name())
    assert object_dataset(Cloud.S3, "b").name == "/"  # the whole bucket


def test_no_credential_reaches_a_dataset_or_facet() -> None:
    """Built from a DSN with a password and a Label Studio URL with user info and a token."""
    from openlineage.client.serde import Serde

    dsn = "postgresql://labeler:pw-in-dsn-9f@db.example.com:5433/labeling?sslmode=require"
    lineage = RunLineage(
        "label_studio.push", labeling_db_tables(dsn, "task"),
        (label_studio_dataset("https://me:tok-in-url-3a@ls.example.com:8443/?token=tok-in-query-5b", 42),),
    ).with_counts({"imported": 3, "plan": {"nested": 1}, "flag": True})

    built = operator_lineage(lineage)

    text = json.dumps([Serde.to_dict(d) for d in built.inputs + built.outputs]
                      + [Serde.to_dict(f) for f in built.run_facets.values()])
    for secret in ("pw-in-dsn-9f", "tok-in-url-3a", "tok-in-query-5b", "labeler", "me:"):
        assert secret not in text
    assert names([Serde.to_dict(d) for d in built.inputs]) == [("postgres://db.example.com:5433",
                                                                "labeling.public.task")]
    assert names([Serde.to_dict(d) for d in built.outputs]) == [("https://ls.example.com:8443", "projects/42")]
    assert built.run_facets["labelbridge"].counts == {"imported": 3}


def test_without_openlineage_the_operators_still_import_and_say_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "labelbridge.lineage.facets", raising=False)
    monkeypatch.setitem(sys.modules, "openlineage.client.event_v2", None)  # import fails as if absent
    from labelbridge.operators.sync import S3SyncOperator

    operator = S3SyncOperator(task_id="sync", storage="s")
    operator.lineage = RunLineage("sync", (object_dataset(Cloud.S3, "b"),))

    assert operator.get_openlineage_facets_on_complete(None) is None
    assert S3SyncOperator(task_id="t", storage="s").get_openlineage_facets_on_complete(None) is None


# Rotation, export, compliance ------------------------------------------------------------------


def test_rotation_reads_and_writes_the_labeling_db(
    new_store: StoreFactory, db_with_password: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    lineage_events: Events,
) -> None:
    store = new_store(Cloud.S3)
    store.write("img.jpg", b"pixels")
    add_tasks(db_with_password, "proj", [{"image": store.uri("img.jpg")}])
    config = tmp_path / "storages.yaml"
    config.write_text(yaml.safe_dump({"projects": [{"name": "proj"}], "storages": [
        {"name": "imgs", "project": "proj", "cloud": "s3", "bucket": store.bucket, "url_ttl": "1d"}]}))
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(config))

    assert load_dag("rotate_urls.py", "labelbridge_rotate_urls").test().state == "success"

    events = lineage_events()
    event = task_event(events, "labelbridge_rotate_urls.imgs.rotate")
    assert names(event["inputs"]) == table_names(db_with_password, "task", "task_url")
    assert names(event["outputs"]) == table_names(db_with_password, "task_url")
    assert event["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 1
    assert event["run"]["facets"]["labelbridge"]["counts"]["signed"] == 1
    assert_no_secret(events)


def test_export_reads_the_labeling_db_and_writes_the_target_prefix_with_format_and_counts(
    new_store: StoreFactory, db_with_password: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    lineage_events: Events,
) -> None:
    seed(db_with_password)
    store = new_store(Cloud.GCS)
    config = tmp_path / "storages.yaml"
    config.write_text(yaml.safe_dump({
        "projects": [{"name": "demo", "labels": ["bird", "cat", "dog"]}],
        "storages": [{"name": "src", "project": "demo", "cloud": "s3", "bucket": "in", "mode": "task_files"}],
        "export_targets": [{"name": "out", "project": "demo", "cloud": "gcs", "bucket": store.bucket,
                            "prefix": "exports/", "formats": ["yolo"], "sources": ["src"]}],
    }))
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(config))

    assert load_dag("export.py", "labelbridge_export_out").test().state == "success"

    events = lineage_events()
    event = task_event(events, "labelbridge_export_out.export_yolo")
    assert names(event["inputs"]) == table_names(db_with_password, "task", "annotation", "prediction")
    assert names(event["outputs"]) == [(f"gs://{store.bucket}", "exports/demo/yolo")]
    output = event["outputs"][0]
    assert output["facets"]["labelbridgeExport"]["format"] == "yolo"
    statistics = output["outputFacets"]["outputStatistics"]
    assert (statistics["fileCount"], statistics["rowCount"]) == (7, 3)
    assert statistics["size"] > 0
    facet = event["run"]["facets"]["labelbridge"]
    assert facet["job"] == "export" and facet["details"]["format"] == "yolo"
    assert facet["counts"]["files"] == 7
    assert_no_secret(events)


def test_compliance_reads_the_judged_buckets_and_writes_the_report(
    setup: dict[str, Any], lineage_events: Events  # noqa: F811
) -> None:
    dag = load_dag("compliance.py", "labelbridge_compliance")

    dag.test(run_conf={"day": "2026-11-22"})

    events = lineage_events()
    reports = ("file", str(Path(setup["reports"]).resolve()))
    report = task_event(events, "labelbridge_compliance.report")
    judged = {(f"s3://{setup[b]}", "/") for b in ("good", "bad", "logs")}
    assert judged <= set(names(report["inputs"]))
    assert (f"s3://{setup['logs']}", "access") in names(report["inputs"])
    assert names(report["outputs"]) == [reports]
    facet = report["run"]["facets"]["labelbridge"]
    assert facet["job"] == "compliance.report" and facet["counts"]["fail"] > 0
    assert facet["details"]["report"].endswith("2026-11-22/compliance.json")
    checks = [e for e in events if e["job"]["name"] == "labelbridge_compliance.check_s3_buckets"
              and e["eventType"] == "COMPLETE"]
    assert {names(e["inputs"])[0] for e in checks} == judged
    assert all(names(e["outputs"]) == [reports] for e in checks)
    # The gate failed: its FAIL event still names the report it read.
    gate = task_event(events, "labelbridge_compliance.gate", "FAIL")
    assert names(gate["inputs"]) == [reports]
    assert_no_secret(events, SIGNATURE, "AKIAIOSFODNN7EXAMPLE")


def test_label_studio_jobs_name_the_project_by_its_server_and_id(
    new_store: StoreFactory, db_with_password: str, connection: Any, tmp_path: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch, lineage_events: Events,
) -> None:
    from labelbridge.cli import main

    store = new_store(Cloud.S3)
    store.write("img/a.png", b"a")
    config, title = write_config(tmp_path, store.bucket)
    assert main(["sync", "src", "--config", str(config), "--dsn", db_with_password]) == 0
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(config))

    assert load_dag("label_studio.py", "labelbridge_label_studio_birds").test().state == "success"

    events = lineage_events()
    (project,) = connection.projects_titled(title)
    server = urllib.parse.urlsplit(connection.url)
    label_studio = (f"{server.scheme}://{server.hostname}:{server.port}", f"projects/{project['id']}")
    push = task_event(events, "labelbridge_label_studio_birds.push")
    assert names(push["inputs"]) == table_names(db_with_password, "task", "task_url")
    assert names(push["outputs"]) == [label_studio]
    assert push["run"]["facets"]["labelbridge"]["counts"]["imported"] == 1
    renew = task_event(events, "labelbridge_label_studio_birds.renew")
    assert names(renew["outputs"]) == [label_studio]
    pull = task_event(events, "labelbridge_label_studio_birds.pull")
    assert (names(pull["inputs"]), names(pull["outputs"])) == ([label_studio],
                                                               table_names(db_with_password, "annotation"))
    assert_no_secret(events, connection._token)


def test_label_studio_project_is_named_by_its_server_and_id() -> None:
    dataset = label_studio_dataset("http://127.0.0.1:8080/", 7)
    assert (dataset.namespace, dataset.name) == ("http://127.0.0.1:8080", "projects/7")
    # Behind a path (a reverse proxy), and a host without scheme as a connection may hold it.
    assert label_studio_dataset("https://tools.example.com/label-studio/", 3).namespace == (
        "https://tools.example.com/label-studio")
    assert label_studio_dataset("ls.internal:8080", 3).namespace == "http://ls.internal:8080"
    assert urllib.parse.urlsplit(label_studio_dataset("https://u:p@h", 1).namespace).password is None


# The bundled deployment ------------------------------------------------------------------------


def test_stack_and_compose_configs_are_read_by_the_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.openlineage import conf
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter

    from devservices import stack

    settings = stack.StackSettings.from_env(state_dir=tmp_path, environ={})
    stack.write_openlineage_config(settings)
    env = stack.shared_env(settings, secrets=stack.Secrets.generate(), server_dsn="postgresql://postgres@h:5432/p")
    read = {}
    for path in (env["AIRFLOW__OPENLINEAGE__CONFIG_PATH"], str(DAGS.parent / "config" / "openlineage.yml")):
        monkeypatch.setenv("AIRFLOW__OPENLINEAGE__CONFIG_PATH", path)
        _clear(conf)
        assert not conf.is_disabled()
        read[path] = OpenLineageAdapter().get_openlineage_config()
    _clear(conf)

    assert list(read.values()) == [
        {"transport": {"type": "file", "log_file_path": str(settings.openlineage_events), "append": True}},
        {"transport": {"type": "file", "log_file_path": "/opt/airflow/logs/openlineage-events.jsonl", "append": True}},
    ]
    assert settings.openlineage_events.parent.is_dir()  # the file transport creates no folder
