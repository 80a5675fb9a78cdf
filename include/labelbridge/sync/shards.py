"""Sharding a large storage's listing by prefix, for dynamic task mapping.

A plan is a bounded list of small descriptors (prefix names, never keys), so XCom stays small
and the scheduler never sees more than ``max_shards`` mapped tasks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from labelbridge.storage import ObjectStore
from labelbridge.sync.scope import Scope

#: Airflow's scheduler degrades past about a thousand mapped task instances.
DEFAULT_MAX_SHARDS = 64


@dataclass(frozen=True)
class Shard:
    """One mapped task's part of a listing.

    :param prefixes: folders listed recursively.
    :param root: when set, the objects directly under it (not in folders) belong to this shard.
    """

    prefixes: tuple[str, ...]
    root: str | None = None

    def scopes(self) -> Iterator[Scope]:
        if self.root is not None:
            yield Scope(self.root, recursive=False)
        for prefix in self.prefixes:
            yield Scope(prefix)

    def to_xcom(self) -> dict[str, Any]:
        return {"prefixes": list(self.prefixes), "root": self.root}

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> Shard:
        return cls(tuple(value.get("prefixes") or ()), value.get("root"))


def plan_shards(store: ObjectStore, prefix: str, *, max_shards: int = DEFAULT_MAX_SHARDS) -> list[Shard]:
    """Split the listing under ``prefix`` by its first-level folders, into at most ``max_shards``.

    Folders are grouped in sorted, contiguous runs of near-equal size; the first shard also
    takes the objects directly under ``prefix``.
    """
    if max_shards < 1:
        raise ValueError(f"max_shards must be at least 1, got {max_shards}")
    folders = sorted(store.list_prefixes(prefix))
    groups = max(1, min(max_shards, len(folders)))
    size, extra = divmod(len(folders), groups)
    shards: list[Shard] = []
    start = 0
    for index in range(groups):
        end = start + size + (1 if index < extra else 0)
        shards.append(Shard(tuple(folders[start:end]), root=prefix if index == 0 else None))
        start = end
    return shards
