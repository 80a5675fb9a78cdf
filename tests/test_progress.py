"""The jobs' ``progress``: told once per batch or page, never per object; nothing by default."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

from labelbridge.compliance.accesslog.audit import audit_streams
from labelbridge.config import Cloud, ComplianceConfig
from labelbridge.progress import NO_PROGRESS, counted
from tests.compliance.accesslog.lines import line
from tests.conftest import StoreFactory
from tests.sync.helpers import storage_for, sync


class Recorder:
    """A Progress that keeps what it was told."""

    def __init__(self) -> None:
        self.advances: list[int] = []
        self.totals: list[int] = []

    def advance(self, done: int) -> None:
        self.advances.append(done)

    def expect(self, total: int) -> None:
        self.totals.append(total)


def test_sync_advances_once_per_written_batch(new_store: StoreFactory, labeling_dsn: str) -> None:
    store = new_store(Cloud.S3, page_size=500)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: store.write(f"img/{n:04d}.jpg", b"x"), range(2500)))
    told = Recorder()

    counts = sync(labeling_dsn, store, storage_for(store), write_batch=1000, progress=told)

    # Batches of at least 1,000 made of whole 500-object pages: 1,000 + 1,000 + 500.
    assert told.advances == [1000, 1000, 500] and sum(told.advances) == counts.listed == 2500


def test_the_audit_advances_per_batch_of_lines_and_counts_every_line() -> None:
    text = ("\n".join(line() for _ in range(5000)) + "\n").encode()
    told = Recorder()

    audit = audit_streams([("a.log", io.BytesIO(text))], ComplianceConfig(), progress=told)

    assert sum(told.advances) == audit.lines_read == 5000
    assert 1 < len(told.advances) < 5000 / 100  # batches of 64 KB of lines, not lines


def test_counted_passes_items_through_and_tells_every_n_and_the_rest() -> None:
    told = Recorder()
    assert list(counted(range(2500), told, every=1000)) == list(range(2500))
    assert told.advances == [1000, 1000, 500]
    # The default costs nothing: the very iterator comes back, not a generator around it.
    items = iter(range(3))
    assert counted(items, NO_PROGRESS) is items
