"""Export annotations to target storage in the formats users load downstream.

:func:`export_project` streams one project from the labeling DB to a target bucket in one format,
verifies, writes ``manifest.json`` last and only then moves the watermark; :func:`convert_file`
runs the same writers over a Label Studio JSON export file, offline.
"""

from __future__ import annotations

from labelbridge.export.formats import FORMATS
from labelbridge.export.run import ExportResult, convert_file, export_project, run_prefix

__all__ = ["FORMATS", "ExportResult", "convert_file", "export_project", "run_prefix"]
