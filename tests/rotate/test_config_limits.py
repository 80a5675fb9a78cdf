"""URL lifetimes over a cloud's cap are refused when storages.yaml loads, not clamped later."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from labelbridge.config import load_config


def _load(tmp_path: Path, **storage: Any) -> list[str]:
    entry = {"name": "imgs", "project": "p", "cloud": "s3", "bucket": "b", **storage}
    path = tmp_path / "storages.yaml"
    path.write_text(yaml.safe_dump({"projects": [{"name": "p"}], "storages": [entry]}))
    return [f"{p.where}: {p.message}" for p in load_config(path).problems]


def test_s3_and_gcs_cap_at_seven_days(tmp_path: Path) -> None:
    assert _load(tmp_path, url_ttl="8d") == [
        "storages[0] 'imgs': url_ttl 8 days, 0:00:00 exceeds the s3 signed-URL cap of 7 days, 0:00:00; "
        "set url_ttl to 7d or less"
    ]
    assert _load(tmp_path, cloud="gcs", url_ttl="7d") == []


def test_azure_caps_at_seven_days_unless_the_sas_is_account_key(tmp_path: Path) -> None:
    assert _load(tmp_path, cloud="azure", url_ttl="30d") == [
        "storages[0] 'imgs': url_ttl 30 days, 0:00:00 exceeds the azure signed-URL cap of 7 days, 0:00:00; "
        "set url_ttl to 7d or less (or sas_kind: account_key)"
    ]
    assert _load(tmp_path, cloud="azure", url_ttl="30d", sas_kind="account_key") == []
    assert _load(tmp_path, cloud="azure", url_ttl="30d", sas_kind="user_delegation") != []


def test_own_cap_and_lead_time_are_checked(tmp_path: Path) -> None:
    assert _load(tmp_path, cloud="azure", sas_kind="account_key", url_ttl="30d", url_max_ttl="14d") == [
        "storages[0] 'imgs': url_ttl 30 days, 0:00:00 exceeds this storage's url_max_ttl of 14 days, 0:00:00"
    ]
    assert _load(tmp_path, url_ttl="1h", url_lead_time="2h") == [
        "storages[0] 'imgs': url_lead_time 2:00:00 must be shorter than url_ttl 1:00:00, "
        "or every rotation re-signs every URL"
    ]
    assert _load(tmp_path, sas_kind="account_key") == [
        "storages[0] 'imgs': sas_kind applies to Azure storages only, not s3"
    ]
