"""What every access-log rule shares: settings worked out once, a hit, and the mergeable tally
of hits per offending resource."""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from labelbridge.compliance.accesslog.record import LogRecord
from labelbridge.compliance.accesslog.request import Presign
from labelbridge.compliance.model import RuleMeta
from labelbridge.config import ComplianceConfig

#: How many sample keys, IPs and notes a finding keeps (the smallest, so merging is exact).
SAMPLES = 5

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class RuleContext:
    """Settings the rules read, parsed once; plus a cache of IP allowlist answers."""

    max_presign_ttl: timedelta
    allowed_networks: tuple[IPNetwork, ...]
    allowed_account_ids: frozenset[str]
    burst_403_threshold: int
    burst_403_window: timedelta
    _ip_cache: dict[str, bool | None] = field(default_factory=dict, repr=False)

    @classmethod
    def from_settings(cls, settings: ComplianceConfig) -> RuleContext:
        return cls(
            max_presign_ttl=settings.max_presign_ttl,
            allowed_networks=tuple(ipaddress.ip_network(c, strict=False) for c in settings.allowed_cidrs),
            allowed_account_ids=frozenset(settings.allowed_account_ids),
            burst_403_threshold=settings.burst_403_threshold,
            burst_403_window=settings.burst_403_window,
        )

    def ip_allowed(self, ip: str) -> bool | None:
        """Whether ``ip`` is in an allowed network; ``None`` when it is not an IP address."""
        if ip not in self._ip_cache:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                self._ip_cache[ip] = None
            else:
                if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                    address = address.ipv4_mapped
                self._ip_cache[ip] = any(address in network for network in self.allowed_networks)
        return self._ip_cache[ip]


@dataclass(frozen=True)
class Request:
    """One record plus the facts rules ask about it, worked out once."""

    record: LogRecord
    client: bool
    presign: Presign | None
    account_id: str | None


class Hit(NamedTuple):
    """A request breaking a rule: on which resource, with an optional value (kept as max) and
    note (kept as a sample)."""

    resource: str
    value: int | None = None
    note: str | None = None


@dataclass
class Offence:
    """All hits of one rule on one resource, in a form that merges exactly across shards."""

    bucket: str | None
    requests: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    max_value: int | None = None
    sample_keys: list[str] = field(default_factory=list)
    remote_ips: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, record: LogRecord, hit: Hit) -> None:
        self.requests += 1
        when = record.time
        if self.first_seen is None or when < self.first_seen:
            self.first_seen = when
        if self.last_seen is None or when > self.last_seen:
            self.last_seen = when
        if hit.value is not None and (self.max_value is None or hit.value > self.max_value):
            self.max_value = hit.value
        _sample(self.sample_keys, record.key)
        _sample(self.remote_ips, record.remote_ip)
        _sample(self.notes, hit.note)

    def merge(self, other: Offence) -> None:
        self.requests += other.requests
        for when in (other.first_seen, other.last_seen):
            if when is not None:
                if self.first_seen is None or when < self.first_seen:
                    self.first_seen = when
                if self.last_seen is None or when > self.last_seen:
                    self.last_seen = when
        if other.max_value is not None and (self.max_value is None or other.max_value > self.max_value):
            self.max_value = other.max_value
        for mine, theirs in (
            (self.sample_keys, other.sample_keys),
            (self.remote_ips, other.remote_ips),
            (self.notes, other.notes),
        ):
            for value in theirs:
                _sample(mine, value)

    def evidence(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "requests": self.requests,
            "first_seen": self.first_seen.isoformat() if self.first_seen else None,
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "max_value": self.max_value,
            "sample_keys": list(self.sample_keys),
            "remote_ips": list(self.remote_ips),
            "notes": list(self.notes),
        }

    def to_json(self) -> dict[str, Any]:
        return self.evidence()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Offence:
        return cls(
            bucket=data["bucket"],
            requests=data["requests"],
            first_seen=datetime.fromisoformat(data["first_seen"]) if data["first_seen"] else None,
            last_seen=datetime.fromisoformat(data["last_seen"]) if data["last_seen"] else None,
            max_value=data["max_value"],
            sample_keys=list(data["sample_keys"]),
            remote_ips=list(data["remote_ips"]),
            notes=list(data["notes"]),
        )


def _sample(samples: list[str], value: str | None) -> None:
    # Keep the SAMPLES smallest distinct values: the same whatever order shards arrive in.
    if value is None:
        return
    if len(samples) >= SAMPLES and value >= samples[-1]:
        return
    at = bisect.bisect_left(samples, value)
    if at < len(samples) and samples[at] == value:
        return
    samples.insert(at, value)
    del samples[SAMPLES:]


@dataclass(frozen=True)
class RecordRule:
    """A rule judged request by request (every rule but the 403 burst).

    :param check: the hit for a request that breaks the rule, else ``None``.
    :param describe: the one-sentence detail of a failing finding.
    :param not_evaluated: why the rule cannot run with these settings, else ``None``.
    """

    meta: RuleMeta
    check: Callable[[Request, RuleContext], Hit | None]
    describe: Callable[[Offence, RuleContext], str]
    not_evaluated: Callable[[RuleContext], str | None] = lambda ctx: None


def bucket_resource(record: LogRecord, suffix: str = "") -> str:
    return f"s3://{record.bucket or '-'}{suffix}"


def span(offence: Offence) -> str:
    """``between 00:01:02 and 23:59:00 UTC`` style wording for details."""
    if offence.first_seen is None or offence.last_seen is None:
        return ""
    return f"between {offence.first_seen.isoformat()} and {offence.last_seen.isoformat()}"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def duration(delta: timedelta) -> str:
    """``7d``, ``36h``, ``90m`` or ``45s``: the shape storages.yaml uses."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
