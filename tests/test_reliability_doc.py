"""docs/reliability.md names a test for each guarantee: every test it names exists."""

from __future__ import annotations

import re
from pathlib import Path

from tests.faults.test_faults import FAULTS, JOBS

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_named_in_the_reliability_doc_exists() -> None:
    doc = (ROOT / "docs" / "reliability.md").read_text()
    named = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", doc)
    assert len(named) > 20
    for path, name in named:
        assert (ROOT / path).is_file(), path
        if name:
            assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.MULTILINE), f"{path}::{name}"
    for job, fault in re.findall(r"`F\[(\w+)-(\w+|\*)\]`", doc):
        if job != "job":  # the shorthand's own definition
            assert job in JOBS and (fault == "*" or fault in FAULTS), f"F[{job}-{fault}]"
