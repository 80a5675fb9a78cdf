"""storages.yaml: each invalid entry is reported with file, entry and field; the rest loads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from labelbridge.config import DEFAULT_CONFIG_PATH, load_config, load_config_strict
from labelbridge.errors import ConfigError

HEAD = "projects:\n  - name: p\nstorages:\n"
GOOD = "  - {name: good, project: p, cloud: s3, bucket: b}\n"


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "storages.yaml"
    path.write_text(text)
    config = load_config(path)
    return [str(p).removeprefix(f"{path}: ") for p in config.problems]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{name: x, project: p, cloud: s3}", "storages[1] 'x': field 'bucket': required field is missing"),
        ("{name: x, project: p, cloud: dropbox, bucket: b}",
         "storages[1] 'x': field 'cloud': Input should be 's3', 'gcs' or 'azure'"),
        ("{name: good, project: p, cloud: gcs, bucket: c}",
         "storages[1] 'good': field 'name': duplicate name 'good'; names must be unique in storages"),
        ("{name: x, project: p, cloud: s3, bucket: b, key_regex: '(*.jpg'}",
         "storages[1] 'x': field 'key_regex': invalid regex '(*.jpg': nothing to repeat at position 1"),
        ("{name: x, project: p, cloud: s3, bucket: b, url_ttl: 8d}",
         "storages[1] 'x': url_ttl 8 days, 0:00:00 exceeds the s3 signed-URL cap of 7 days, 0:00:00; "
         "set url_ttl to 7d or less"),
        ("{name: x, project: p, cloud: s3, bucket: b, ip_range: 10.0.0.0/33}",
         "storages[1] 'x': field 'ip_range': invalid IP range '10.0.0.0/33': "
         "'10.0.0.0/33' does not appear to be an IPv4 or IPv6 network"),
        ("{name: x, project: p, cloud: s3, bucket: b, allowed_cidrs: [10.0.0.0/8, '2001:db8::/129']}",
         "storages[1] 'x': field 'allowed_cidrs': invalid CIDR '2001:db8::/129': "
         "'2001:db8::/129' does not appear to be an IPv4 or IPv6 network"),
        ("{name: x, project: nope, cloud: s3, bucket: b}",
         "storages[1] 'x': field 'project': unknown project 'nope' (known: p)"),
        ("{name: x, project: p, cloud: s3, bucket: b, colour: red}", "storages[1] 'x': field 'colour': unknown field"),
        ("just-a-string", "storages[1]: expected a mapping, got str"),
    ],
)
def test_invalid_entry_names_file_entry_and_field_and_others_still_load(
    tmp_path: Path, entry: str, expected: str
) -> None:
    path = tmp_path / "storages.yaml"
    path.write_text(HEAD + GOOD + f"  - {entry}\n")

    config = load_config(path)

    assert [str(p) for p in config.problems] == [f"{path}: {expected}"]
    assert list(config.storages) == ["good"]


def test_strict_load_raises_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "storages.yaml"
    path.write_text(HEAD + "  - {name: a, project: p, cloud: s3}\n  - {name: b, project: p, cloud: ftp, bucket: x}\n")

    with pytest.raises(ConfigError) as err:
        load_config_strict(path)

    assert str(err.value).splitlines() == [
        f"{path}: storages[0] 'a': field 'bucket': required field is missing",
        f"{path}: storages[1] 'b': field 'cloud': Input should be 's3', 'gcs' or 'azure'",
    ]


def test_unusable_file_is_one_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found; set LABELBRIDGE_CONFIG to your storages\.yaml"):
        load_config(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("storages: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_config(broken)


def test_durations_defaults_and_lookups(tmp_path: Path) -> None:
    path = tmp_path / "storages.yaml"
    path.write_text(
        HEAD + "  - {name: s, project: p, cloud: azure, bucket: c, url_ttl: 30d, url_lead_time: 2h,"
        " sas_kind: account_key}\n"
    )

    config = load_config_strict(path)
    storage = config.storage("s")

    assert (storage.conn_id, storage.url_ttl, storage.lead_time) == (
        "wasb_default", timedelta(days=30), timedelta(hours=2)
    )
    with pytest.raises(ConfigError, match=r"no storage named 'zzz' in .*; known: s"):
        config.storage("zzz")


def test_env_var_chooses_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(HEAD + GOOD)
    monkeypatch.setenv("LABELBRIDGE_CONFIG", str(path))

    assert load_config().path == path


def test_bundled_default_config_is_valid() -> None:
    config = load_config_strict(DEFAULT_CONFIG_PATH)
    assert set(config.storages) == {"demo-images", "demo-tasks"}
