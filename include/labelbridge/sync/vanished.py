"""Soft deletes of tasks whose objects vanished, and nothing else.

Called only after a listing completed (a partial listing deletes nothing), and only within what
that listing covered: the tasks the objects writer remembered in ``_lb_gone`` from the key ranges
listed in order, plus those past the last covered URI that the listing did not return (``_lb_seen``).
A task is soft-deleted (``deleted_at``), never removed: its annotations stay, and it is restored
when its object comes back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from labelbridge.db.identity import any_uri, uri_head
from labelbridge.sync.context import SyncContext
from labelbridge.sync.scope import Coverage, Scope, SyncCounts, like_prefix

#: Candidates fetched per round trip when looking for vanished objects.
DELETE_BATCH = 2000

# A hash index: equality is all the anti-join asks, and it takes URIs of any length.
_INDEX_SEEN = "CREATE INDEX _lb_seen_uri ON _lb_seen USING hash (uri)"
_ANALYZE_SEEN = "ANALYZE _lb_seen"
# Candidates: what was remembered as gone, and the live objects under the scope's prefix (past
# the covered ranges; only one level down for a root shard), less what was seen when that is used.
# Each bound on o.uri has its twin on uri_key_head(o.uri), the column the unique index holds.
_VANISHED = sql.SQL("""
    SELECT c.uri FROM (
        SELECT uri FROM _lb_gone
        UNION ALL
        SELECT o.uri FROM {objects} o
        WHERE o.project_id = %(project)s AND o.deleted_at IS NULL
          AND uri_key_head(o.uri) LIKE %(head_like)s AND o.uri LIKE %(like)s {one_level} {past_covered}
    ) c {not_seen}
""")
_ONE_LEVEL = sql.SQL("AND strpos(substr(o.uri, %(cut)s), '/') = 0")
_PAST_COVERED = sql.SQL("AND uri_key_head(o.uri) >= uri_key_head(%(covered_to)s) AND o.uri > %(covered_to)s")
_NOT_SEEN = sql.SQL("WHERE NOT EXISTS (SELECT 1 FROM _lb_seen s WHERE s.uri = c.uri)")
_LIVE_UNDER = sql.SQL(
    "SELECT o.uri FROM {objects} o WHERE o.project_id = %(project)s AND o.deleted_at IS NULL"
    " AND uri_key_head(o.uri) LIKE %(head_like)s AND o.uri LIKE %(like)s"
)
# Cursors are planned for their first rows (a nested loop over the seen list); we read them all.
_READ_CURSORS_WHOLE = "SET LOCAL cursor_tuple_fraction = 1.0"
_SOFT_DELETE_TASKS = (
    "UPDATE task SET deleted_at = now(), updated_at = now()"
    f" WHERE project_id = %(project)s AND {any_uri('uri', '%(uris)s')} AND deleted_at IS NULL"
)
_SOFT_DELETE_OBJECTS = (
    f"UPDATE source_object SET deleted_at = now() WHERE project_id = %(project)s AND {any_uri('uri', '%(uris)s')}"
)
# Tasks written at or after an inventory report's date: something newer than the report (an
# event, a listing) saw their objects, so the report's silence about them proves nothing.
_WRITTEN_SINCE = (
    f"SELECT DISTINCT uri FROM task WHERE project_id = %(project)s AND {any_uri('uri', '%(uris)s')}"
    " AND updated_at >= %(as_of)s"
)
_NOTHING = sql.SQL("")


def soft_delete_vanished(
    ctx: SyncContext,
    cur: psycopg.Cursor[Any],
    *,
    objects_table: str,
    scope: Scope,
    coverage: Coverage,
    counts: SyncCounts,
    as_of: datetime | None = None,
) -> None:
    """Soft-delete tasks of objects in scope that this (complete) listing did not return.

    They are the tasks remembered as gone from the ranges the listing covered in order, and
    those past the last of them that were not seen.

    :param objects_table: where the storage's mode keeps one row per object.
    :param as_of: when the listing was complete (an inventory report's date); tasks written since
        are left alone. ``None``: a live listing, complete now.
    """
    if not coverage.in_order:
        # Indexed once, here, rather than on every append; with it the anti-join stays fast
        # whatever the planner believes about freshly written tables.
        cur.execute(_INDEX_SEEN)
        cur.execute(_ANALYZE_SEEN)
    query = _VANISHED.format(
        objects=sql.Identifier(objects_table),
        one_level=_NOTHING if scope.recursive else _ONE_LEVEL,
        past_covered=_NOTHING if coverage.covered_to is None else _PAST_COVERED,
        not_seen=_NOTHING if coverage.in_order else _NOT_SEEN,
    )
    params = {"project": ctx.project_id, "like": like_prefix(coverage.head),
              "head_like": like_prefix(uri_head(coverage.head)), "cut": len(coverage.head) + 1,
              "covered_to": coverage.covered_to}
    _delete_objects(ctx, cur, query, params, keep=ctx.in_scope, counts=counts, as_of=as_of)


def soft_delete_outside(
    ctx: SyncContext, *, objects_table: str, covered: Sequence[str], root: str
) -> SyncCounts:
    """After a sharded sync: soft-delete objects in sub-folders of ``root`` no shard covered.

    Shards list the folders that exist; a folder deleted whole is in none of them, so
    its tasks are found here. Call only when every shard's listing completed.
    """
    counts = SyncCounts()
    covered_prefixes = tuple(covered)

    def orphaned(uri: str) -> bool:
        if not ctx.in_scope(uri):
            return False
        key = ctx.store.key_from_uri(uri)
        in_folder = "/" in key[len(root) :]
        return in_folder and not key.startswith(covered_prefixes)

    with ctx.conn.cursor() as cur:
        query = _LIVE_UNDER.format(objects=sql.Identifier(objects_table))
        head = ctx.store.uri(root)
        params = {"project": ctx.project_id, "like": like_prefix(head), "head_like": like_prefix(uri_head(head))}
        _delete_objects(ctx, cur, query, params, keep=orphaned, counts=counts)
    return counts


def _delete_objects(
    ctx: SyncContext,
    cur: psycopg.Cursor[Any],
    query: sql.Composed,
    params: dict[str, Any],
    *,
    keep: Callable[[str], bool],
    counts: SyncCounts,
    as_of: datetime | None = None,
) -> None:
    """Soft-delete the tasks (and source objects) of the URIs ``query`` selects that ``keep`` accepts."""
    # A server-side cursor: a prefix that vanished whole is streamed, not loaded.
    cur.execute(_READ_CURSORS_WHOLE)
    with ctx.conn.cursor(name="lb_vanished") as candidates:
        candidates.execute(query, params)
        while batch := candidates.fetchmany(DELETE_BATCH):
            # Another storage of the project may share the prefix with another key pattern:
            # only objects this storage would have listed are ours to delete.
            gone = [uri for (uri,) in batch if keep(uri)]
            if gone and as_of is not None:
                newer = {u for (u,) in cur.execute(_WRITTEN_SINCE, {"project": ctx.project_id, "uris": gone,
                                                                    "as_of": as_of})}
                gone = [uri for uri in gone if uri not in newer]
            if not gone:
                continue
            ctx.report_many(cur, "delete", gone)
            cur.execute(_SOFT_DELETE_TASKS, {"project": ctx.project_id, "uris": gone})
            counts.deleted += cur.rowcount
            cur.execute(_SOFT_DELETE_OBJECTS, {"project": ctx.project_id, "uris": gone})
    ctx.commit()


def soft_delete_uris(ctx: SyncContext, cur: psycopg.Cursor[Any], uris: list[str], counts: SyncCounts) -> None:
    """Soft-delete the tasks (and source objects) of these URIs, known deleted (a bucket event said so)."""
    ctx.report_many(cur, "delete", uris)
    cur.execute(_SOFT_DELETE_TASKS, {"project": ctx.project_id, "uris": uris})
    counts.deleted += cur.rowcount
    cur.execute(_SOFT_DELETE_OBJECTS, {"project": ctx.project_id, "uris": uris})
