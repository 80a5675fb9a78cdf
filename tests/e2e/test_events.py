"""Bucket events through the whole deployment (issue 19): a PUT on the stack's moto sends an S3
notification to SQS; the AssetWatcher's trigger, running in the triggerer, yields it; the scheduler
turns the asset event into a run of the storage's events DAG; the Celery worker's task writes the
task. tests/events drive the trigger and the keyed sync in-process; this proves the chain between
them: triggerer, asset event, scheduler, executor.

The PUT-to-task latency measured here is the one a labeler sees; bench/event_latency.py measures
the trigger and the keyed sync alone (no scheduler turn, no task start-up).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from typing import Any

import psycopg
import pytest

from tests.e2e.conftest import Stack, poll

pytestmark = pytest.mark.e2e

STORAGE = "e2e-events"
EVENTS_DAG = "labelbridge_events_e2e_events"
EVENTS_ASSET = f"labelbridge://events/{STORAGE}"
#: Objects PUT one after another, each timed from its PUT to its task (after a first one that waits
#: for the triggerer to start watching the queue).
TIMED_OBJECTS = 5


def task_state(stack: Stack, uri: str) -> str | None:
    """``"live"``, ``"deleted"``, or None while the labeling DB has no task for ``uri``."""
    with psycopg.connect(stack.labeling_dsn) as conn:
        row = conn.execute("SELECT deleted_at IS NULL FROM task WHERE uri = %s", (uri,)).fetchone()
    return None if row is None else ("live" if row[0] else "deleted")


def put_and_wait(stack: Stack, bucket: str, key: str, *, timeout_s: float) -> float:
    """PUT ``key``; seconds from the PUT's return until its task is in the labeling DB."""
    stack.s3().put_object(Bucket=bucket, Key=key, Body=f"jpeg {key}".encode())
    put_at = time.monotonic()
    poll(lambda: task_state(stack, f"s3://{bucket}/{key}") == "live" or None, what=f"the task of {key}",
         timeout_s=timeout_s, every_s=0.2)
    return time.monotonic() - put_at


def queued(stack: Stack, queue_url: str) -> int:
    """Messages in the queue, waiting or received and not yet deleted."""
    attributes = stack.sqs().get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


@pytest.fixture(scope="module")
def events_storage(stack: Stack) -> dict[str, Any]:
    """A bucket whose created/removed notifications go to an SQS queue, attached with an ``events`` section."""
    bucket = f"lb-e2e-events-{uuid.uuid4().hex[:8]}"
    s3, sqs = stack.s3(), stack.sqs()
    s3.create_bucket(Bucket=bucket)
    queue_url = sqs.create_queue(QueueName=f"lb-e2e-events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [
            {"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}
        ]},
    )
    stack.attach_storage(
        f"""\
  - name: {STORAGE}
    project: e2e
    cloud: s3
    conn_id: aws_default
    bucket: {bucket}
    prefix: incoming/
    key_regex: '\\.jpg$'
    events:
      queue: {queue_url}
      visibility_timeout: 30
"""
    )
    poll(lambda: stack.api.dag_or_none(EVENTS_DAG), what=f"{EVENTS_DAG} to be parsed", timeout_s=120)
    # The triggerer watches an asset's queue only while a DAG scheduled on it is unpaused, from the
    # dag-processor's next parse of the file on: the first object waits for that, the timed ones do not.
    stack.api.unpause(EVENTS_DAG)
    first = "incoming/first.jpg"
    started_in_s = put_and_wait(stack, bucket, first, timeout_s=240)
    return {"bucket": bucket, "queue_url": queue_url, "first": first, "first_in_s": started_in_s}


def test_put_becomes_a_task_through_the_triggerer_and_scheduler(
    stack: Stack, events_storage: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = events_storage["bucket"]
    latencies = [put_and_wait(stack, bucket, f"incoming/timed-{n}.jpg", timeout_s=120) for n in range(TIMED_OBJECTS)]
    measured = {
        "metric": "e2e_event_put_to_task_s", "objects": TIMED_OBJECTS,
        "median": round(statistics.median(latencies), 2), "max": round(max(latencies), 2),
        "each": [round(s, 2) for s in latencies],
        "first_object_incl_watch_start_s": round(events_storage["first_in_s"], 2),
    }
    with capsys.disabled():
        print(f"\n{json.dumps(measured)}")
    # A file the key regex leaves out is ignored: its event names it, but no task appears.
    stack.s3().put_object(Bucket=bucket, Key="incoming/notes.txt", Body=b"not an image")
    put_and_wait(stack, bucket, "incoming/after-notes.jpg", timeout_s=120)
    assert task_state(stack, f"s3://{bucket}/incoming/notes.txt") is None


def test_each_event_run_was_started_by_the_queue_asset(stack: Stack, events_storage: dict[str, Any]) -> None:
    with psycopg.connect(stack.labeling_dsn) as conn:
        run_ids = [row[0] for row in conn.execute(
            "SELECT r.run_id FROM sync_run r JOIN storage s ON s.id = r.storage_id"
            " WHERE s.name = %s AND r.inserted > 0 ORDER BY r.id", (STORAGE,)
        )]
    # Each batch is one run: at least the first object's and, as the timed objects were PUT one at a
    # time, one per object (two objects may share a batch only if a run is slow to start).
    assert len(run_ids) >= 2, run_ids
    runs = stack.api.wait_for_runs(EVENTS_DAG, len(run_ids), timeout_s=120)
    assert {(r["run_type"], r["triggered_by"], r["state"]) for r in runs} == {("asset_triggered", "asset", "success")}
    for run_id in run_ids:
        events = stack.api.get(f"/dags/{EVENTS_DAG}/dagRuns/{run_id}/upstreamAssetEvents")["asset_events"]
        assert {e["uri"] for e in events} == {EVENTS_ASSET}
        assert all(e["extra"]["from_trigger"] and e["extra"]["payload"]["message_batch"] for e in events)


def test_delete_soft_deletes_the_task(stack: Stack, events_storage: dict[str, Any]) -> None:
    bucket, key = events_storage["bucket"], events_storage["first"]
    stack.s3().delete_object(Bucket=bucket, Key=key)
    poll(lambda: task_state(stack, f"s3://{bucket}/{key}") == "deleted" or None,
         what=f"the task of {key} to be soft-deleted", timeout_s=120, every_s=0.2)
    # Every message was deleted once its batch committed: nothing waits or hides in the queue.
    poll(lambda: True if queued(stack, events_storage["queue_url"]) == 0 else None, what="an empty queue",
         timeout_s=60)
