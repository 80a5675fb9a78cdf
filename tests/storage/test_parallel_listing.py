"""A listing with ``list_concurrency`` returns exactly the single listing: same keys, same order.

S3 and GCS split the key space in ranges (StartAfter, startOffset); Azure, which cannot start a
listing at a key, splits by the scope's folders. Small pages make many chunks from few objects.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from labelbridge.config import Cloud
from labelbridge.errors import StorageError
from labelbridge.storage import ObjectInfo, ObjectStore, S3Store
from labelbridge.storage.parallel import _cuts, ranged_pages
from tests.conftest import StoreFactory

# Names of several shapes: dense numbered ones (the cuts guess them well), folders of
# different sizes, names beside the folders, names past ASCII, a name that is a cut's prefix.
KEYS = sorted(
    [f"img/{n:05d}.jpg" for n in range(260)]
    + [f"cls-{c}/{n:03d}.png" for c in "abc" for n in range(17 * (1 + "abc".index(c)))]
    + ["img/0001", "img/00010", "loose-1.txt", "loose-2.txt", "zz/é/1", "zz/日本/2", "zz/😀/3", "~last"]
)


def _fill(store: ObjectStore, keys: list[str]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: store.write(key, b"x"), keys))


def _keys(store: ObjectStore, prefix: str | None = None) -> list[str]:
    return [obj.key for page in store.iter_pages(prefix) for obj in page]


def _with(store: ObjectStore, **kwargs: object) -> ObjectStore:
    values: dict[str, object] = {"prefix": store.prefix, "page_size": store.page_size}
    values.update(kwargs)
    return type(store)(store.client, store.bucket, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize("concurrency", [2, 8])
def test_parallel_listing_is_the_single_listing(cloud: Cloud, new_store: StoreFactory, concurrency: int) -> None:
    single = new_store(cloud, page_size=7)
    _fill(single, KEYS)
    parallel = _with(single, list_concurrency=concurrency)

    listed = _keys(single)
    assert listed == _keys(parallel)
    assert set(listed) == set(KEYS)
    # Under a prefix, and under one that holds nothing.
    assert _keys(parallel, "img/") == _keys(single, "img/") == [k for k in listed if k.startswith("img/")]
    assert _keys(parallel, "nothing/") == []


def test_the_key_pattern_applies_after_the_parallel_listing(cloud: Cloud, new_store: StoreFactory) -> None:
    single = new_store(cloud, page_size=5, key_regex=r"\.png$")
    _fill(single, KEYS)
    parallel = _with(single, key_regex=r"\.png$", list_concurrency=4)

    assert _keys(parallel) == _keys(single) == [k for k in KEYS if k.endswith(".png")]


def test_list_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="list_concurrency must be at least 1, got 0"):
        S3Store(None, "bucket", list_concurrency=0)


def test_cuts_count_the_stem_on_in_the_characters_seen() -> None:
    page = [ObjectInfo(f"img/{n:07d}.jpg", 1, None, None) for n in range(1000)]
    cuts = _cuts(page, "img/", None, 12)
    assert cuts[:3] == ["img/0002", "img/0004", "img/0006"]
    assert cuts[4:7] == ["img/0010", "img/0012", "img/0014"]
    assert _cuts(page, "img/", "img/0005", 12) == ["img/0002", "img/0004"]


class _FailingAfter:
    """A ranged listing source over a sorted key list that fails once asked past ``fail_from``."""

    def __init__(self, keys: list[str], *, page: int, fail_from: str) -> None:
        self.keys, self.page, self.fail_from = keys, page, fail_from

    def __call__(self, prefix: str, after: str | None) -> Iterator[list[ObjectInfo]]:
        rest = [k for k in self.keys if k.startswith(prefix) and (after is None or k > after)]
        for start in range(0, len(rest), self.page):
            chunk = rest[start : start + self.page]
            if chunk[-1] >= self.fail_from:
                raise ConnectionResetError("the listing broke")
            yield [ObjectInfo(k, 1, None, None) for k in chunk]


def test_an_error_in_one_range_comes_after_every_page_before_it_and_nothing_after() -> None:
    keys = [f"img/{n:05d}.jpg" for n in range(5000)]
    source = _FailingAfter(keys, page=50, fail_from="img/03000.jpg")
    handed: list[str] = []
    with pytest.raises(ConnectionResetError, match="the listing broke"):
        for page in ranged_pages(source, "img/", concurrency=8, page_size=50):
            handed.extend(obj.key for obj in page)
    assert handed == keys[: len(handed)]  # a prefix of the listing, in order
    assert handed[-1] < "img/03000.jpg"


def test_a_parallel_listing_error_is_the_storage_error(new_store: StoreFactory) -> None:
    store = new_store(Cloud.S3, page_size=5)
    missing = S3Store(store.client, store.bucket + "-missing", page_size=5, list_concurrency=4)
    with pytest.raises(StorageError, match=r"list prefix .* failed: NoSuchBucket"):
        list(missing.iter_pages())
