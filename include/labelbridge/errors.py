"""The exception tree.

::

    LabelbridgeError
    ├── ConfigError             storages.yaml is unreadable or an entry is invalid
    ├── StorageError            a bucket or container could not be listed, read or written
    │   ├── ObjectNotFound
    │   └── InventoryError      an inventory report is missing, incomplete, stale or fails its checksum
    ├── SigningError            a URL could not be signed within the storage's limits
    ├── TaskFileError           a JSON task file (or one item in it) is malformed
    ├── EventFormatError        a bucket-event message is not one its cloud documents (sync.events;
    │                           the queue's batch logs it by id, counts it and goes on)
    ├── QuarantineError         a sync run set bad task files aside (the rest synced)
    ├── ExportError             an export could not be written or verified
    ├── AnnotationToolError     an annotation tool refused or could not be reached
    │   ├── LabelStudioError    Label Studio's REST API answered an error (status, endpoint, its message)
    │   └── GroundTruthError    Ground Truth cannot read a project's storages (tools.ground_truth.binding)
    ├── ComplianceError         a compliance gate failed (rules broke)
    └── ComplianceInputError    what a compliance check reads is not what it expects
        ├── Unreadable          a bucket snapshot's section could not be read
        │                       (compliance.buckets.snapshot; evaluate_snapshot makes it an ERROR finding)
        ├── PolicyParseError    a bucket policy is not an IAM policy, also a ValueError
        │                       (compliance.buckets.policy; facts.s3_policy makes it Unreadable)
        ├── LineError           an access-log line is not a record, also a ValueError
        │                       (compliance.accesslog.parser; the audit counts and lists it as unparsed)
        └── OverlappingShards   two partial audits read the same log object, also a ValueError
                                (compliance.accesslog.state; merge_audits raises it to the caller)

The compliance leaves live beside the code that raises them; the ones that are also a
``ValueError`` were one before they joined the tree, so ``except ValueError`` still catches them.

Internal, never escapes (each is caught where named and converted there)::

    _BadLine        tools.ground_truth.output, tools.labelbox.convert: ingest quarantines the line (file, line,
                    why) and goes on
    _Unlabeled      tools.ground_truth.output: ingest counts the object Ground Truth failed to label
    _NotCollected   compliance.buckets.collectors: BucketCollector.collect records the section as
                    unreadable in the snapshot ("not collected: why")
    _WriteFailed    export._file_process: DirectoryTarget turns it into a StorageError naming the file
    _PushFailed     tools.label_studio.push: stops the signing thread when the import it feeds failed;
                    the import's own error is what the push raises

``tests/test_errors.py`` walks the package and holds every exception class to this: in the tree,
or underscore-private and listed above.

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


class InventoryError(StorageError):
    """No usable inventory report: none delivered, incomplete, too old, or a file missing or
    failing its checksum. The message names the report and why; the run falls back or fails."""


class SigningError(LabelbridgeError):
    """A URL could not be signed within the storage's limits."""


class TaskFileError(LabelbridgeError):
    """A JSON task file, or one item inside it, is malformed."""


class QuarantineError(LabelbridgeError):
    """A sync run quarantined task files; everything else was synced."""


class ExportError(LabelbridgeError):
    """An export could not be written, or what was written does not match what was read."""


class AnnotationToolError(LabelbridgeError):
    """An annotation tool could not be reached, refused a request, or answered what it should not."""


class LabelStudioError(AnnotationToolError):
    """Label Studio's REST API answered an error; the message names the endpoint and status, never a token."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ComplianceError(LabelbridgeError):
    """One or more compliance rules failed; the report says which."""


class ComplianceInputError(LabelbridgeError):
    """What a compliance check reads (a snapshot, a policy, a log line, partial audits) is not
    what it expects; the leaves say which, and where each is converted."""
