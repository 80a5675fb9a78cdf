"""Label Studio, live over its REST API, holding no cloud credential.

Four jobs, each an entry point (``<verb>_project(dsn, client, *, project=..., ...)``):

- :func:`push_project`: new tasks imported in batches with signed URLs, changed ones updated in
  place, vanished ones deleted (only when unannotated, by default); crash-safe by ``meta``.
- :func:`renew_project`: the signed URLs Label Studio holds, renewed in expiry order at a planned
  rate, with a canary read back from Label Studio.
- :func:`pull_project`: annotations created, edited, skipped or deleted there, by the server's
  ``updated_at`` cursor, into ``annotation`` rows with ``origin = 'tool'``.
- :func:`label_studio_status`: in sync, pending, earliest expiry, whether renewal keeps up.
"""

from __future__ import annotations

from labelbridge.tools.label_studio.client import LabelStudioClient, is_personal_access_token
from labelbridge.tools.label_studio.project import LabelStudioBinding, RemoteProject, resolve_project
from labelbridge.tools.label_studio.pull import PullCounts, PullResult, pull_project
from labelbridge.tools.label_studio.push import PushCounts, PushResult, push_project
from labelbridge.tools.label_studio.renew import RenewalPlan, RenewCounts, RenewResult, plan_renewal, renew_project
from labelbridge.tools.label_studio.status import LabelStudioStatus, label_studio_status

__all__ = [
    "LabelStudioBinding",
    "LabelStudioClient",
    "LabelStudioStatus",
    "PullCounts",
    "PullResult",
    "PushCounts",
    "PushResult",
    "RemoteProject",
    "RenewCounts",
    "RenewResult",
    "RenewalPlan",
    "is_personal_access_token",
    "label_studio_status",
    "plan_renewal",
    "pull_project",
    "push_project",
    "renew_project",
    "resolve_project",
]
