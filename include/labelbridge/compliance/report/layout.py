"""Every path under a night's report folder, in one place.

Paths are relative to a :class:`~labelbridge.compliance.report.sink.ReportSink`'s root, one
folder per audited day::

    2026-11-22/compliance.json          the report (JSON): what the gate and the next night read
    2026-11-22/compliance.html          the same, for people
    2026-11-22/snapshots/{target}.json  each bucket's settings, replayable with `labelbridge check-bucket`
    2026-11-22/parts/buckets/{target}.json
                                        each bucket check's findings, merged by the report task
    2026-11-22/parts/accesslog/{log}-{shard:03}-of-{shards:03}.json.gz
                                        each access-log shard's mergeable audit state

``{target}`` is :attr:`BucketTarget.key <labelbridge.compliance.buckets.targets.BucketTarget.key>`,
``{log}`` a ``compliance.access_logs`` entry's name. ``parts/`` is for the report task, not for people.
"""

from __future__ import annotations

import datetime as dt

JSON_NAME = "compliance.json"
HTML_NAME = "compliance.html"


def day_folder(day: dt.date | str) -> str:
    """``2026-11-22``: the folder of one audited day."""
    return day if isinstance(day, str) else day.isoformat()


def report_json(day: dt.date | str) -> str:
    return f"{day_folder(day)}/{JSON_NAME}"


def report_html(day: dt.date | str) -> str:
    return f"{day_folder(day)}/{HTML_NAME}"


def bucket_snapshot(day: dt.date | str, target_key: str) -> str:
    return f"{day_folder(day)}/snapshots/{target_key}.json"


def bucket_part(day: dt.date | str, target_key: str) -> str:
    return f"{day_folder(day)}/parts/buckets/{target_key}.json"


def accesslog_part(day: dt.date | str, log_name: str, *, shard: int, shards: int) -> str:
    return f"{day_folder(day)}/parts/accesslog/{log_name}-{shard:03d}-of-{shards:03d}.json.gz"
