"""Batched writes: COPY into a staging table, then one set-based upsert.

Measured by ``bench/upsert.py``: COPY + ``INSERT … ON CONFLICT … DO UPDATE … WHERE … IS
DISTINCT FROM`` against ``executemany``. The ``WHERE`` keeps unchanged rows untouched: a re-sync
of an unchanged bucket rewrites no row (no new tuple, no ``updated_at`` bump, no WAL).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Json, Jsonb


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        """Counts of two batches together (``bench/upsert.py`` sums its batches)."""
        return UpsertCounts(
            self.inserted + other.inserted, self.updated + other.updated, self.unchanged + other.unchanged
        )


def copy_rows(
    cur: psycopg.Cursor[Any],
    stage: str,
    like_table: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> int:
    """(Re)fill temp table ``stage`` by COPY.

    :param like_table: create ``stage`` when missing with this table's types for ``columns``
        (no constraints); ``None`` when the caller created it.
    :returns: the number of rows copied.
    """
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    created = _created_stages.setdefault(cur.connection, set())
    if like_table is not None and stage not in created:
        cur.execute(
            sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {stage} AS SELECT {cols} FROM {table} WITH NO DATA").format(
                stage=sql.Identifier(stage), cols=cols, table=sql.Identifier(like_table)
            )
        )
    cur.execute(sql.SQL("TRUNCATE {stage}").format(stage=sql.Identifier(stage)))
    count = copy_into(cur, stage, columns, rows)
    # Remembered only once the transaction that created the table commits or goes on: a
    # rollback drops it, so forget_stages() is called on rollback.
    created.add(stage)
    return count


def copy_into(cur: psycopg.Cursor[Any], table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Append ``rows`` to ``table`` by COPY; columns left out take their defaults.

    :returns: the number of rows copied.
    """
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    count = 0
    with cur.copy(sql.SQL("COPY {table} ({cols}) FROM STDIN").format(table=sql.Identifier(table), cols=cols)) as copy:
        # Rows are formatted as COPY text here, in chunks: psycopg's write_row adapts value by
        # value and was a third of a sync's time at 100k objects.
        lines: list[str] = []
        for row in rows:
            lines.append("\t".join(map(copy_text, row)))
            count += 1
            if len(lines) == _COPY_CHUNK:
                copy.write("\n".join(lines) + "\n")
                lines = []
        if lines:
            copy.write("\n".join(lines) + "\n")
    return count


_COPY_CHUNK = 1000
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def copy_text(value: Any) -> str:
    """One value in COPY's text format (``\\N`` is NULL)."""
    if type(value) is str:  # the common case first, and escaped only when it must be
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.translate(_COPY_ESCAPES)
        return value
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Json | Jsonb):  # psycopg's JSON wrappers
        value = value.obj
    if isinstance(value, dict | list):
        return json.dumps(value).translate(_COPY_ESCAPES)
    raise TypeError(
        f"cannot COPY a {type(value).__name__}; pass str, int, float, bool, datetime, dict, list, Jsonb or None"
    )


_created_stages: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def forget_stages(conn: psycopg.Connection[Any]) -> None:
    """After a rollback: temp tables created in that transaction are gone."""
    _created_stages.pop(conn, None)


def upsert_from_stage(
    cur: psycopg.Cursor[Any],
    stage: str,
    table: str,
    *,
    columns: Sequence[str],
    key: Sequence[str | sql.Composable],
    compare: Sequence[str],
    extra_set: dict[str, sql.Composable] | None = None,
    select: sql.Composable | None = None,
) -> UpsertCounts:
    """Insert new rows and update changed ones from ``stage`` into ``table``, in one statement.

    :param key: the conflict target (a unique index of ``table``): column names, or expressions
        of an expression index (:mod:`labelbridge.db.identity`).
    :param compare: columns whose change makes a row "updated"; rows equal on all of them are
        left untouched and counted as unchanged.
    :param extra_set: further assignments on update only (e.g. ``updated_at = now()``).
    :param select: the query producing ``columns`` (default: all of them from ``stage``), e.g.
        a join that resolves foreign keys.
    The stage must not hold two rows with the same key.
    """
    set_items = [sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in compare]
    set_items += [sql.SQL("{c} = {v}").format(c=sql.Identifier(c), v=v) for c, v in (extra_set or {}).items()]
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    target = sql.Identifier(table)
    query = sql.SQL(
        """
        WITH written AS (
            INSERT INTO {target} AS t ({cols})
            {select}
            ON CONFLICT ({key}) DO UPDATE SET {sets}
            WHERE ({old}) IS DISTINCT FROM ({new})
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted),
               (SELECT count(*) FROM {stage})
        FROM written
        """
    ).format(
        target=target,
        cols=cols,
        select=select or sql.SQL("SELECT {cols} FROM {stage}").format(cols=cols, stage=sql.Identifier(stage)),
        stage=sql.Identifier(stage),
        key=sql.SQL(", ").join(sql.Identifier(k) if isinstance(k, str) else k for k in key),
        sets=sql.SQL(", ").join(set_items),
        old=sql.SQL(", ").join(sql.SQL("t.{c}").format(c=sql.Identifier(c)) for c in compare),
        new=sql.SQL(", ").join(sql.SQL("EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in compare),
    )
    row = cur.execute(query).fetchone()
    assert row is not None
    inserted, updated, staged = (int(v) for v in row)
    return UpsertCounts(inserted, updated, staged - inserted - updated)
