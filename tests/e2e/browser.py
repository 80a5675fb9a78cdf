"""Headless Debian ``chromium`` driven over the DevTools protocol: log in with a JWT, wait for text, screenshot.

Only what the UI tests need: no Selenium or Playwright download, just the distribution's browser
and the ``websockets`` client already in the lock.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    def __init__(self, *, width: int = 1440, height: int = 900) -> None:
        if CHROMIUM is None:
            raise RuntimeError("chromium is not installed: `apt-get install -y chromium` (Debian)")
        # Chromium's helper processes may still flush into the profile as it is removed.
        self._profile = tempfile.TemporaryDirectory(prefix="lb-chromium-", ignore_cleanup_errors=True)
        stderr_path = Path(self._profile.name) / "stderr.log"
        self._stderr = stderr_path.open("wb")
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--no-first-run",
             f"--user-data-dir={self._profile.name}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=self._stderr, start_new_session=True,
        )
        port = self._devtools_port(stderr_path)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        self.ws: ClientConnection = connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10)
        self._ids = itertools.count(1)
        self.send("Page.enable")
        self.send("Network.enable")

    def _devtools_port(self, stderr_path: Path, timeout_s: float = 30.0) -> int:
        # Chromium prints "DevTools listening on ws://127.0.0.1:<port>/devtools/browser/<id>" once up.
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in stderr_path.read_text(errors="replace").splitlines():
                if line.startswith("DevTools listening on ws://"):
                    return int(line.split("ws://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}: {stderr_path.read_text()[-2000:]}")
            time.sleep(0.05)
        raise TimeoutError(f"chromium printed no DevTools address within {timeout_s:.0f}s")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})  # type: ignore[no-any-return]

    def set_cookie(self, url: str, name: str, value: str) -> None:
        self.send("Network.setCookie", url=url, name=name, value=value, path="/")

    def disable_cache(self) -> None:
        """Fetch every resource anew: a response cached without CORS headers must not stand in for a later one."""
        self.send("Network.setCacheDisabled", cacheDisabled=True)

    def resources(self, url: str) -> list[tuple[str, int]]:
        """How the current page fetched ``url``: (initiator type, HTTP status) per request, in order.

        From the page's resource timing: the status of a cross-origin response is 0 unless CORS let the page read it.
        """
        result = self.send(
            "Runtime.evaluate",
            returnByValue=True,
            expression=(
                f"performance.getEntriesByType('resource').filter(e => e.name === {json.dumps(url)})"
                ".map(e => [e.initiatorType, e.responseStatus])"
            ),
        )
        return [(str(kind), int(status)) for kind, status in result["result"].get("value") or []]

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def text(self) -> str:
        result = self.send("Runtime.evaluate", expression="document.body ? document.body.innerText : ''",
                           returnByValue=True)
        return str(result["result"].get("value") or "")

    def links(self) -> list[tuple[str, str]]:
        """Every anchor on the page as (text, absolute href)."""
        result = self.send("Runtime.evaluate", returnByValue=True,
                           expression="[...document.querySelectorAll('a')].map(a => [a.innerText.trim(), a.href])")
        return [(str(text), str(href)) for text, href in result["result"].get("value") or []]

    def wait_for_link(self, text: str, timeout_s: float = 60.0) -> str:
        """The href of the first anchor whose text is exactly ``text``, once the page shows one."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [href for label, href in self.links() if label == text]
            if found:
                return found[0]
            time.sleep(0.5)
        raise AssertionError(f"page never showed a link {text!r} within {timeout_s:.0f}s; links: {self.links()}")

    def frame_text(self, url_part: str) -> str:
        """The text of the first (i)frame whose URL contains ``url_part``, or "" while there is none.

        Read in an isolated world: the UI sandboxes plugin iframes, so the page cannot reach in.
        """
        frames = [self.send("Page.getFrameTree")["frameTree"]]
        while frames:
            node = frames.pop()
            if url_part in node["frame"].get("url", ""):
                world = self.send("Page.createIsolatedWorld", frameId=node["frame"]["id"])
                result = self.send("Runtime.evaluate", expression="document.body ? document.body.innerText : ''",
                                   contextId=world["executionContextId"], returnByValue=True)
                return str(result["result"].get("value") or "")
            frames.extend(node.get("childFrames", []))
        return ""

    def wait_for_frame_text(self, url_part: str, *needles: str, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        text = ""
        while time.monotonic() < deadline:
            text = self.frame_text(url_part)
            if all(needle in text for needle in needles):
                return text
            time.sleep(0.5)
        raise AssertionError(f"frame {url_part!r} never showed {list(needles)} within {timeout_s:.0f}s; it shows: "
                             f"{text[:1500]!r}")

    def wait_for_text(self, *needles: str, timeout_s: float = 60.0) -> str:
        """Poll the rendered page until every needle shows; the error lists the missing ones."""
        deadline = time.monotonic() + timeout_s
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if all(needle in text for needle in needles):
                return text
            time.sleep(0.5)
        missing = [n for n in needles if n not in text]
        raise AssertionError(f"page never showed {missing} within {timeout_s:.0f}s; it shows: {text[:1500]!r}")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression on the page (JSON-serialisable values only)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, *, what: str, timeout_s: float = 60.0) -> Any:
        """Poll a JavaScript expression until its value is truthy, and return it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise AssertionError(f"{what}: not within {timeout_s:.0f}s; the page shows: {self.text()[:1000]!r}")

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        self.ws.close()
        # The whole process group: the renderer and utility processes too, which write to the profile.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._stderr.close()
        self._profile.cleanup()
