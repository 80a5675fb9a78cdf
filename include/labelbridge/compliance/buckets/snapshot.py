"""One bucket's settings, as a collector read them once: the only input the rules see.

A snapshot is a JSON document so it can be saved, diffed and fed back to the CLI
(``labelbridge check-bucket --cloud aws SNAPSHOT.json``)::

    {"cloud": "aws", "bucket": "images", "account_id": "123456789012",
     "settings": {"policy": "{...}", "versioning": {"Status": "Enabled"}, "cors": null, ...},
     "errors": {"acl": "AccessDenied: Access Denied"}}

``settings[section]`` is the provider's own API JSON for that section, ``null`` when the
bucket has none configured (no policy, no CORS). A section the collector could not read is
absent from ``settings`` and present in ``errors`` with why; rules report it as ERROR, never
as a failure and never as a pass.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelbridge.config import Cloud
from labelbridge.errors import ComplianceInputError, ConfigError
from labelbridge.storage import STORE_CLASSES

#: The CLI's ``--cloud`` names, as the issue spells them, onto the config's clouds.
CLOUD_NAMES: dict[str, Cloud] = {cls.cli_name: cloud for cloud, cls in STORE_CLASSES.items()}


class Unreadable(ComplianceInputError):
    """A section of a snapshot could not be read; the message says why.

    Never escapes a rule run: :func:`~labelbridge.compliance.buckets.evaluate.evaluate_snapshot`
    turns it into an ERROR finding ("unreadable" is never "non-compliant").
    """


@dataclass(frozen=True)
class BucketSnapshot:
    """The settings of one bucket (S3, GCS) or container (Azure, with its account)."""

    cloud: Cloud
    bucket: str
    settings: Mapping[str, Any]
    errors: Mapping[str, str] = field(default_factory=dict)
    #: The owning AWS account, when the collector could tell; the cross-account rule allows it.
    account_id: str | None = None

    def get(self, section: str) -> Any:
        """The section's API JSON (``None`` when not configured).

        :raises Unreadable: the collector could not read it; the message says why.
        """
        if section in self.errors:
            raise Unreadable(f"{section} unreadable: {self.errors[section]}")
        if section not in self.settings:
            raise Unreadable(f"{section} missing from the snapshot")
        return self.settings[section]

    def to_dict(self) -> dict[str, Any]:
        name = next(k for k, v in CLOUD_NAMES.items() if v is self.cloud)
        return {
            "cloud": name,
            "bucket": self.bucket,
            "account_id": self.account_id,
            "settings": dict(self.settings),
            "errors": dict(self.errors),
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, cloud: Cloud | None = None, where: str = "snapshot"
    ) -> BucketSnapshot:
        """Build a snapshot from its JSON form; ``cloud`` overrides (or supplies) the document's.

        :raises ConfigError: the document is not a snapshot, naming ``where`` and the field.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a JSON object, got {type(data).__name__}")
        named = data.get("cloud")
        if cloud is not None and named is not None and CLOUD_NAMES.get(named) is not cloud:
            given = next(k for k, v in CLOUD_NAMES.items() if v is cloud)
            raise ConfigError(f"{where}: field 'cloud' is {named!r}, but the {given} rules were asked for")
        if cloud is None:
            if named not in CLOUD_NAMES:
                raise ConfigError(f"{where}: field 'cloud': expected one of aws, gcp, azure, got {named!r}")
            cloud = CLOUD_NAMES[named]
        bucket = data.get("bucket")
        if not isinstance(bucket, str) or not bucket:
            raise ConfigError(f"{where}: field 'bucket': expected the bucket name, got {bucket!r}")
        settings = data.get("settings", {})
        errors = data.get("errors", {})
        if not isinstance(settings, Mapping):
            raise ConfigError(f"{where}: field 'settings': expected an object, got {type(settings).__name__}")
        if not isinstance(errors, Mapping) or not all(isinstance(v, str) for v in errors.values()):
            raise ConfigError(f"{where}: field 'errors': expected an object of section: reason strings")
        account_id = data.get("account_id")
        return cls(cloud, bucket, dict(settings), dict(errors), str(account_id) if account_id else None)

    @classmethod
    def load(cls, path: str | Path, *, cloud: Cloud | None = None) -> BucketSnapshot:
        file = Path(path)
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{file}: file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: cannot read: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{file}: not valid JSON: {exc}") from exc
        return cls.from_dict(data, cloud=cloud, where=str(file))
