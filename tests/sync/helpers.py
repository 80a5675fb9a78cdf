"""Small helpers shared by the sync tests."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from labelbridge.config import StorageConfig
from labelbridge.storage import ObjectStore
from labelbridge.sync import Scope, StorageSync, SyncCounts


def storage_for(store: ObjectStore, **overrides: Any) -> StorageConfig:
    values: dict[str, Any] = {
        "name": "src",
        "project": "proj",
        "cloud": store.cloud,
        "bucket": store.bucket,
        "prefix": "",
        "mode": "objects",
        "media_field": "image",
    }
    values.update(overrides)
    return StorageConfig.model_validate(values)


def configured(store: ObjectStore, storage: StorageConfig) -> ObjectStore:
    """The store as make_store() builds it for this storage: its prefix and key pattern."""
    return type(store)(  # type: ignore[call-arg]
        store.client, storage.bucket, prefix=storage.prefix, key_regex=storage.key_regex, page_size=storage.page_size
    )


def sync(
    dsn: str, store: ObjectStore, storage: StorageConfig, *, scope: Scope | None = None, **kwargs: Any
) -> SyncCounts:
    with psycopg.connect(dsn) as conn:
        return StorageSync(conn, configured(store, storage), storage, **kwargs).run(scope)


def rows(dsn: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def live_tasks(dsn: str) -> list[tuple[str, int, Any]]:
    return [(u, i, d) for u, i, d in rows(
        dsn, "SELECT uri, item_index, data FROM task WHERE deleted_at IS NULL ORDER BY uri, item_index"
    )]


def task_file(*tasks: Any) -> bytes:
    return json.dumps(list(tasks)).encode()


def counts(c: SyncCounts) -> dict[str, int]:
    return {k: v for k, v in c.as_dict().items() if k != "seconds" and v}
