"""Listing 5,000 objects through the storage layer returns every key once, page by page."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from labelbridge.config import Cloud
from tests.conftest import StoreFactory

OBJECTS = 5000


def test_listing_5000_objects_pages_through_every_key_once(cloud: Cloud, new_store: StoreFactory) -> None:
    store = new_store(cloud, page_size=1000)
    keys = [f"shard-{n % 7}/obj-{n:05d}.jpg" for n in range(OBJECTS)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: store.write(key, b"x"), keys))

    pages = list(store.iter_pages())
    listed = [obj.key for page in pages for obj in page]

    assert len(pages) == 5
    assert all(len(page) == 1000 for page in pages)
    assert len(listed) == OBJECTS
    assert sorted(listed) == sorted(keys)
