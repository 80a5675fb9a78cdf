"""What every access-log rule shares: settings worked out once, a hit, and the mergeable tally
of hits per offending resource."""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import unquote

from labelbridge.compliance.accesslog.record import LogRecord
from labelbridge.compliance.accesslog.request import Presign
from labelbridge.compliance.model import RuleMeta
from labelbridge.config import Cloud, ComplianceConfig, StorageConfig

#: How many sample keys, IPs and notes a finding keeps (the smallest, so merging is exact).
SAMPLES = 5

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class StorageAllowlist:
    """A storage's own networks, which requests under its bucket and prefix must come from.

    :param prefix: the storage's prefix; ``""`` covers the whole bucket, bucket-level requests
        (no key: listings, bucket settings) included. A prefix covers only keys under it: a
        listing names no key, so it cannot be told apart from another prefix's.
    """

    name: str
    prefix: str
    networks: tuple[IPNetwork, ...]

    def covers(self, key: str | None) -> bool:
        if not self.prefix:
            return True
        if key is None:
            return False
        # The log writes keys URL-encoded; a prefix is written plain in storages.yaml.
        return key.startswith(self.prefix) or ("%" in key and unquote(key).startswith(self.prefix))


@dataclass
class RuleContext:
    """Settings the rules read, parsed once; plus caches of IP allowlist answers.

    :param allowed_networks: ``compliance.allowed_cidrs``: every request must come from one.
    :param storage_allowlists: per bucket, the S3 storages on it that have networks of their
        own (sorted by name); a request they cover must come from each one's networks as well.
    """

    max_presign_ttl: timedelta
    allowed_networks: tuple[IPNetwork, ...]
    allowed_account_ids: frozenset[str]
    burst_403_threshold: int
    burst_403_window: timedelta
    storage_allowlists: Mapping[str, tuple[StorageAllowlist, ...]] = field(default_factory=dict)
    _ip_cache: dict[str, bool | None] = field(default_factory=dict, repr=False)
    _address_cache: dict[str, IPAddress | None] = field(default_factory=dict, repr=False)
    _storage_ip_cache: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)

    @classmethod
    def from_settings(cls, settings: ComplianceConfig, *, storages: Iterable[StorageConfig] = ()) -> RuleContext:
        """:param storages: the configured storages; S3 ones with :attr:`StorageConfig.access_cidrs` count."""
        by_bucket: dict[str, list[StorageAllowlist]] = {}
        for storage in storages:
            if storage.cloud is Cloud.S3 and storage.access_cidrs:
                networks = tuple(ipaddress.ip_network(c, strict=False) for c in storage.access_cidrs)
                allowlist = StorageAllowlist(storage.name, storage.prefix, networks)
                by_bucket.setdefault(storage.bucket, []).append(allowlist)
        return cls(
            max_presign_ttl=settings.max_presign_ttl,
            allowed_networks=tuple(ipaddress.ip_network(c, strict=False) for c in settings.allowed_cidrs),
            allowed_account_ids=frozenset(settings.allowed_account_ids),
            burst_403_threshold=settings.burst_403_threshold,
            burst_403_window=settings.burst_403_window,
            storage_allowlists={
                bucket: tuple(sorted(lists, key=lambda a: a.name)) for bucket, lists in by_bucket.items()
            },
        )

    def address(self, ip: str) -> IPAddress | None:
        """``ip`` as an address (IPv4-mapped IPv6 as IPv4); ``None`` when it is not one."""
        if ip not in self._address_cache:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                self._address_cache[ip] = None
            else:
                if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                    address = address.ipv4_mapped
                self._address_cache[ip] = address
        return self._address_cache[ip]

    def ip_allowed(self, ip: str) -> bool | None:
        """Whether ``ip`` is in ``allowed_networks``; ``None`` when it is not an IP address."""
        if ip not in self._ip_cache:
            address = self.address(ip)
            self._ip_cache[ip] = None if address is None else any(address in n for n in self.allowed_networks)
        return self._ip_cache[ip]

    def storages_refusing(self, bucket: str | None, key: str | None, ip: str) -> tuple[str, ...]:
        """Names of the storages covering ``bucket``/``key`` whose networks ``ip`` is outside."""
        lists = self.storage_allowlists.get(bucket) if bucket is not None else None
        if not lists:
            return ()
        refusing: list[str] = []
        for allowlist in lists:
            if not allowlist.covers(key):
                continue
            allowed = self._storage_ip_cache.get((allowlist.name, ip))
            if allowed is None:
                address = self.address(ip)
                allowed = address is None or any(address in n for n in allowlist.networks)
                self._storage_ip_cache[(allowlist.name, ip)] = allowed
            if not allowed:
                refusing.append(allowlist.name)
        return tuple(refusing)


@dataclass(frozen=True)
class Request:
    """One record plus the facts rules ask about it, worked out once."""

    record: LogRecord
    client: bool
    presign: Presign | None
    account_id: str | None


class Hit(NamedTuple):
    """A request breaking a rule: on which resource, with an optional value (kept as max), note
    (kept as a sample) and the configured storages whose settings it broke (part of the resource)."""

    resource: str
    value: int | None = None
    note: str | None = None
    storages: tuple[str, ...] = ()


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
    storages: list[str] = field(default_factory=list)

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
        if hit.storages and not set(hit.storages) <= set(self.storages):
            self.storages = sorted({*self.storages, *hit.storages})

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
        if not set(other.storages) <= set(self.storages):
            self.storages = sorted({*self.storages, *other.storages})

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
            "storages": list(self.storages),
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
            storages=list(data.get("storages", [])),
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
