"""No remote IP may collect ``burst_403_threshold`` 403s within ``burst_403_window``.

Judged over the whole day, not request by request: the tally is 403s per (bucket, IP, second),
which merges exactly across shards, so a burst split over two log objects is still one burst.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from labelbridge.compliance.accesslog.rules.base import RuleContext, duration, plural
from labelbridge.compliance.model import RuleMeta, Severity

RULE = RuleMeta(
    id="s3log.burst_403",
    severity=Severity.MEDIUM,
    title="No burst of denied requests from one IP",
    rationale="Many 403s from one address in a short time is key or URL guessing, or a client retrying revoked access.",
    remediation="Find the client by IP and user agent; block the address or fix its credentials.",
)
#: Judged over the day's tally of 403s, not request by request (see the rules package).
KIND = "window"


def evaluate(
    denied: Mapping[tuple[str, str], Mapping[int, int]], ctx: RuleContext
) -> list[tuple[str, str, dict[str, Any]]]:
    """``(resource, detail, evidence)`` for each (bucket, IP) whose busiest window reaches the
    threshold. ``denied`` maps (bucket, IP) to {epoch second: 403 count}."""
    window = int(ctx.burst_403_window.total_seconds())
    bursts = []
    for (bucket, ip), per_second in sorted(denied.items()):
        most, start = _busiest_window(per_second, window)
        if most >= ctx.burst_403_threshold:
            started = datetime.fromtimestamp(start, UTC).isoformat()
            detail = (
                f"{plural(most, '403 response')} to {ip} within {duration(ctx.burst_403_window)} from {started} "
                f"(threshold {ctx.burst_403_threshold})"
            )
            evidence = {
                "bucket": bucket,
                "remote_ip": ip,
                "max_in_window": most,
                "window_start": started,
                "denied_total": sum(per_second.values()),
            }
            bursts.append((f"s3://{bucket} from {ip}", detail, evidence))
    return bursts


def _busiest_window(per_second: Mapping[int, int], window: int) -> tuple[int, int]:
    # Two pointers over the sorted seconds; a window covers [start, start + window).
    seconds = sorted(per_second)
    best, best_start, total, left = 0, seconds[0] if seconds else 0, 0, 0
    for second in seconds:
        total += per_second[second]
        while second - seconds[left] >= window:
            total -= per_second[seconds[left]]
            left += 1
        if total > best:
            best, best_start = total, seconds[left]
    return best, best_start
