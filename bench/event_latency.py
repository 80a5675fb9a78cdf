"""Bucket-event latency benchmark: prints one JSON line.

* From an object's PUT to its task committed in the labeling DB, over ``--objects`` (default
  1,000) objects PUT at ``--rate`` per second on moto_server, whose S3 notifications go to SQS.
  The consumer is what the triggerer and the events DAG's task run, in-process: the amazon
  provider's SqsSensorTrigger (through common-messaging's MessageQueueTrigger, exactly as the
  AssetWatcher builds it) awaited in an asyncio loop until it yields, then the keyed sync of its
  batch (in a thread, as a worker would) and the messages' deletion. Not included: the Airflow
  scheduler's turn between the asset event and the task's start (seconds: its loop and the
  executor's pick-up), which no in-process loop can stand for: tests/e2e/test_events.py times the whole chain
  through the stack's triggerer, scheduler and Celery worker (docs/sync.md, "Through the whole deployment").
* Worker slots held while idle: the events DAG (dags/events.py, loaded from a storages.yaml
  naming this queue) is scheduled on an Asset whose watcher holds the trigger, and has no
  sensor and no deferrable task: nothing occupies a worker or even a deferred task instance
  until a message arrives. Counted from the loaded DAG (``worker_slots_idle``), and the
  trigger's cost while waiting is measured: CPU seconds of this process over ``--idle`` seconds
  with an empty queue.

Usage: ``.venv/bin/python bench/event_latency.py [--objects 1000] [--rate 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".demo" / "bench-airflow"))

import psycopg  # noqa: E402
from _common import scratch_database  # noqa: E402 - bench/ is the script's own folder

import devservices  # noqa: E402
from labelbridge.config import Cloud, ComplianceConfig, LabelbridgeConfig, StorageConfig  # noqa: E402


def subscribed_bucket(client: Any, sqs: Any) -> tuple[str, str]:
    bucket, queue = f"bench-events-{uuid.uuid4().hex[:8]}", f"bench-events-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]})
    sqs.purge_queue(QueueUrl=url)  # the configuration's test event
    return bucket, url


def idle_worker_slots(bucket: str, url: str) -> tuple[int, str]:
    """Task instances the events DAG holds before any message: none (and which trigger waits instead)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.bases.sensor import BaseSensorOperator

    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "storages.yaml"
        config.write_text(f"projects: [{{name: p}}]\nstorages:\n  - {{name: bench, project: p, cloud: s3, "
                          f"bucket: {bucket}, events: {{queue: '{url}'}}}}\n")
        previous = os.environ.get("LABELBRIDGE_CONFIG")
        os.environ["LABELBRIDGE_CONFIG"] = str(config)
        try:
            bag = DagBag(dag_folder=str(ROOT / "dags" / "events.py"))
            assert not bag.import_errors, bag.import_errors
            dag = bag.dags["labelbridge_events_bench"]
        finally:
            if previous is None:
                os.environ.pop("LABELBRIDGE_CONFIG")
            else:
                os.environ["LABELBRIDGE_CONFIG"] = previous
    (asset,) = dag.timetable.asset_condition.objects
    (watcher,) = asset.watchers
    waiting = [t for t in dag.tasks if isinstance(t, BaseSensorOperator) or getattr(t, "deferrable", False)]
    return len(waiting), watcher.trigger.serialize()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="PUTs per second")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of empty queue to measure the wait's cost")
    args = parser.parse_args()
    postgres, moto = devservices.start_postgres(), devservices.start_moto()
    os.environ.update(moto.env)
    try:
        with scratch_database(postgres.url) as dsn:
            from airflow.providers.amazon.aws.hooks.sqs import SqsHook

            from labelbridge.connections import make_client
            from labelbridge.hooks.event_queues import event_queue, sync_messages
            from labelbridge.storage import S3Store

            client = make_client(Cloud.S3, "aws_default")
            sqs = SqsHook(aws_conn_id="aws_default").get_conn()
            bucket, url = subscribed_bucket(client, sqs)
            storage = StorageConfig.model_validate({"name": "bench", "project": "p", "cloud": "s3", "bucket": bucket,
                                                    "events": {"queue": url}})
            config = LabelbridgeConfig(Path("storages.yaml"), {}, {"bench": storage}, {}, ComplianceConfig())
            queue, store = event_queue(storage), S3Store(client, bucket)
            slots, trigger_class = idle_worker_slots(bucket, url)

            put_at: dict[str, float] = {}
            committed_at: dict[str, float] = {}
            done = threading.Event()

            def produce() -> None:
                started = time.perf_counter()
                for n in range(args.objects):
                    key = f"img/{n:06d}.jpg"
                    delay = started + n / args.rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    client.put_object(Bucket=bucket, Key=key, Body=b"x")
                    put_at[key] = time.perf_counter()

            async def consume(conn: psycopg.Connection[Any]) -> None:
                while len(committed_at) < args.objects:
                    # The triggerer runs the watcher's trigger until it yields; then it is started again.
                    async for event in queue.trigger(poll_seconds=1).run():
                        messages = queue.messages_of(event.payload)
                        await asyncio.to_thread(sync_messages, queue, messages, dsn=dsn, store=store, config=config,
                                                run_id="bench", conn=conn)
                        now = time.perf_counter()
                        for message in messages:
                            for e in queue.parse(message):
                                committed_at.setdefault(e.key, now)
                        break
                done.set()

            async def idle() -> float:
                """CPU seconds this process spends over ``--idle`` s with the trigger waiting on an empty queue."""
                cpu = time.process_time()
                task = asyncio.ensure_future(anext(aiter(queue.trigger(poll_seconds=1).run())))
                await asyncio.sleep(args.idle)
                task.cancel()
                return time.process_time() - cpu

            idle_cpu = asyncio.run(idle())
            producer = threading.Thread(target=produce)
            with psycopg.connect(dsn) as conn:
                started = time.perf_counter()
                producer.start()
                asyncio.run(consume(conn))
                producer.join()
                wall = time.perf_counter() - started
            latencies = sorted(committed_at[k] - put_at[k] for k in put_at)
            tasks = psycopg.connect(dsn).execute("SELECT count(*) FROM task WHERE deleted_at IS NULL").fetchone()
            assert tasks is not None and tasks[0] == args.objects, tasks
            print(json.dumps({
                "bench": "event_latency",
                "objects": args.objects,
                "put_rate_per_s": args.rate,
                "latency_median_s": round(statistics.median(latencies), 3),
                "latency_p99_s": round(latencies[int(0.99 * (len(latencies) - 1))], 3),
                "latency_max_s": round(latencies[-1], 3),
                "tasks_in_db": tasks[0],
                "wall_s": round(wall, 1),
                "worker_slots_idle": slots,
                "watcher_trigger": trigger_class,
                "idle_trigger_cpu_s": round(idle_cpu, 3),
                "idle_s": args.idle,
                "excludes": "scheduler turn between asset event and task start",
            }))
    finally:
        moto.stop()
        postgres.stop()


if __name__ == "__main__":
    main()
