"""Loopback stand-ins for the Hugging Face Hub and Kaggle, for the download tests.

Both are threaded ``http.server`` servers on 127.0.0.1 that count every request and can be told
to fail: a status for a file (401, 403, 404), corrupt bytes (the headers still announce the
true hash), a connection cut after some bytes (once), or a stall after some bytes (until
``release`` is set), to kill a client mid-download.

- :class:`HubServer` (ephemeral port, passed to the client as its endpoint): HEAD and GET on
  ``/datasets/{repo}/resolve/{revision}/{filename}`` with ``X-Repo-Commit``, ``ETag`` (the sha256,
  quoted, as for an LFS file), ``X-Linked-Size``, ``Content-Length`` and Range support.
- :class:`KaggleServer` (port 7777, fixed by kagglesdk's TEST environment,
  ``KAGGLE_API_ENVIRONMENT=TEST``): ``POST /api/v1/datasets.DatasetApiService/DownloadDataset``
  answered by a 302 to ``/storage/archive.zip`` on the same server, which serves the zip with
  ``x-goog-hash: md5=<base64>`` and Range support.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RANGE_RE = re.compile(r"bytes=(\d+)-(\d*)")
KAGGLE_PORT = 7777


class _Server:
    """Start/stop and request log shared by both servers."""

    def __init__(self, port: int = 0) -> None:
        self.requests: list[tuple[str, str, dict]] = []
        self.status: dict[str, int] = {}  # file name (or "*") -> HTTP status to answer
        self.corrupt: set[str] = set()
        self.cut: dict[str, int] = {}  # file -> bytes sent before the connection is cut (once)
        self.stall: dict[str, int] = {}  # file -> bytes sent before waiting for ``release``
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def count(self, method: str | None = None) -> int:
        with self.lock:
            return sum(1 for m, _, _ in self.requests if method in (None, m))

    def _log(self, method: str, path: str, headers) -> None:
        with self.lock:
            self.requests.append((method, path, dict(headers)))

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                server._log("HEAD", self.path, self.headers)
                server.route(self, head=True)

            def do_GET(self) -> None:
                server._log("GET", self.path, self.headers)
                server.route(self, head=False)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                server._log("POST", self.path, self.headers)
                server.post(self, body)

        return Handler

    def route(self, handler, head: bool) -> None:
        raise NotImplementedError

    def post(self, handler, body: bytes) -> None:
        handler.send_error(405)

    def _error(self, handler, status: int, head: bool) -> None:
        message = json.dumps({"code": status, "message": f"error {status}"}).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(message)))
        handler.end_headers()
        if not head:
            handler.wfile.write(message)

    def _body(self, handler, name: str, data: bytes, headers: dict, head: bool) -> None:
        """Send ``data`` (or its requested range), honouring corrupt/cut/stall for ``name``."""
        start, status = 0, 200
        match = RANGE_RE.match(handler.headers.get("Range", ""))
        if match and not head:
            start, status = int(match.group(1)), 206
        if name in self.corrupt:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        body = data[start:]
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("Content-Length", str(len(body)))
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.end_headers()
        if head:
            return
        limit = self._limit(name)
        if limit is None:
            handler.wfile.write(body)
            return
        handler.wfile.write(body[:limit])
        handler.wfile.flush()
        if name in self.stall:
            self.stalled.set()
            self.release.wait(timeout=30)
        handler.close_connection = True
        handler.connection.shutdown(2)

    def _limit(self, name: str) -> int | None:
        with self.lock:
            if name in self.cut:
                return self.cut.pop(name)
            return self.stall.get(name) if not self.release.is_set() else None


class HubServer(_Server):
    """The Hub's ``resolve`` endpoint for one dataset repo at one revision."""

    def __init__(self, repo: str, revision: str, files: dict[str, bytes]) -> None:
        super().__init__()
        self.repo, self.revision, self.files = repo, revision, dict(files)
        self.prefix = f"/datasets/{repo}/resolve/{revision}/"

    def route(self, handler, head: bool) -> None:
        path = handler.path.split("?", 1)[0]
        if not path.startswith(self.prefix):
            return self._error(handler, 404, head)
        name = path[len(self.prefix) :].replace("%2B", "+").replace("%2b", "+")
        status = self.status.get(name) or self.status.get("*")
        if status:
            return self._error(handler, status, head)
        if name not in self.files:
            return self._error(handler, 404, head)
        data = self.files[name]
        sha = hashlib.sha256(data).hexdigest()
        headers = {
            "X-Repo-Commit": self.revision,
            "ETag": f'"{sha}"',
            "X-Linked-Etag": f'"{sha}"',
            "X-Linked-Size": str(len(data)),
            "Content-Type": "application/octet-stream",
        }
        return self._body(handler, name, data, headers, head)


class KaggleServer(_Server):
    """kagglehub's TEST environment: the DownloadDataset route and the storage URL it points to."""

    ROUTE = "/api/v1/datasets.DatasetApiService/DownloadDataset"
    ARCHIVE = "archive.zip"

    def __init__(self, owner: str, slug: str, version: int, archive: bytes) -> None:
        super().__init__(KAGGLE_PORT)
        self.owner, self.slug, self.version, self.archive = owner, slug, version, archive
        self.bodies: list[dict] = []

    def post(self, handler, body: bytes) -> None:
        if handler.path != self.ROUTE:
            return self._error(handler, 404, False)
        request = json.loads(body or b"{}")
        self.bodies.append(request)
        status = self.status.get("*")
        if status:
            return self._error(handler, status, False)
        wanted = (request.get("ownerSlug"), request.get("datasetSlug"))
        if wanted != (self.owner, self.slug) or request.get("datasetVersionNumber") != self.version:
            return self._error(handler, 404, False)
        handler.send_response(302)
        handler.send_header("Location", f"http://localhost:{self.port}/storage/{self.ARCHIVE}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def route(self, handler, head: bool) -> None:
        if handler.path.split("?", 1)[0] != f"/storage/{self.ARCHIVE}":
            return self._error(handler, 404, head)
        md5 = base64.b64encode(hashlib.md5(self.archive).digest()).decode()
        headers = {"x-goog-hash": f"crc32c=AAAAAA==,md5={md5}", "Content-Type": "application/zip"}
        return self._body(handler, self.ARCHIVE, self.archive, headers, head)
