"""Export annotations to target storage in the formats users load downstream.

The pipeline, one module per step: :mod:`~labelbridge.export.run` (:func:`export_target`, the job,
and :func:`convert_file`, the same writers offline over a Label Studio JSON file) opens a run and
its watermark window (:mod:`~labelbridge.export.watermark`); :mod:`~labelbridge.export.source`
streams the window's tasks from one DB snapshot (or a file), as the records of
:mod:`~labelbridge.export.records` (DB rows become records in ``_db_records``); a format of
:mod:`~labelbridge.export.formats` (a ``FormatWriter``, whose ``ReadPlan`` says what the source must
read) encodes them into :mod:`~labelbridge.export.output`'s ``RunOutput``, which streams each file
into the target (a bucket, or a :mod:`~labelbridge.export.directory`) while hashing and spooling
its entry; after counts and listing are verified, :mod:`~labelbridge.export.manifest` writes
``manifest.json`` last, and only then the watermark moves.
"""

from __future__ import annotations

from labelbridge.export.formats import FORMATS
from labelbridge.export.run import ExportResult, convert_file, export_target, run_prefix

__all__ = ["FORMATS", "ExportResult", "convert_file", "export_target", "run_prefix"]
