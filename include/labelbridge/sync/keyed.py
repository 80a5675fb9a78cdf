"""Keyed sync: apply a batch of bucket events to exactly the objects they name, nothing listed.

Same identity, writers and soft-delete rule as a listing (:mod:`.engine`): a ``put`` is written
as if a listing had returned the object with the event's size and ETag (the mode's writer
upserts it, restoring a soft-deleted task); a ``delete`` soft-deletes its tasks. Idempotent:
per key only the newest event of the batch counts, and it is applied only if its order is above
the last applied one in ``object_event``, claimed in the transaction that writes the task (two
concurrent batches serialize on the row). So a duplicate changes nothing and a late ``put``
never resurrects what a newer ``delete`` removed.

The caller acknowledges the messages only after :func:`sync_keys` returned (it committed): a
crash before leaves them in the queue, and their redelivery is one more duplicate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from labelbridge.config import ProjectConfig, StorageConfig
from labelbridge.db import connect
from labelbridge.storage import ObjectInfo, ObjectStore
from labelbridge.sync.engine import StorageSync
from labelbridge.sync.events import ObjectEvent
from labelbridge.sync.scope import Scope, SyncCounts
from labelbridge.sync.vanished import soft_delete_uris

log = logging.getLogger(__name__)

# The keys whose event is newer than the last applied (or first seen); the rest are stale.
_CLAIM_NEWER = """
    INSERT INTO object_event AS o (storage_id, key, last_order, action)
    SELECT %(storage)s, k, ord, a FROM unnest(%(keys)s::text[], %(orders)s::text[], %(actions)s::text[]) AS e(k, ord, a)
    ON CONFLICT (storage_id, key) DO UPDATE
        SET last_order = excluded.last_order, action = excluded.action, applied_at = now()
        WHERE o.last_order < excluded.last_order
    RETURNING key
"""


@dataclass
class EventCounts(SyncCounts):
    """A keyed sync's counts: the sync's own (``listed`` = objects put) and what the events were.

    :param events: object events received.
    :param stale: duplicates and events older than one already applied: changed nothing.
    :param ignored: events of another bucket, or of keys this storage does not sync.
    :param messages: queue messages taken (set by the caller that reads the queue).
    :param bad_messages: messages that were no object event of this cloud (skipped, acknowledged).
    """

    events: int = 0
    stale: int = 0
    ignored: int = 0
    messages: int = 0
    bad_messages: int = 0

    def summary(self) -> str:
        return (f"messages={self.messages} bad={self.bad_messages} events={self.events} stale={self.stale} "
                f"ignored={self.ignored} {super().summary()}")


class KeyedSync(StorageSync):
    """Apply object events to one storage's tasks, through the run loop's writer and bookkeeping."""

    def apply(self, events: Sequence[ObjectEvent], *, run_id: str = "events") -> EventCounts:
        started = time.monotonic()
        counts = EventCounts(events=len(events))
        ctx = self._register()
        latest: dict[str, ObjectEvent] = {}
        for event in events:
            if not self._syncs(event) or ctx.excluded(event.key):
                counts.ignored += 1
            elif event.newer_than(latest.get(event.key)):
                counts.stale += event.key in latest
                latest[event.key] = event
            else:
                counts.stale += 1
        if not latest:
            self.conn.commit()
            return counts
        writer = self.writer_class(ctx)
        run_row = self._start_run(run_id, Scope(self.storage.prefix))
        try:
            with self.conn.cursor() as cur:
                ordered = [latest[key] for key in sorted(latest)]  # one lock order: no deadlock between batches
                claimed = {
                    key for (key,) in cur.execute(_CLAIM_NEWER, {
                        "storage": self.storage_id, "keys": [e.key for e in ordered],
                        "orders": [e.order for e in ordered], "actions": [e.action for e in ordered],
                    }).fetchall()
                }
                counts.stale += len(ordered) - len(claimed)
                puts = [e for e in ordered if e.key in claimed and e.action == "put"]
                deletes = [self.store.uri(e.key) for e in ordered if e.key in claimed and e.action == "delete"]
                if puts:
                    objects = [_as_listed(e) for e in puts]
                    counts.listed += len(objects)
                    writer.stage_listing(cur, objects, [self.store.uri(o.key) for o in objects])
                    writer.write_staged(cur, objects, counts)
                if deletes:
                    soft_delete_uris(ctx, cur, deletes, counts)
            counts.seconds = time.monotonic() - started
            self._finish_run(run_row, "success", counts)  # commits the writes and the claims together
        except BaseException as exc:
            counts.seconds = time.monotonic() - started
            self._rollback()
            self._finish_run(run_row, "failed", counts, error=f"{type(exc).__name__}: {exc}")
            raise
        return counts

    def _syncs(self, event: ObjectEvent) -> bool:
        """Whether a listing of this storage would return the event's key."""
        return (
            event.bucket == self.store.bucket and event.key.startswith(self.storage.prefix)
            and self.store.wants(event.key)
        )


def _as_listed(event: ObjectEvent) -> ObjectInfo:
    """The object as a listing would report it, from the event's facts (no request to the bucket)."""
    etag = event.etag.strip('"') if event.etag else None
    return ObjectInfo(key=event.key, size_bytes=event.size or 0, etag=etag, last_modified=None,
                      version_id=event.version)


def sync_keys(
    dsn: str,
    store: ObjectStore,
    *,
    storage: StorageConfig,
    events: Iterable[ObjectEvent],
    project: ProjectConfig | None = None,
    exclude_prefixes: Sequence[str] = (),
    run_id: str = "events",
    conn: psycopg.Connection[Any] | None = None,
) -> EventCounts:
    """Sync only the objects ``events`` name (created, overwritten, deleted); commits before returning.

    :param conn: an open connection to reuse (a long-lived event loop); else one is opened at ``dsn``.
    """
    batch = list(events)
    if conn is not None:
        return KeyedSync(conn, store, storage, project=project, exclude_prefixes=exclude_prefixes).apply(
            batch, run_id=run_id
        )
    with connect(dsn) as own:
        return KeyedSync(own, store, storage, project=project, exclude_prefixes=exclude_prefixes).apply(
            batch, run_id=run_id
        )
