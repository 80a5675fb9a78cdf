"""The running tally of an audit, built so that merging shards gives exactly the one-pass result.

Every part is a sum, a min/max, a set union or "the N smallest" (never "the first N seen"), so
it does not matter how a day's log objects were split over mapped tasks or in which order the
partial tallies are merged. The 403 burst keeps 403s per (bucket, IP, second). Distinct keys per
who-row are 64-bit BLAKE2b digests, exact up to 2048 a row (unless two keys of one row collide:
about n²/2⁶⁵), then a HyperLogLog sketch whose merge is, like a set union, independent of split
and order (see :mod:`.distinct`): the count is then an estimate, flagged as such.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from labelbridge.compliance.accesslog.distinct import DistinctCounter, key_digest
from labelbridge.compliance.accesslog.parser import LineError, iter_records
from labelbridge.compliance.accesslog.record import LogRecord
from labelbridge.compliance.accesslog.request import account_of, is_client_request, presign_of
from labelbridge.compliance.accesslog.rules import RECORD_RULES
from labelbridge.compliance.accesslog.rules.base import Offence, Request, RuleContext
from labelbridge.errors import ComplianceInputError
from labelbridge.progress import NO_PROGRESS, Progress

#: At most this many unparsed lines are listed (the smallest (object, line) pairs); all are counted.
UNPARSED_CAP = 100

WhoKey = tuple[str | None, str | None, str | None, str | None, str | None]
WHO_FIELDS = ("requester", "remote_ip", "auth_type", "signature_version", "bucket")


#: Version of :meth:`AuditState.to_json`; 1 (every row's digests as a list) still loads.
PARTIAL_VERSION = 2


# Slots: a day can hold a who-row per (requester, IP, ...), hundreds of thousands of them.
@dataclass(slots=True)
class WhoTally:
    requests: int = 0
    bytes_sent: int = 0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    keys: DistinctCounter = field(default_factory=DistinctCounter)

    def merge(self, other: WhoTally) -> None:
        self.requests += other.requests
        self.bytes_sent += other.bytes_sent
        if other.first_seen is not None and (self.first_seen is None or other.first_seen < self.first_seen):
            self.first_seen = other.first_seen
        if other.last_seen is not None and (self.last_seen is None or other.last_seen > self.last_seen):
            self.last_seen = other.last_seen
        self.keys.merge(other.keys)


class OverlappingShards(ComplianceInputError, ValueError):
    """The same log object was audited in two shards: merging would count it twice."""


class AuditState:
    """Mutable tally for one shard (or the merge of several)."""

    def __init__(self, ctx: RuleContext) -> None:
        self.ctx = ctx
        self.objects: set[str] = set()
        self.lines_read = 0
        self.lines_unparsed = 0
        self.requests = 0
        self.unparsed: list[tuple[str, int, str]] = []
        self.unreadable: list[tuple[str, str]] = []
        self.who: dict[WhoKey, WhoTally] = {}
        self.offences: dict[tuple[str, str], Offence] = {}
        self.denied: dict[tuple[str, str], dict[int, int]] = {}

    # Reading ------------------------------------------------------------------------------

    def add_object(self, key: str, stream: IO[bytes], progress: Progress = NO_PROGRESS) -> None:
        """Stream one log object line by line; bad lines are counted and listed, never kept.

        :param progress: advanced by the lines read, a batch at a time.
        """
        self.objects.add(key)
        for line_no, item in iter_records(stream, progress=progress):
            self.lines_read += 1
            if isinstance(item, LineError):
                self.lines_unparsed += 1
                self._note_unparsed(key, line_no, str(item))
            else:
                self.add_record(item)

    def add_unreadable(self, key: str, why: str) -> None:
        self.objects.add(key)
        self.unreadable.append((key, why))

    def add_record(self, record: LogRecord) -> None:
        self.requests += 1
        request = Request(record, is_client_request(record), presign_of(record), account_of(record.requester))
        for rule in RECORD_RULES:
            hit = rule.check(request, self.ctx)
            if hit is not None:
                slot = (rule.meta.id, hit.resource)
                offence = self.offences.get(slot)
                if offence is None:
                    offence = self.offences[slot] = Offence(bucket=record.bucket)
                offence.add(record, hit)
        if record.http_status == 403 and record.remote_ip is not None:
            per_second = self.denied.setdefault((record.bucket or "-", record.remote_ip), {})
            second = int(record.time.timestamp())
            per_second[second] = per_second.get(second, 0) + 1
        who_key = (record.requester, record.remote_ip, record.auth_type, record.signature_version, record.bucket)
        tally = self.who.get(who_key)
        if tally is None:
            tally = self.who[who_key] = WhoTally()
        tally.requests += 1
        tally.bytes_sent += record.bytes_sent or 0
        if tally.first_seen is None or record.time < tally.first_seen:
            tally.first_seen = record.time
        if tally.last_seen is None or record.time > tally.last_seen:
            tally.last_seen = record.time
        if record.key is not None:
            tally.keys.add(key_digest(record.key))

    def _note_unparsed(self, key: str, line_no: int, why: str) -> None:
        self.unparsed.append((key, line_no, why))
        if len(self.unparsed) > 2 * UNPARSED_CAP:
            self.unparsed.sort()
            del self.unparsed[UNPARSED_CAP:]

    # Merging ------------------------------------------------------------------------------

    def merge(self, other: AuditState) -> None:
        """Fold ``other`` in; exact, whatever the order.

        :raises OverlappingShards: both tallies read the same log object.
        """
        shared = self.objects & other.objects
        if shared:
            raise OverlappingShards(
                f"{len(shared)} log object(s) audited in two shards, e.g. {min(shared)}; "
                "shard the day's keys so each object is read once"
            )
        self.objects |= other.objects
        self.lines_read += other.lines_read
        self.lines_unparsed += other.lines_unparsed
        self.requests += other.requests
        self.unparsed.extend(other.unparsed)
        self.unparsed.sort()
        del self.unparsed[UNPARSED_CAP:]
        self.unreadable = sorted(self.unreadable + other.unreadable)
        for who_key, tally in other.who.items():
            self.who.setdefault(who_key, WhoTally()).merge(tally)
        for slot, offence in other.offences.items():
            mine = self.offences.get(slot)
            if mine is None:
                self.offences[slot] = Offence(bucket=offence.bucket)
                mine = self.offences[slot]
            mine.merge(offence)
        for bucket_ip, per_second in other.denied.items():
            target = self.denied.setdefault(bucket_ip, {})
            for second, count in per_second.items():
                target[second] = target.get(second, 0) + count

    def listed_unparsed(self) -> list[tuple[str, int, str]]:
        return sorted(self.unparsed)[:UNPARSED_CAP]

    # Serialising (partial tallies travel between mapped tasks as files, not XCom) ----------

    def to_json(self) -> dict[str, Any]:
        return {
            "version": PARTIAL_VERSION,
            "objects": sorted(self.objects),
            "lines_read": self.lines_read,
            "lines_unparsed": self.lines_unparsed,
            "requests": self.requests,
            "unparsed": [list(u) for u in self.listed_unparsed()],
            "unreadable": [list(u) for u in self.unreadable],
            "who": [
                [list(who_key), t.requests, t.bytes_sent, _iso(t.first_seen), _iso(t.last_seen), t.keys.to_json()]
                for who_key, t in self.who.items()
            ],
            "offences": [[rule_id, resource, o.to_json()] for (rule_id, resource), o in self.offences.items()],
            "denied": [[bucket, ip, sorted(per_second.items())] for (bucket, ip), per_second in self.denied.items()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], ctx: RuleContext) -> AuditState:
        if data.get("version") not in (1, PARTIAL_VERSION):
            raise ValueError(f"unsupported partial audit version {data.get('version')!r}; expected {PARTIAL_VERSION}")
        state = cls(ctx)
        state.objects = set(data["objects"])
        state.lines_read = data["lines_read"]
        state.lines_unparsed = data["lines_unparsed"]
        state.requests = data["requests"]
        state.unparsed = [(k, n, why) for k, n, why in data["unparsed"]]
        state.unreadable = [(k, why) for k, why in data["unreadable"]]
        for who_key, requests, sent, first, last, keys in data["who"]:
            tally = WhoTally(requests, sent, _from_iso(first), _from_iso(last), DistinctCounter.from_json(keys))
            state.who[tuple(who_key)] = tally
        for rule_id, resource, offence in data["offences"]:
            state.offences[(rule_id, resource)] = Offence.from_json(offence)
        for bucket, ip, per_second in data["denied"]:
            state.denied[(bucket, ip)] = {int(s): int(c) for s, c in per_second}
        return state


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def merged(states: Iterable[AuditState], ctx: RuleContext) -> AuditState:
    total = AuditState(ctx)
    for state in states:
        total.merge(state)
    return total
