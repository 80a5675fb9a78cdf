"""What a labelbridge run read and wrote, named as OpenLineage names datasets.

Plain data and pure functions: each operator says what it read and wrote (:class:`RunLineage`)
and the operator base hands it to the OpenLineage provider's listener through
:func:`operator_lineage`. Nothing here needs OpenLineage installed; only
:func:`operator_lineage` imports it, and returns ``None`` when it is absent.

Dataset names follow the OpenLineage naming spec as its Python client implements it
(``openlineage.client.naming.dataset``: ``S3``, ``GCS``, ``WASBS``, ``Postgres``,
``LocalFileSystem``); ``tests/operators/test_lineage.py`` checks each against those classes.
No name or facet carries a password, token or URL signature: datasets are built from bucket
names, object keys, the DSN's host, port and database, and the Label Studio server's address
without its user info, path parameters or query.
"""

from __future__ import annotations

from typing import Any

from labelbridge.lineage.datasets import (
    LABELING_DB_SCHEMA,
    LineageDataset,
    RunLineage,
    label_studio_dataset,
    labeling_db_tables,
    local_dataset,
    object_dataset,
    object_path_name,
    postgres_address,
    report_dataset,
    store_dataset,
)

# The provider's side ---------------------------------------------------------------------------


def operator_lineage(run: RunLineage | None) -> Any:
    """The provider's ``OperatorLineage`` for a run, or ``None`` when there is nothing to say or
    OpenLineage (the provider or its client) is not installed."""
    if run is None:
        return None
    try:
        from labelbridge.lineage.facets import build_operator_lineage
    except ImportError:
        return None
    return build_operator_lineage(run)


__all__ = [
    "LABELING_DB_SCHEMA",
    "LineageDataset",
    "RunLineage",
    "label_studio_dataset",
    "labeling_db_tables",
    "local_dataset",
    "object_dataset",
    "object_path_name",
    "operator_lineage",
    "postgres_address",
    "report_dataset",
    "store_dataset",
]
