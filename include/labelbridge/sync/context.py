"""What every part of one run shares: the connection, the store, the storage's registered ids, what
this storage would list, and how a dry run reports would-be changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from labelbridge.config import StorageConfig
from labelbridge.db.identity import any_uri
from labelbridge.storage import ObjectStore
from labelbridge.sync.sources import PageSource

ChangeReporter = Callable[[str, str, int], None]
"""Called with (action, uri, item_index) for each would-be change in a dry run."""

_LIVE_TASKS_OF = (
    f"SELECT uri, item_index FROM task WHERE project_id = %(project)s AND {any_uri('uri', '%(uris)s')}"
    " AND deleted_at IS NULL ORDER BY uri, item_index"
)


@dataclass(frozen=True)
class SyncContext:
    """One storage being synced through one connection, after its project and storage rows exist.

    :param exclude_prefixes: keys under these are never tasks (export targets on the same bucket).
    :param dry_run: nothing is committed; the run rolls back at its end.
    :param on_change: in a dry run, told of each would-be insert, update and delete.
    """

    conn: psycopg.Connection[Any]
    store: ObjectStore
    storage: StorageConfig
    project_id: int
    storage_id: int
    exclude_prefixes: tuple[str, ...] = ()
    dry_run: bool = False
    on_change: ChangeReporter | None = None
    #: Where the run's objects come from; its ``as_of`` is set once its first page is read.
    source: PageSource | None = None

    @property
    def as_of(self) -> datetime | None:
        """When the pages were a complete listing (an inventory report's date); ``None``: now."""
        return self.source.as_of if self.source is not None else None

    def commit(self) -> None:
        if not self.dry_run:
            self.conn.commit()

    def excluded(self, key: str) -> bool:
        return key.startswith(self.exclude_prefixes) if self.exclude_prefixes else False

    def in_scope(self, uri: str) -> bool:
        """Whether this storage would list ``uri``: its bucket, its key pattern, not excluded."""
        try:
            key = self.store.key_from_uri(uri)
        except ValueError:
            return False
        return self.store.wants(key) and not self.excluded(key)

    def report(self, cur: psycopg.Cursor[Any], action: str, query: str | sql.SQL | sql.Composed) -> None:
        """Tell ``on_change`` of each (uri, item_index) row ``query`` selects (``%(project)s`` bound)."""
        if self.on_change is None:
            return
        for uri, index in cur.execute(query, {"project": self.project_id}).fetchall():
            self.on_change(action, uri, index)

    def report_many(self, cur: psycopg.Cursor[Any], action: str, uris: list[str]) -> None:
        """Tell ``on_change`` of each live task of these URIs."""
        if self.on_change is None:
            return
        for uri, index in cur.execute(_LIVE_TASKS_OF, {"project": self.project_id, "uris": uris}).fetchall():
            self.on_change(action, uri, index)
