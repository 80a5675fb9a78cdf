"""Migration 0006 (identity by a URI key of bounded size) is reversible while the URIs allow it."""

from __future__ import annotations

import random

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from labelbridge import db
from labelbridge.db.connection import MIGRATIONS_INI

CONSTRAINTS = (
    "SELECT conname FROM pg_constraint WHERE contype = 'u'"
    " AND conrelid::regclass::text IN ('task', 'source_object', 'quarantine') ORDER BY 1"
)
IDENTITY_INDEXES = "SELECT indexname FROM pg_indexes WHERE indexname LIKE '%%_identity' ORDER BY 1"


def downgrade(dsn: str, revision: str) -> None:
    engine = create_engine("postgresql+psycopg://", creator=lambda: db.connect(dsn))
    try:
        with engine.begin() as connection:
            config = Config(str(MIGRATIONS_INI))
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def fetch(dsn: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


def test_downgrade_restores_the_uri_constraints_and_upgrade_the_identity_indexes(labeling_dsn: str) -> None:
    with psycopg.connect(labeling_dsn) as conn:
        conn.execute("INSERT INTO project (name) VALUES ('p')")
        conn.execute("INSERT INTO task (project_id, uri, data) VALUES (1, 's3://b/a.jpg', '{}')")
    head = db.current_revision(labeling_dsn)

    downgrade(labeling_dsn, "0005")

    assert fetch(labeling_dsn, CONSTRAINTS) == [
        ("quarantine_storage_id_uri_item_index_key",), ("source_object_project_id_uri_key",),
        ("task_project_id_uri_item_index_key",),
    ]
    assert fetch(labeling_dsn, IDENTITY_INDEXES) == []
    assert fetch(labeling_dsn, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'uri_key_%%'") == [(0,)]

    assert db.upgrade(labeling_dsn) == head

    assert fetch(labeling_dsn, CONSTRAINTS) == []
    assert fetch(labeling_dsn, IDENTITY_INDEXES) == [
        ("quarantine_identity",), ("source_object_identity",), ("task_identity",)
    ]
    assert fetch(labeling_dsn, "SELECT uri FROM task") == [("s3://b/a.jpg",)]


def test_downgrade_fails_and_changes_nothing_while_a_uri_too_long_for_the_old_constraint_is_stored(
    labeling_dsn: str,
) -> None:
    rng = random.Random(0)
    long_uri = "azure-blob://c/" + "".join(chr(rng.randrange(0x10000, 0x2FFFF)) for _ in range(1024))
    with psycopg.connect(labeling_dsn) as conn:
        conn.execute("INSERT INTO project (name) VALUES ('p')")
        conn.execute("INSERT INTO task (project_id, uri, data) VALUES (1, %s, '{}')", (long_uri,))
    head = db.current_revision(labeling_dsn)

    with pytest.raises(OperationalError, match="exceeds btree version 4 maximum 2704"):
        downgrade(labeling_dsn, "0005")

    assert db.current_revision(labeling_dsn) == head
    assert fetch(labeling_dsn, IDENTITY_INDEXES) == [
        ("quarantine_identity",), ("source_object_identity",), ("task_identity",)
    ]
