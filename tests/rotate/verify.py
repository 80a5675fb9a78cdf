"""Independent checks of signed URLs, for emulators that accept any signature.

moto and fake-gcs-server serve a forged or expired URL (STACK.md), so a 200 from them proves
only the host, path and key encoding. These helpers recompute the signature with the SDK's own
signer from the URL's parameters and a key the test chooses: a URL signed with any other key,
or with any parameter changed after signing, does not match.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from labelbridge.secrets import SECRET_MARKERS as SECRET_MARKERS


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def http_get(url: str, *, range_header: bool = False) -> tuple[int, bytes]:
    """GET as a browser would; returns (status, body) for any HTTP status."""
    request = urllib.request.Request(url, headers={"Range": "bytes=0-0"} if range_header else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def _without_param(url: str, name: str) -> str:
    parts = urlsplit(url)
    kept = "&".join(p for p in parts.query.split("&") if not p.startswith(f"{name}="))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, kept, parts.fragment))


def s3_expected_signature(url: str, *, access_key: str, secret_key: str, token: str | None = None) -> str:
    """The SigV4 signature botocore computes for this URL's parameters with ``secret_key``."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    params = query(url)
    _key, _date, region, service, _term = params["X-Amz-Credential"].split("/")
    auth = S3SigV4QueryAuth(
        Credentials(access_key, secret_key, token), service, region, int(params["X-Amz-Expires"])
    )
    request = AWSRequest(method="GET", url=_without_param(url, "X-Amz-Signature"))
    # The signer's own steps, fed the URL's timestamp instead of the clock.
    request.context["timestamp"] = params["X-Amz-Date"]
    canonical = auth.canonical_request(request)
    return str(auth.signature(auth.string_to_sign(request, canonical), request))


def amz_date(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def gcs_expected_url(url: str, credentials: Any) -> str:
    """The V4 URL google-cloud-storage signs for this URL's resource, time and lifetime."""
    from google.cloud.storage import _signing

    parts = urlsplit(url)
    params = query(url)
    return str(
        _signing.generate_signed_url_v4(
            credentials,
            resource=parts.path,  # already percent-encoded, as the SDK passes it
            expiration=timedelta(seconds=int(params["X-Goog-Expires"])),
            api_access_endpoint=f"{parts.scheme}://{parts.netloc}",
            method="GET",
            _request_timestamp=params["X-Goog-Date"],
        )
    )


def service_account_info(email: str = "signer@labelbridge-test.iam.gserviceaccount.com") -> dict[str, str]:
    """An offline service-account key (STACK.md): signs V4 URLs, never talks to Google."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "labelbridge-test",
        "client_email": email,
        "private_key": pem,
        "private_key_id": "test-key-1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def service_account_credentials(info: dict[str, str] | None = None) -> Any:
    from google.oauth2 import service_account

    return service_account.Credentials.from_service_account_info(info or service_account_info())
