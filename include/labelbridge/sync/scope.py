"""What one run lists and may soft-delete in (:class:`Scope`), how much of it a listing is known to
cover (:class:`Coverage`), and what the run did (:class:`SyncCounts`)."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from labelbridge.db.bulk import UpsertCounts


@dataclass
class SyncCounts:
    """What one run did; the same numbers go to the DB, the log and XCom."""

    listed: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    restored: int = 0
    quarantined: int = 0
    seconds: float = 0.0
    #: Where the objects came from when it was not the bucket's listing (an inventory report,
    #: or the listing an inventory fell back to): said in the summary and XCom.
    source: str | None = None

    def add(self, upsert: UpsertCounts) -> None:
        self.inserted += upsert.inserted
        self.updated += upsert.updated
        self.unchanged += upsert.unchanged

    def absorb(self, other: SyncCounts) -> None:
        """Add ``other``'s counts to these, in place."""
        for name, value in asdict(other).items():
            if name != "source":
                setattr(self, name, getattr(self, name) + value)
        self.source = self.source or other.source

    def merge(self, other: SyncCounts) -> SyncCounts:
        """Sum of two runs (shards, scopes); ``seconds`` sums too: worker time, not wall time."""
        summed = SyncCounts(**{k: v + getattr(other, k) for k, v in asdict(self).items() if k != "source"})
        summed.source = self.source or other.source
        return summed

    def as_dict(self) -> dict[str, int | float | str]:
        values: dict[str, int | float | str] = {k: v for k, v in asdict(self).items() if k != "source"}
        values["seconds"] = round(self.seconds, 3)
        if self.source is not None:
            values["source"] = self.source
        return values

    def summary(self) -> str:
        return (
            f"listed={self.listed} inserted={self.inserted} updated={self.updated} unchanged={self.unchanged} "
            f"deleted={self.deleted} restored={self.restored} quarantined={self.quarantined} "
            f"in {self.seconds:.1f}s" + (f" from {self.source}" if self.source else "")
        )


@dataclass(frozen=True)
class Scope:
    """The part of a storage one run lists, and so the only part it may soft-delete in.

    :param prefix: list keys under it.
    :param recursive: ``False`` covers only objects directly under ``prefix`` (a root shard).
    """

    prefix: str
    recursive: bool = True

    def describe(self) -> str:
        """The prefix as the run's bookkeeping row records it."""
        return self.prefix + ("" if self.recursive else " (this level only)")


@dataclass
class Coverage:
    """How much of its scope a listing is known to cover, to find what vanished from it.

    Listings come back in UTF-8 byte order, the order of ``task.uri`` (collation "C"). While
    batches arrive in that order, each covers the URIs after the previous batch's last up to its
    own last, so the tasks in that range it lacks have vanished. From the first batch out of order
    on, or when ranges are not compared at all, listed URIs are remembered as seen instead, and
    everything past ``covered_to`` is checked against them at the end.

    :param head: the URI of the scope's prefix; every URI in scope starts with it.
    """

    head: str
    in_order: bool
    covered_to: str | None = None

    def extends(self, uris: Sequence[str]) -> bool:
        """Whether this batch continues the listing in order; once one does not, none does."""
        if self.in_order and uris:
            in_order = all(map(operator.lt, uris, uris[1:]))
            if in_order and (self.covered_to is None or uris[0] > self.covered_to):
                self.covered_to = uris[-1]
            else:
                self.in_order = False
        return self.in_order


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching what starts with ``prefix`` (its wildcards escaped)."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
