"""A job in its own process, for the fault-injection tests: ``python -m tests.faults.child '<spec json>'``.

It runs the library's entry point (``sync_storage``, ``export_target``, ``rotate_storage``) with the
store the product's connection builds (``make_client`` over ``AIRFLOW_CONN_AWS_DEFAULT``), and
pauses once, at a chosen point well inside the run: it prints ``paused`` and waits for a line on
stdin. The test injects its fault while the job waits there, so the fault lands at the same point
every time, without sleeps.

Pause points (``spec["pause"]``):
- ``page``: before handing the listing's page ``at`` (0-based) to the sync; earlier batches are committed.
- ``sign``: before signing rotation batch ``at``; earlier batches are committed.
- ``stream``: once an export's streamed upload has read ``at`` bytes (the DB snapshot is half read).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

from labelbridge.config import Cloud, ExportTargetConfig, StorageConfig
from labelbridge.connections import make_client
from labelbridge.storage import ObjectInfo, ObjectStore, store_class

_paused = threading.Event()


def pause() -> None:
    """Once per process: tell the test where we are and wait until it says go on."""
    if _paused.is_set():
        return
    _paused.set()
    print("paused", flush=True)
    sys.stdin.readline()


class _PausingReader:
    """A readable stream that pauses once ``at`` bytes have been read through it."""

    def __init__(self, inner: IO[bytes], at: int) -> None:
        self._inner, self._at, self._read = inner, at, 0

    def read(self, size: int = -1) -> bytes:
        if self._read >= self._at:
            pause()
        data = self._inner.read(size)
        self._read += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def pausing(store: ObjectStore, where: str, at: int) -> ObjectStore:
    """The same store, which pauses at the chosen point (see the module docstring)."""
    if where == "page":
        iter_pages = store.iter_pages

        def pages(*args: Any, **kwargs: Any) -> Iterator[list[ObjectInfo]]:
            for number, page in enumerate(iter_pages(*args, **kwargs)):
                if number == at:
                    pause()
                yield page

        store.iter_pages = pages  # type: ignore[method-assign]
    elif where == "sign":
        sign_urls = store.sign_urls
        calls = iter(range(1_000_000))

        def sign(*args: Any, **kwargs: Any) -> Any:
            if next(calls) == at:
                pause()
            return sign_urls(*args, **kwargs)

        store.sign_urls = sign  # type: ignore[method-assign]
    elif where == "stream":
        write: Callable[..., None] = store.write

        def streamed(key: str, data: Any, **kwargs: Any) -> None:
            write(key, data if isinstance(data, bytes) else _PausingReader(data, at), **kwargs)

        store.write = streamed  # type: ignore[method-assign]
    else:
        raise ValueError(f"unknown pause point {where!r}")
    return store


def main(spec: dict[str, Any]) -> None:
    client = make_client(Cloud.S3, "aws_default")
    where, at = spec["pause"]
    if spec["job"] == "sync":
        from labelbridge.db import connect
        from labelbridge.sync import StorageSync

        storage = StorageConfig.model_validate(spec["storage"])
        store = pausing(store_class(Cloud.S3)(client, storage.bucket, page_size=storage.page_size), where, at)
        with connect(spec["dsn"]) as conn:
            # The pause is at a listing page. Without prefetch it comes after exactly the batches before
            # that page committed; with it, the next page is fetched while a batch is still being written,
            # so how many had committed would be a race (tests/sync/test_prefetch.py covers the prefetch).
            StorageSync(conn, store, storage, write_batch=spec["write_batch"], prefetch_pages=0).run(run_id="faulty")
    elif spec["job"] == "export":
        from labelbridge.export import export_target

        target = ExportTargetConfig.model_validate(spec["target"])
        store = pausing(store_class(Cloud.S3)(client, target.bucket), where, at)
        export_target(spec["dsn"], store, target=target, fmt="json", run_key=spec["run_key"],
                      batch_size=spec["batch_size"])
    elif spec["job"] == "rotate":
        from labelbridge.rotate.rotation import rotate_storage

        storage = StorageConfig.model_validate(spec["storage"])
        store = pausing(store_class(Cloud.S3)(client, storage.bucket), where, at)
        rotate_storage(spec["dsn"], store, storage=storage, batch_size=spec["batch_size"])
    print("finished", flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
