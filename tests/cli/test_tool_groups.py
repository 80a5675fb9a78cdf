"""The labeling tools' command groups share one shape (``cli/_common.py``'s ``add_project_verbs``):
``labelbridge GROUP VERB PROJECT``, the verb's own options first, then ``--json``, ``--config`` and
the labeling-DB options, as a user reads them in ``--help``."""

from __future__ import annotations

import re

import pytest

from labelbridge import cli

OWN_OPTIONS = {
    ("label-studio", "push"): [],
    ("label-studio", "renew"): ["--max-seconds"],
    ("label-studio", "pull"): ["--skip-deleted-check"],
    ("label-studio", "status"): [],
    ("ground-truth", "manifest"): ["--full"],
    ("ground-truth", "ingest"): ["--full"],
    ("ground-truth", "quarantine"): [],
    ("labelbox", "rows"): [],
    ("labelbox", "ingest"): ["--full"],
}


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit:
        cli.main(list(argv))
    assert exit.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(("group", "verb"), list(OWN_OPTIONS))
def test_each_verb_takes_project_its_own_options_then_the_shared_ones(
    capsys: pytest.CaptureFixture[str], group: str, verb: str
) -> None:
    usage = _help(capsys, group, verb, "--help").split("\n\n")[0]
    assert re.findall(r"\[(--[\w-]+)", usage) == [*OWN_OPTIONS[group, verb], "--json", "--config", "--dsn", "--conn-id"]
    assert usage.split()[-1] == "PROJECT"


@pytest.mark.parametrize("group", sorted({group for group, _ in OWN_OPTIONS}))
def test_the_group_help_lists_its_verbs(capsys: pytest.CaptureFixture[str], group: str) -> None:
    text = _help(capsys, group, "--help")
    for verb in (v for g, v in OWN_OPTIONS if g == group):
        assert re.search(rf"^    {verb}\b", text, re.MULTILINE), verb
