"""Behaviour every store must share, run against each cloud's emulator."""

from __future__ import annotations

import pytest

from labelbridge.config import Cloud
from labelbridge.errors import ObjectNotFound
from tests.conftest import StoreFactory


def test_listing_yields_facts_and_skips_folder_markers(cloud: Cloud, new_store: StoreFactory) -> None:
    store = new_store(cloud)
    store.write("images/a.jpg", b"aaaa")
    store.write("images/b.png", b"bb")
    store.write("images/", b"")  # a console-made "folder"
    store.write("other/c.jpg", b"c")

    objects = sorted(store.iter_objects("images/"), key=lambda o: o.key)

    assert [(o.key, o.size_bytes) for o in objects] == [("images/a.jpg", 4), ("images/b.png", 2)]
    assert all(o.etag and '"' not in o.etag for o in objects)
    assert all(o.last_modified is not None and o.last_modified.tzinfo is not None for o in objects)


def test_key_regex_filters_the_listing(cloud: Cloud, new_store: StoreFactory) -> None:
    store = new_store(cloud, key_regex=r"\.jpe?g$")
    for key in ("a.jpg", "b.jpeg", "c.txt", "d.jpg.json"):
        store.write(key, b"x")

    assert sorted(o.key for o in store.iter_objects()) == ["a.jpg", "b.jpeg"]


def test_pages_respect_page_size(cloud: Cloud, new_store: StoreFactory) -> None:
    store = new_store(cloud, page_size=2)
    for index in range(5):
        store.write(f"k{index}", b"x")

    pages = list(store.iter_pages())

    assert [len(page) for page in pages] == [2, 2, 1]


def test_list_prefixes_one_level_down(cloud: Cloud, new_store: StoreFactory) -> None:
    store = new_store(cloud)
    for key in ("tasks/2025-01-01/a.json", "tasks/2025-01-02/b.json", "tasks/2025-01-02/c.json", "tasks/x.json"):
        store.write(key, b"{}")

    assert sorted(store.list_prefixes("tasks/")) == ["tasks/2025-01-01/", "tasks/2025-01-02/"]


def test_open_streams_the_object(cloud: Cloud, new_store: StoreFactory) -> None:
    store = new_store(cloud)
    payload = bytes(range(256)) * 12_000  # ~3 MiB: several chunks
    store.write("big.bin", payload)

    with store.open("big.bin") as reader:
        first = reader.read(10)
        rest = reader.read()

    assert first + rest == payload


def test_missing_object_raises_object_not_found_with_uri(cloud: Cloud, new_store: StoreFactory) -> None:
    store = new_store(cloud)

    with pytest.raises(ObjectNotFound, match=r"://.+/nope\.json: no such object"):
        store.read_bytes("nope.json")


def test_uri_round_trip(cloud: Cloud, new_store: StoreFactory) -> None:
    store = new_store(cloud, bucket="roundtrip-bucket")
    uri = store.uri("dir/file name.jpg")

    assert uri == f"{store.scheme}://roundtrip-bucket/dir/file name.jpg"
    assert store.key_from_uri(uri) == "dir/file name.jpg"
    with pytest.raises(ValueError, match="is not in"):
        store.key_from_uri("s3://other/dir/file.jpg" if store.scheme != "s3" else "gs://x/y")


def test_non_recursive_listing_stays_at_one_level(cloud: Cloud, new_store: StoreFactory) -> None:
    store = new_store(cloud, page_size=2)
    for key in ("root/a.json", "root/b.json", "root/c.json", "root/sub/d.json", "root/sub/deeper/e.json"):
        store.write(key, b"{}")

    keys = sorted(o.key for o in store.iter_objects("root/", recursive=False))

    assert keys == ["root/a.json", "root/b.json", "root/c.json"]
