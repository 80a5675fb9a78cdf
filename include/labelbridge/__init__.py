"""labelbridge: cloud-bucket glue for labeling teams, scheduled by Apache Airflow 3."""

from __future__ import annotations

__version__ = "0.1.0"
