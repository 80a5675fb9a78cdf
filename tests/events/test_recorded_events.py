"""Events the emulators cannot send, in their documented format (each fixture names its page):
EventBridge's S3 envelope through moto's SQS, GCS Pub/Sub notifications straight into the parser
(fake-gcs-server can publish, but no Pub/Sub emulator runs here), Azure Event Grid messages
through Azurite's own Storage Queue service and our trigger. Objects are real emulator objects."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import devservices
from labelbridge.config import Cloud
from labelbridge.hooks.event_queues import StorageQueueEventQueue, drain, event_queue, sync_messages
from labelbridge.sync.events import EventFormatError, parse_azure_message, parse_gcs_message
from labelbridge.sync.keyed import sync_keys
from tests.conftest import StoreFactory
from tests.events.test_s3_events import _config, _sqs, _subscribed, _tasks
from tests.sync.helpers import rows, storage_for, sync

FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.usefixtures("services")


def fixture(name: str, section: str, **fill: str) -> Any:
    text = json.dumps(json.loads((FIXTURES / name).read_text())[section])
    for placeholder, value in fill.items():
        text = text.replace("{" + placeholder + "}", value)
    return json.loads(text)


# S3 through EventBridge ----------------------------------------------------------------------


def test_eventbridge_envelope_through_sqs(labeling_dsn: str, new_store: StoreFactory) -> None:
    store = new_store(Cloud.S3)
    storage, queue = _subscribed(store)
    _sqs().purge_queue(QueueUrl=queue.events.queue)
    store.write("eb/k.jpg", b"hello")
    etag = next(store.iter_objects()).etag or ""
    event = fixture("s3_eventbridge_object_created.json", "event", bucket=store.bucket, key="eb/k.jpg", etag=etag,
                    sequencer="0062E99A88DC407460")
    _sqs().send_message(QueueUrl=queue.events.queue, MessageBody=json.dumps(event))

    counts = drain(queue, dsn=labeling_dsn, store=store, config=_config(storage))

    assert counts.inserted == 1
    assert sync(labeling_dsn, store, storage).unchanged == 1  # the listing agrees with what the event wrote


# GCS -----------------------------------------------------------------------------------------


def _gcs_message(section: str, bucket: str, key: str, generation: int, newer: int = 0) -> list[Any]:
    recorded = fixture("gcs_pubsub_notifications.json", section, bucket=bucket, object=key,
                       generation=str(generation), newer=str(newer))
    data = base64.b64encode(json.dumps(recorded["data"]).encode()).decode()  # as Pub/Sub delivers it
    return parse_gcs_message(recorded["attributes"], data)


def test_gcs_notifications_overwrite_out_of_order_then_delete(labeling_dsn: str, new_store: StoreFactory) -> None:
    store = new_store(Cloud.GCS)
    storage = storage_for(store)
    bucket = store.client.bucket(store.bucket)

    def apply(*events: Any) -> Any:
        return sync_keys(labeling_dsn, store, storage=storage, events=[e for batch in events for e in batch])

    store.write("a.jpg", b"one")
    first = int(bucket.get_blob("a.jpg").generation)
    assert apply(_gcs_message("finalize", store.bucket, "a.jpg", first)).inserted == 1

    store.write("a.jpg", b"two")  # overwrite: a new generation
    second = int(bucket.get_blob("a.jpg").generation)
    # The new generation's finalize first, the old one's "deleted, overwritten" after: not a deletion.
    counts = apply(_gcs_message("finalize", store.bucket, "a.jpg", second),
                   _gcs_message("overwritten", store.bucket, "a.jpg", first, newer=second))
    assert (counts.updated, counts.deleted) == (1, 0)
    assert rows(labeling_dsn, "SELECT object_version, deleted_at IS NULL FROM task") == [(str(second), True)]
    assert sync(labeling_dsn, store, storage).unchanged == 1

    store.delete("a.jpg")
    assert apply(_gcs_message("deleted", store.bucket, "a.jpg", second)).deleted == 1
    # A redelivered finalize of either generation is older than the delete: no resurrection.
    counts = apply(_gcs_message("finalize", store.bucket, "a.jpg", second),
                   _gcs_message("finalize", store.bucket, "a.jpg", first))
    assert (counts.stale, counts.restored) == (2, 0)
    assert _tasks(labeling_dsn) == [(f"gs://{store.bucket}/a.jpg", True)]


def test_gcs_message_without_its_attributes_is_refused_clearly() -> None:
    with pytest.raises(EventFormatError, match="objectGeneration"):
        parse_gcs_message({"eventType": "OBJECT_FINALIZE", "bucketId": "b", "objectId": "k"})


# Azure: Event Grid -> Storage Queue (Azurite's queue service) -> our trigger -----------------


@pytest.fixture(scope="module")
def azurite_queue() -> Iterator[str]:
    """Azurite's Storage Queue service; its connection string."""
    port = devservices.free_port()
    binary = Path(devservices.azurite_binary()).with_name("azurite-queue")
    process = devservices._spawn([
        shutil.which("node") or "node", str(binary), "--queueHost", "127.0.0.1", "--queuePort", str(port),
        "--skipApiVersionCheck", "--loose", "--silent", "--inMemoryPersistence",
    ])
    try:
        devservices.wait_until(lambda: devservices.port_open(port), what="azurite-queue", process=process)
        yield (f"DefaultEndpointsProtocol=http;AccountName={devservices.AZURITE_ACCOUNT};"
               f"AccountKey={devservices.AZURITE_KEY};"
               f"QueueEndpoint=http://127.0.0.1:{port}/{devservices.AZURITE_ACCOUNT};")
    finally:
        process.terminate()
        process.wait(10)


def _event_grid(section: str, container: str, blob: str, sequencer: str, etag: str = "0x8D4BCC2E4835CD0") -> str:
    events = fixture("azure_event_grid_blob_events.json", section, container=container, blob=blob,
                     sequencer=sequencer)
    events[0]["data"]["eTag"] = etag
    return base64.b64encode(json.dumps(events).encode()).decode()  # Event Grid base64-encodes queue messages


def test_azure_event_grid_through_a_storage_queue_and_the_trigger(
    labeling_dsn: str, new_store: StoreFactory, azurite_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.storage.queue import QueueClient

    monkeypatch.setenv("AIRFLOW_CONN_AZURE_EVENTS", json.dumps(
        {"conn_type": "wasb", "extra": {"connection_string": azurite_queue}}))
    name = f"lb-{uuid.uuid4().hex[:12]}"
    sender = QueueClient.from_connection_string(azurite_queue, name)
    sender.create_queue()
    store = new_store(Cloud.AZURE)
    storage = storage_for(store, events={"queue": name, "conn_id": "azure_events"})
    queue = event_queue(storage)
    assert isinstance(queue, StorageQueueEventQueue)
    config = _config(storage)
    store.write("x/cat.jpg", b"meow")
    etag = next(store.iter_objects()).etag or ""

    sender.send_message(_event_grid("created", store.bucket, "x/cat.jpg", "0000000000000442000000000002896a", etag))

    async def first() -> Any:
        async for event in queue.trigger(poll_seconds=0.2).run():
            return event

    payload = asyncio.run(first()).payload
    counts = sync_messages(queue, queue.messages_of(payload), dsn=labeling_dsn, store=store, config=config)
    assert counts.inserted == 1
    assert sync(labeling_dsn, store, storage).unchanged == 1

    # Delete, then the create redelivered (a lower sequencer), then an unrelated message.
    sender.send_message(_event_grid("deleted", store.bucket, "x/cat.jpg", "0000000000000442000000000002896f"))
    sender.send_message(_event_grid("created", store.bucket, "x/cat.jpg", "0000000000000442000000000002896a", etag))
    sender.send_message(base64.b64encode(b"[{\"eventType\": \"Microsoft.Storage.BlobTierChanged\"}]").decode())
    counts = drain(queue, dsn=labeling_dsn, store=store, config=config)
    assert (counts.messages, counts.deleted, counts.stale, counts.restored) == (3, 1, 1, 0)
    assert _tasks(labeling_dsn) == [(f"azure-blob://{store.bucket}/x/cat.jpg", True)]
    assert sender.get_queue_properties().approximate_message_count == 0


def test_azure_subject_that_names_no_blob_is_refused_clearly() -> None:
    bad = json.dumps([{"eventType": "Microsoft.Storage.BlobCreated", "subject": "/blobServices/default/containers/c",
                       "data": {"sequencer": "01"}}])
    with pytest.raises(EventFormatError, match="does not name a container and blob"):
        parse_azure_message(bad)


def test_fixture_pages_are_named() -> None:
    for path in FIXTURES.glob("*.json"):
        assert json.loads(path.read_text())["_source"].startswith("https://"), path.name


def test_the_pubsub_triggers_payload_is_read_as_pulled(labeling_dsn: str, new_store: StoreFactory) -> None:
    """PubsubPullTrigger yields ``ReceivedMessage.to_dict(m)`` per message: read back to the same event."""
    from google.cloud.pubsub_v1.types import PubsubMessage, ReceivedMessage

    store = new_store(Cloud.GCS)
    store.write("p.jpg", b"one")
    generation = int(store.client.bucket(store.bucket).get_blob("p.jpg").generation)
    recorded = fixture("gcs_pubsub_notifications.json", "finalize", bucket=store.bucket, object="p.jpg",
                       generation=str(generation))
    pulled = ReceivedMessage(ack_id="ack-1", message=PubsubMessage(
        data=json.dumps(recorded["data"]).encode(), attributes=recorded["attributes"], message_id="m-1"))
    storage = storage_for(store, events={"queue": "images-sub", "project_id": "proj"})
    queue = event_queue(storage)
    payload = json.loads(json.dumps({"status": "success", "message": [ReceivedMessage.to_dict(pulled)]}))

    (message,) = queue.messages_of(payload)
    assert (message.id, message.receipt) == ("m-1", "ack-1")
    counts = sync_keys(labeling_dsn, store, storage=storage, events=queue.parse(message))
    assert counts.inserted == 1
    assert sync(labeling_dsn, store, storage).unchanged == 1


def test_task_files_mode_parses_the_file_an_event_names(labeling_dsn: str, new_store: StoreFactory) -> None:
    store = new_store(Cloud.S3)
    storage, queue = _subscribed(store, mode="task_files")
    store.write("t/a.json", json.dumps([{"data": {"text": "one"}}, {"data": {"text": "two"}}]).encode())
    counts = drain(queue, dsn=labeling_dsn, store=store, config=_config(storage))
    assert counts.inserted == 2
    store.delete("t/a.json")
    assert drain(queue, dsn=labeling_dsn, store=store, config=_config(storage)).deleted == 2
    assert rows(labeling_dsn, "SELECT count(*) FROM task WHERE deleted_at IS NULL") == [(0,)]
