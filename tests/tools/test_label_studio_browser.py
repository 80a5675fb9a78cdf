"""A pushed task opened on Label Studio's labeling page in headless Chromium: its image really loads
from the signed URL the task holds, and a URL that no longer works does not (so the check can fail)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from labelbridge.config import Cloud
from tests.conftest import StoreFactory
from tests.e2e.browser import CHROMIUM, Browser
from tests.sync import helpers as sync_helpers
from tests.tools.label_studio_helpers import Loop, make_loop

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (scripts/setup.sh installs it)")

#: What the page reports about each image of the task: how far it loaded, and from which host.
IMAGES = """[...document.querySelectorAll('img')].filter(i => i.src.includes(%s)).map(i => ({
    complete: i.complete, width: i.naturalWidth, height: i.naturalHeight, signed: i.src.includes('X-Amz-Signature')
}))"""


def png(width: int, height: int) -> bytes:
    from scripts.demo import png as square

    assert width == height
    return square((200, 120, 80), width)


def session_cookie(label_studio: Any) -> str:
    """Log in as a browser does: Django's login form with its CSRF token; Label Studio's session cookie."""
    with httpx.Client(base_url=label_studio.url, timeout=30) as http:
        form = http.get("/user/login/")
        csrf = http.cookies["csrftoken"]
        answer = http.post(
            "/user/login/",
            data={"email": label_studio.email, "password": label_studio.password, "csrfmiddlewaretoken": csrf},
            headers={"Referer": f"{label_studio.url}/user/login/"},
        )
        assert answer.status_code in (200, 302) and form.status_code == 200
        return str(http.cookies["sessionid"])


@pytest.fixture
def loop(signing_store: StoreFactory, labeling_dsn: str, label_studio: Any, tmp_path: Path) -> Loop:
    return make_loop(labeling_dsn, signing_store(Cloud.S3), label_studio, tmp_path)


@pytest.fixture
def browser(label_studio: Any) -> Iterator[Browser]:
    opened = Browser(width=1280, height=900)
    try:
        opened.set_cookie(label_studio.url, "sessionid", session_cookie(label_studio))
        yield opened
    finally:
        opened.close()


def open_task(browser: Browser, loop: Loop, remote_task_id: int, key: str) -> dict[str, Any]:
    browser.goto(f"{loop.client.url}/projects/{loop.remote_id}/data?task={remote_task_id}")
    found = browser.wait_for(
        f"(() => {{ const f = {IMAGES % json.dumps(key)}; return f.length && f.every(i => i.complete) && f; }})()",
        what=f"the labeling page of task {remote_task_id} showing {key}",
    )
    return dict(found[0])


def test_a_pushed_task_shows_its_image_loaded_from_its_signed_url(loop: Loop, browser: Browser) -> None:
    loop.store.write("images/wide.png", png(96, 96))
    loop.store.write("images/gone.png", png(64, 64))
    loop.sync()
    loop.push()
    tasks = loop.by_key()

    shown = open_task(browser, loop, tasks["wide.png"]["id"], "/images/wide.png")
    assert shown == {"complete": True, "width": 96, "height": 96, "signed": True}

    loop.store.delete("images/gone.png")  # its signed URL now answers 404: the browser shows no image
    broken = open_task(browser, loop, tasks["gone.png"]["id"], "/images/gone.png")
    assert broken["width"] == 0 and broken["signed"]


TEXT_CONFIG = """<View>
  <Text name="text" value="$text" valueType="url"/>
  <Choices name="tone" toName="text"><Choice value="kind"/><Choice value="rude"/></Choices>
</View>
"""


def test_text_fetched_by_script_loads_only_when_the_bucket_allows_label_studios_origin(
    signing_store: StoreFactory, labeling_dsn: str, label_studio: Any, tmp_path: Path, browser: Browser
) -> None:
    # Label Studio's front end fetches a text given by URL with fetch(): a cross-origin read, which
    # the bucket's CORS rule must allow. Azurite enforces CORS as Azure does (moto allows every origin).
    from azure.storage.blob import BlobServiceClient, CorsRule

    loop = make_loop(labeling_dsn, signing_store(Cloud.AZURE), label_studio, tmp_path)
    (tmp_path / "image.xml").write_text(TEXT_CONFIG)
    loop.storage = sync_helpers.storage_for(loop.store, prefix="texts/", media_field="text", url_ttl="1d")
    loop.store.write("texts/a.txt", b"a review read from the bucket")
    loop.sync()
    loop.push()
    (task,) = loop.remote_tasks()
    page = f"{loop.client.url}/projects/{loop.remote_id}/data?task={task['id']}"
    service = BlobServiceClient.from_connection_string(os.environ["AZURITE_CONNECTION_STRING"])
    try:
        browser.goto(page)
        browser.wait_for_text("There was an issue loading URL from $text value", "Failed to fetch")

        # Exactly Label Studio's origin, as docs/label-studio.md says (and compliance.allowed_origins accepts).
        service.set_service_properties(cors=[CorsRule([loop.client.url], ["GET", "HEAD"])])
        browser.goto(page)
        shown = browser.wait_for_text("a review read from the bucket")
        assert "There was an issue loading URL" not in shown
    finally:
        service.set_service_properties(cors=[])  # the emulator's account is shared by the session's tests
