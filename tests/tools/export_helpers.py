"""Exporting a tool's ingested annotations of project ``proj`` into a folder, as a user's export target would."""

from __future__ import annotations

from pathlib import Path

from labelbridge.config import ExportTargetConfig
from labelbridge.export.directory import DirectoryTarget
from labelbridge.export.run import export_target


def export_run(dsn: str, fmt: str, out: Path) -> Path:
    """A full export of project ``proj`` in ``fmt`` under ``out/fmt``: the run's folder."""
    target = ExportTargetConfig.model_validate(
        {"name": "out", "project": "proj", "cloud": "s3", "bucket": "unused", "prefix": "x", "formats": [fmt]}
    )
    export_target(dsn, DirectoryTarget(out / fmt), target=target, fmt=fmt, run_key="r", full=True)
    (run,) = (out / fmt).glob(f"x/proj/{fmt}/*/")
    return run
