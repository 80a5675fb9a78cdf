"""Bucket-event operators: sync the objects that the triggering asset events' messages name.

A storage with an ``events`` section gets an Asset watched by its queue's trigger
(:func:`events_asset`); the triggerer waits on the queue (no worker slot), and each batch of
messages becomes an asset event whose ``extra["payload"]`` carries them. The storage's events
DAG is scheduled on that asset; its task reads the payloads from ``triggering_asset_events``,
syncs just those keys, commits, then deletes the messages. Triggered by hand (no asset event),
it drains what is queued, like ``labelbridge events drain``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from airflow.sdk import Asset, AssetWatcher, Context

from labelbridge.config import Cloud, StorageConfig
from labelbridge.connections import make_store
from labelbridge.hooks.event_queues import QueueMessage, drain, event_queue, sync_messages
from labelbridge.lineage import RunLineage, labeling_db_tables, store_dataset
from labelbridge.operators.base import LabelingDbOperator, PerCloud, by_cloud
from labelbridge.operators.sync import SYNC_TABLES
from labelbridge.storage import AzureBlobStore, GCSStore, S3Store
from labelbridge.sync.keyed import EventCounts

log = logging.getLogger(__name__)


def events_dag_id(storage: str) -> str:
    return f"labelbridge_events_{storage.replace('-', '_')}"


def events_asset(storage: StorageConfig, *, poll_seconds: float = 1.0) -> Asset:
    """The Asset a storage's queue trigger updates, once per batch of messages (its watcher's event)."""
    return Asset(
        name=f"labelbridge-events-{storage.name}",
        uri=f"labelbridge://events/{storage.name}",
        watchers=[AssetWatcher(name=f"labelbridge_events_{storage.name}",
                               trigger=event_queue(storage).trigger(poll_seconds=poll_seconds))],
    )


def payload_messages(storage: StorageConfig, asset_events: Iterable[Any]) -> list[QueueMessage]:
    """The queue messages carried by asset events from a watcher (``extra = {"from_trigger", "payload"}``)."""
    queue = event_queue(storage)
    messages: list[QueueMessage] = []
    for event in asset_events:
        extra = getattr(event, "extra", None) or {}
        if extra.get("from_trigger") and isinstance(extra.get("payload"), dict):
            messages.extend(queue.messages_of(extra["payload"]))
    return messages


class BaseEventSyncOperator(PerCloud, LabelingDbOperator):
    """Sync the objects named by a storage's bucket events (any cloud): the triggering batch, or what is queued.

    :param storage: the storage's name in storages.yaml (it needs an ``events`` section).
    :returns (XCom): counts: messages, events, stale, ignored, inserted, updated, deleted, restored...
        Never keys or message bodies.
    """

    ui_color = "#e3eefa"

    def __init__(self, *, storage: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.storage = storage

    def execute(self, context: Context) -> dict[str, int | float | str]:
        config = self.load_config()
        storage = config.storage(self.storage)
        self.require_cloud(storage, "events")
        queue = event_queue(storage)
        store = make_store(storage)
        run_id = str(context.get("run_id") or "events")
        triggering = context.get("triggering_asset_events") or {}
        asset_events = [event for events in triggering.values() for event in events]
        messages = payload_messages(storage, asset_events)
        dsn = self.labeling_dsn()
        # The same datasets as the storage's sync: its bucket in, the labeling DB's tables out.
        inputs, outputs = (store_dataset(store, storage.prefix),), labeling_db_tables(dsn, *SYNC_TABLES)
        self.lineage = RunLineage("events", inputs, outputs)
        counts: EventCounts
        if messages:
            counts = sync_messages(queue, messages, dsn=dsn, store=store, config=config, run_id=run_id)
        else:
            log.info("No triggering batch: draining the queue of %s", storage.name)
            counts = drain(queue, dsn=dsn, store=store, config=config, run_id=run_id)
        log.info("Events of %s applied: %s", storage.name, counts.summary())
        self.lineage = RunLineage("events", inputs, outputs, details={"storage": storage.name}).with_counts(
            counts.as_dict()
        )
        return counts.as_dict()


class S3EventSyncOperator(BaseEventSyncOperator):
    store_class = S3Store


class GCSEventSyncOperator(BaseEventSyncOperator):
    store_class = GCSStore


class AzureBlobEventSyncOperator(BaseEventSyncOperator):
    store_class = AzureBlobStore


EVENT_SYNC_OPERATORS: dict[Cloud, type[BaseEventSyncOperator]] = by_cloud(
    S3EventSyncOperator, GCSEventSyncOperator, AzureBlobEventSyncOperator
)
