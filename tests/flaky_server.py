"""A real HTTP server on 127.0.0.1 serving files from a folder, with injectable faults."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

TRICKLE_BYTES_PER_S = 128  # the "trickle" fault's rate, in 8-byte writes


class FlakyServer(http.server.ThreadingHTTPServer):
    """Serves files from `root`; `faults` maps a name to the failures its next requests get:
    "500" (answers 503), "cut" (announces the whole file, sends half, hangs up), "cut-unsized"
    (announces no length, sends half, hangs up: the end of the body looks like the end of the
    file) or "trickle" (sends the file at TRICKLE_BYTES_PER_S until done or the client leaves)."""

    daemon_threads = True

    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.faults: dict[str, list[str]] = {}
        self.requests: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/data/"


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        self.server.requests.append(name)
        path = self.server.root / name
        if not path.exists():
            self.send_error(404)
            return
        body = path.read_bytes()
        fault = self.server.faults.get(name, [])
        fault = fault.pop(0) if fault else None
        if fault == "500":
            self.send_error(503)
            return
        self.send_response(200)
        if fault != "cut-unsized":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault in ("cut", "cut-unsized"):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        if fault == "trickle":
            with contextlib.suppress(OSError):  # the client gave up
                for start in range(0, len(body), 8):
                    self.wfile.write(body[start : start + 8])
                    self.wfile.flush()
                    time.sleep(8 / TRICKLE_BYTES_PER_S)
            self.close_connection = True
            return
        self.wfile.write(body)


@contextlib.contextmanager
def serving(root: Path) -> Iterator[FlakyServer]:
    """A running server over `root` (created), shut down on exit."""
    root.mkdir(parents=True, exist_ok=True)
    server = FlakyServer(root)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
