"""Fetch a few freshly signed URLs the way a labeler's browser will, before they are trusted.

Plain HTTP on purpose: the point is to exercise the URL itself (host, path encoding, signature,
expiry, permissions) exactly as the labeling tool will, not the SDK. A ranged GET (first byte)
keeps it cheap; HEAD is not used because S3 and GCS sign the method, and these URLs are GETs.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Sequence

from labelbridge.errors import SigningError
from labelbridge.storage.base import SignedUrl

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0


def fetch_status(url: str, *, timeout_s: float = TIMEOUT_S) -> int:
    """The HTTP status of a ranged GET of ``url``.

    :raises SigningError: the host could not be reached; the message names no URL.
    """
    request = urllib.request.Request(url, headers={"Range": "bytes=0-0"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read(1)
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError) as exc:
        # URLError's text names the reason (e.g. connection refused), never the URL itself.
        reason = getattr(exc, "reason", exc)
        raise SigningError(f"canary: the storage endpoint could not be reached: {reason}") from None


def check_urls(sample: Sequence[SignedUrl]) -> int:
    """Fetch each URL; raise if one is refused.

    A 404 means the object is gone (sync soft-deletes its task) while the signature was
    accepted, so it is logged, not failed.

    :returns: how many URLs were fetched.
    :raises SigningError: naming the URI, its expiry, the signer and the HTTP status.
    """
    for signed in sample:
        status = fetch_status(signed.url)
        if status == 404:
            log.warning("canary: %s is gone (404); the signature was accepted", signed.uri)
        elif status not in (200, 206):
            raise SigningError(
                f"canary: {signed.uri} (signed by {signed.signer}, expires {signed.expires_at.isoformat()}) "
                f"answered HTTP {status}; the new URLs do not work, nothing was written"
            )
        else:
            log.info("canary: %s answered %d (expires %s)", signed.uri, status, signed.expires_at.isoformat())
    return len(sample)
