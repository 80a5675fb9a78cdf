"""Scrub signatures, SAS tokens and credentials from text that goes into reports or errors.

Findings never need a query string: where a URL appears (an access-log line, an SDK error
naming the request), its query is cut and named as removed. The vocabulary (which parameters,
which marker) and the algorithm live in :mod:`labelbridge.secrets`, shared with every other
redactor; this module keeps the names the report code has always imported.
"""

from __future__ import annotations

from labelbridge.secrets import REDACTED, redact_text
from labelbridge.secrets import redact_json as redact

__all__ = ["REDACTED", "redact", "redact_text"]
