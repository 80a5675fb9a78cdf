"""The quarantine gate: a sync run that set task files aside fails, unless its storage only warns.

Quarantining never stops a run (everything else is synced); the gate runs after all of a
storage's runs (every shard) so the DAG run shows red without anyone reading logs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from labelbridge.config import StorageConfig
from labelbridge.errors import QuarantineError

log = logging.getLogger(__name__)


def quarantine_gate(storage: StorageConfig, run_counts: Iterable[dict[str, Any]]) -> int:
    """Fail a run that quarantined files, so it shows red in the UI without reading logs.

    :param run_counts: each run's counts (``SyncCounts.as_dict()``, as XCom carries them).
    :returns: the number quarantined (0, or any number when the storage only warns).
    :raises QuarantineError: when files were quarantined and ``fail_on_quarantine`` is set.
    """
    total = sum(int(counts.get("quarantined", 0)) for counts in run_counts)
    if total and storage.fail_on_quarantine:
        raise QuarantineError(
            f"storage {storage.name!r}: {total} task file(s) quarantined by this run; everything else synced. "
            f"See where and why with `labelbridge quarantine list {storage.name}`; a fixed file is picked up "
            f"by the next run. Set fail_on_quarantine: false on the storage to only warn."
        )
    if total:
        log.warning("storage %s: %d task file(s) quarantined", storage.name, total)
    return total
