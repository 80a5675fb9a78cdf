"""The queues a bucket's object events arrive on: one small class per cloud, over its official hook or SDK.

Each class says three things: the trigger an ``AssetWatcher`` runs in the triggerer (waiting costs
no worker slot: common-messaging's ``MessageQueueTrigger`` for SQS and Pub/Sub, our
:class:`StorageQueueTrigger` for an Azure Storage Queue, which no provider watches), how the
messages in that trigger's event payload are read, and how they are received and acknowledged
from a worker or the CLI. Triggers never acknowledge: messages are deleted only after the keyed
sync committed, so a crash means redelivery (a duplicate, which the sync ignores), never a loss.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from labelbridge.config import Cloud, EventsConfig, LabelbridgeConfig, StorageConfig
from labelbridge.storage import ObjectStore
from labelbridge.sync.events import (
    EventFormatError,
    ObjectEvent,
    parse_azure_message,
    parse_gcs_message,
    parse_s3_message,
)
from labelbridge.sync.keyed import EventCounts, sync_keys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueueMessage:
    """One message as received: what the parser reads and what acknowledging it needs."""

    id: str
    body: str
    receipt: str
    attributes: Mapping[str, str] = field(default_factory=dict)


class EventQueue(ABC):
    """The event queue of one storage (``storage.events``)."""

    cloud: ClassVar[Cloud]
    #: The key of the message list in the trigger's event payload.
    payload_key: ClassVar[str]

    def __init__(self, storage: StorageConfig) -> None:
        if storage.events is None:
            raise ValueError(f"storage {storage.name} has no events section")
        self.storage = storage
        self.events: EventsConfig = storage.events

    @property
    def conn_id(self) -> str:
        return self.events.conn_id or self.default_conn_id()

    def default_conn_id(self) -> str:
        return self.storage.conn_id

    @abstractmethod
    def trigger(self, *, poll_seconds: float = 1.0) -> BaseEventTrigger:
        """The trigger an AssetWatcher runs; it yields when messages arrive and acknowledges none."""

    @abstractmethod
    def parse(self, message: QueueMessage) -> list[ObjectEvent]:
        """The object events of one message (raises EventFormatError for a foreign one)."""

    @abstractmethod
    def from_payload(self, item: Mapping[str, Any]) -> QueueMessage:
        """One message of the trigger's event payload."""

    @abstractmethod
    def receive(self, max_messages: int) -> list[QueueMessage]:
        """Up to ``max_messages`` messages, hidden for the visibility timeout; ``[]`` when none is waiting."""

    @abstractmethod
    def ack(self, messages: list[QueueMessage]) -> None:
        """Delete (acknowledge) these messages: only after their events were committed."""

    def messages_of(self, payload: Mapping[str, Any]) -> list[QueueMessage]:
        """The messages of one trigger event's payload (an asset event's ``extra["payload"]``)."""
        return [self.from_payload(item) for item in payload.get(self.payload_key) or []]


class SqsEventQueue(EventQueue):
    """S3 event notifications (or an EventBridge rule) delivered to an SQS queue."""

    cloud = Cloud.S3
    payload_key = "message_batch"

    def trigger(self, *, poll_seconds: float = 1.0) -> BaseEventTrigger:
        from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

        # Short polls (one per poll_seconds while the queue is empty, as waiter_delay), several
        # receives of 10 per yield: a busy queue hands over up to max_messages at once, and a quiet
        # one no message later than poll_seconds. A long poll would hold each empty receive.
        return MessageQueueTrigger(
            scheme="sqs", sqs_queue=self.events.queue, aws_conn_id=self.conn_id, max_messages=10,
            num_batches=max(1, -(-self.events.max_messages // 10)), wait_time_seconds=0,
            visibility_timeout=self.events.visibility_timeout, delete_message_on_reception=False,
            waiter_delay=max(1, round(poll_seconds)),
        )

    def parse(self, message: QueueMessage) -> list[ObjectEvent]:
        return parse_s3_message(message.body)

    def from_payload(self, item: Mapping[str, Any]) -> QueueMessage:
        return QueueMessage(str(item["MessageId"]), str(item["Body"]), str(item["ReceiptHandle"]))

    @cached_property
    def client(self) -> Any:
        from airflow.providers.amazon.aws.hooks.sqs import SqsHook

        return SqsHook(aws_conn_id=self.conn_id).get_conn()

    def receive(self, max_messages: int) -> list[QueueMessage]:
        response = self.client.receive_message(
            QueueUrl=self.events.queue, MaxNumberOfMessages=min(max_messages, 10), WaitTimeSeconds=0,
            VisibilityTimeout=self.events.visibility_timeout,
        )
        return [self.from_payload(m) for m in response.get("Messages", [])]

    def ack(self, messages: list[QueueMessage]) -> None:
        client = self.client
        for start in range(0, len(messages), 10):  # SQS deletes at most 10 per call
            chunk = messages[start : start + 10]
            response = client.delete_message_batch(
                QueueUrl=self.events.queue,
                Entries=[{"Id": str(i), "ReceiptHandle": m.receipt} for i, m in enumerate(chunk)],
            )
            if response.get("Failed"):
                # Not fatal: the message comes back after its visibility timeout, as a duplicate.
                raise RuntimeError(f"SQS did not delete {len(response['Failed'])} of {len(chunk)} messages: "
                                   f"{[f.get('Code') for f in response['Failed']]}")


class PubSubEventQueue(EventQueue):
    """GCS Pub/Sub notifications, read from a pull subscription."""

    cloud = Cloud.GCS
    payload_key = "message"

    def trigger(self, *, poll_seconds: float = 1.0) -> BaseEventTrigger:
        from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

        return MessageQueueTrigger(
            scheme="google+pubsub", project_id=self.project_id, subscription=self.subscription,
            max_messages=self.events.max_messages, ack_messages=False, gcp_conn_id=self.conn_id,
            poke_interval=poll_seconds,
        )

    @property
    def project_id(self) -> str:
        """From the config alone (validated: project_id or a full subscription path): the DAG file reads it."""
        return self.events.project_id or self.events.queue.split("/")[1]

    @property
    def subscription(self) -> str:
        return self.events.queue.rsplit("/", 1)[-1]

    def parse(self, message: QueueMessage) -> list[ObjectEvent]:
        return parse_gcs_message(message.attributes, message.body)

    def from_payload(self, item: Mapping[str, Any]) -> QueueMessage:
        # ReceivedMessage.to_dict(): the data is base64 text, as the REST API gives it.
        message = item["message"]
        return QueueMessage(str(message.get("message_id", "")), str(message.get("data") or ""),
                            str(item["ack_id"]), dict(message.get("attributes") or {}))

    def _hook(self) -> Any:
        from airflow.providers.google.cloud.hooks.pubsub import PubSubHook

        return PubSubHook(gcp_conn_id=self.conn_id)

    def receive(self, max_messages: int) -> list[QueueMessage]:
        received = self._hook().pull(
            subscription=self.subscription, max_messages=max_messages, project_id=self.project_id,
            return_immediately=True,
        )
        return [
            QueueMessage(m.message.message_id, base64.b64encode(m.message.data).decode(), m.ack_id,
                         dict(m.message.attributes))
            for m in received
        ]

    def ack(self, messages: list[QueueMessage]) -> None:
        if messages:
            self._hook().acknowledge(subscription=self.subscription, project_id=self.project_id,
                                     ack_ids=[m.receipt for m in messages])


class StorageQueueEventQueue(EventQueue):
    """Azure Event Grid blob events delivered to a Storage Queue of the storage's account."""

    cloud = Cloud.AZURE
    payload_key = "messages"

    def trigger(self, *, poll_seconds: float = 1.0) -> BaseEventTrigger:
        return StorageQueueTrigger(
            queue=self.events.queue, conn_id=self.conn_id, max_messages=self.events.max_messages,
            visibility_timeout=self.events.visibility_timeout, poll_seconds=poll_seconds,
        )

    def parse(self, message: QueueMessage) -> list[ObjectEvent]:
        return parse_azure_message(message.body)

    def from_payload(self, item: Mapping[str, Any]) -> QueueMessage:
        return QueueMessage(str(item["id"]), str(item["content"]), str(item["pop_receipt"]))

    def receive(self, max_messages: int) -> list[QueueMessage]:
        with storage_queue_client(self.conn_id, self.events.queue) as client:
            received = client.receive_messages(
                messages_per_page=min(max_messages, 32), max_messages=max_messages,
                visibility_timeout=self.events.visibility_timeout,
            )
            return [QueueMessage(m.id, m.content, m.pop_receipt) for m in received]

    def ack(self, messages: list[QueueMessage]) -> None:
        with storage_queue_client(self.conn_id, self.events.queue) as client:
            for m in messages:
                client.delete_message(m.id, m.receipt)


def _queue_credentials(conn_id: str) -> tuple[str | None, str, str | None]:
    """(connection string, account URL, key) of an Azure connection, for the queue service."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    connection_string = extra.get("queue_connection_string") or extra.get("connection_string")
    if connection_string:
        return str(connection_string), "", None
    account = conn.login or ""
    return None, f"https://{account}.queue.core.windows.net", conn.password


def storage_queue_client(conn_id: str, queue: str, *, aio: bool = False) -> Any:
    """A QueueClient (``aio``: the async one) from an Airflow Azure connection: a connection string
    (``queue_connection_string`` or ``connection_string`` in its extra), else account name and key."""
    if aio:
        from azure.storage.queue.aio import QueueClient
    else:
        from azure.storage.queue import QueueClient  # type: ignore[assignment]
    connection_string, account_url, key = _queue_credentials(conn_id)
    if connection_string:
        return QueueClient.from_connection_string(connection_string, queue)
    return QueueClient(account_url, queue, credential=key)


class StorageQueueTrigger(BaseEventTrigger):
    """Wait in the triggerer for messages on an Azure Storage Queue; yield them without deleting them.

    Long polling does not exist for Storage Queues: the trigger receives, and sleeps
    ``poll_seconds`` (asyncio, not a thread) while the queue is empty. Received messages stay
    hidden for ``visibility_timeout`` seconds; the DAG run deletes them after its commit.
    """

    def __init__(self, *, queue: str, conn_id: str, max_messages: int = 32, visibility_timeout: int = 300,
                 poll_seconds: float = 1.0) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.queue_name = queue
        self.conn_id = conn_id
        self.max_messages = max_messages
        self.visibility_timeout = visibility_timeout
        self.poll_seconds = poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}", {
            "queue": self.queue_name, "conn_id": self.conn_id, "max_messages": self.max_messages,
            "visibility_timeout": self.visibility_timeout, "poll_seconds": self.poll_seconds,
        })

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from asgiref.sync import sync_to_async

        # Reading the Airflow connection is a synchronous DB/secrets call: off the event loop.
        make_client: Callable[[], Any] = lambda: storage_queue_client(self.conn_id, self.queue_name, aio=True)  # noqa: E731
        client = await sync_to_async(make_client)()
        async with client:
            while True:
                messages = []
                async for m in client.receive_messages(
                    messages_per_page=min(self.max_messages, 32), max_messages=self.max_messages,
                    visibility_timeout=self.visibility_timeout,
                ):
                    messages.append({"id": m.id, "pop_receipt": m.pop_receipt, "content": m.content})
                if messages:
                    yield TriggerEvent({"status": "success", "messages": messages})  # type: ignore[no-untyped-call]
                    return
                await asyncio.sleep(self.poll_seconds)


EVENT_QUEUES: dict[Cloud, type[EventQueue]] = {
    q.cloud: q for q in (SqsEventQueue, PubSubEventQueue, StorageQueueEventQueue)
}


def event_queue(storage: StorageConfig) -> EventQueue:
    """The event queue of a storage with an ``events`` section."""
    return EVENT_QUEUES[storage.cloud](storage)


def sync_messages(
    queue: EventQueue,
    messages: list[QueueMessage],
    *,
    dsn: str,
    store: ObjectStore,
    config: LabelbridgeConfig,
    run_id: str = "events",
    conn: Any = None,
) -> EventCounts:
    """Sync the objects these messages name, commit, then acknowledge every message.

    A message that is not an object event of this cloud is logged (its id and why, never its
    content) and acknowledged too: redelivering it would fail the same way forever, and the next
    scheduled listing catches whatever it may have meant.
    """
    storage = queue.storage
    events: list[ObjectEvent] = []
    bad = 0
    for message in messages:
        try:
            events.extend(queue.parse(message))
        except EventFormatError as exc:
            bad += 1
            log.warning("storage %s: event message %s skipped: %s", storage.name, message.id, exc)
    counts = sync_keys(
        dsn, store, storage=storage, events=events, project=config.projects.get(storage.project),
        exclude_prefixes=config.excluded_prefixes(storage), run_id=run_id, conn=conn,
    )
    counts.messages, counts.bad_messages = len(messages), bad
    queue.ack(messages)  # after the commit: a crash before it means redelivery, not loss
    return counts


def drain(
    queue: EventQueue, *, dsn: str, store: ObjectStore, config: LabelbridgeConfig, limit: int | None = None,
    run_id: str = "events-drain",
) -> EventCounts:
    """Receive and sync batches until the queue has nothing visible (or ``limit`` messages were taken)."""
    from labelbridge.db import connect

    total = EventCounts()
    taken = 0
    with connect(dsn) as conn:
        while limit is None or taken < limit:
            want = queue.events.max_messages if limit is None else min(queue.events.max_messages, limit - taken)
            messages = queue.receive(want)
            if not messages:
                break
            taken += len(messages)
            counts = sync_messages(queue, messages, dsn=dsn, store=store, config=config, run_id=run_id, conn=conn)
            total.absorb(counts)
    return total
