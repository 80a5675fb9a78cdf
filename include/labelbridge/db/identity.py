"""How SQL finds a row by its URI: through the URI key the unique indexes hold (migration 0006).

A unique index holds ``uri_key_head(uri)`` (the first :data:`URI_HEAD_CHARS` characters) and
``uri_key_tail(uri)`` (empty for a URI of at most 600 bytes, else its SHA-256) in place of the URI,
so that a name of any length fits a B-tree entry. PostgreSQL cannot use such an index for a
condition on ``uri`` alone: every lookup, join and range read names the key expressions beside its
exact ``uri`` condition, and every ``ON CONFLICT`` names the index's expressions. The helpers here
write those pieces, so no query spells them differently.
"""

from __future__ import annotations

from psycopg import sql

#: Characters of a URI the unique indexes hold in order; must equal ``uri_key_head`` in 0006.
URI_HEAD_CHARS = 600

#: The conflict targets (unique indexes) of the tables keyed by a URI, for ``upsert_from_stage``.
TASK_KEY: tuple[str | sql.Composable, ...] = (
    "project_id", sql.SQL("uri_key_head(uri)"), sql.SQL("uri_key_tail(uri)"), "item_index"
)
SOURCE_OBJECT_KEY: tuple[str | sql.Composable, ...] = (
    "project_id", sql.SQL("uri_key_head(uri)"), sql.SQL("uri_key_tail(uri)")
)
#: The quarantine's conflict target as SQL text, for its hand-written ``ON CONFLICT (…)``.
QUARANTINE_CONFLICT = "storage_id, uri_key_head(uri), uri_key_tail(uri), item_index"


def same_uri(column: str, other: str) -> str:
    """SQL saying ``column`` holds the URI ``other`` holds, in a form the unique indexes answer.

    :param column: the indexed side (``t.uri``); ``other`` is a column, parameter or expression.
    """
    return (
        f"uri_key_head({column}) = uri_key_head({other}) AND uri_key_tail({column}) = uri_key_tail({other})"
        f" AND {column} = {other}"
    )


def any_uri(column: str, uris: str) -> str:
    """SQL saying ``column`` holds one of the URIs in the text array ``uris``, in a form the unique indexes answer.

    The heads go in an array of their own, which the planner probes the index with; joined with
    ``unnest`` instead, it hashed the whole table (110 ms against 36 ms for 2,000 URIs among 200k tasks).
    """
    heads = f"ARRAY (SELECT uri_key_head(u) FROM unnest({uris}::text[]) AS u)"
    return f"uri_key_head({column}) = ANY ({heads}) AND {column} = ANY ({uris})"


def uri_head(uri: str) -> str:
    """What ``uri_key_head`` gives for ``uri`` (both count characters), e.g. to bound a prefix's key range."""
    return uri[:URI_HEAD_CHARS]
