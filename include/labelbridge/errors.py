"""The exception tree.

::

    LabelbridgeError
    ├── ConfigError             storages.yaml is unreadable or an entry is invalid
    ├── StorageError            a bucket or container could not be listed, read or written
    │   └── ObjectNotFound
    ├── SigningError            a URL could not be signed within the storage's limits
    ├── TaskFileError           a JSON task file (or one item in it) is malformed
    ├── QuarantineError         a sync run set bad task files aside (the rest synced)
    ├── ExportError             an export could not be written or verified
    └── ComplianceError         a compliance gate failed (rules broke)

Messages name where (file, entry, key, line) and why, and never carry a signed URL,
query string, key or password.
"""

from __future__ import annotations


class LabelbridgeError(Exception):
    """Base of every error labelbridge raises on purpose."""


class ConfigError(LabelbridgeError):
    """storages.yaml could not be read, or one of its entries is invalid."""


class StorageError(LabelbridgeError):
    """A bucket or container could not be listed, read or written."""


class ObjectNotFound(StorageError):
    """The object named does not exist (any more)."""


class SigningError(LabelbridgeError):
    """A URL could not be signed within the storage's limits."""


class TaskFileError(LabelbridgeError):
    """A JSON task file, or one item inside it, is malformed."""


class QuarantineError(LabelbridgeError):
    """A sync run quarantined task files; everything else was synced."""


class ExportError(LabelbridgeError):
    """An export could not be written, or what was written does not match what was read."""


class ComplianceError(LabelbridgeError):
    """One or more compliance rules failed; the report says which."""
