"""Identity by a URI key of bounded size: every object name a cloud accepts fits the unique indexes.

Revision ID: 0006
Revises: 0005

A B-tree entry must stay under 2,704 bytes. A URI holding an Azure blob name of 1,024 four-byte
characters is about 4.1 KB, so the unique constraints ``task (project_id, uri, item_index)``,
``source_object (project_id, uri)`` and ``quarantine (storage_id, uri, item_index)`` refused it
("index row size … exceeds btree version 4 maximum 2704") and the whole sync batch failed.

Each becomes a unique index on the URI's key, two expressions in place of ``uri``:

* ``uri_key_head(uri)``: the first 600 characters (at most 2,400 bytes). Under collation "C" it is
  monotone (``a < b`` implies ``head(a) <= head(b)``), so the index still reads a key range in
  byte order: a query bounds ``uri_key_head(uri)`` and keeps its exact condition on ``uri``.
* ``uri_key_tail(uri)``: empty when the URI is at most 600 bytes long (then the head is the whole
  URI), else the SHA-256 of its UTF-8 bytes (32 bytes). Two URIs with one key have the same head
  and either both empty tails (then both are their heads, hence equal) or equal SHA-256 digests.
  An empty tail never equals a digest, so no short name can pose as a long one.

``quarantine.uri`` collates as "C" too, as ``task.uri`` and ``source_object.uri`` do since 0004: a
join with a listing stage (collation "C") compared its URIs in "C", which no index in the
database's collation answers, so the quarantine was read whole at every batch.

The tail hashes ``decode(replace(uri, '\\', '\\\\'), 'escape')``: the URI's own bytes (every backslash
doubled, so ``escape`` decoding gives each byte back unchanged), built only from immutable
functions. ``convert_to`` is only stable, and an immutable SQL function whose body is not immutable
is not inlined: the index would call a SQL function per row. Both functions are inlined, so a
query written with them matches the index expressions.
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"

UPGRADE = r"""
CREATE FUNCTION uri_key_head(uri text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT left(uri, 600) $$;

CREATE FUNCTION uri_key_tail(uri text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN octet_length(uri) <= 600 THEN '\x'::bytea
                  ELSE sha256(decode(replace(uri, '\', '\\'), 'escape')) END $$;

ALTER TABLE task DROP CONSTRAINT task_project_id_uri_item_index_key;
CREATE UNIQUE INDEX task_identity ON task (project_id, uri_key_head(uri), uri_key_tail(uri), item_index);

ALTER TABLE source_object DROP CONSTRAINT source_object_project_id_uri_key;
CREATE UNIQUE INDEX source_object_identity ON source_object (project_id, uri_key_head(uri), uri_key_tail(uri));

ALTER TABLE quarantine DROP CONSTRAINT quarantine_storage_id_uri_item_index_key;
ALTER TABLE quarantine ALTER COLUMN uri TYPE text COLLATE "C";
CREATE UNIQUE INDEX quarantine_identity
    ON quarantine (storage_id, uri_key_head(uri), uri_key_tail(uri), item_index);
"""

# Fails, naming the index, while a URI too long for a plain B-tree entry is stored.
DOWNGRADE = """
DROP INDEX quarantine_identity;
ALTER TABLE quarantine ALTER COLUMN uri TYPE text COLLATE "default";
ALTER TABLE quarantine ADD CONSTRAINT quarantine_storage_id_uri_item_index_key UNIQUE (storage_id, uri, item_index);
DROP INDEX source_object_identity;
ALTER TABLE source_object ADD CONSTRAINT source_object_project_id_uri_key UNIQUE (project_id, uri);
DROP INDEX task_identity;
ALTER TABLE task ADD CONSTRAINT task_project_id_uri_item_index_key UNIQUE (project_id, uri, item_index);
DROP FUNCTION uri_key_tail(text);
DROP FUNCTION uri_key_head(text);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
