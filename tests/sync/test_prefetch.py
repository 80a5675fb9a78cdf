"""The listing runs ahead of the writes (a prefetching thread, and with ``list_concurrency`` several
listing threads), and a run still behaves as one that listed page after page: the same error,
nothing deleted after a partial listing, the same tasks and soft deletes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest

from labelbridge.config import Cloud
from labelbridge.storage import ObjectInfo, ObjectStore
from labelbridge.sync import StorageSync
from labelbridge.sync.prefetch import prefetched
from tests.conftest import StoreFactory
from tests.sync.helpers import configured, counts, live_tasks, rows, storage_for, sync


class ListingBroke(ConnectionError):
    pass


def _listing_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("labelbridge-prefetch", "labelbridge-list"))]


def breaking_after(store: ObjectStore, pages: int, error: BaseException) -> ObjectStore:
    """The same store, whose listing raises ``error`` after ``pages`` pages (in the listing's thread)."""
    original = store._list_pages

    def breaking(prefix: str, delimiter: str | None) -> Iterator[list[ObjectInfo]]:
        for number, page in enumerate(original(prefix, delimiter)):
            if number == pages:
                raise error
            yield page

    store._list_pages = breaking  # type: ignore[method-assign]
    return store


def test_a_listing_error_in_the_prefetch_thread_is_raised_as_itself_and_deletes_nothing(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    for index in range(12):
        store.write(f"img/{index:02d}.jpg", b"x")
    storage = storage_for(store, page_size=2)
    sync(labeling_dsn, store, storage, write_batch=2)
    for index in range(4, 12):  # most of the bucket vanishes, but the listing breaks first
        store.delete(f"img/{index:02d}.jpg")

    error = ListingBroke("connection reset by the cloud")
    with psycopg.connect(labeling_dsn) as conn, pytest.raises(ListingBroke) as raised:
        StorageSync(conn, breaking_after(configured(store, storage), 1, error), storage, write_batch=2).run()

    assert raised.value is error
    assert len(live_tasks(labeling_dsn)) == 12
    assert rows(labeling_dsn, "SELECT status, error FROM sync_run ORDER BY id")[-1] == (
        "failed", "ListingBroke: connection reset by the cloud"
    )
    assert _listing_threads() == []


def test_the_prefetch_stays_within_its_pages_and_stops_with_the_reader() -> None:
    made, closed = [], threading.Event()

    def pages() -> Iterator[int]:
        try:
            for number in range(1000):
                made.append(number)
                yield number
        finally:
            closed.set()

    reader = prefetched(pages(), depth=2)
    taken = [next(reader) for _ in range(3)]
    # Wait until the thread has filled its queue (it blocks then): never more than two ahead,
    # plus the one it holds while the queue is full.
    for _ in range(200):
        if len(made) >= 6:
            break
        threading.Event().wait(0.01)
    assert taken == [0, 1, 2]
    assert len(made) <= 3 + 2 + 1
    reader.close()  # the run loop closes its batches when a batch fails
    assert closed.is_set()  # the listing was closed, in its own thread, before close() returned
    assert _listing_threads() == []


def test_the_prefetch_hands_on_every_page_in_order_then_the_error() -> None:
    def pages() -> Iterator[int]:
        yield from range(5)
        raise ListingBroke("late")

    got: list[int] = []
    with pytest.raises(ListingBroke, match="late"):
        for page in prefetched(pages(), depth=2):
            got.append(page)
    assert got == [0, 1, 2, 3, 4]


KEYS = [f"img/{n:04d}.jpg" for n in range(90)] + [f"cls-{c}/{n:02d}.png" for c in "ab" for n in range(11)] + [
    "loose.txt", "zz/é.jpg", "zz/😀.jpg"
]


def test_a_parallel_listing_syncs_the_same_tasks_and_soft_deletes(
    cloud: Cloud, new_store: StoreFactory, labeling_dsn: str
) -> None:
    store = new_store(cloud)
    for key in KEYS:
        store.write(key, b"x")
    # Two projects on one bucket: one listed page after page, one in parallel ranges (or folders).
    single = storage_for(store, name="single", project="single", page_size=4)
    parallel = storage_for(store, name="parallel", project="parallel", page_size=4, list_concurrency=4)

    def state(project: str) -> list[tuple[str, bool]]:
        return rows(
            labeling_dsn,
            "SELECT t.uri, t.deleted_at IS NULL FROM task t JOIN project p ON p.id = t.project_id"
            " WHERE p.name = %s ORDER BY t.uri",
            project,
        )

    def both() -> tuple[dict[str, int], dict[str, int]]:
        with psycopg.connect(labeling_dsn) as conn:
            one = StorageSync(conn, configured(store, single), single, write_batch=8).run()
            many_store = configured(store, parallel)
            many_store.list_concurrency = parallel.list_concurrency
            many = StorageSync(conn, many_store, parallel, write_batch=8).run()
        return counts(one), counts(many)

    first, first_parallel = both()
    assert first == first_parallel == {"listed": len(KEYS), "inserted": len(KEYS)}
    gone = ["img/0000.jpg", *KEYS[30:47], "cls-b/10.png", "zz/😀.jpg"]
    for key in gone:
        store.delete(key)
    again, again_parallel = both()
    assert again == again_parallel == {"listed": len(KEYS) - len(gone), "unchanged": len(KEYS) - len(gone),
                                       "deleted": len(gone)}
    assert [(uri.split("/", 3)[3], live) for uri, live in state("single")] == [
        (uri.split("/", 3)[3], live) for uri, live in state("parallel")
    ]
    assert sorted(uri.split("/", 3)[3] for uri, live in state("parallel") if not live) == sorted(gone)
