"""A tiny Lambda Runtime API stub for the benchmarks (standard library only).

It binds 127.0.0.1 on a free port and speaks just enough of the Runtime API
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) for `lambda_runtime` and for
the Python baseline:

- `GET  /2018-06-01/runtime/invocation/next`: the arrival time of the first one is recorded
  (`time.perf_counter_ns()`, the same clock the harness reads before it starts the process).
  With no events queued the request is held until `release()`; otherwise the next queued event
  is served with the headers the runtime requires.
- `POST /2018-06-01/runtime/invocation/<id>/response|error` and `/runtime/init/error`: 202, the
  body is kept.

One stub serves many runs, one after the other: `arm()` before starting a process, then
`wait_first_next()`.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid

NEXT = "/2018-06-01/runtime/invocation/next"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:{name}"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real Runtime API

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):  # noqa: N802
        now = time.perf_counter_ns()
        stub: RuntimeStub = self.server.stub  # type: ignore[attr-defined]
        if self.path != NEXT:
            self._reply(404, b'{"errorMessage":"not found"}')
            return
        stub._on_next(now)
        event = stub._take_event()
        if event is None:
            # Hold the request, as Lambda does between invocations, until the run is over.
            stub._released.wait(timeout=60)
            self.close_connection = True
            return
        name, body = event
        request_id = str(uuid.uuid4())
        stub.served.append((request_id, name))
        deadline = int(time.time() * 1000) + 60_000
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
        self.send_header(
            "Lambda-Runtime-Invoked-Function-Arn",
            FUNCTION_ARN.format(name=stub.function_name),
        )
        self.send_header(
            "Lambda-Runtime-Trace-Id",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        )
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        stub: RuntimeStub = self.server.stub  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        kind = self.path.rsplit("/", 1)[-1]
        stub.results.append((self.path, kind, body))
        self._reply(202, b'{"status":"OK"}')

    def _read_chunked(self) -> bytes:
        out = b""
        while True:
            size = int(self.rfile.readline().strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return out
            out += self.rfile.read(size)
            self.rfile.readline()

    def _reply(self, code: int, body: bytes):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class RuntimeStub:
    """The stub server, running in a daemon thread."""

    def __init__(self, function_name: str = "gate-bench"):
        self.function_name = function_name
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.stub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._lock = threading.Lock()
        self._first = threading.Event()
        self._released = threading.Event()
        self._on_next_hook = None
        self.first_next_ns: int | None = None
        self.next_count = 0
        self.events: list[tuple[str, bytes]] = []
        self.served: list[tuple[str, str]] = []
        self.results: list[tuple[str, str, bytes]] = []
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def arm(self, events: list[tuple[str, bytes]] | None = None, on_next=None):
        """Prepares for a new process: forget the last run, queue `events` (name, JSON body).
        `on_next(count)` is called on every `next` request before it is answered (count 1 is
        the first), e.g. to read the process's peak RSS between invocations."""
        self._released.set()  # let a held request of the previous run go
        with self._lock:
            self.first_next_ns = None
            self.next_count = 0
            self.events = list(events or [])
            self.served = []
            self.results = []
            self._on_next_hook = on_next
        self._first.clear()
        self._released = threading.Event()

    def wait_first_next(self, timeout: float = 30.0) -> int | None:
        """The perf_counter_ns() of the first `next` request, or None after `timeout`."""
        if not self._first.wait(timeout):
            return None
        return self.first_next_ns

    def release(self):
        self._released.set()

    def close(self):
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def _on_next(self, now: int):
        with self._lock:
            self.next_count += 1
            count = self.next_count
            if self.first_next_ns is None:
                self.first_next_ns = now
        if count == 1:
            self._first.set()
        if self._on_next_hook is not None:
            self._on_next_hook(count)

    def _take_event(self):
        with self._lock:
            return self.events.pop(0) if self.events else None


def load_event(path: str) -> tuple[str, bytes]:
    with open(path, "rb") as f:
        body = f.read()
    json.loads(body)  # fail early on a broken fixture
    return (path, body)
