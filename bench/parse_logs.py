"""S3 access-log parsing throughput and memory against Athena's documented regex; prints ONE JSON line.

    .venv/bin/python bench/parse_logs.py [--lines 1000000] [--seed 7] [--rounds 3]

Writes a synthetic log (450-1000 bytes a line, 30 % presigned, the trap classes of issue 7 mixed
in at 1 % each), then streams it, each run in its own subprocess so peak RSS is its own, through:

* ``lines_per_s``: :func:`iter_records`, every line checked field by field (each in its place,
  numbers digits, a valid time) and turned into a record whose fields are typed and redacted on
  first read, as the issue's target is measured;
* ``baseline_lines_per_s``: the regex of the Athena table AWS documents, ``match().groups()`` in a
  plain loop over the same file (strings only: no typing, no redaction, no `-` to None);
* ``typed_lines_per_s`` / ``baseline_typed_lines_per_s``: like for like, both producing every
  field the CLI's ``--jsonl`` prints (`-` as None, quotes stripped, five ints, ISO time, secrets
  redacted) as a dict: ours via ``record.to_json()``, the baseline's by typing the regex groups
  with the same redaction and a cached time conversion (its regex has no source-region group);
* ``audit_lines_per_s``: the whole audit (parse + 8 rules + who-table) for scale;
* ``peak_rss_mb``: the parser subprocess' peak (flat in the file size: it streams);
* ``tricky_classes_ok``: trap classes whose sample line our parser gets exactly right, out of
  ``tricky_classes``; ``baseline_tricky_classes_ok`` the same for the Athena regex.

Rates are lines per CPU second of the worker process, and each parse reports its fastest of
``--rounds`` interleaved runs: the machine is shared, and wall time and the slowest rounds
measure the neighbours (``wall_ratio_vs_baseline`` gives the wall-clock ratio of the fastest
runs for comparison). The audit runs once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from peak_rss import peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
sys.path.insert(0, str(ROOT))

# awsdocs/amazon-s3-userguide doc_source/using-s3-access-logs-to-identify-requests.md, the table's
# RegexSerDe input.regex (SQL escapes removed), as tests/compliance/accesslog/test_parser.py quotes it.
ATHENA_REGEX = (
    r'([^ ]*) ([^ ]*) \[(.*?)\] ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ("[^"]*"|-) (-|[0-9]*) ([^ ]*) ([^ ]*) '
    r'([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ("[^"]*"|-) ([^ ]*)(?: ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) '
    r"([^ ]*) ([^ ]*))?.*$"
)
ATHENA_COLUMNS = (  # noqa: SIM905 - one string of 26 names is easier to check against the table
    "bucket_owner bucket time remote_ip requester request_id operation key request_uri http_status error_code "
    "bytes_sent object_size total_time turn_around_time referer user_agent version_id host_id signature_version "
    "cipher_suite auth_type host_header tls_version access_point_arn acl_required"
).split()

UAS = (
    '"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"',
    '"aws-sdk-java/2.20.0 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.6+10 Java/17.0.6 vendor/Amazon.com_Inc. io/sync '
    'http/Apache cfg/retry-mode/legacy"',
    '"Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.10 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython '
    'cfg/retry-mode#standard Botocore/1.34.0"',
    '"label-studio/1.12 python-requests/2.31"',
)


def _line(rng: random.Random, i: int, *, presign: bool = False, **over: str) -> str:
    key = f"projects/{rng.randrange(50)}/images/{rng.randrange(10**6):07d}_{'x' * rng.randrange(0, 60)}.jpg"
    second = i // 12
    fields = {
        "bucket_owner": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
        "bucket": "labels-bucket",
        "time": f"[06/Feb/2019:{second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d} +0000]",
        "remote_ip": f"192.0.2.{rng.randrange(256)}",
        "requester": f"arn:aws:sts::123456789012:assumed-role/labelers/session-{rng.randrange(100)}",
        "request_id": f"{rng.getrandbits(64):016X}",
        "operation": "REST.GET.OBJECT",
        "key": key,
        "request_uri": f'"GET /labels-bucket/{key} HTTP/1.1"',
        "http_status": "200",
        "error_code": "-",
        "bytes_sent": str(rng.randrange(1, 10**7)),
        "object_size": str(rng.randrange(1, 10**7)),
        "total_time": str(rng.randrange(1, 900)),
        "turn_around_time": str(rng.randrange(1, 90)),
        "referer": '"-"' if rng.random() < 0.7 else f'"https://label.example.com/projects/{rng.randrange(50)}/data"',
        "user_agent": rng.choice(UAS),
        "version_id": "-",
        "host_id": "s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234=",
        "signature_version": "SigV4",
        "cipher_suite": "ECDHE-RSA-AES128-GCM-SHA256",
        "auth_type": "AuthHeader",
        "host_header": "labels-bucket.s3.us-west-1.amazonaws.com",
        "tls_version": "TLSv1.2",
        "access_point_arn": "-",
        "acl_required": "-",
        "source_region": "us-east-1",
    }
    if presign:
        key_id = ("AKIA" if rng.random() < 0.2 else "ASIA") + f"{rng.getrandbits(64):016X}"
        token = f"&X-Amz-Security-Token=IQoJb3JpZ2luX2VjE{'A' * rng.randrange(50, 200)}" if key_id[:4] == "ASIA" else ""
        fields["auth_type"] = "QueryString"
        fields["request_uri"] = (
            f'"GET /labels-bucket/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={key_id}%2F20190206'
            f"%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20190206T000000Z&X-Amz-Expires={rng.randrange(60, 604800)}"
            f'{token}&X-Amz-SignedHeaders=host&X-Amz-Signature={rng.getrandbits(256):064x} HTTP/1.1"'
        )
    count = int(over.pop("_fields", "27"))
    extra = over.pop("_extra", "")
    fields.update(over)
    return " ".join([*list(fields.values())[:count], *extra.split()])


# Trap class -> (overrides, the fields that must come out of the line).
TRAPS: dict[str, tuple[dict[str, str], dict[str, Any]]] = {
    "ua_with_quote": (
        {"user_agent": '"aws-cli/2.15 "quoted" md/x"'},
        {"user_agent": 'aws-cli/2.15 "quoted" md/x', "signature_version": "SigV4"},
    ),
    "uri_with_quote": (
        {"request_uri": '"GET /labels-bucket/we"ird.jpg HTTP/1.1"'},
        {"request_uri": 'GET /labels-bucket/we"ird.jpg HTTP/1.1', "http_status": 200},
    ),
    "referer_with_spaces": (
        {"referer": '"https://label.example.com/a page with spaces"'},
        {"referer": "https://label.example.com/a page with spaces", "user_agent": "curl/8"},
    ),
    "uri_dash": ({"request_uri": "-"}, {"request_uri": None, "http_status": 200}),
    "uri_quoted_dash": ({"request_uri": '"-"'}, {"request_uri": None, "http_status": 200}),
    "plain_http": (
        {"cipher_suite": "-", "tls_version": "-"},
        {"cipher_suite": None, "tls_version": None, "source_region": "us-east-1"},
    ),
    "anonymous": (
        {"requester": "-", "signature_version": "-", "auth_type": "-"},
        {"requester": None, "signature_version": None},
    ),
    "presigned_akia": (
        {
            "auth_type": "QueryString",
            "request_uri": '"GET /labels-bucket/k?X-Amz-Algorithm=AWS4-HMAC-'
            "SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20190206%2Fus-east-1%2Fs3%2Faws4_request&"
            'X-Amz-Expires=604800&X-Amz-SignedHeaders=host&X-Amz-Signature=abc123 HTTP/1.1"',
        },
        {
            "request_uri": "GET /labels-bucket/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
            "AKIA************MPLE%2F20190206%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Expires=604800&"
            "X-Amz-SignedHeaders=host&X-Amz-Signature=REDACTED HTTP/1.1"
        },
    ),
    "presigned_asia_token": (
        {
            "auth_type": "QueryString",
            "request_uri": '"GET /labels-bucket/k?X-Amz-Credential='
            "ASIAIOSFODNN7EXAMPLE%2F20190206%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Expires=3600&"
            'X-Amz-Security-Token=FwoGZXIvYXdzEJr%2F&X-Amz-Signature=abc123 HTTP/1.1"',
        },
        {
            "request_uri": "GET /labels-bucket/k?X-Amz-Credential=ASIA************MPLE%2F20190206"
            "%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Expires=3600&X-Amz-Security-Token=REDACTED&"
            "X-Amz-Signature=REDACTED HTTP/1.1"
        },
    ),
    "tls_upper_case": ({"tls_version": "TLSV1.2"}, {"tls_version": "TLSV1.2", "access_point_arn": None}),
    "ipv6": ({"remote_ip": "2001:db8:85a3::8a2e:370:7334"}, {"remote_ip": "2001:db8:85a3::8a2e:370:7334"}),
    "ends_after_18": ({"_fields": "18"}, {"version_id": None, "host_id": None, "user_agent": "curl/8"}),
    "ends_after_24": ({"_fields": "24"}, {"signature_version": "SigV4", "tls_version": "TLSv1.2"}),
    "ends_after_25": (
        {"_fields": "25", "access_point_arn": "arn:aws:s3:us-west-1:123456789012:accesspoint/ap"},
        {"tls_version": "TLSv1.2", "access_point_arn": "arn:aws:s3:us-west-1:123456789012:accesspoint/ap"},
    ),
    "ends_after_26": ({"_fields": "26", "acl_required": "Yes"}, {"tls_version": "TLSv1.2", "acl_required": "Yes"}),
    "ends_after_27": ({}, {"tls_version": "TLSv1.2", "source_region": "us-east-1"}),
    "extra_fields": ({"_extra": "NewField1 NewField2"}, {"source_region": "us-east-1", "tls_version": "TLSv1.2"}),
}


def trap_line(name: str, rng: random.Random, i: int = 0) -> str:
    over, _ = TRAPS[name]
    return _line(rng, i, **{"user_agent": '"curl/8"', **over})  # type: ignore[arg-type]


def classes_ok(parse: Any) -> int:
    rng = random.Random(1)
    ok = 0
    for name, (_, expected) in TRAPS.items():
        row = parse(trap_line(name, rng))
        ok += row is not None and all(row.get(k) == v for k, v in expected.items())
    return ok


def ours(text: str) -> dict[str, Any] | None:
    from labelbridge.compliance.accesslog import LineError, parse_line

    try:
        return parse_line(text).to_json()
    except LineError:
        return None


def athena(text: str) -> dict[str, Any] | None:
    match = re.match(ATHENA_REGEX, text)
    if match is None:
        return None
    row: dict[str, Any] = {}
    for column, value in zip(ATHENA_COLUMNS, match.groups(), strict=True):
        if value is not None and value.startswith('"') and value.endswith('"') and len(value) > 1:
            value = value[1:-1]
        row[column] = None if value in (None, "-") else value
    for column in ("http_status",):
        row[column] = int(row[column]) if row[column] and row[column].isdigit() else row[column]
    return row


TRAP_SHARE = 0.01 * len(TRAPS)
# Two trap classes are presigned lines too: draw the rest so that 30 % of all lines are.
PLAIN_PRESIGNED_SHARE = (0.30 - 0.01 * sum(name.startswith("presigned") for name in TRAPS)) / (1 - TRAP_SHARE)


def generate(path: Path, lines: int, seed: int) -> tuple[int, float]:
    """``lines`` lines of 450-1000 bytes (uniform), 30 % presigned, 1 % of each trap class.

    :returns: the file size and the share of presigned lines actually written.
    """
    rng = random.Random(seed)
    trap_names = list(TRAPS)
    size = presigned = 0
    with path.open("w", encoding="utf-8") as out:
        for i in range(lines):
            target = rng.randrange(450, 1001)
            # Decide first, then redraw until the line fits: filtering on length alone would
            # throw away the long presigned lines and leave far fewer than 30 %.
            trap = rng.choice(trap_names) if rng.random() < TRAP_SHARE else None
            presign = trap is None and rng.random() < PLAIN_PRESIGNED_SHARE
            while True:
                text = trap_line(trap, rng, i) if trap else _line(rng, i, presign=presign)
                if len(text) <= 1000:
                    break
            if len(text) < target and ' "-" "' in text:
                pad = "p" * max(0, target - len(text) - len("https://label.example.com/?q="))
                text = text.replace(' "-" "', f' "https://label.example.com/?q={pad}" "', 1)
            out.write(text + "\n")
            size += len(text) + 1
            presigned += "X-Amz-Credential=" in text
    return size, presigned / max(lines, 1)


def athena_typed(match: re.Match[str]) -> dict[str, Any]:
    """What ``logs parse --jsonl`` prints, from the Athena regex' groups (``source_region`` None:
    its regex has no group for it)."""
    from labelbridge.compliance.accesslog import redact

    row: dict[str, Any] = {}
    for column, value in zip(ATHENA_COLUMNS, match.groups(), strict=True):
        if value is not None and value[:1] == '"' and value[-1:] == '"' and len(value) > 1:
            value = value[1:-1]
        row[column] = None if value is None or value == "-" else value
    for column in INT_COLUMNS:
        value = row[column]
        if value is not None and value.isdigit():
            row[column] = int(value)
    for column in REDACTED_COLUMNS:
        value = row[column]
        if value is not None and "?" in value:
            row[column] = redact(value)
    if row["time"] is not None:
        row["time"] = _iso_time(row["time"])
    row["source_region"] = None
    return row


INT_COLUMNS = ("http_status", "bytes_sent", "object_size", "total_time", "turn_around_time")
REDACTED_COLUMNS = ("request_uri", "referer", "user_agent", "host_header")


@functools.lru_cache(maxsize=4096)
def _iso_time(text: str) -> str:
    # "06/Feb/2019:00:00:38 +0000", cached as our parser caches its time.
    return dt.datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z").isoformat()


def worker(kind: str, path: Path) -> dict[str, Any]:
    # Imports first: the clock measures parsing, not interpreter and pydantic start-up.
    from labelbridge.compliance.accesslog import LineError, audit_streams, iter_records
    from labelbridge.config import ComplianceConfig

    pattern = re.compile(ATHENA_REGEX)
    started, cpu_started = time.perf_counter(), time.process_time()
    count = 0
    if kind == "ours":
        with path.open("rb") as stream:
            for _ in iter_records(stream):
                count += 1
    elif kind == "ours_typed":
        with path.open("rb") as stream:
            for _, item in iter_records(stream):
                if not isinstance(item, LineError):
                    item.to_json()
                count += 1
    elif kind == "audit":
        with path.open("rb") as stream:
            result = audit_streams([(str(path), stream)], ComplianceConfig(allowed_cidrs=("192.0.2.0/24",)))
        count = result.lines_read
    elif kind == "baseline":
        with path.open("r", encoding="utf-8", errors="replace", newline="\n") as text:
            for line in text:
                match = pattern.match(line)
                if match is not None:
                    match.groups()
                count += 1
    else:
        with path.open("r", encoding="utf-8", errors="replace", newline="\n") as text:
            for line in text:
                match = pattern.match(line)
                if match is not None:
                    athena_typed(match)
                count += 1
    return {
        "lines": count,
        "seconds": time.process_time() - cpu_started,
        "wall_seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_worker(kind: str, path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", kind, str(path)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(out)  # type: ignore[no-any-return]


PARSE_KINDS = ("ours", "baseline", "ours_typed", "baseline_typed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs of each parse; the fastest counts")
    parser.add_argument("--worker", choices=(*PARSE_KINDS, "audit"), help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.path)))
        return
    with tempfile.TemporaryDirectory(prefix="lb-accesslog-bench-") as tmp:
        path = Path(tmp) / "access.log"
        size, presigned_share = generate(path, args.lines, args.seed)
        load = os.getloadavg()[0]
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in PARSE_KINDS}
        for _ in range(args.rounds):
            for kind in PARSE_KINDS:
                runs[kind].append(run_worker(kind, path))
        audit_run = run_worker("audit", path)
    best = {kind: min(results, key=lambda run: run["seconds"]) for kind, results in runs.items()}
    per_s = {kind: run["lines"] / run["seconds"] for kind, run in best.items()}
    print(
        json.dumps(
            {
                "bench": "accesslog",
                "lines": best["ours"]["lines"],
                "file_mb": round(size / 2**20, 1),
                "presigned_share": round(presigned_share, 3),
                "lines_per_s": round(per_s["ours"]),
                "baseline_lines_per_s": round(per_s["baseline"]),
                "ratio_vs_baseline": round(per_s["ours"] / per_s["baseline"], 2),
                "wall_ratio_vs_baseline": round(
                    min(run["wall_seconds"] for run in runs["baseline"])
                    / min(run["wall_seconds"] for run in runs["ours"]),
                    2,
                ),
                "typed_lines_per_s": round(per_s["ours_typed"]),
                "baseline_typed_lines_per_s": round(per_s["baseline_typed"]),
                "typed_ratio_vs_baseline_typed": round(per_s["ours_typed"] / per_s["baseline_typed"], 2),
                "typed_ratio_vs_baseline": round(per_s["ours_typed"] / per_s["baseline"], 2),
                "audit_lines_per_s": round(audit_run["lines"] / audit_run["seconds"]),
                "peak_rss_mb": round(max(run["peak_rss_mb"] for run in runs["ours"]), 1),
                "typed_peak_rss_mb": round(max(run["peak_rss_mb"] for run in runs["ours_typed"]), 1),
                "baseline_peak_rss_mb": round(max(run["peak_rss_mb"] for run in runs["baseline"]), 1),
                "audit_peak_rss_mb": round(audit_run["peak_rss_mb"], 1),
                "tricky_classes": len(TRAPS),
                "tricky_classes_ok": classes_ok(ours),
                "baseline_tricky_classes_ok": classes_ok(athena),
                "rounds": args.rounds,
                "cpus": os.cpu_count(),
                "load_at_start": round(load, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
