"""Re-sign the signed URLs stored on a storage's tasks before they expire.

Which URLs: every top-level string field of a live task's ``data`` that holds a canonical URI
of the storage's bucket (``s3://bucket/…``), whose stored URL is missing, was signed for
another URI, or expires within the storage's lead time. New tasks from sync therefore get
URLs on the next rotation.

How: a server-side cursor streams the candidates in task-id order, without locks. Each batch
then locks its tasks (``FOR NO KEY UPDATE SKIP LOCKED``), re-reads which are still due in a
fresh snapshot, signs those and writes them back with one ``INSERT … ON CONFLICT`` statement,
and commits. Two overlapping runs therefore never sign the same row twice and never lose one:
a task locked by the other run is skipped (that run signs it), and one the other run signed
after this run's cursor opened is no longer due at the re-read.

Before the first batch commits, a canary fetches a few of its URLs over HTTP; if one does not
work nothing is written and the run fails, so a broken signer never replaces working URLs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack

import psycopg
from psycopg import sql

from labelbridge.config import StorageConfig
from labelbridge.db import connect, projects
from labelbridge.errors import SigningError
from labelbridge.progress import NO_PROGRESS, Progress
from labelbridge.rotate.canary import check_urls
from labelbridge.storage import AzureBlobStore, store_class
from labelbridge.storage.base import ObjectStore, SignedUrl

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
DEFAULT_CANARY_SIZE = 3

#: Half-open task-id range ``[lo, hi)``; ``None`` leaves that end open.
IdRange = tuple[int | None, int | None]

# Candidate (task id, field, uri) rows; {scope} narrows to a project and id range, or to ids.
_DUE = """
SELECT t.id, f.key, f.value
FROM task t
CROSS JOIN LATERAL jsonb_each_text(t.data) AS f (key, value)
LEFT JOIN task_url u ON u.task_id = t.id AND u.field = f.key
WHERE {scope}
  AND t.deleted_at IS NULL
  AND starts_with(f.value, %(head)s)
  AND jsonb_typeof(t.data -> f.key) = 'string'
  AND (u.task_id IS NULL OR u.uri <> f.value OR u.expires_at <= %(due_before)s)
ORDER BY t.id, f.key
"""

_PROJECT_SCOPE = (
    "t.project_id = %(project_id)s"
    " AND (%(lo)s::bigint IS NULL OR t.id >= %(lo)s) AND (%(hi)s::bigint IS NULL OR t.id < %(hi)s)"
)

_LOCK = """
SELECT id FROM task WHERE id = ANY(%(ids)s) AND deleted_at IS NULL
ORDER BY id FOR NO KEY UPDATE SKIP LOCKED
"""

_UPSERT = """
INSERT INTO task_url (task_id, field, uri, url, signed_at, expires_at, requested_ttl_s, ip_range, signer,
                      credential_expires_at)
SELECT b.task_id, b.field, b.uri, b.url, %(signed_at)s, %(expires_at)s, %(ttl_s)s, %(ip_range)s, %(signer)s,
       %(credential_expires_at)s
FROM unnest(%(task_ids)s::bigint[], %(fields)s::text[], %(uris)s::text[], %(urls)s::text[])
     AS b (task_id, field, uri, url)
ON CONFLICT (task_id, field) DO UPDATE SET
    uri = EXCLUDED.uri, url = EXCLUDED.url, signed_at = EXCLUDED.signed_at, expires_at = EXCLUDED.expires_at,
    requested_ttl_s = EXCLUDED.requested_ttl_s, ip_range = EXCLUDED.ip_range, signer = EXCLUDED.signer,
    credential_expires_at = EXCLUDED.credential_expires_at
"""

# URLs that no longer belong to a live task's field: the task was deleted, or the field now
# holds another URI (of another bucket; same-bucket changes are re-signed instead).
_PRUNE = """
DELETE FROM task_url u USING task t
WHERE u.task_id = t.id AND t.project_id = %(project_id)s AND starts_with(u.uri, %(head)s)
  AND (%(lo)s::bigint IS NULL OR t.id >= %(lo)s) AND (%(hi)s::bigint IS NULL OR t.id < %(hi)s)
  AND (t.deleted_at IS NOT NULL OR (t.data ->> u.field) IS DISTINCT FROM u.uri)
"""


@dataclass
class RotationCounts:
    """What one rotation did; small enough for XCom, and free of URLs."""

    due: int = 0
    signed: int = 0
    #: Held by an overlapping run when this one reached them; that run signs them.
    skipped_locked: int = 0
    #: Signed by an overlapping run after this run listed them.
    already_fresh: int = 0
    pruned: int = 0
    canary_checked: int = 0
    batches: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)


@dataclass
class RotationResult:
    storage: str
    counts: RotationCounts = field(default_factory=RotationCounts)
    signer: str | None = None
    credential_expires_at: datetime | None = None
    #: Earliest expiry among the URLs this run wrote.
    earliest_expiry: datetime | None = None


@dataclass(frozen=True)
class RotationPlan:
    """What a rotation would do now (``labelbridge rotate --dry-run``)."""

    storage: str
    due: int
    unsigned: int
    signed: int
    next_expiry: datetime | None
    #: When the next URL becomes due (its expiry minus the lead time); ``None`` if none is signed.
    next_due: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "storage": self.storage,
            "due": self.due,
            "unsigned": self.unsigned,
            "signed": self.signed,
            "next_expiry": self.next_expiry.isoformat() if self.next_expiry else None,
            "next_due": self.next_due.isoformat() if self.next_due else None,
        }


def _params(
    storage: StorageConfig, project_id: int, due_before: datetime, id_range: IdRange
) -> dict[str, Any]:
    lo, hi = id_range
    # Every canonical URI of the bucket starts so (s3://bucket/, gs://bucket/, azure-blob://container/).
    head = f"{store_class(storage.cloud).scheme}://{storage.bucket}/"
    return {"project_id": project_id, "head": head, "due_before": due_before, "lo": lo, "hi": hi}


def _due_query(scope: str) -> sql.Composed:
    return sql.SQL(_DUE).format(scope=sql.SQL(scope))


class RotationOptions(TypedDict, total=False):
    """How one rotation runs; :func:`rotate_storage` passes them on to :class:`UrlRotation` as they are."""

    #: Only tasks with ids in ``[lo, hi)`` (see :func:`plan_id_shards`); default every task.
    id_range: IdRange
    #: URLs signed and written per transaction; default :data:`DEFAULT_BATCH_SIZE`.
    batch_size: int
    #: URLs of the first batch fetched over HTTP before anything is written (default
    #: :data:`DEFAULT_CANARY_SIZE`); 0 turns the canary off (e.g. a worker outside an IP-locked range).
    canary_size: int
    #: Only these tasks (an annotation tool renewing the URLs it holds, earliest first).
    task_ids: Sequence[int]
    #: Sign URLs expiring before this instead of before ``now`` + the lead time: a tool spreading
    #: its renewals signs some URLs before they are due.
    due_before: datetime
    #: Called after each batch commits with the batch's highest task id: the tasks up to it (in this
    #: storage) now hold live URLs. A push imports them while the next batches are signed.
    on_batch: Callable[[int], None]
    #: Advanced by each batch of due URLs handled (the CLI's live line); default nothing.
    progress: Progress


class UrlRotation:
    """One rotation of one storage (or one task-id shard of it), on the job's two connections.

    :param conn: where each batch is locked, re-read, signed, written and committed.
    :param store: the storage's bucket, with a client whose credentials can sign.
    :param storage: the storage's config: project, ``url_ttl``, ``lead_time``, ``ip_range``.
    :param listing: a second connection, on which the candidates stream from one snapshot: a
        server-side cursor lives only as long as its transaction, and ``conn`` commits every batch.
    :param options: see :class:`RotationOptions`.
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        store: ObjectStore,
        *,
        storage: StorageConfig,
        listing: psycopg.Connection[Any],
        **options: Unpack[RotationOptions],
    ) -> None:
        self.conn = conn
        self.listing = listing
        self.store = store
        self.storage = storage
        self.id_range = options.get("id_range", (None, None))
        self.batch_size = options.get("batch_size", DEFAULT_BATCH_SIZE)
        self.canary_size = options.get("canary_size", DEFAULT_CANARY_SIZE)
        self.task_ids = options.get("task_ids")
        self.due_before = options.get("due_before")
        self.on_batch = options.get("on_batch")
        self.progress = options.get("progress", NO_PROGRESS)

    def run(self, now: datetime | None = None) -> RotationResult:
        started = time.monotonic()
        run_at = (now or datetime.now(UTC)).astimezone(UTC)
        due_before = self.due_before or run_at + self.storage.lead_time
        result = RotationResult(self.storage.name)
        read_conn, write_conn = self.listing, self.conn
        project_id = projects.project_id(read_conn, self.storage.project)
        if project_id is None:
            log.info(
                "storage %s: project %r has no tasks yet (sync has not run)", self.storage.name, self.storage.project
            )
            return result
        params = _params(self.storage, project_id, due_before, self.id_range)
        scope = _PROJECT_SCOPE
        if self.task_ids is not None:
            scope, params["task_ids"] = f"{_PROJECT_SCOPE} AND t.id = ANY(%(task_ids)s)", list(self.task_ids)
        with read_conn.transaction():
            # Server-side: the candidates stream in batches, never all in memory.
            cursor = read_conn.cursor(name="labelbridge_rotate_due")
            cursor.itersize = self.batch_size
            cursor.execute(_due_query(scope), params)
            while rows := cursor.fetchmany(self.batch_size):
                result.counts.due += len(rows)
                self._batch(write_conn, rows, params, result)
                if self.on_batch is not None:
                    self.on_batch(rows[-1][0])
                self.progress.advance(len(rows))
            cursor.close()
        with write_conn.transaction():
            result.counts.pruned = write_conn.execute(_PRUNE, params).rowcount
        result.counts.seconds = round(time.monotonic() - started, 3)
        self._log_summary(result, due_before)
        return result

    def _batch(
        self,
        conn: psycopg.Connection[Any],
        rows: Sequence[tuple[int, str, str]],
        params: dict[str, Any],
        result: RotationResult,
    ) -> None:
        counts = result.counts
        with conn.transaction():
            ids = sorted({row[0] for row in rows})
            locked = [r[0] for r in conn.execute(_LOCK, {"ids": ids}).fetchall()]
            still_due = conn.execute(
                _due_query("t.id = ANY(%(locked)s)"), {**params, "locked": locked}
            ).fetchall()
            held = set(locked)
            listed_and_held = sum(1 for row in rows if row[0] in held)
            counts.skipped_locked += len(rows) - listed_and_held
            counts.already_fresh += listed_and_held - len(still_due)
            if not still_due:
                return
            keys = [self.store.key_from_uri(uri) for _, _, uri in still_due]
            signed = self.store.sign_urls(keys, self.storage.url_ttl, ip_range=self.storage.ip_range)
            first = counts.batches == 0
            if first:
                self._check_first_batch(signed, result)
            conn.execute(_UPSERT, _upsert_params(still_due, signed))
            counts.signed += len(signed)
            counts.batches += 1
            expiry = signed[0].expires_at
            if result.earliest_expiry is None or expiry < result.earliest_expiry:
                result.earliest_expiry = expiry

    def _check_first_batch(self, signed: list[SignedUrl], result: RotationResult) -> None:
        sample = signed[0]
        result.signer, result.credential_expires_at = sample.signer, sample.credential_expires_at
        expected = AzureBlobStore.SAS_KIND_SIGNERS.get(self.storage.sas_kind)  # sas_kind is Azure's setting
        if expected is not None and sample.signer != expected:
            raise SigningError(
                f"storage {self.storage.name}: sas_kind is {self.storage.sas_kind} but the connection "
                f"{self.storage.conn_id} signs as {sample.signer}"
            )
        log.info(
            "storage %s: signing with %s; credentials expire %s; URLs expire %s",
            self.storage.name,
            sample.signer,
            sample.credential_expires_at.isoformat() if sample.credential_expires_at else "not before the URLs",
            sample.expires_at.isoformat(),
        )
        if self.canary_size > 0:
            # Raises before the batch commits: a signer that produces broken URLs writes nothing.
            result.counts.canary_checked = check_urls(signed[: self.canary_size])

    def _log_summary(self, result: RotationResult, due_before: datetime) -> None:
        counts = result.counts
        log.info(
            "storage %s: %d due, %d signed in %d batches, %d held by another run, %d already fresh, "
            "%d stale URLs pruned, canary checked %d, %.1fs",
            self.storage.name,
            counts.due,
            counts.signed,
            counts.batches,
            counts.skipped_locked,
            counts.already_fresh,
            counts.pruned,
            counts.canary_checked,
            counts.seconds,
        )
        if result.earliest_expiry is not None and result.earliest_expiry <= due_before:
            log.warning(
                "storage %s: the signing credentials (%s) expire at %s, within the lead time: these URLs are "
                "due again at the next run; sign with longer-lived credentials",
                self.storage.name,
                result.signer,
                result.earliest_expiry.isoformat(),
            )


def _upsert_params(rows: Sequence[tuple[int, str, str]], signed: Sequence[SignedUrl]) -> dict[str, Any]:
    first = signed[0]
    return {
        "task_ids": [row[0] for row in rows],
        "fields": [row[1] for row in rows],
        "uris": [row[2] for row in rows],
        "urls": [s.url for s in signed],
        # One sign_urls call per batch: these are the same for every URL in it.
        "signed_at": first.signed_at,
        "expires_at": first.expires_at,
        "ttl_s": int(first.requested_ttl.total_seconds()),
        "ip_range": first.ip_range,
        "signer": first.signer,
        "credential_expires_at": first.credential_expires_at,
    }


def rotate_storage(
    dsn: str,
    store: ObjectStore,
    *,
    storage: StorageConfig,
    now: datetime | None = None,
    **options: Unpack[RotationOptions],
) -> RotationResult:
    """Re-sign the storage's due URLs: the job, which opens its two connections for :class:`UrlRotation`.

    :param storage: the storage's config: project, ``url_ttl``, ``lead_time``, ``ip_range``.
    :param now: when the run happens (default: the clock); URLs expiring within the lead time of it are due.
    :param options: ``id_range``, ``batch_size``, ``canary_size``; see :class:`RotationOptions`.
    """
    with connect(dsn) as listing, connect(dsn) as conn:
        return UrlRotation(conn, store, storage=storage, listing=listing, **options).run(now)


_PLAN = """
SELECT count(*) FILTER (WHERE u.task_id IS NULL OR u.uri <> f.value OR u.expires_at <= %(due_before)s),
       count(*) FILTER (WHERE u.task_id IS NULL OR u.uri <> f.value),
       count(u.task_id),
       min(u.expires_at)
FROM task t
CROSS JOIN LATERAL jsonb_each_text(t.data) AS f (key, value)
LEFT JOIN task_url u ON u.task_id = t.id AND u.field = f.key AND u.uri = f.value
WHERE t.project_id = %(project_id)s AND t.deleted_at IS NULL
  AND starts_with(f.value, %(head)s) AND jsonb_typeof(t.data -> f.key) = 'string'
"""


def plan_rotation(dsn: str, storage: StorageConfig, *, now: datetime | None = None) -> RotationPlan:
    """How many URLs a rotation would sign now, and when the next one expires; writes nothing."""
    run_at = (now or datetime.now(UTC)).astimezone(UTC)
    with connect(dsn) as conn:
        project_id = projects.project_id(conn, storage.project)
        if project_id is None:
            return RotationPlan(storage.name, 0, 0, 0, None, None)
        params = _params(storage, project_id, run_at + storage.lead_time, (None, None))
        row = conn.execute(_PLAN, params).fetchone()
    assert row is not None
    due, unsigned, signed, next_expiry = int(row[0]), int(row[1]), int(row[2]), row[3]
    next_due = next_expiry - storage.lead_time if next_expiry is not None else None
    return RotationPlan(storage.name, due, unsigned, signed, next_expiry, next_due)


_SHARDS = """
SELECT min(id) FROM (
    SELECT t.id, ntile(%(shards)s) OVER (ORDER BY t.id) AS shard
    FROM task t WHERE t.project_id = %(project_id)s AND t.deleted_at IS NULL
) s GROUP BY shard ORDER BY 1
"""


def plan_id_shards(dsn: str, storage: StorageConfig, *, tasks_per_shard: int = 50_000) -> list[IdRange]:
    """Split the project's tasks into task-id ranges of about ``tasks_per_shard`` each.

    The ranges cover every id (the first starts open, the last ends open), so tasks synced
    after planning still fall in a shard. One range when the project is small.
    """
    with connect(dsn) as conn:
        project_id = projects.project_id(conn, storage.project)
        if project_id is None:
            return [(None, None)]
        row = conn.execute(
            "SELECT count(*) FROM task WHERE project_id = %s AND deleted_at IS NULL", (project_id,)
        ).fetchone()
        total = int(row[0]) if row else 0
        shards = max(1, -(-total // tasks_per_shard))
        if shards == 1:
            return [(None, None)]
        starts = [int(r[0]) for r in conn.execute(_SHARDS, {"shards": shards, "project_id": project_id})]
    bounds: list[int | None] = [None, *starts[1:], None]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]

