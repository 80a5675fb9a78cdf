"""Labelbox, through files in a bucket: labelbridge holds no Labelbox key and calls no Labelbox API.

Two jobs, each an entry point:

- :func:`write_rows`: data-row import files (new rows with signed URLs, changed rows to upsert when
  URLs are renewed or objects rewritten, removed keys when objects vanish), what a user uploads.
- :func:`ingest_exports`: Labelbox export v2 NDJSON files into ``annotation`` rows with
  ``origin = 'tool'``, mapped to Label Studio's result JSON.
"""

from __future__ import annotations

from labelbridge.tools.labelbox.convert import DataRow, data_row
from labelbridge.tools.labelbox.ingest import IngestCounts, IngestResult, ingest_exports, ingest_lines
from labelbridge.tools.labelbox.keys import MAX_GLOBAL_KEY, global_key
from labelbridge.tools.labelbox.project import LabelboxBinding, labelbox_config
from labelbridge.tools.labelbox.rows import RowsCounts, RowsResult, write_rows

__all__ = [
    "MAX_GLOBAL_KEY",
    "DataRow",
    "IngestCounts",
    "IngestResult",
    "LabelboxBinding",
    "RowsCounts",
    "RowsResult",
    "data_row",
    "global_key",
    "ingest_exports",
    "ingest_lines",
    "labelbox_config",
    "write_rows",
]
