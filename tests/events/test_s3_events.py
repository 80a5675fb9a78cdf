"""S3 bucket events end to end on moto: PUT/DELETE -> S3 notification -> SQS -> the amazon provider's
trigger (as the triggerer runs it) -> keyed sync -> tasks in the labeling DB -> messages deleted."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from labelbridge.config import Cloud, ComplianceConfig, LabelbridgeConfig, StorageConfig
from labelbridge.hooks.event_queues import EventQueue, SqsEventQueue, drain, event_queue, sync_messages
from labelbridge.storage import ObjectStore
from tests.conftest import StoreFactory
from tests.sync.helpers import configured, rows, storage_for

pytestmark = pytest.mark.usefixtures("services")


def _sqs() -> Any:
    from airflow.providers.amazon.aws.hooks.sqs import SqsHook

    return SqsHook(aws_conn_id="aws_default").get_conn()


def _subscribed(store: ObjectStore, **overrides: Any) -> tuple[StorageConfig, SqsEventQueue]:
    """A queue receiving the bucket's created/removed notifications, and a storage reading it."""
    sqs = _sqs()
    url = sqs.create_queue(QueueName=f"lb-events-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    store.client.put_bucket_notification_configuration(
        Bucket=store.bucket,
        NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
        ]},
    )
    storage = storage_for(store, events={"queue": url, "visibility_timeout": 30}, **overrides)
    queue = event_queue(storage)
    assert isinstance(queue, SqsEventQueue)
    return storage, queue


def _config(storage: StorageConfig) -> LabelbridgeConfig:
    return LabelbridgeConfig(Path("storages.yaml"), {}, {storage.name: storage}, {}, ComplianceConfig())


def _trigger_batch(queue: EventQueue) -> list[Any]:
    """Run the AssetWatcher's trigger until it yields once, as the triggerer would; its messages."""

    async def first() -> Any:
        async for event in queue.trigger(poll_seconds=1).run():
            return event

    event = asyncio.run(first())
    # What reaches the DAG run: the asset event's extra {"from_trigger": True, "payload": event.payload}.
    return queue.messages_of(json.loads(json.dumps(event.payload, default=str)))


def _tasks(dsn: str) -> list[tuple[str, bool]]:
    return [(u, d) for u, d in rows(dsn, "SELECT uri, deleted_at IS NOT NULL FROM task ORDER BY uri")]


def _visible(queue: SqsEventQueue) -> int:
    attrs = _sqs().get_queue_attributes(QueueUrl=queue.events.queue,
                                        AttributeNames=["ApproximateNumberOfMessages",
                                                        "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_put_becomes_a_task_and_delete_soft_deletes_it(labeling_dsn: str, new_store: StoreFactory) -> None:
    store = new_store(Cloud.S3)
    storage, queue = _subscribed(store)
    config = _config(storage)
    # The test event S3 sends on configuration is no object event: it changes nothing.
    drain(queue, dsn=labeling_dsn, store=store, config=config)

    store.write("img/a b+c.jpg", b"x")  # a key S3 URL-encodes in notifications
    messages = _trigger_batch(queue)
    counts = sync_messages(queue, messages, dsn=labeling_dsn, store=store, config=config)
    assert (counts.inserted, counts.events) == (1, 1)
    assert _tasks(labeling_dsn) == [(f"s3://{store.bucket}/img/a b+c.jpg", False)]
    assert _visible(queue) == 0  # acknowledged after the commit

    store.delete("img/a b+c.jpg")
    counts = sync_messages(queue, _trigger_batch(queue), dsn=labeling_dsn, store=store, config=config)
    assert counts.deleted == 1
    assert _tasks(labeling_dsn) == [(f"s3://{store.bucket}/img/a b+c.jpg", True)]


def test_a_task_made_by_an_event_is_unchanged_for_the_next_listing(
    labeling_dsn: str, new_store: StoreFactory
) -> None:
    from tests.sync.helpers import sync

    store = new_store(Cloud.S3)
    storage, queue = _subscribed(store)
    config = _config(storage)
    store.write("a.jpg", b"xyz")
    drain(queue, dsn=labeling_dsn, store=store, config=config)
    listed = sync(labeling_dsn, store, storage)
    assert (listed.listed, listed.unchanged, listed.inserted, listed.updated) == (1, 1, 0, 0)


def _record(bucket: str, key: str, name: str, sequencer: str, etag: str = "0123456789abcdef") -> str:
    """One notification as S3 writes it (docs.aws.amazon.com/AmazonS3/latest/userguide/
    notification-content-structure.html), with the sequencer moto leaves out."""
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-12-04T05:00:00.000Z", "eventName": name,
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "lb",
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": key, "size": 3, "eTag": etag, "sequencer": sequencer}},
    }]})


def test_duplicate_and_out_of_order_messages_neither_duplicate_nor_resurrect(
    labeling_dsn: str, new_store: StoreFactory
) -> None:
    store = new_store(Cloud.S3)
    storage, queue = _subscribed(store)
    config = _config(storage)
    drain(queue, dsn=labeling_dsn, store=store, config=config)
    sqs, url, b = _sqs(), queue.events.queue, store.bucket

    def send(*bodies: str) -> Any:
        for body in bodies:
            sqs.send_message(QueueUrl=url, MessageBody=body)
        return drain(queue, dsn=labeling_dsn, store=store, config=config)

    put = _record(b, "k.jpg", "ObjectCreated:Put", "0055AED6DCD90281E5")
    counts = send(put, put)  # delivered twice
    assert (counts.inserted, counts.stale) == (1, 1)
    assert rows(labeling_dsn, "SELECT count(*) FROM task")[0][0] == 1

    # The delete (sequencer longer but greater once left-padded) arrives, then a late duplicate of the put.
    send(_record(b, "k.jpg", "ObjectRemoved:Delete", "00055AED6DCD90281F0"))
    counts = send(put)
    assert (counts.stale, counts.restored, counts.inserted) == (1, 0, 0)
    assert _tasks(labeling_dsn) == [(f"s3://{b}/k.jpg", True)]

    # A newer put (re-upload) restores the task, with the new version.
    counts = send(_record(b, "k.jpg", "ObjectCreated:Put", "0055AED6DCD9028300", etag="feedbeef"))
    assert counts.restored == 1
    assert rows(labeling_dsn, "SELECT object_version, deleted_at IS NULL FROM task") == [("feedbeef", True)]


def test_a_bad_message_is_skipped_and_the_rest_of_the_batch_synced(
    labeling_dsn: str, new_store: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    store = new_store(Cloud.S3)
    storage, queue = _subscribed(store)
    config = _config(storage)
    drain(queue, dsn=labeling_dsn, store=store, config=config)
    sqs = _sqs()
    sqs.send_message(QueueUrl=queue.events.queue, MessageBody="not json at all, secret=abc")
    sqs.send_message(QueueUrl=queue.events.queue,
                     MessageBody=_record(store.bucket, "ok.jpg", "ObjectCreated:Put", "01"))
    sqs.send_message(QueueUrl=queue.events.queue,
                     MessageBody=_record("another-bucket", "x.jpg", "ObjectCreated:Put", "01"))
    counts = drain(queue, dsn=labeling_dsn, store=store, config=config)
    assert (counts.messages, counts.bad_messages, counts.inserted, counts.ignored) == (3, 1, 1, 1)
    assert _visible(queue) == 0
    assert "not JSON" in caplog.text and "secret=abc" not in caplog.text


def test_keys_outside_the_storage_prefix_or_pattern_are_ignored(
    labeling_dsn: str, new_store: StoreFactory
) -> None:
    store = new_store(Cloud.S3)
    storage, queue = _subscribed(store, prefix="img/", key_regex=r"\.jpg$")
    config = _config(storage)
    for key in ("img/a.jpg", "img/b.txt", "other/c.jpg", "img/"):
        store.write(key, b"x")
    counts = drain(queue, dsn=labeling_dsn, store=configured(store, storage), config=config)
    assert (counts.inserted, counts.ignored) == (1, 3)


def test_cli_events_drain_applies_what_is_queued(
    labeling_dsn: str, new_store: StoreFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from labelbridge import cli

    monkeypatch.setattr(cli, "_log_to_stderr", lambda verbose: None)
    store = new_store(Cloud.S3)
    _, queue = _subscribed(store)
    config = tmp_path / "storages.yaml"
    config.write_text("projects: [{name: proj}]\nstorages:\n"
                      f"  - {{name: src, project: proj, cloud: s3, bucket: {store.bucket}, "
                      f"events: {{queue: '{queue.events.queue}'}}}}\n"
                      f"  - {{name: quiet, project: proj, cloud: s3, bucket: {store.bucket}}}\n")
    store.write("a.jpg", b"x")
    store.write("b.jpg", b"x")

    assert cli.main(["events", "drain", "src", "--config", str(config), "--json"]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    counts = json.loads(line)
    # S3's configuration test event, then the two puts.
    assert (counts["messages"], counts["bad_messages"], counts["events"], counts["inserted"]) == (3, 0, 2, 2)
    assert _visible(queue) == 0
    assert cli.main(["events", "drain", "quiet", "--config", str(config)]) == 2
    assert "storage 'quiet' has no events section" in capsys.readouterr().err
