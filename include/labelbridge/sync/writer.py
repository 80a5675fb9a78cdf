"""The base of the per-mode writers: what a mode declares, and the task upsert both modes share.

A writer gets each batch of listed objects from the run loop (:mod:`labelbridge.sync.engine`) in
one of two ways: compared with the tasks in its key range (:meth:`ModeWriter.write_range`, only
for modes with ``compares_ranges``), or staged in ``_lb_listed`` first
(:meth:`ModeWriter.write_staged`). It never commits: the run loop commits each batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import psycopg
from psycopg import sql

from labelbridge.db.bulk import UpsertCounts, copy_rows, upsert_from_stage
from labelbridge.db.identity import TASK_KEY, same_uri
from labelbridge.storage import ObjectInfo
from labelbridge.sync.context import SyncContext
from labelbridge.sync.scope import SyncCounts

#: The columns a staged task row carries, in the order of ``task``'s upsert.
TASK_COLUMNS = ("project_id", "uri", "item_index", "data", "meta", "object_version", "deleted_at")
#: The listing's facts per object, staged in ``_lb_listed``.
_LISTED_COLUMNS = ("uri", "etag", "size_bytes", "last_modified", "version_id")

_HAS_DELETED_TASKS = "SELECT EXISTS (SELECT 1 FROM task WHERE project_id = %s AND deleted_at IS NOT NULL)"
_STAGED_JOIN_TASK = sql.SQL(
    "({tasks}) s {kind} JOIN task t"
    f" ON t.project_id = s.project_id AND {same_uri('t.uri', 's.uri')} AND t.item_index = s.item_index"
)
_COUNT_RESTORED = sql.SQL("SELECT count(*) FROM {join} WHERE t.deleted_at IS NOT NULL")
_NEW_TASKS = sql.SQL("SELECT s.uri, s.item_index FROM {join} WHERE t.id IS NULL")
_CHANGED_TASKS = sql.SQL("SELECT s.uri, s.item_index FROM {join} WHERE ({old}) IS DISTINCT FROM ({new})")


class ModeWriter(ABC):
    """How one sync mode writes a batch of listed objects as tasks.

    Subclasses say how they differ in class attributes; the run loop picks one per storage from
    :data:`labelbridge.sync.engine.WRITERS` and never tests the mode itself.
    """

    #: The table holding one row per listed object, where vanished objects are looked for.
    objects_table: ClassVar[str]
    #: Whether batches listed in order are compared with the tasks in their key range.
    compares_ranges: ClassVar[bool]

    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx

    def write_range(
        self,
        cur: psycopg.Cursor[Any],
        page: Sequence[ObjectInfo],
        uris: list[str],
        *,
        after: str | None,
        head: str,
        counts: SyncCounts,
    ) -> None:
        """Write a batch listed in order: only what differs from the tasks from ``after`` to its last URI."""
        raise NotImplementedError(f"{type(self).__name__} does not compare key ranges (compares_ranges is False)")

    @abstractmethod
    def write_staged(self, cur: psycopg.Cursor[Any], page: Sequence[ObjectInfo], counts: SyncCounts) -> None:
        """Write a batch already staged in ``_lb_listed`` (by :meth:`stage_listing`)."""

    def stage_listing(self, cur: psycopg.Cursor[Any], objects: Sequence[ObjectInfo], uris: Sequence[str]) -> None:
        """(Re)fill ``_lb_listed`` with the listing's facts of ``objects``."""
        copy_rows(
            cur,
            "_lb_listed",
            "source_object",
            _LISTED_COLUMNS,
            ((uri, o.etag, o.size_bytes, o.last_modified, o.version_id) for o, uri in zip(objects, uris, strict=True)),
        )

    def upsert_tasks(
        self, cur: psycopg.Cursor[Any], counts: SyncCounts, *, stage: str, tasks: sql.Composable, compare_version: bool
    ) -> UpsertCounts:
        """Upsert the tasks ``tasks`` selects (one per row of ``stage``); a soft-deleted one is restored.

        :param compare_version: whether another object version alone makes a task "updated".
        """
        if self._project_has_deleted_tasks(cur):
            inner = _STAGED_JOIN_TASK.format(tasks=tasks, kind=sql.SQL(""))
            restored = cur.execute(_COUNT_RESTORED.format(join=inner)).fetchone()
            counts.restored += int(restored[0]) if restored else 0
        compare = ["data", "meta", "deleted_at"] + (["object_version"] if compare_version else [])
        if self.ctx.on_change is not None:
            outer = _STAGED_JOIN_TASK.format(tasks=tasks, kind=sql.SQL("LEFT"))
            self.ctx.report(cur, "insert", _NEW_TASKS.format(join=outer))
            inner = _STAGED_JOIN_TASK.format(tasks=tasks, kind=sql.SQL(""))
            changed = _CHANGED_TASKS.format(
                join=inner,
                old=sql.SQL(", ").join(sql.SQL("t.{}").format(sql.Identifier(c)) for c in compare),
                new=sql.SQL(", ").join(sql.SQL("s.{}").format(sql.Identifier(c)) for c in compare),
            )
            self.ctx.report(cur, "update", changed)
        return upsert_from_stage(
            cur, stage, "task", columns=TASK_COLUMNS, key=TASK_KEY, compare=compare,
            extra_set={"updated_at": sql.SQL("now()")}, select=tasks,
        )

    def _project_has_deleted_tasks(self, cur: psycopg.Cursor[Any]) -> bool:
        # Answered by a partial index; most runs have nothing to restore and skip the join.
        row = cur.execute(_HAS_DELETED_TASKS, (self.ctx.project_id,)).fetchone()
        return bool(row and row[0])
