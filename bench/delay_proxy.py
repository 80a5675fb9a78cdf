"""A loopback HTTP proxy that holds every request a fixed time before passing it on.

Put in front of an emulator (moto_server), it makes each listing page cost a round trip like a
far-away cloud's (``--delay-ms``, default 50): what a parallel listing has to win against. It
forwards method, path, headers and body unchanged (signatures stay valid: the Host header is
passed as the client sent it) and streams nothing: emulator answers are small. Each request
runs in its own thread, so concurrent requests wait their delays side by side, as they would on
a network.

Usage (also imported by bench/resync.py)::

    .venv/bin/python bench/delay_proxy.py --upstream http://127.0.0.1:5000 --delay-ms 50
"""

from __future__ import annotations

import argparse
import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


class DelayProxy:
    """A running proxy: ``url`` is where clients go instead of ``upstream``."""

    def __init__(self, upstream: str, *, delay_s: float, port: int = 0) -> None:
        target = urlsplit(upstream)
        host, target_port = target.hostname or "127.0.0.1", target.port or 80
        local = threading.local()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                time.sleep(delay_s)  # the round trip a distant endpoint costs
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = http.client.HTTPConnection(host, target_port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                except (OSError, http.client.HTTPException):
                    conn.close()
                    local.conn = None
                    raise
                self.send_response_only(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="delay-proxy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    proxy = DelayProxy(args.upstream, delay_s=args.delay_ms / 1000, port=args.port)
    print(proxy.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        proxy.stop()


if __name__ == "__main__":
    main()
