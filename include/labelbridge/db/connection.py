"""Connections to the labeling database and schema migrations.

Library code takes a libpq DSN (``postgresql://…`` or ``host=… dbname=…``); turning an Airflow
Connection into one is :mod:`labelbridge.connections`' job, for the operators and the CLI.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg.rows import TupleRow

MIGRATIONS_INI = Path(__file__).with_name("alembic.ini")


def connect(dsn: str, *, autocommit: bool = False) -> psycopg.Connection[TupleRow]:
    """Open a connection; the error names the host and database, never the password."""
    try:
        return psycopg.connect(dsn, autocommit=autocommit, application_name="labelbridge")
    except psycopg.OperationalError as exc:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
        where = f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname') or '?'}"
        # psycopg's message can echo the DSN; keep only its first line, which names the cause.
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise psycopg.OperationalError(f"cannot connect to the labeling database at {where}: {reason}") from None


def _alembic_config(connection: object) -> object:
    from alembic.config import Config

    config = Config(str(MIGRATIONS_INI))
    config.attributes["connection"] = connection
    return config


def upgrade(dsn: str, revision: str = "head") -> str | None:
    """Apply migrations up to ``revision``; returns the revision the database is then at."""
    from alembic import command
    from sqlalchemy import create_engine

    engine = create_engine("postgresql+psycopg://", creator=lambda: connect(dsn))
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), revision)  # type: ignore[arg-type]
    finally:
        engine.dispose()
    return current_revision(dsn)


def current_revision(dsn: str) -> str | None:
    """The applied migration, or ``None`` on a database labelbridge never migrated."""
    with connect(dsn) as conn:
        exists = conn.execute("SELECT to_regclass('labelbridge_alembic_version')").fetchone()
        if exists is None or exists[0] is None:
            return None
        row = conn.execute("SELECT version_num FROM labelbridge_alembic_version").fetchone()
        return str(row[0]) if row else None
