"""Where reports (and the night's intermediate parts) are kept: a directory or a bucket prefix.

Under the root, one folder per audited day; :mod:`.layout` names every path in it (the report,
the bucket snapshots, the parts the report task merges).

Writing the same path twice overwrites it, so a rerun of the night leaves the same files.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from pathlib import Path

from labelbridge.compliance.report.layout import JSON_NAME
from labelbridge.errors import ObjectNotFound
from labelbridge.storage import ObjectStore

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ReportSink(ABC):
    """A place to keep report files, addressed by relative paths such as ``2026-11-22/compliance.json``."""

    @abstractmethod
    def write(self, path: str, data: bytes, *, content_type: str) -> None: ...

    @abstractmethod
    def read(self, path: str) -> bytes | None:
        """The file's bytes, or ``None`` when there is none."""

    @abstractmethod
    def days(self) -> list[str]:
        """The ``YYYY-MM-DD`` folders present, oldest first."""

    @abstractmethod
    def location(self, path: str) -> str:
        """Where a user opens the file: a local path or an ``s3://`` (etc.) URI, never a signed URL."""

    def previous_day(self, day: str, *, name: str = JSON_NAME) -> str | None:
        """The latest day before ``day`` that has a report."""
        for earlier in reversed([d for d in self.days() if d < day]):
            if self.read(f"{earlier}/{name}") is not None:
                return earlier
        return None


class LocalReportSink(ReportSink):
    """A directory on the worker, or a volume mounted where users (or a web server) can read it."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        return f"LocalReportSink({str(self.root)!r})"

    def write(self, path: str, data: bytes, *, content_type: str) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader (the gate, tomorrow's diff) never sees half a report.
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(data)
        partial.replace(target)

    def read(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except FileNotFoundError:
            return None

    def days(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _DAY.match(p.name))

    def location(self, path: str) -> str:
        return str(self.root / path)


class StoreReportSink(ReportSink):
    """A prefix in a bucket (by default the access-log bucket, beside the logs, not under them)."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self.store = store
        self.prefix = prefix if not prefix or prefix.endswith("/") else f"{prefix}/"

    def __repr__(self) -> str:
        return f"StoreReportSink({self.store.uri(self.prefix)!r})"

    def write(self, path: str, data: bytes, *, content_type: str) -> None:
        self.store.write(self.prefix + path, data, content_type=content_type)

    def read(self, path: str) -> bytes | None:
        try:
            return self.store.read_bytes(self.prefix + path)
        except ObjectNotFound:
            return None

    def days(self) -> list[str]:
        found = (p[len(self.prefix) :].rstrip("/") for p in self.store.list_prefixes(self.prefix))
        return sorted(d for d in found if _DAY.match(d))

    def location(self, path: str) -> str:
        return self.store.uri(self.prefix + path)
