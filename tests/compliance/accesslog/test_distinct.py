"""Distinct keys per who-row: exact up to the limit, then a HyperLogLog estimate flagged as one,
and shards merge to the one-pass result either way."""

from __future__ import annotations

import gzip
import io
import itertools
import json

import pytest

from labelbridge.compliance.accesslog import AccessLogAudit, audit_streams, dump_partial, load_partial, merge_audits
from labelbridge.compliance.accesslog.distinct import EXACT_LIMIT, STD_ERROR, DistinctCounter, key_digest
from labelbridge.config import ComplianceConfig
from tests.compliance.accesslog.lines import line

SETTINGS = ComplianceConfig(allowed_cidrs=("192.0.2.0/24",))


def counter(keys: range, prefix: str = "images/") -> DistinctCounter:
    result = DistinctCounter()
    for i in keys:
        result.add(key_digest(f"{prefix}{i:07d}.jpg"))
    return result


def test_exact_up_to_the_limit_and_repeats_do_not_count() -> None:
    at_limit = counter(range(EXACT_LIMIT))
    for i in range(EXACT_LIMIT):
        at_limit.add(key_digest(f"images/{i:07d}.jpg"))
    assert (at_limit.count(), at_limit.estimated) == (EXACT_LIMIT, False)
    assert at_limit.to_json() == sorted(key_digest(f"images/{i:07d}.jpg") for i in range(EXACT_LIMIT))


@pytest.mark.parametrize("distinct", [EXACT_LIMIT + 1, 5_000, 20_000, 200_000])
def test_past_the_limit_the_count_is_an_estimate_within_three_standard_errors(distinct: int) -> None:
    estimate = counter(range(distinct))
    assert estimate.estimated
    assert abs(estimate.count() - distinct) <= 3 * STD_ERROR * distinct + 1
    # Bounded: the sketch is a fixed 16 KiB, serialised as base64.
    assert len(json.dumps(estimate.to_json())) < 23_000


@pytest.mark.parametrize(
    ("sizes", "estimated"),
    [
        ((EXACT_LIMIT // 2, EXACT_LIMIT // 2), False),  # two exact parts, exact union
        ((EXACT_LIMIT - 1, EXACT_LIMIT - 1), True),  # two exact parts whose union passes the limit
        ((5_000, 100), True),  # a sketch and an exact part
        ((5_000, 7_000), True),  # two sketches
    ],
)
def test_merging_in_any_order_equals_one_pass(sizes: tuple[int, int], estimated: bool) -> None:
    # The parts overlap by a quarter of the first: a union, not a sum.
    first, second = sizes
    parts = [range(0, first), range(first * 3 // 4, first * 3 // 4 + second)]
    one_pass = counter(range(0, max(first, first * 3 // 4 + second)))
    for order in itertools.permutations(parts):
        merged = DistinctCounter()
        for part in order:
            merged.merge(DistinctCounter.from_json(counter(part).to_json()))
        assert (merged.count(), merged.estimated, merged.to_json()) == (
            one_pass.count(),
            estimated,
            one_pass.to_json(),
        )


def test_a_sketch_of_another_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="distinct-key sketch of precision 12; expected 14"):
        DistinctCounter.from_json({"hll": 12, "registers": ""})


def audit(lines: list[str], name: str) -> AccessLogAudit:
    return audit_streams([(name, io.BytesIO(("\n".join(lines) + "\n").encode()))], SETTINGS)


def test_who_rows_flag_estimates_and_shards_merge_to_the_one_pass_report() -> None:
    busy = [line(key=f"images/{i:07d}.jpg") for i in range(3_000)]
    quiet = [line(remote_ip="192.0.2.9", key=f"images/{i:07d}.jpg") for i in range(3)]
    shards = {"s3://logs/a": busy[:1_800] + quiet[:2], "s3://logs/b": busy[1_200:] + quiet[1:]}
    one_pass = audit_streams(
        [(name, io.BytesIO(("\n".join(lines) + "\n").encode())) for name, lines in shards.items()], SETTINGS
    )
    parts = [load_partial(dump_partial(audit(lines, name)), SETTINGS) for name, lines in reversed(shards.items())]
    merged = merge_audits(parts, SETTINGS)

    assert merged.to_dict() == one_pass.to_dict()
    rows = {row["remote_ip"]: row for row in merged.who}
    busy_row, quiet_row = rows["192.0.2.3"], rows["192.0.2.9"]
    assert busy_row["requests"] == 3_600 and busy_row["distinct_keys_estimated"] is True
    assert abs(busy_row["distinct_keys"] - 3_000) <= 3 * STD_ERROR * 3_000
    assert (quiet_row["requests"], quiet_row["distinct_keys"], quiet_row["distinct_keys_estimated"]) == (4, 3, False)


def test_a_version_1_partial_with_digest_lists_still_loads() -> None:
    lines = [line(key=f"images/{i:07d}.jpg") for i in range(EXACT_LIMIT + 10)]
    current = json.loads(gzip.decompress(dump_partial(audit(lines, "s3://logs/a"))))
    [[_, _, _, _, _, sketch]] = current["who"]
    assert set(sketch) == {"hll", "registers"}
    old = {**current, "version": 1}
    old["who"][0][5] = sorted(key_digest(f"images/{i:07d}.jpg") for i in range(EXACT_LIMIT + 10))

    loaded = load_partial(gzip.compress(json.dumps(old).encode()), SETTINGS)

    assert loaded.who == audit(lines, "s3://logs/a").who
