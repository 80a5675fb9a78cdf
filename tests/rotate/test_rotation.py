"""Rotation against the real labeling DB and each cloud's emulator."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from labelbridge.config import Cloud
from labelbridge.errors import SigningError
from labelbridge.rotate import plan_id_shards, plan_rotation, rotate_storage
from labelbridge.storage import ObjectStore
from tests.conftest import StoreFactory
from tests.rotate.helpers import add_tasks, rows, storage_for
from tests.rotate.verify import SECRET_MARKERS, http_get


def _images(store: ObjectStore, count: int) -> list[dict[str, str]]:
    datas = []
    for index in range(count):
        key = f"images/img {index}.jpg"
        store.write(key, f"pixels-{index}".encode())
        datas.append({"image": store.uri(key)})
    return datas


def test_new_tasks_get_urls_the_labeling_tool_can_open(
    cloud: Cloud, signing_store: StoreFactory, labeling_dsn: str
) -> None:
    store = signing_store(cloud)
    add_tasks(labeling_dsn, "proj", _images(store, 5))

    result = rotate_storage(labeling_dsn, store, storage=storage_for(store), batch_size=2)

    assert (result.counts.due, result.counts.signed, result.counts.batches) == (5, 5, 3)
    assert result.counts.canary_checked == 2  # the first batch holds two
    served = rows(labeling_dsn, "SELECT data ->> 'image', urls_expire_at FROM task_with_urls ORDER BY id")
    assert len(served) == 5
    for index, (url, expires_at) in enumerate(served):
        assert http_get(url) == (200, f"pixels-{index}".encode())
        assert expires_at > datetime.now(UTC) + timedelta(hours=23)
    stored = rows(
        labeling_dsn, "SELECT field, uri, requested_ttl_s, signer, expires_at - signed_at FROM task_url"
    )
    assert {(f, ttl, d) for f, _, ttl, _, d in stored} == {("image", 86400, timedelta(days=1))}


def test_only_due_urls_are_resigned(cloud: Cloud, signing_store: StoreFactory, labeling_dsn: str) -> None:
    store = signing_store(cloud)
    add_tasks(labeling_dsn, "proj", _images(store, 3))
    storage = storage_for(store, url_ttl="10h", url_lead_time="2h")
    rotate_storage(labeling_dsn, store, storage=storage)
    before = rows(labeling_dsn, "SELECT task_id, url FROM task_url ORDER BY task_id")

    again = rotate_storage(labeling_dsn, store, storage=storage)
    later = rotate_storage(
        labeling_dsn, store, storage=storage, now=datetime.now(UTC) + timedelta(hours=8, minutes=1)
    )

    assert (again.counts.due, again.counts.signed) == (0, 0)
    assert (later.counts.due, later.counts.signed) == (3, 3)
    after = rows(labeling_dsn, "SELECT task_id, url FROM task_url ORDER BY task_id")
    assert [t for t, _ in after] == [t for t, _ in before]


def test_every_field_holding_a_uri_of_the_bucket_is_signed(
    signing_store: StoreFactory, labeling_dsn: str
) -> None:
    store = signing_store(Cloud.S3)
    [task] = add_tasks(
        labeling_dsn,
        "proj",
        [
            {
                "image": store.uri("a.jpg"),
                "audio": store.uri("b.wav"),
                "caption": "a cat",
                "elsewhere": "s3://another-bucket/c.jpg",
                "nested": {"image": store.uri("d.jpg")},
            }
        ],
    )

    result = rotate_storage(labeling_dsn, store, storage=storage_for(store, mode="task_files"), canary_size=0)

    assert result.counts.signed == 2
    assert rows(labeling_dsn, "SELECT field, uri FROM task_url ORDER BY field") == [
        ("audio", store.uri("b.wav")),
        ("image", store.uri("a.jpg")),
    ]
    [(data,)] = rows(labeling_dsn, "SELECT data FROM task_with_urls WHERE id = %s", task)
    assert data["image"].startswith("http") and data["audio"].startswith("http")
    assert data["caption"] == "a cat" and data["elsewhere"] == "s3://another-bucket/c.jpg"


def test_changed_uri_is_resigned_and_deleted_tasks_lose_their_urls(
    signing_store: StoreFactory, labeling_dsn: str
) -> None:
    store = signing_store(Cloud.AZURE)
    first, second = add_tasks(labeling_dsn, "proj", _images(store, 2))
    storage = storage_for(store)
    rotate_storage(labeling_dsn, store, storage=storage)
    store.write("images/new.jpg", b"new")
    with psycopg.connect(labeling_dsn) as conn:
        conn.execute(
            "UPDATE task SET data = %s WHERE id = %s",
            (f'{{"image": "{store.uri("images/new.jpg")}"}}', first),
        )
        conn.execute("UPDATE task SET deleted_at = now() WHERE id = %s", (second,))

    # Before the next rotation the tool falls back to the canonical URI, never the old object's URL.
    assert rows(labeling_dsn, "SELECT id, data ->> 'image' FROM task_with_urls") == [
        (first, store.uri("images/new.jpg"))
    ]
    result = rotate_storage(labeling_dsn, store, storage=storage)

    assert (result.counts.signed, result.counts.pruned) == (1, 1)
    [(url,)] = rows(labeling_dsn, "SELECT data ->> 'image' FROM task_with_urls")
    assert http_get(url) == (200, b"new")


def test_ip_range_is_carried_by_sas_and_recorded(
    cloud: Cloud, signing_store: StoreFactory, labeling_dsn: str
) -> None:
    store = signing_store(cloud)
    add_tasks(labeling_dsn, "proj", _images(store, 1))

    rotate_storage(labeling_dsn, store, storage=storage_for(store, ip_range="127.0.0.0/8"))

    [(ip_range, url)] = rows(labeling_dsn, "SELECT ip_range, url FROM task_url")
    if cloud is Cloud.AZURE:
        assert ip_range == "127.0.0.0/8" and "sip=127.0.0.0-127.255.255.255" in url
    else:
        assert ip_range is None  # enforced by bucket policy / IP filter; compliance checks it


def test_canary_failure_writes_nothing(new_store: StoreFactory, labeling_dsn: str) -> None:
    from azure.storage.blob import BlobServiceClient

    from labelbridge.storage import AzureBlobStore

    real = new_store(Cloud.AZURE)
    add_tasks(labeling_dsn, "proj", _images(real, 3))
    account_url = real.client.url  # type: ignore[attr-defined]
    wrong_key = {
        "account_name": "devstoreaccount1",
        "account_key": "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXk=",
    }
    broken = AzureBlobStore(BlobServiceClient(account_url, credential=wrong_key), real.bucket)

    with pytest.raises(SigningError) as caught:
        rotate_storage(labeling_dsn, broken, storage=storage_for(broken))

    assert str(caught.value).startswith(
        f"canary: {real.uri('images/img 0.jpg')} (signed by azure-sas/account-key, expires "
    )
    assert str(caught.value).endswith("answered HTTP 403; the new URLs do not work, nothing was written")
    assert rows(labeling_dsn, "SELECT count(*) FROM task_url") == [(0,)]


def test_locked_tasks_are_left_to_the_run_holding_them(
    signing_store: StoreFactory, labeling_dsn: str
) -> None:
    store = signing_store(Cloud.S3)
    ids = add_tasks(labeling_dsn, "proj", _images(store, 4))
    storage = storage_for(store)
    with psycopg.connect(labeling_dsn) as other_run:
        other_run.execute("SELECT id FROM task WHERE id = ANY(%s) FOR NO KEY UPDATE", (ids[:2],))
        result = rotate_storage(labeling_dsn, store, storage=storage)
        assert (result.counts.signed, result.counts.skipped_locked) == (2, 2)
    rest = rotate_storage(labeling_dsn, store, storage=storage)

    assert (rest.counts.due, rest.counts.signed) == (2, 2)


def test_overlapping_runs_sign_each_url_exactly_once(signing_store: StoreFactory, labeling_dsn: str) -> None:
    store = signing_store(Cloud.AZURE)
    add_tasks(labeling_dsn, "proj", [{"image": store.uri(f"k{i}.jpg")} for i in range(300)])
    storage = storage_for(store)
    results: list[Any] = []

    def run() -> None:
        results.append(rotate_storage(labeling_dsn, store, storage=storage, batch_size=10, canary_size=0))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(r.counts.signed for r in results) == 300
    assert rows(labeling_dsn, "SELECT count(*), count(DISTINCT task_id) FROM task_url") == [(300, 300)]


def test_shards_cover_every_task_once(signing_store: StoreFactory, labeling_dsn: str) -> None:
    store = signing_store(Cloud.S3)
    add_tasks(labeling_dsn, "proj", [{"image": store.uri(f"k{i}.jpg")} for i in range(10)])
    storage = storage_for(store)

    shards = plan_id_shards(labeling_dsn, storage, tasks_per_shard=3)
    signed = [
        rotate_storage(labeling_dsn, store, storage=storage, id_range=s, canary_size=0).counts.signed for s in shards
    ]

    assert len(shards) == 4 and shards[0][0] is None and shards[-1][1] is None
    assert signed == [3, 3, 2, 2]
    assert rows(labeling_dsn, "SELECT count(*) FROM task_url") == [(10,)]
    assert plan_id_shards(labeling_dsn, storage) == [(None, None)]


def test_dry_run_plan_counts_and_next_expiry(signing_store: StoreFactory, labeling_dsn: str) -> None:
    store = signing_store(Cloud.S3)
    add_tasks(labeling_dsn, "proj", _images(store, 3))
    storage = storage_for(store, url_ttl="10h", url_lead_time="2h")

    fresh = plan_rotation(labeling_dsn, storage)
    result = rotate_storage(labeling_dsn, store, storage=storage)
    after = plan_rotation(labeling_dsn, storage)

    assert (fresh.due, fresh.unsigned, fresh.signed, fresh.next_expiry) == (3, 3, 0, None)
    assert (after.due, after.unsigned, after.signed) == (0, 0, 3)
    assert after.next_expiry == result.earliest_expiry
    assert after.next_due == after.next_expiry - timedelta(hours=2)  # type: ignore[operator]
    assert rows(labeling_dsn, "SELECT count(*) FROM task_url") == [(3,)]


def test_unknown_project_rotates_nothing(signing_store: StoreFactory, labeling_dsn: str) -> None:
    store = signing_store(Cloud.S3)

    result = rotate_storage(labeling_dsn, store, storage=storage_for(store, project="not-synced-yet"))

    assert result.counts.as_dict()["signed"] == 0


def test_no_signed_url_reaches_logs_or_results(
    cloud: Cloud, signing_store: StoreFactory, labeling_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = signing_store(cloud)
    add_tasks(labeling_dsn, "proj", _images(store, 3))
    caplog.set_level(logging.DEBUG)

    result = rotate_storage(labeling_dsn, store, storage=storage_for(store))

    assert result.counts.signed == 3
    published = caplog.text + repr(result) + repr(result.counts.as_dict())
    assert store.uri("images/img 0.jpg") in caplog.text
    for marker in SECRET_MARKERS:
        assert marker not in published


def test_tasks_from_sync_get_working_urls(signing_store: StoreFactory, labeling_dsn: str) -> None:
    from tests.sync import helpers as sync_helpers

    store = signing_store(Cloud.AZURE)
    store.write("images/a.jpg", b"a")
    store.write(
        "tasks/batch.json", sync_helpers.task_file({"image": store.uri("images/a.jpg"), "text": "hi"})
    )
    objects = sync_helpers.storage_for(store, name="imgs", prefix="images/")
    files = sync_helpers.storage_for(store, name="files", prefix="tasks/", mode="task_files")
    sync_helpers.sync(labeling_dsn, store, objects)
    sync_helpers.sync(labeling_dsn, store, files)

    result = rotate_storage(labeling_dsn, store, storage=objects)

    # Both tasks reference the image: the objects-mode one and the one from the task file.
    assert result.counts.signed == 2
    served = rows(labeling_dsn, "SELECT data ->> 'image', data ->> 'text' FROM task_with_urls ORDER BY uri")
    assert [http_get(url) for url, _ in served] == [(200, b"a"), (200, b"a")]
    assert [text for _, text in served] == [None, "hi"]
