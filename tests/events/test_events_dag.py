"""The events DAG and operator: the storage's Asset is watched by the provider's SQS trigger (which
deletes nothing), a batch it yields reaches the task as the asset event's extra, and a run by hand
drains the queue; all with dag.test() or the operator against moto_server and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.dag_processing.dagbag import DagBag

from labelbridge.config import Cloud
from labelbridge.hooks.event_queues import event_queue
from labelbridge.operators.events import S3EventSyncOperator
from tests.conftest import StoreFactory
from tests.events.test_s3_events import _sqs, _subscribed, _visible
from tests.sync.helpers import rows

EVENT_DAGS = Path(__file__).resolve().parents[2] / "dags" / "events.py"

pytestmark = pytest.mark.usefixtures("airflow_db")


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bucket: str, queue_url: str) -> None:
    config = tmp_path / "storages.yaml"
    config.write_text(
        "projects: [{name: p}]\nstorages:\n"
        f"  - {{name: pics, project: p, cloud: s3, bucket: {bucket}, events: {{queue: '{queue_url}'}}}}\n"
        f"  - {{name: plain, project: p, cloud: s3, bucket: {bucket}}}\n"
    )
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(config))


def test_only_storages_with_events_get_a_dag_scheduled_on_their_watched_asset(
    new_store: StoreFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(Cloud.S3)
    _, queue = _subscribed(store)
    _config(tmp_path, monkeypatch, store.bucket, queue.events.queue)

    bag = DagBag(dag_folder=str(EVENT_DAGS))

    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {"labelbridge_events_pics"}
    dag = bag.get_dag("labelbridge_events_pics")
    (asset,) = dag.timetable.asset_condition.objects
    (watcher,) = asset.watchers
    classpath, kwargs = watcher.trigger.serialize()
    # The amazon provider's trigger, in the triggerer: acknowledging is left to the task, after its commit.
    assert classpath == "airflow.providers.amazon.aws.triggers.sqs.SqsSensorTrigger"
    assert (kwargs["sqs_queue"], kwargs["delete_message_on_reception"]) == (queue.events.queue, False)


def test_the_task_syncs_the_triggering_batch_then_deletes_its_messages(
    new_store: StoreFactory, labeling_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(Cloud.S3)
    storage, queue = _subscribed(store)
    _config(tmp_path, monkeypatch, store.bucket, queue.events.queue)
    _sqs().purge_queue(QueueUrl=queue.events.queue)  # the configuration's test event
    store.write("new.jpg", b"x")

    async def first() -> Any:
        async for event in queue.trigger(poll_seconds=1).run():
            return event

    payload = json.loads(json.dumps(asyncio.run(first()).payload, default=str))
    # What Trigger.submit_event registers for the watched asset, as the run's triggering event.
    asset_event = SimpleNamespace(extra={"from_trigger": True, "payload": payload})
    operator = S3EventSyncOperator(task_id="sync_events", storage="pics")
    counts = operator.execute({"run_id": "asset_triggered__1", "triggering_asset_events": {"a": [asset_event]}})

    assert (counts["messages"], counts["inserted"]) == (1, 1)
    assert rows(labeling_dsn, "SELECT uri FROM task") == [(f"s3://{store.bucket}/new.jpg",)]
    assert rows(labeling_dsn, "SELECT run_id, status FROM sync_run") == [("asset_triggered__1", "success")]
    assert _visible(event_queue(storage)) == 0


def test_a_run_by_hand_drains_the_queue(
    new_store: StoreFactory, labeling_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(Cloud.S3)
    _, queue = _subscribed(store)
    _config(tmp_path, monkeypatch, store.bucket, queue.events.queue)
    for key in ("a.jpg", "b.jpg", "c.jpg"):
        store.write(key, b"x")
    dag = DagBag(dag_folder=str(EVENT_DAGS)).get_dag("labelbridge_events_pics")

    run = dag.test()

    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"sync_events": "success"}
    assert rows(labeling_dsn, "SELECT count(*) FROM task WHERE deleted_at IS NULL") == [(3,)]
    assert _visible(queue) == 0
