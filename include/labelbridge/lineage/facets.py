"""labelbridge's OpenLineage facets and the provider's ``OperatorLineage`` of a run.

Imported only through :func:`labelbridge.lineage.operator_lineage`, which returns ``None`` when
the OpenLineage provider or client is missing: the rest of labelbridge never imports this module.

Standard facets where they fit (``inputStatistics``, ``outputStatistics`` on datasets); the rest
in two custom facets whose JSON schema ships beside this file (``facets.json``, package data) and
whose ``_schemaURL`` points at that file in the release's source, under the ``Source`` URL that
pyproject.toml declares (``[project.urls]``), read from the installed package's metadata.
"""

from __future__ import annotations

import functools
import importlib.metadata

import attr
from airflow.providers.openlineage.extractors import OperatorLineage
from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    DatasetFacet,
    InputDatasetFacet,
    OutputDatasetFacet,
    RunFacet,
    input_statistics_input_dataset,
    output_statistics_output_dataset,
)

from labelbridge.get_provider_info import VERSION
from labelbridge.lineage.datasets import LineageDataset, RunLineage

#: The run facet's key in an event's ``run.facets``.
RUN_FACET = "labelbridge"
#: The export format facet's key in an output dataset's ``facets``.
EXPORT_FACET = "labelbridgeExport"
#: facets.json in the source tree; the wheel ships it as labelbridge/lineage/facets.json.
SCHEMA_FILE_PATH = "include/labelbridge/lineage/facets.json"


@functools.cache
def schema_file_url() -> str | None:
    """facets.json of this release under the package's declared ``Source`` URL; None if none is declared.

    The URL is pyproject.toml's ``[project.urls] Source``, as installed (``Project-URL`` in the
    package metadata), so it is declared once; GitHub serves ``<repo>/raw/<tag>/<path>`` as the
    file itself. A source tree that was never installed has no metadata: its facets then name the
    standard base facet's schema, as a custom facet without a schema of its own does.
    """
    try:
        project_urls = importlib.metadata.metadata("labelbridge").get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    # Each entry reads "<label>, <url>".
    declared = dict(entry.split(", ", 1) for entry in project_urls if ", " in entry)
    source = declared.get("Source")
    return f"{source.rstrip('/')}/raw/v{VERSION}/{SCHEMA_FILE_PATH}" if source else None


@attr.define
class LabelbridgeRunFacet(RunFacet):
    """What a labelbridge job did: its kind, its counts, and a few short details.

    :param job: ``sync``, ``rotate``, ``export``, ``compliance.report``, ``label_studio.pull``...
    :param counts: the run's counts, as in its XCom (listed, inserted, signed, files, ...).
    :param details: e.g. the export format or the report's location; never a secret.
    """

    job: str
    counts: dict[str, int | float] = attr.field(factory=dict)
    details: dict[str, str] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        url = schema_file_url()
        return f"{url}#/$defs/LabelbridgeRunFacet" if url else RunFacet._get_schema()


@attr.define
class LabelbridgeExportDatasetFacet(DatasetFacet):
    """The annotation format of an export target's files (coco, yolo, voc, json, jsonl, csv...).

    The standard ``storage`` facet's ``fileFormat`` lists table formats (parquet, orc, ...) and
    requires a table storage layer, so the annotation format has its own facet.
    """

    format: str

    @staticmethod
    def _get_schema() -> str:
        url = schema_file_url()
        return f"{url}#/$defs/LabelbridgeExportDatasetFacet" if url else DatasetFacet._get_schema()


def _input(dataset: LineageDataset) -> InputDataset:
    facets: dict[str, InputDatasetFacet] = {}
    if (dataset.rows, dataset.files, dataset.size) != (None, None, None):
        facets["inputStatistics"] = input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
            rowCount=dataset.rows, size=dataset.size, fileCount=dataset.files
        )
    return InputDataset(namespace=dataset.namespace, name=dataset.name, inputFacets=facets)


def _output(dataset: LineageDataset) -> OutputDataset:
    output_facets: dict[str, OutputDatasetFacet] = {}
    if (dataset.rows, dataset.files, dataset.size) != (None, None, None):
        output_facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=dataset.rows, size=dataset.size, fileCount=dataset.files
        )
    facets: dict[str, DatasetFacet] = {}
    if dataset.file_format:
        facets[EXPORT_FACET] = LabelbridgeExportDatasetFacet(format=dataset.file_format)
    return OutputDataset(namespace=dataset.namespace, name=dataset.name, facets=facets, outputFacets=output_facets)


def build_operator_lineage(run: RunLineage) -> OperatorLineage[InputDataset | OutputDataset, RunFacet]:
    """The provider's ``OperatorLineage``: the listener adds it to the task's COMPLETE (or FAIL) event."""
    return OperatorLineage(
        inputs=[_input(d) for d in run.inputs],
        outputs=[_output(d) for d in run.outputs],
        run_facets={
            RUN_FACET: LabelbridgeRunFacet(job=run.job, counts=dict(run.counts), details=dict(run.details))
        },
    )


__all__ = [
    "EXPORT_FACET",
    "RUN_FACET",
    "SCHEMA_FILE_PATH",
    "LabelbridgeExportDatasetFacet",
    "LabelbridgeRunFacet",
    "build_operator_lineage",
    "schema_file_url",
]
