"""A listing split into disjoint key ranges listed side by side, handed on in key order.

Where one listing is latency-bound (a page of 1,000 keys per round trip), ``list_concurrency``
threads list different parts of the key space at once, as fast bucket-copy tools do. The caller
still gets one listing in byte order, page after page, so the sync engine's range comparison
holds. Two ways to split, by what the cloud allows:

* **Ranges** (S3 ``StartAfter``, GCS ``startOffset``): the scope is a sequence of chunks, each the
  keys after one bound up to and including the next. A chunk's first page shows how its keys
  are spelled (the characters at the first position where its first and last key differ); the
  rest of the chunk is then cut at the next values of its common stem, counted in those
  characters (``img/0000`` → ``img/0001``, ``img/0002``, …): about a page each when names are
  dense, whatever they are, and always a partition (the last chunk runs to the old bound).
  A worker whose listing runs past its chunk's bound goes on into the next chunk when nobody
  took it, so a good guess costs no extra request, and a bad one costs only an empty chunk or a
  slower one, never a key.
* **Prefixes** (Azure, which lists from a name only by prefix): the scope's first level, listed
  with the delimiter; each "folder" is one chunk listed whole, objects beside the folders are
  handed on as they are. Without folders, there is nothing to split and the listing is single.

Memory stays bounded: workers start chunks at most ``2 * concurrency`` ahead of the one being
handed on, and a chunk holds at most ``BUFFER_PAGES`` pages not yet taken: a ranged worker then
leaves the rest of its chunk as a new one (to be listed later from its last key), a prefix
worker waits. An error in any worker is raised, the same exception, when the caller reaches that
chunk, after every page before it and never any page after it, so a partial listing stays a
prefix of the full one.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar


class Listed(Protocol):
    """What a listing returns per object (an ``ObjectInfo``: this module stays below ``base``)."""

    @property
    def key(self) -> str: ...


Obj = TypeVar("Obj", bound=Listed)

#: Pages a chunk holds that the caller has not taken yet.
BUFFER_PAGES = 2
#: Pages of keys a ranged chunk is cut to hold, by the guess from its first page.
PAGES_PER_CHUNK = 2
#: Objects beside the folders of a prefix split held at most, in pages.
LOOSE_PAGES = 10
#: Chunk bounds made from one chunk's first page, per worker.
_CUTS_PER_WORKER = 2


@dataclass(eq=False)
class _Chunk:
    """Keys after ``after`` (excluded; ``None``: from the scope's start) up to ``through`` (included;
    ``None``: to its end), or, for a prefix chunk, every key under ``prefix``."""

    after: str | None
    through: str | None
    prefix: str | None = None
    pages: deque[list[Any]] = field(default_factory=deque)
    state: str = "new"  # new, listing, done
    error: BaseException | None = None

    def holds(self, key: str) -> bool:
        return self.through is None or key <= self.through




class _Listing:
    """The shared state of one parallel listing: the chunks in key order and the workers."""

    def __init__(self, chunks: list[_Chunk], concurrency: int, *, page_size: int) -> None:
        self.chunks = chunks
        self.concurrency = concurrency
        self.window = 2 * concurrency
        self.page_size = page_size
        self.head = 0  # index of the chunk being handed on
        self.lock = threading.Condition()
        self.stopped = False

    # The caller's side ----------------------------------------------------------------------

    def pages(self, work: Callable[[], None]) -> Iterator[list[Any]]:
        threads = [
            threading.Thread(target=work, name=f"labelbridge-list-{n}", daemon=True) for n in range(self.concurrency)
        ]
        for thread in threads:
            thread.start()
        try:
            while True:
                with self.lock:
                    while True:
                        if self.head >= len(self.chunks):
                            return
                        chunk = self.chunks[self.head]
                        if chunk.pages:
                            page = chunk.pages.popleft()
                            break
                        if chunk.state == "done":
                            if chunk.error is not None:
                                raise chunk.error
                            self.head += 1
                            if self.head >= 1024:  # forget chunks handed on
                                del self.chunks[: self.head]
                                self.head = 0
                            self.lock.notify_all()  # the window moved
                            continue
                        self.lock.wait()
                    self.lock.notify_all()  # a full chunk has room again
                yield page
        finally:
            with self.lock:
                self.stopped = True
                self.lock.notify_all()
            for thread in threads:
                thread.join()

    # The workers' side ----------------------------------------------------------------------

    def claim(self) -> _Chunk | None:
        """The first chunk nobody lists yet within the window; ``None`` once there is no more work."""
        with self.lock:
            while not self.stopped:
                end = min(len(self.chunks), self.head + self.window)
                for chunk in self.chunks[self.head : end]:
                    if chunk.state == "new":
                        chunk.state = "listing"
                        return chunk
                if all(chunk.state != "new" for chunk in self.chunks[self.head :]) and not any(
                    chunk.state == "listing" for chunk in self.chunks[self.head :]
                ):
                    return None
                self.lock.wait()
            return None

    def fail(self, chunk: _Chunk, exc: BaseException) -> None:
        with self.lock:
            chunk.error = exc
            chunk.state = "done"
            self.lock.notify_all()

    def insert_after(self, chunk: _Chunk, new: list[_Chunk]) -> None:
        """(lock held) ``new`` right after ``chunk``, in order."""
        at = self.chunks.index(chunk, self.head) + 1
        self.chunks[at:at] = new

    def next_of(self, chunk: _Chunk) -> _Chunk | None:
        """(lock held)"""
        at = self.chunks.index(chunk, self.head) + 1
        return self.chunks[at] if at < len(self.chunks) else None


def ranged_pages(
    list_from: Callable[[str, str | None], Iterator[list[Obj]]], prefix: str, *, concurrency: int, page_size: int
) -> Iterator[list[Obj]]:
    """The listing of ``prefix``, in key order, listed in ranges by ``concurrency`` threads.

    :param list_from: ``(prefix, after)``: the raw listing of keys under ``prefix`` after ``after``
        (``None``: from the start), page by page.
    """
    listing = _Listing([_Chunk(after=None, through=None)], concurrency, page_size=page_size)

    def work() -> None:
        while (chunk := listing.claim()) is not None:
            if not _RangeWorker(listing, list_from, prefix, chunk).run():
                return

    return listing.pages(work)


class _RangeWorker:
    """Lists one claimed chunk, and the chunks after it while nobody else took them."""

    def __init__(
        self, listing: _Listing, list_from: Callable[[str, str | None], Iterator[list[Any]]], prefix: str,
        chunk: _Chunk,
    ) -> None:
        self.listing = listing
        self.list_from = list_from
        self.prefix = prefix
        self.chunk = chunk  # the chunk being listed now

    def run(self) -> bool:
        """``False`` when the listing failed (the error waits in its chunk) or was stopped."""
        pages = self.list_from(self.prefix, self.chunk.after)
        try:
            first = True
            for page in pages:
                with self.listing.lock:
                    if self.listing.stopped:
                        return False
                    more, first = self._take(page, first)
                    self.listing.lock.notify_all()
                if not more:
                    return True
            with self.listing.lock:
                # The listing reached the scope's end: the chunks after this one, cut on a guess,
                # hold nothing. Nobody needs to ask.
                at = self.listing.chunks.index(self.chunk, self.listing.head)
                for later in self.listing.chunks[at:]:
                    if later is self.chunk or later.state == "new":
                        later.state = "done"
                self.listing.lock.notify_all()
            return True
        except BaseException as exc:  # raised in the caller's thread, in key order
            self.listing.fail(self.chunk, exc)
            return False
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()

    def _take(self, page: list[Any], first: bool) -> tuple[bool, bool]:
        """(lock held) Hand ``page``'s keys to the chunks they fall in: (list on?, next page first?)."""
        listing, rest = self.listing, page
        while True:
            chunk = self.chunk
            kept = [obj for obj in rest if chunk.holds(obj.key)]
            if kept:
                chunk.pages.append(kept)
            if first and len(kept) == len(rest) and len(kept) >= max(2, listing.page_size // 2):
                # The chunk's first (full) page: cut the rest of it in chunks of about a page.
                cuts = _cuts(kept, self.prefix, chunk.through, listing.concurrency * _CUTS_PER_WORKER)
                if cuts:
                    bounds = [*cuts, chunk.through]
                    listing.insert_after(chunk, [_Chunk(after=a, through=b) for a, b in itertools.pairwise(bounds)])
                    chunk.through = cuts[0]
            first = False
            rest = rest[len(kept) :]
            if not rest:
                break
            # Past the chunk's bound: go on into the next chunk if nobody took it.
            chunk.state = "done"
            following = listing.next_of(chunk)
            if following is None or following.state != "new":
                return False, first
            following.state = "listing"
            self.chunk, first = following, True
        if len(self.chunk.pages) >= BUFFER_PAGES and page:
            # Far enough ahead: leave the rest of the chunk, to be listed later from here.
            chunk = self.chunk
            listing.insert_after(chunk, [_Chunk(after=page[-1].key, through=chunk.through)])
            chunk.through = page[-1].key
            chunk.state = "done"
            return False, first
        return True, first


def _cuts(page: Sequence[Listed], prefix: str, through: str | None, count: int) -> list[str]:
    """Up to ``count`` bounds after ``page``'s keys (and before ``through``), about a page apart.

    The keys' common stem is counted on in the characters seen where the first and last key
    part (``img/0000`` → ``img/0001``…``img/0009``, ``img/0010``…), its characters from the scope's
    prefix on; nothing when the stem is the prefix itself but for one character.
    """
    first, last = page[0].key, page[-1].key
    stem = os.path.commonprefix([first, last])  # noqa: RUF071 (characters, not path parts, are meant)
    if len(stem) >= len(last) or len(page) < 2:
        return []
    position = len(stem)
    digits = sorted({obj.key[position] for obj in page if len(obj.key) > position})
    if len(stem) <= len(prefix):
        # The page already varies in the first character after the prefix: count that one on.
        number = list(last[: position + 1])
        low = position
    else:
        number = list(stem)
        low = len(prefix)
    cuts: list[str] = []
    while len(cuts) < count:
        # A chunk of about PAGES_PER_CHUNK pages: its last request, the one past its bound, is
        # then one in PAGES_PER_CHUNK + 1 rather than every other one.
        if not all(_increment(number, digits, low) for _ in range(PAGES_PER_CHUNK)):
            break
        cut = "".join(number)
        if through is not None and cut >= through:
            break
        cuts.append(cut)
    return cuts


def _increment(number: list[str], digits: list[str], low: int) -> bool:
    """Count ``number`` on by one in ``digits`` (positions from ``low``); ``False`` past the last."""
    at = len(number) - 1
    while at >= low:
        higher = [d for d in digits if d > number[at]]
        if higher:
            number[at] = higher[0]
            return True
        number[at] = digits[0]
        at -= 1
    return False


def prefix_pages(
    top_level: Iterator[list[Obj | str]],
    list_prefix: Callable[[str], Iterator[list[Obj]]],
    *,
    concurrency: int,
    page_size: int,
) -> Iterator[list[Obj]] | None:
    """The listing, in key order, with each "folder" of ``top_level`` listed whole by a worker.

    :param top_level: the scope's first level as its delimiter listing returns it, in key order:
        objects, and folder prefixes (``str``).
    :returns: ``None`` when there is nothing to split (fewer than two folders) or more than
        ``LOOSE_PAGES`` pages of objects beside the folders (kept in memory until handed on):
        list the scope in one go instead.
    """
    items: list[Obj | str] = []
    held = 0
    for page in top_level:
        items.extend(page)
        held += sum(not isinstance(item, str) for item in page)
        if held > LOOSE_PAGES * page_size:
            return None
    # In key order: an emulator (Azurite) may put a page's folders after its objects.
    items.sort(key=lambda item: item if isinstance(item, str) else item.key)
    chunks: list[_Chunk] = []
    loose: list[Obj] = []
    for item in items:
        if isinstance(item, str):
            if loose:
                chunks.append(_Chunk(None, None, pages=deque([loose]), state="done"))
                loose = []
            chunks.append(_Chunk(None, None, prefix=item))
        else:
            loose.append(item)
    if loose:
        chunks.append(_Chunk(None, None, pages=deque([loose]), state="done"))
    if sum(chunk.prefix is not None for chunk in chunks) < 2:
        return None
    listing = _Listing(chunks, concurrency, page_size=page_size)

    def work() -> None:
        while (chunk := listing.claim()) is not None:
            assert chunk.prefix is not None
            try:
                for page in list_prefix(chunk.prefix):
                    with listing.lock:
                        # Wait for room: the chunks are all known and claimed in order, so the
                        # one being handed on is always listed by someone and room comes.
                        while len(chunk.pages) >= BUFFER_PAGES and not listing.stopped:
                            listing.lock.wait()
                        if listing.stopped:
                            return
                        chunk.pages.append(page)
                        listing.lock.notify_all()
                with listing.lock:
                    chunk.state = "done"
                    listing.lock.notify_all()
            except BaseException as exc:  # raised in the caller's thread, in key order
                listing.fail(chunk, exc)
                return

    return listing.pages(work)
