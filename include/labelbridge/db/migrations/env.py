"""Alembic environment: migrations are plain SQL over the connection labelbridge passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

connection = context.config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, version_table=context.config.get_main_option("version_table"))
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, version_table=context.config.get_main_option("version_table"))
        with context.begin_transaction():
            context.run_migrations()
