"""Fetch the next listing pages while the current batch is compared and written.

A listing is a round trip per page, and writing a batch is round trips to the database: done one
after the other, a re-sync costs the sum. :func:`prefetched` runs the page iterator in a thread of
its own, at most ``depth`` pages ahead (memory stays bounded: ``depth`` pages plus the batch being
written), so a re-sync of an unchanged bucket costs the listing and little more.

The run loop sees the same pages, in the same order, and the same errors: an exception of the
listing thread is raised again, the same object, from the consumer's ``next()``. Nothing is
delivered after it, so a partial listing still reaches no soft delete. When the consumer stops
early (its own error, or it closes the generator), the thread is told to stop, the iterator is
closed in the thread that ran it, and the thread is joined before the generator returns.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

#: Pages fetched ahead of the one being written: one to overlap with the write, one for jitter.
PREFETCH_PAGES = 2

# How often a producer blocked on a full queue looks whether the consumer has gone.
_STOP_POLL_S = 0.1


class _End:
    """Queued after the last page (``error`` is None) or in place of the page that failed."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def prefetched(items: Iterator[T], *, depth: int = PREFETCH_PAGES, name: str = "listing") -> Generator[T, None, None]:
    """``items``, fetched by a thread up to ``depth`` items ahead of the caller.

    :param depth: items buffered at most (at least 1); ``0`` fetches in the caller, without a thread.
    """
    if depth <= 0:
        yield from items
        return
    handoff: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: object) -> bool:
        """Queue ``item`` unless the consumer went away; ``False`` when it did."""
        while not stop.is_set():
            try:
                handoff.put(item, timeout=_STOP_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it as its own
            offer(_End(exc))
        else:
            offer(_End(None))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator is closed in the thread that ran it

    thread = threading.Thread(target=produce, name=f"labelbridge-prefetch-{name}", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item  # type: ignore[misc]  # anything but _End is one of items
    finally:
        stop.set()
        # Unblock a producer waiting on a full queue, then wait for it to close the iterator.
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=_STOP_POLL_S)
        thread.join()
