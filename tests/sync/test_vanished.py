"""Vanished objects, found from the key ranges a listing covers: any listing order and any database
locale give the rows a plain comparison with the listing gives."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

import devservices
from labelbridge import db
from labelbridge.config import Cloud, ProjectConfig
from labelbridge.db.projects import register_storage
from labelbridge.storage import ObjectInfo, ObjectStore
from labelbridge.sync import StorageSync, objects
from tests.conftest import StoreFactory
from tests.sync.helpers import configured, counts, live_tasks, rows, storage_for, sync


def listed_in_order(store: ObjectStore, order: list[int]) -> ObjectStore:
    """The same store, returning its listing's pages in ``order`` (page numbers), then the rest."""
    original = store._list_pages

    def reordered(prefix: str, delimiter: str | None) -> Iterator[list[ObjectInfo]]:
        pages = list(original(prefix, delimiter))
        yield from (pages[n] for n in order)
        yield from (page for n, page in enumerate(pages) if n not in order)

    store._list_pages = reordered  # type: ignore[method-assign]
    return store


def test_vanished_before_between_within_and_after_batches(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(cloud)
    keys = [f"img/{n:02d}.jpg" for n in range(12)]
    for key in keys:
        store.write(key, b"x")
    storage = storage_for(store, page_size=2)
    sync(labeling_dsn, store, storage, write_batch=2)
    # Left are 01 03 | 09 10 (two batches). Gone: before the first, inside a batch, a run of five
    # between the batches, after the last.
    gone = [keys[0], keys[2], *keys[4:9], keys[11]]
    for key in gone:
        store.delete(key)
    monkeypatch.setattr(objects, "RANGE_FETCH", 2)  # the long gap is read in several rounds

    result = sync(labeling_dsn, store, storage, write_batch=2)

    assert counts(result) == {"listed": 4, "unchanged": 4, "deleted": 8}
    assert [u for u, _, _ in live_tasks(labeling_dsn)] == [store.uri(k) for k in keys if k not in gone]


@pytest.mark.parametrize("order", [[1, 0], [0, 1, 3, 2], [5]], ids=["first", "middle", "last"])
def test_listing_out_of_order_finds_the_same_changes(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str, order: list[int]
) -> None:
    store = new_store(cloud)
    keys = [f"k{n:02d}.jpg" for n in range(14)]
    for key in keys:
        store.write(key, b"x")
    storage = storage_for(store, page_size=2)
    sync(labeling_dsn, store, storage, write_batch=2)
    gone = [keys[1], keys[6], keys[7], keys[13]]
    for key in gone:
        store.delete(key)
    store.write("k05a.jpg", b"new")
    store.write(keys[9], b"changed")

    with psycopg.connect(labeling_dsn) as conn:
        shuffled = listed_in_order(configured(store, storage), order)
        result = StorageSync(conn, shuffled, storage, write_batch=2).run()

    assert counts(result) == {"listed": 11, "inserted": 1, "updated": 1, "unchanged": 9, "deleted": 4}
    expected = sorted([store.uri(k) for k in keys if k not in gone] + [store.uri("k05a.jpg")])
    assert [u for u, _, _ in live_tasks(labeling_dsn)] == expected


@pytest.fixture
def icu_dsn(pg_server: str) -> Iterator[str]:
    """A labeling database whose default collation sorts as people read (en-US), not by bytes."""
    name = f"lb_icu_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
        )
    dsn = devservices.database_dsn(pg_server, name)
    db.upgrade(dsn)
    yield dsn
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_keys_whose_byte_order_is_not_the_locales(cloud: Cloud, new_store: StoreFactory, icu_dsn: str) -> None:
    store = new_store(cloud)
    # en-US puts "a" before "B", ignores "-" and "_" at first, and puts "é" after "e", not after "z".
    keys = ["A.jpg", "B.jpg", "_b.jpg", "a.jpg", "b-c.jpg", "bc.jpg", "d-x.jpg", "d.jpg", "d/x.jpg", "e.jpg",
            "z.jpg", "\u00e9.jpg", "\uff21.jpg"]
    for key in keys:
        store.write(key, b"x")
    storage = storage_for(store, page_size=2)
    assert rows(icu_dsn, "SELECT 'a.jpg' < 'B.jpg'") == [(True,)]
    sync(icu_dsn, store, storage, write_batch=2)
    gone = ["B.jpg", "a.jpg", "d/x.jpg", "\u00e9.jpg"]
    for key in gone:
        store.delete(key)
    store.write("c.jpg", b"x")

    result = sync(icu_dsn, store, storage, write_batch=2)

    assert counts(result) == {"listed": 10, "inserted": 1, "unchanged": 9, "deleted": 4}
    assert sorted(u for u, _, _ in live_tasks(icu_dsn)) == sorted(
        [store.uri(k) for k in keys if k not in gone] + [store.uri("c.jpg")]
    )


def test_task_another_sync_writes_meanwhile_is_not_duplicated(
    new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(Cloud.S3)
    store.write("a.jpg", b"x")
    storage = storage_for(store)
    with psycopg.connect(labeling_dsn) as conn:
        register_storage(conn, storage, project=ProjectConfig(name=storage.project))
    etag = next(store.iter_objects()).etag
    result: dict[str, int] = {}

    # Another storage on the bucket writes a.jpg's task and has not committed when our run reads
    # the range: our run sees no task, and its insert waits on the other transaction's row.
    with psycopg.connect(labeling_dsn) as other, psycopg.connect(labeling_dsn, autocommit=True) as watch:
        other.execute(
            "INSERT INTO task (project_id, uri, data, object_version) "
            "SELECT id, %s, jsonb_build_object('image', %s::text), %s FROM project",
            (store.uri("a.jpg"), store.uri("a.jpg"), etag),
        )
        run = threading.Thread(target=lambda: result.update(counts(sync(labeling_dsn, store, storage))))
        run.start()
        deadline = time.monotonic() + 30
        # Waits for a condition (our run blocked on the other's row lock), never for a fixed time.
        waiting = ("SELECT EXISTS (SELECT 1 FROM pg_stat_activity"
                   " WHERE datname = current_database() AND wait_event_type = 'Lock')")
        while not watch.execute(waiting).fetchone()[0]:  # type: ignore[index]
            assert time.monotonic() < deadline, "the sync never reached the conflicting insert"
            time.sleep(0.01)
        other.commit()
        run.join()

    assert result == {"listed": 1, "unchanged": 1}
    assert rows(labeling_dsn, "SELECT count(*) FROM task") == [(1,)]
