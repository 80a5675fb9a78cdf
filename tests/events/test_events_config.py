"""The events section is validated like the rest: each error names the file, the entry and the field."""

from __future__ import annotations

from pathlib import Path

from labelbridge.config import load_config


def test_events_errors_name_file_entry_and_field(tmp_path: Path) -> None:
    path = tmp_path / "storages.yaml"
    path.write_text(
        "projects: [{name: p}]\nstorages:\n"
        "  - {name: a, project: p, cloud: s3, bucket: b, events: {queue: my-queue}}\n"
        "  - {name: b, project: p, cloud: azure, bucket: b, events: {queue: Bad_Name}}\n"
        "  - {name: c, project: p, cloud: gcs, bucket: b, events: {}}\n"
        "  - {name: d, project: p, cloud: s3, bucket: b,"
        " events: {queue: 'https://sqs.us-east-1.amazonaws.com/1/q', max_messages: 2000}}\n"
        "  - {name: e, project: p, cloud: s3, bucket: b,"
        " events: {queue: 'https://sqs.us-east-1.amazonaws.com/1/q', project_id: x}}\n"
        "  - {name: f, project: p, cloud: gcs, bucket: b, events: {queue: images-sub}}\n"
        "  - {name: ok, project: p, cloud: gcs, bucket: b, events: {queue: images-sub, project_id: proj-1}}\n"
        "  - {name: ok2, project: p, cloud: gcs, bucket: b, events: {queue: projects/proj-2/subscriptions/s}}\n"
    )
    config = load_config(path)
    problems = [str(p) for p in config.problems]
    assert problems == [
        f"{path}: storages[0] 'a': events.queue: an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/"
        "<name>), not 'my-queue'",
        f"{path}: storages[1] 'b': events.queue: 'Bad_Name' is not a Storage Queue name (3-63 lowercase letters, "
        "digits and single hyphens)",
        f"{path}: storages[2] 'c': field 'events.queue': required field is missing",
        f"{path}: storages[3] 'd': field 'events.max_messages': Input should be less than or equal to 1000",
        f"{path}: storages[4] 'e': events.project_id applies to GCS storages only, not s3",
        f"{path}: storages[5] 'f': events.project_id: required on GCS (the subscription's project; the DAG file "
        "must not read connections), or give queue as projects/<project>/subscriptions/<name>",
    ]
    events = config.storage("ok").events
    assert events is not None and (events.queue, events.project_id, events.visibility_timeout) == (
        "images-sub", "proj-1", 300)
    from labelbridge.hooks.event_queues import PubSubEventQueue

    queue = PubSubEventQueue(config.storage("ok2"))
    assert (queue.project_id, queue.subscription) == ("proj-2", "s")
