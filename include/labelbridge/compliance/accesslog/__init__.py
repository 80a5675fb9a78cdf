"""S3 server-access-log parsing and the nightly audit of who fetched what, how.

Interface for the report and the DAG: :func:`log_keys_for_day`, :func:`audit_access_logs`,
:func:`merge_audits` (with :func:`dump_partial` / :func:`load_partial` between mapped tasks)
and :class:`AccessLogAudit`. See docs/access-log-audit.md.
"""

from __future__ import annotations

from labelbridge.compliance.accesslog.audit import (
    AccessLogAudit,
    audit_access_logs,
    audit_streams,
    dump_partial,
    load_partial,
    log_keys_for_day,
    merge_audits,
)
from labelbridge.compliance.accesslog.parser import LineError, iter_records, parse_line, redact
from labelbridge.compliance.accesslog.record import FIELDS, LogRecord
from labelbridge.compliance.accesslog.rules import ALL_RULES
from labelbridge.compliance.accesslog.state import OverlappingShards

__all__ = [
    "ALL_RULES",
    "FIELDS",
    "AccessLogAudit",
    "LineError",
    "LogRecord",
    "OverlappingShards",
    "audit_access_logs",
    "audit_streams",
    "dump_partial",
    "iter_records",
    "load_partial",
    "log_keys_for_day",
    "merge_audits",
    "parse_line",
    "redact",
]
