"""Pushed tasks opened on Label Studio's labeling page in headless Chromium, logged in as a labeler is.

Label Studio 1.23's front end downloads every media file by script, images included: the labeling page
shows an image from a ``blob:`` URL made of the bytes an XMLHttpRequest read from the task's signed URL,
text given by URL comes through fetch(), audio through both. So the signed URL must really answer, and
the bucket must answer Label Studio's origin with CORS. Of the emulators only Azurite enforces CORS as
its cloud does (moto echoes any Origin, fake-gcs-server answers ``*``): the CORS tests run there.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import wave
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
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


def png(width: int, height: int) -> bytes:
    """A valid RGB PNG with a gradient: Label Studio's image cache rejects files under 100 bytes as empty,
    which a flat colour would be."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + bytes(channel for x in range(width) for channel in (x * 255 // width, y * 255 // height, 128))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    assert len(data) > 100
    return data


def wav(seconds: float, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV of a 440 Hz tone."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes(frames)
    return out.getvalue()


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
def browser(label_studio: Any) -> Iterator[Browser]:
    opened = Browser(width=1280, height=900)
    try:
        opened.set_cookie(label_studio.url, "sessionid", session_cookie(label_studio))
        # Each test loads the same URL before and after a CORS change: a cached answer would hide it.
        opened.disable_cache()
        yield opened
    finally:
        opened.close()


@dataclass(frozen=True)
class Media:
    """One kind of data Label Studio's front end fetches, and how its labeling page shows it loaded."""

    field: str
    config: str
    key: str
    data: bytes
    content_type: str
    #: A JavaScript expression: what the editor shows of the loaded file, or null while it shows nothing.
    shown: str


TEXT = "a review read from the bucket"
IMAGE = Media(
    "image",
    '<View><Image name="image" value="$image"/>'
    '<Choices name="tone" toName="image"><Choice value="cat"/></Choices></View>',
    "images/wide.png",
    png(96, 64),
    "image/png",
    # The editor draws the image from the blob: URL its XMLHttpRequest filled, not from the signed URL.
    "(i => i && i.complete && i.naturalWidth ? {width: i.naturalWidth, height: i.naturalHeight} : null)"
    "(document.querySelector('.lsf-main-view .lsf-image img[src^=\"blob:\"]'))",
)
MEDIA = {
    "image": IMAGE,
    "text": Media(
        "text",
        '<View><Text name="text" value="$text" valueType="url"/>'
        '<Choices name="tone" toName="text"><Choice value="kind"/></Choices></View>',
        "texts/review.txt",
        TEXT.encode(),
        "text/plain",
        f"(v => v && v.innerText.includes({json.dumps(TEXT)}) ? {{text: {json.dumps(TEXT)}}} : null)"
        "(document.querySelector('.lsf-main-view'))",
    ),
    "audio": Media(
        "audio",
        '<View><Audio name="audio" value="$audio"/>'
        '<Choices name="tone" toName="audio"><Choice value="kind"/></Choices></View>',
        "sounds/tone.wav",
        wav(1.5),
        "audio/wav",
        "(a => a ? {duration: a.duration} : null)"
        "([...document.querySelectorAll('audio')].find(a => a.readyState >= 1))",
    ),
}
LOADED = {"image": {"width": 96, "height": 64}, "text": {"text": TEXT}, "audio": {"duration": 1.5}}


def media_loop(labeling_dsn: str, store: Any, label_studio: Any, tmp_path: Path, media: Media) -> Loop:
    loop = make_loop(labeling_dsn, store, label_studio, tmp_path)
    (tmp_path / "image.xml").write_text(media.config)  # the label config file make_loop names
    prefix = media.key.split("/", 1)[0] + "/"
    loop.storage = sync_helpers.storage_for(store, prefix=prefix, media_field=media.field, url_ttl="1d")
    return loop


def open_task(browser: Browser, loop: Loop, task: dict[str, Any], media: Media) -> dict[str, Any]:
    """Open the task's labeling page; once the editor shows the file or Label Studio's loading error, say which.

    The error is the message Label Studio shows a labeler, with its technical description. Either counts
    only once a script request for the task's signed URL has finished (an <audio> can play before that).
    """
    browser.goto(f"{loop.client.url}/projects/{loop.remote_id}/data?task={task['id']}")
    error = f"There was an issue loading URL from ${media.field} value"
    found = browser.wait_for(
        f"""(() => {{
            if (!performance.getEntriesByType('resource').some(e => e.name === {json.dumps(task["data"][media.field])}
                && (e.initiatorType === 'xmlhttprequest' || e.initiatorType === 'fetch'))) return null;
            const page = document.body ? document.body.innerText : '';
            const at = page.indexOf({json.dumps(error)});
            if (at >= 0) return {{error: page.slice(at, at + 600)}};
            return {media.shown};
        }})()""",
        what=f"the labeling page of task {task['id']} showing its {media.field} or a loading error",
    )
    return dict(found)


def fetched_by_script(browser: Browser, url: str) -> list[int]:
    """The statuses of the page's script requests for ``url`` (0: CORS kept the answer from the page)."""
    return [status for kind, status in browser.resources(url) if kind in ("xmlhttprequest", "fetch")]


def test_a_pushed_task_shows_its_image_loaded_from_its_signed_url(
    signing_store: StoreFactory, labeling_dsn: str, label_studio: Any, tmp_path: Path, browser: Browser
) -> None:
    loop = media_loop(labeling_dsn, signing_store(Cloud.S3), label_studio, tmp_path, IMAGE)
    loop.store.write("images/wide.png", png(96, 64), content_type="image/png")
    loop.store.write("images/gone.png", png(96, 64), content_type="image/png")
    loop.sync()
    loop.push()
    tasks = loop.by_key()
    signed = tasks["wide.png"]["data"]["image"]
    assert "X-Amz-Signature=" in signed

    # 96x64, not a square: width and height both come from the PNG the bucket holds.
    assert open_task(browser, loop, tasks["wide.png"], IMAGE) == {"width": 96, "height": 64}
    assert fetched_by_script(browser, signed) == [200]

    loop.store.delete("images/gone.png")  # its signed URL now answers 404: the page must say it cannot load it
    gone = tasks["gone.png"]["data"]["image"]
    broken = open_task(browser, loop, tasks["gone.png"], IMAGE)
    assert gone in broken.get("error", ""), broken
    # Label Studio retries a failed download: every try got the 404.
    assert fetched_by_script(browser, gone) and set(fetched_by_script(browser, gone)) == {404}


@pytest.mark.parametrize("kind", list(MEDIA))
def test_media_fetched_by_script_loads_only_when_the_bucket_allows_exactly_label_studios_origin(
    signing_store: StoreFactory, labeling_dsn: str, label_studio: Any, tmp_path: Path, browser: Browser, kind: str
) -> None:
    from azure.storage.blob import BlobServiceClient, CorsRule

    media = MEDIA[kind]
    loop = media_loop(labeling_dsn, signing_store(Cloud.AZURE), label_studio, tmp_path, media)
    loop.store.write(media.key, media.data, content_type=media.content_type)
    loop.sync()
    loop.push()
    (task,) = loop.remote_tasks()
    signed = task["data"][media.field]
    origin = loop.client.url  # scheme, host and port: what the browser sends as Origin
    # The same Label Studio by another name: a rule for it is a rule for another origin.
    other = origin.replace("127.0.0.1", "localhost")
    # CORS is a property of the account's Blob service, shared by the session's tests: always reset.
    service = BlobServiceClient.from_connection_string(os.environ["AZURITE_CONNECTION_STRING"])
    try:
        for rules in ([], [CorsRule([other], ["GET", "HEAD"])]):
            service.set_service_properties(cors=rules)
            refused = open_task(browser, loop, task, media)
            assert "error" in refused, (rules, refused)
            assert fetched_by_script(browser, signed) and set(fetched_by_script(browser, signed)) == {0}

        # Exactly Label Studio's origin, as compliance.allowed_origins lists it.
        service.set_service_properties(cors=[CorsRule([origin], ["GET", "HEAD"])])
        assert open_task(browser, loop, task, media) == LOADED[kind]
        assert set(fetched_by_script(browser, signed)) == {200}
    finally:
        service.set_service_properties(cors=[])
