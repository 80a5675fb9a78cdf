"""The loop with a real Label Studio: push, re-push, crash, change, vanish, renew, pull.

The S3 emulator holds the images; Label Studio holds no cloud credential, only the signed URLs
labelbridge pushed, and those must open.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from labelbridge.config import Cloud
from labelbridge.errors import LabelStudioError
from labelbridge.secrets import SECRET_MARKERS
from labelbridge.tools.label_studio import LabelStudioClient
from tests.conftest import StoreFactory
from tests.sync import helpers as sync_helpers
from tests.tools.label_studio_helpers import Loop, box, choice, fetch, make_loop


@pytest.fixture
def loop(signing_store: StoreFactory, labeling_dsn: str, label_studio: Any, tmp_path: Path) -> Loop:
    return make_loop(labeling_dsn, signing_store(Cloud.S3), label_studio, tmp_path)


def test_push_creates_tasks_with_signed_urls_that_open_and_a_rerun_sends_nothing(loop: Loop) -> None:
    loop.add_images("a.jpg", "b.jpg", "c.jpg")
    loop.sync()

    first = loop.push().counts
    assert (first.imported, first.batches, first.signed, first.waiting_for_urls) == (3, 1, 3, 0)

    tasks = loop.by_key()
    assert sorted(tasks) == ["a.jpg", "b.jpg", "c.jpg"]
    for key, task in tasks.items():
        url = task["data"]["image"]
        assert url.startswith("http") and "X-Amz-Signature" in url  # a signed URL, not s3://
        assert fetch(url) == (200, f"pixels of {key}".encode())

    again = loop.push().counts
    assert (again.imported, again.updated, again.deleted, again.adopted) == (0, 0, 0, 0)
    assert len(loop.remote_tasks()) == 3


def test_a_run_killed_between_import_and_mapping_commit_leaves_no_duplicate(loop: Loop) -> None:
    loop.add_images("a.jpg", "b.jpg")
    loop.sync()

    class DiesAfterImport(LabelStudioClient):
        def import_tasks(self, project_id: int, tasks: Any) -> list[int]:
            super().import_tasks(project_id, tasks)
            raise KeyboardInterrupt  # the worker is killed before the mapping commits

    dying = DiesAfterImport(loop.client.url, loop.client._token)
    with pytest.raises(KeyboardInterrupt):
        loop.push(dying)
    assert loop.rows("SELECT count(*) FROM tool_task") == [(0,)]
    assert len(loop.remote_tasks()) == 2

    rerun = loop.push().counts
    assert (rerun.adopted, rerun.imported, rerun.duplicates_removed) == (2, 0, 0)
    assert len(loop.remote_tasks()) == 2
    assert loop.push().counts.updated == 0  # adopted tasks were brought up to date once


def test_a_second_copy_from_an_interrupted_run_is_removed(loop: Loop) -> None:
    loop.add_images("a.jpg")
    loop.sync()
    loop.push()
    ((task_id,),) = loop.rows("SELECT id FROM task")
    # What a run that died after importing a second copy leaves behind.
    meta = {"labelbridge_task_id": task_id, "labelbridge_project": "proj"}
    loop.client.import_tasks(loop.remote_id, [{"data": {"image": "x"}, "meta": meta}])
    assert len(loop.remote_tasks()) == 2

    counts = loop.push().counts

    assert (counts.duplicates_removed, counts.adopted, counts.imported) == (1, 0, 0)
    assert len(loop.remote_tasks()) == 1


def test_a_rewritten_object_updates_its_task_in_place_and_keeps_its_annotation(loop: Loop) -> None:
    loop.add_images("a.jpg", "b.jpg")
    loop.sync()
    loop.push()
    before = loop.by_key()
    annotation = loop.annotate(before["a.jpg"]["id"], choice("cat"))

    loop.store.write("images/a.jpg", b"new pixels")
    loop.sync()
    counts = loop.push().counts

    assert (counts.updated, counts.imported) == (1, 0)
    after = loop.by_key()
    assert after["a.jpg"]["id"] == before["a.jpg"]["id"]
    assert [a["id"] for a in after["a.jpg"]["annotations"]] == [annotation]
    assert fetch(after["a.jpg"]["data"]["image"]) == (200, b"new pixels")


def test_vanished_objects_delete_unannotated_tasks_and_keep_annotated_ones(loop: Loop) -> None:
    loop.add_images("a.jpg", "b.jpg", "c.jpg")
    loop.sync()
    loop.push()
    loop.annotate(loop.by_key()["a.jpg"]["id"], choice("dog"))

    loop.store.delete("images/a.jpg")
    loop.store.delete("images/b.jpg")
    loop.sync()
    counts = loop.push().counts

    assert (counts.deleted, counts.kept_annotated) == (1, 1)
    assert sorted(loop.by_key()) == ["a.jpg", "c.jpg"]
    assert loop.push().counts.deleted == 0  # the kept task is not asked about again


def test_renewal_puts_fresh_working_urls_into_label_studio(loop: Loop) -> None:
    loop.add_images("a.jpg", "b.jpg")
    loop.sync()
    # Pushed with 12-hour URLs, renewed with the storage's day-long ones: signed times are whole seconds,
    # so a renewal within the push's second would otherwise sign the same URLs, with no later expiry to put.
    twelve_hours = loop.storage.model_copy(update={"url_ttl": timedelta(hours=12)})
    replace(loop, storage=twelve_hours).push()
    old = {k: t["data"]["image"] for k, t in loop.by_key().items()}
    (before,) = loop.rows("SELECT min(urls_expire_at) FROM tool_task")

    # An hour before the URLs expire: every one is due.
    result = loop.renew(now=before[0] - timedelta(hours=1))

    assert (result.counts.chosen, result.counts.renewed, result.counts.canary_checked) == (2, 2, 1)
    assert result.plan is not None and result.plan.due == 2
    renewed = {k: t["data"]["image"] for k, t in loop.by_key().items()}
    for key in old:
        assert renewed[key] != old[key]
        assert fetch(renewed[key]) == (200, f"pixels of {key}".encode())
    (after,) = loop.rows("SELECT min(urls_expire_at) FROM tool_task")
    assert after[0] > before[0]


def test_renewal_spreads_expiries_by_taking_its_share_before_they_are_due(loop: Loop) -> None:
    loop.add_images(*(f"{i}.jpg" for i in range(10)))
    loop.sync()
    loop.push()
    # As if the push was an hour ago: every URL (in the DB and in Label Studio) expires an hour sooner.
    loop.rows("UPDATE task_url SET expires_at = expires_at - interval '1 hour' RETURNING 1")
    loop.rows("UPDATE tool_task SET urls_expire_at = urls_expire_at - interval '1 hour' RETURNING 1")

    # Nothing is due; a 1d URL with a 4.8h lead leaves 19.2h: hourly runs take 1/19.2 of the tasks each.
    result = loop.renew(now=datetime.now(UTC))

    assert result.plan is not None
    assert (result.plan.due, result.plan.this_run, result.counts.renewed) == (0, 1, 1)
    assert result.plan.steady_rate == pytest.approx(10 / (19.2 * 3600))
    assert result.plan.advice() is None


def test_pull_brings_annotations_created_edited_and_deleted_in_label_studio(loop: Loop) -> None:
    loop.add_images("a.jpg", "b.jpg")
    loop.sync()
    loop.push()
    tasks = loop.by_key()
    first = loop.annotate(tasks["a.jpg"]["id"], [box("cat")])
    loop.annotate(tasks["b.jpg"]["id"], choice("dog"), was_cancelled=True)

    created = loop.pull().counts
    assert (created.created, created.updated, created.deleted) == (2, 0, 0)
    stored = loop.rows(
        "SELECT t.uri, a.origin, a.origin_key, a.result -> 0 ->> 'type', a.was_cancelled, a.lead_time"
        " FROM annotation a JOIN task t ON t.id = a.task_id ORDER BY t.uri"
    )
    assert [(uri.rsplit("/", 1)[-1], *rest) for uri, *rest in stored] == [
        ("a.jpg", "tool", str(first), "rectanglelabels", False, 2.5),
        ("b.jpg", "tool", stored[1][2], "choices", True, 2.5),
    ]

    nothing = loop.pull().counts
    assert (nothing.created, nothing.updated, nothing.deleted) == (0, 0, 0)

    loop.client.request("PATCH", f"/api/annotations/{first}/", json_body={"result": [box("dog")]})
    edited = loop.pull().counts
    assert (edited.created, edited.updated, edited.deleted) == (0, 1, 0)
    ((label,),) = loop.rows(
        "SELECT result -> 0 -> 'value' -> 'rectanglelabels' ->> 0 FROM annotation WHERE origin_key = %s", str(first)
    )
    assert label == "dog"

    loop.client.request("DELETE", f"/api/annotations/{first}/")
    deleted = loop.pull().counts
    assert (deleted.created, deleted.updated, deleted.deleted) == (0, 0, 1)
    assert loop.rows("SELECT count(*) FROM annotation WHERE origin_key = %s", str(first)) == [(0,)]


def test_renewals_do_not_make_pull_rewrite_annotations(loop: Loop) -> None:
    loop.add_images("a.jpg")
    loop.sync()
    loop.push()
    loop.annotate(loop.by_key()["a.jpg"]["id"], choice("cat"))
    loop.pull()
    (before,) = loop.rows("SELECT updated_at FROM annotation")

    loop.renew(now=datetime.now(UTC) + timedelta(days=1))  # bumps the Label Studio task's updated_at
    counts = loop.pull().counts

    assert (counts.tasks_seen, counts.unchanged, counts.updated) == (1, 1, 0)
    assert loop.rows("SELECT updated_at FROM annotation") == [before]


def test_a_task_deleted_by_hand_in_label_studio_is_noticed_and_not_pushed_again(loop: Loop) -> None:
    loop.add_images("a.jpg", "b.jpg")
    loop.sync()
    loop.push()
    doomed = loop.by_key()["a.jpg"]["id"]
    loop.annotate(doomed, choice("cat"))
    loop.pull()
    loop.client.request("DELETE", f"/api/tasks/{doomed}/")

    counts = loop.pull().counts

    assert counts.deleted_in_tool == 1
    assert loop.rows("SELECT count(*) FROM annotation") == [(0,)]
    assert loop.push().counts.imported == 0
    assert sorted(loop.by_key()) == ["b.jpg"]


def test_a_personal_access_token_works_and_a_wrong_token_fails_clearly(loop: Loop, label_studio: Any) -> None:
    loop.add_images("a.jpg")
    loop.sync()
    pat = label_studio.personal_access_token()
    assert loop.push(LabelStudioClient(label_studio.url, pat)).counts.imported == 1

    wrong = "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(LabelStudioError, match="answered 401") as refused:
        loop.push(LabelStudioClient(label_studio.url, wrong))
    assert wrong not in str(refused.value)
    with pytest.raises(LabelStudioError, match="refused") as bad_pat:
        loop.push(LabelStudioClient(label_studio.url, pat[:-6] + "abcdef"))
    assert pat[:20] not in str(bad_pat.value)


def test_label_studio_down_fails_clearly_and_the_rerun_resumes(loop: Loop, label_studio: Any) -> None:
    loop.add_images("a.jpg")
    loop.sync()
    down = LabelStudioClient("http://127.0.0.1:9", label_studio.token)
    with pytest.raises(LabelStudioError, match=r"did not answer GET /api/projects: ConnectError"):
        loop.push(down)

    assert loop.push().counts.imported == 1


def test_no_token_or_signature_reaches_logs_or_results(
    loop: Loop, label_studio: Any, caplog: pytest.LogCaptureFixture
) -> None:
    loop.add_images("a.jpg")
    loop.sync()
    caplog.set_level(logging.DEBUG)
    results = [loop.push(), loop.renew(now=datetime.now(UTC) + timedelta(days=1)), loop.pull()]
    published = caplog.text + repr([r.counts.as_dict() for r in results]) + repr(loop.client)

    assert label_studio.token not in published
    for marker in SECRET_MARKERS:
        assert marker not in published


def test_task_file_predictions_go_along_as_pre_annotations(loop: Loop) -> None:
    from tests.sync import helpers as sync_helpers

    loop.add_images("a.jpg")
    prediction = {"model_version": "yolo-v9", "score": 0.87, "result": choice("cat")}
    task = {"data": {"image": loop.store.uri("images/a.jpg"), "note": "from a file"}, "predictions": [prediction]}
    loop.store.write("tasks/batch.json", sync_helpers.task_file(task))
    loop.storage = sync_helpers.storage_for(loop.store, name="files", prefix="tasks/", mode="task_files")
    loop.sync()

    assert loop.push().counts.imported == 1

    ((remote,),) = [list(loop.by_key().values())]
    assert remote["data"]["note"] == "from a file" and fetch(remote["data"]["image"])[0] == 200
    predictions = loop.client.request("GET", "/api/predictions/", params={"task": remote["id"]}).json()
    assert [(p["model_version"], p["score"], p["result"]) for p in predictions] == [("yolo-v9", 0.87, choice("cat"))]


def test_each_clouds_signed_urls_open_from_label_studio(
    cloud: Cloud, signing_store: StoreFactory, labeling_dsn: str, label_studio: Any, tmp_path: Path
) -> None:
    other = make_loop(labeling_dsn, signing_store(cloud), label_studio, tmp_path)
    other.add_images("a b.jpg", "ü.jpg")
    other.sync()

    assert other.push().counts.imported == 2

    for key, task in other.by_key().items():
        assert fetch(task["data"]["image"]) == (200, f"pixels of {key}".encode())


def test_label_studio_lost_mid_push_fails_clearly_and_the_rerun_resumes_without_duplicates(
    signing_store: StoreFactory, labeling_dsn: str, label_studio: Any, tmp_path: Path
) -> None:
    loop = make_loop(labeling_dsn, signing_store(Cloud.S3), label_studio, tmp_path, batch_size=2)
    loop.add_images(*(f"{i}.jpg" for i in range(5)))
    loop.sync()

    class DropsAfterTwoImports(httpx.HTTPTransport):
        imports = 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/import"):
                self.imports += 1
                if self.imports > 2:
                    raise httpx.ConnectError("connection refused")
            return super().handle_request(request)

    flaky = LabelStudioClient(label_studio.url, label_studio.token, transport=DropsAfterTwoImports())
    with pytest.raises(LabelStudioError, match=r"did not answer POST /api/projects/\d+/import: ConnectError"):
        loop.push(flaky)
    assert loop.rows("SELECT count(*) FROM tool_task") == [(4,)]

    rerun = loop.push().counts
    assert (rerun.imported, rerun.adopted, rerun.duplicates_removed) == (1, 0, 0)
    assert sorted(loop.by_key()) == [f"{i}.jpg" for i in range(5)]


def test_tasks_label_studio_refuses_are_reported_and_left_out_while_the_rest_go(
    loop: Loop, caplog: pytest.LogCaptureFixture
) -> None:
    # Task files hold what Python parses and Label Studio refuses: a task without the field the
    # label config reads, an image that is a number or an object (Label Studio rejects the whole batch).
    loop.add_images("a.jpg", "b.jpg")
    image = f"s3://{loop.store.bucket}/images/"
    tasks = [
        {"image": f"{image}a.jpg"}, {"text": "no image field"}, {"image": 5}, {"image": f"{image}b.jpg"},
        {"image": {"nested": True}},
    ]  # fmt: skip
    loop.store.write("tasks/batch.json", json.dumps(tasks).encode())
    loop.storage = sync_helpers.storage_for(loop.store, prefix="tasks/", mode="task_files", url_ttl="1d")
    loop.sync()

    with caplog.at_level(logging.WARNING):
        first = loop.push().counts

    assert (first.imported, first.refused) == (2, 3)
    images = sorted(t["data"]["image"].split("?")[0].rsplit("/", 1)[-1] for t in loop.remote_tasks())
    assert images == ["a.jpg", "b.jpg"]
    refusals = [r.getMessage() for r in caplog.records if "not sent to Label Studio" in r.getMessage()]
    assert len(refusals) == 3 and all(f"s3://{loop.store.bucket}/tasks/batch.json" in m for m in refusals)
    assert any("its data lacks image, which the label config reads" in m for m in refusals)
    assert any("answered 400" in m and "is of type 'int'" in m for m in refusals)
    again = loop.push().counts
    assert (again.imported, again.refused) == (0, 3)
    assert len(loop.remote_tasks()) == 2


def test_pull_reads_every_task_of_a_bulk_action_that_stamped_them_all_alike(loop: Loop) -> None:
    # Label Studio's "predictions to annotations" action gives every task it touches one updated_at,
    # and it breaks no ties when ordering: paging by page number through them lost tasks (measured:
    # 9,272 of 10,000 annotations came back).
    names = [f"{n:02d}.jpg" for n in range(12)]
    loop.add_images(*names)
    loop.sync()
    loop.push()
    ids = [int(t["id"]) for t in loop.remote_tasks()]
    predictions = [{"task": i, "result": choice("cat"), "model_version": "m"} for i in ids]
    loop.client.request("POST", f"/api/projects/{loop.remote_id}/import/predictions", json_body=predictions)
    action = {"id": "predictions_to_annotations", "project": loop.remote_id}
    selection = {"selectedItems": {"all": False, "included": ids}, "model_version": "m"}  # explicit ids, always
    loop.client.request("POST", "/api/dm/actions", params=action, json_body=selection)
    assert len({t["updated_at"] for t in loop.remote_tasks()}) == 1

    pulled = loop.pull(page_size=5).counts

    assert (pulled.tasks_seen, pulled.created) == (12, 12)
    assert loop.rows("SELECT count(DISTINCT task_id) FROM annotation WHERE origin = 'tool'") == [(12,)]
