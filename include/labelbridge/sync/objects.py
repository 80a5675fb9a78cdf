"""Objects mode: every listed object is one task, ``{media_field: uri}`` at index 0.

While the listing comes in byte order (as S3, GCS and Azure list), a batch is compared with the
project's tasks in its key range, read from the unique index: new objects' tasks are COPYed in,
changed ones upserted, unchanged ones not touched, and tasks in the range the batch lacks are
remembered in ``_lb_gone`` as vanished. A batch out of order is staged and upserted whole.

The task row itself holds the object's version, so this mode keeps no ``source_object`` rows
(that table serves files holding many tasks).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql

from labelbridge.db.bulk import copy_into, copy_text
from labelbridge.storage import ObjectInfo
from labelbridge.storage.columns import ObjectColumns
from labelbridge.sync.scope import SyncCounts
from labelbridge.sync.writer import ModeWriter

#: Existing tasks read per round trip when comparing a batch with its key range (bounds memory
#: when a large part of the range vanished).
RANGE_FETCH = 20000

# (uri, version, soft-deleted, data and meta as this storage writes them) of tasks in a key range.
# The index holds each URI's head (uri_key_head, monotone in byte order): the range is bounded on it
# for the index and on uri exactly; ordering by head then uri is uri order, the index's order but
# for URIs sharing a long head.
_TASKS_IN_RANGE = sql.SQL(
    # A task soft-deleted at or after an inventory report's date (%(as_of)s) counts as live: the
    # report, older than the deletion, must not restore it.
    "SELECT uri, object_version, deleted_at IS NOT NULL AND deleted_at < coalesce(%(as_of)s::timestamptz, 'infinity'),"
    " data = jsonb_build_object(%(field)s::text, uri) AND meta = '{{}}'::jsonb"
    " FROM task WHERE project_id = %(project)s AND item_index = 0"
    " AND uri_key_head(uri) >= uri_key_head(%(low)s) AND uri_key_head(uri) <= uri_key_head(%(high)s)"
    " AND uri {op} %(low)s AND uri <= %(high)s ORDER BY uri_key_head(uri), uri LIMIT %(limit)s"
)
_RANGE_START = {True: sql.SQL(">="), False: sql.SQL(">")}
_REMEMBER_GONE = "INSERT INTO _lb_gone SELECT unnest(%s::text[])"
# One task per object staged in _lb_listed, made in SQL: no per-object Python, no second stage.
_LISTED_AS_TASKS = sql.SQL(
    "SELECT {project}::integer AS project_id, uri, 0 AS item_index,"
    " jsonb_build_object({field}::text, uri) AS data,"
    " '{{}}'::jsonb AS meta, coalesce(version_id, etag) AS object_version, NULL::timestamptz AS deleted_at"
    " FROM _lb_listed"
)
_NEW_TASK_COLUMNS = ("project_id", "uri", "data", "object_version")
_COPY_NEW_TASKS = "COPY task (project_id, uri, data, object_version) FROM STDIN"

_KnownTask = tuple[str | None, bool, bool]
"""(version, soft-deleted, same data) of a task, as read from its range."""


class ObjectsWriter(ModeWriter):
    objects_table = "task"
    compares_ranges = True

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
        """Write only what differs from the tasks in the batch's range.

        The range runs from ``after`` (the previous batch's last URI, excluded; ``head`` included
        for the first batch) to the batch's last URI.
        """
        known = self._known_tasks(cur, uris, after=after, head=head)
        if not known:  # no task of these objects yet (a first sync): all are new, nothing to compare
            self._insert_new_tasks(cur, page, uris, None, counts)
            return
        versions = page.versions().to_pylist() if isinstance(page, ObjectColumns) else [
            o.etag if o.version_id is None else o.version_id for o in page
        ]
        new: list[int] = []
        changed: list[int] = []
        get = known.get
        for n, (uri, version) in enumerate(zip(uris, versions, strict=True)):
            task = get(uri)
            if task is None:
                new.append(n)
            elif task != (version, False, True):  # another version, soft-deleted, or other data
                changed.append(n)
        counts.unchanged += len(page) - len(new) - len(changed)
        if new:
            self._insert_new_tasks(cur, page, uris, new, counts)
        if changed:
            self.stage_listing(cur, [page[n] for n in changed], [uris[n] for n in changed])
            self.write_staged(cur, page, counts)

    def write_staged(self, cur: psycopg.Cursor[Any], page: Sequence[ObjectInfo], counts: SyncCounts) -> None:
        """Upsert one task per object staged in ``_lb_listed``, keyed by its URI."""
        tasks = _LISTED_AS_TASKS.format(
            project=sql.Literal(self.ctx.project_id), field=sql.Literal(self.ctx.storage.media_field)
        )
        counts.add(self.upsert_tasks(cur, counts, stage="_lb_listed", tasks=tasks, compare_version=True))

    def _known_tasks(
        self, cur: psycopg.Cursor[Any], uris: list[str], *, after: str | None, head: str
    ) -> dict[str, _KnownTask]:
        """The range's tasks of listed URIs; live ones in scope but not listed go to ``_lb_gone``."""
        listed: set[str] | None = None  # made only if the range holds tasks
        known: dict[str, _KnownTask] = {}
        for tasks in self._tasks_in_range(cur, after or head, uris[-1], inclusive=after is None):
            if not tasks:
                continue
            if listed is None:
                listed = set(uris)
            gone = []
            for uri, version, deleted, same_data in tasks:
                if uri in listed:
                    known[uri] = (version, deleted, same_data)
                elif not deleted and self.ctx.in_scope(uri):
                    gone.append(uri)
            if gone:
                cur.execute(_REMEMBER_GONE, (gone,))
        return known

    def _tasks_in_range(
        self, cur: psycopg.Cursor[Any], low: str, high: str, *, inclusive: bool
    ) -> Iterator[list[tuple[str, str | None, bool, bool]]]:
        """The project's tasks at index 0 from ``low`` to ``high``: (uri, version, deleted, same data).

        Read from the unique index in rounds of RANGE_FETCH, each starting after the last.
        """
        while True:
            params = {"field": self.ctx.storage.media_field, "project": self.ctx.project_id, "low": low,
                      "high": high, "limit": RANGE_FETCH, "as_of": self.ctx.as_of}
            tasks = cur.execute(_TASKS_IN_RANGE.format(op=_RANGE_START[inclusive]), params).fetchall()
            yield tasks
            if len(tasks) < RANGE_FETCH:
                return
            low, inclusive = tasks[-1][0], False

    def _insert_new_tasks(
        self, cur: psycopg.Cursor[Any], page: Sequence[ObjectInfo], uris: list[str], new: list[int] | None,
        counts: SyncCounts,
    ) -> None:
        """COPY the tasks of objects the index had none for (``new``: their positions; ``None``:
        all): no conflict check to pay per row."""
        if new is None and isinstance(page, ObjectColumns):
            lines = _task_lines(page, self.ctx.store.uri(""), self.ctx.project_id, self.ctx.storage.media_field)
        else:
            lines = None
        positions = range(len(page)) if new is None else new
        try:
            with self.ctx.conn.transaction():  # a savepoint: the batch's transaction is open
                if lines is not None:
                    with cur.copy(_COPY_NEW_TASKS) as copy:
                        for chunk in lines:
                            copy.write(chunk)
                else:
                    field = json.dumps(self.ctx.storage.media_field)
                    versions = (page.versions().to_pylist() if isinstance(page, ObjectColumns)
                                else [o.etag if o.version_id is None else o.version_id for o in page])
                    rows = ((self.ctx.project_id, uris[n], f"{{{field}: {json.dumps(uris[n])}}}", versions[n])
                            for n in positions)
                    copy_into(cur, "task", _NEW_TASK_COLUMNS, rows)
        except psycopg.errors.UniqueViolation:
            # A sync of another storage on the same bucket wrote some since the range was read.
            objects = [page[n] for n in positions]
            self.stage_listing(cur, objects, [uris[n] for n in positions])
            self.write_staged(cur, objects, counts)
            return
        counts.inserted += len(positions)
        if self.ctx.on_change is not None:
            for n in positions:
                self.ctx.on_change("insert", uris[n], 0)


# What COPY's text format (backslash, tab, newline, carriage return) or JSON (quote, backslash,
# control characters) would have to escape: a batch holding any goes the Python way.
_NEEDS_ESCAPING_IN_JSON = r'[\x00-\x1f"\\]'
_NEEDS_ESCAPING_IN_COPY = r"[\t\n\r\\]"


def _task_lines(page: ObjectColumns, head: str, project_id: int, field: str) -> list[memoryview] | None:
    """The COPY text of one new task per object of ``page``, made by Arrow: one line per object,
    ``project \t uri \t {"field": "uri"} \t version``, handed over as Arrow's own buffers.

    ``None`` when a key or version holds a character COPY or JSON must escape (then the
    caller formats the batch in Python). Non-ASCII stays as it is: JSON allows it, and jsonb
    stores it as ``json.dumps``'s ``\\u`` escapes would.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    keys, versions = page.keys(), page.versions()
    if pc.any(pc.match_substring_regex(keys, _NEEDS_ESCAPING_IN_JSON)).as_py() or pc.any(
        pc.match_substring_regex(versions, _NEEDS_ESCAPING_IN_COPY)
    ).as_py():
        return None
    uri_head = copy_text(head)
    json_head = copy_text("{" + json.dumps(field) + ": " + json.dumps(head)[:-1])
    lines = pc.binary_join_element_wise(
        f"{project_id}\t{uri_head}", keys, f"\t{json_head}", keys, copy_text('"}') + "\t",
        pc.fill_null(versions, "\\N"), "\n", "",
    )
    views = []
    for chunk in lines.chunks:
        if len(chunk):
            # A string array's values, one after the other: its data buffer between its first
            # and last offsets.
            offsets = pa.Array.from_buffers(pa.int32(), len(chunk) + 1, [None, chunk.buffers()[1]], offset=chunk.offset)
            views.append(memoryview(chunk.buffers()[2])[offsets[0].as_py() : offsets[len(chunk)].as_py()])
    return views

