"""Integration-test harness for cutover: real backends, the real binary, the admin API.

Standard library only. Every address is 127.0.0.1, every port is picked by the kernel (port 0),
every wait has a bound. Used by the test_*.py scripts beside this file; run one with
`CUTOVER_BIN=build/cutover python3 tests/integration/test_http.py`.
"""
from __future__ import annotations

import collections
import functools
import hashlib
import http.client
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
from pathlib import Path

LOCALHOST = "127.0.0.1"
MiB = 1 << 20
GiB = 1 << 30
PIECE = 64 * 1024  # backend download piece size

_REPO = Path(__file__).resolve().parents[2]


def cutover_bin() -> str:
    """Path of the binary under test: $CUTOVER_BIN, else <repo>/build/cutover."""
    # Absolute: a test may start it from another working directory.
    path = os.path.abspath(os.environ.get("CUTOVER_BIN") or str(_REPO / "build" / "cutover"))
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"cutover binary not found or not executable: {path!r} (set CUTOVER_BIN)")
    return path


def cutoverctl_bin() -> str:
    """Path of the CLI under test: $CUTOVERCTL_BIN, else <repo>/build/cutoverctl."""
    path = os.path.abspath(os.environ.get("CUTOVERCTL_BIN") or str(_REPO / "build" / "cutoverctl"))
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"cutoverctl not found or not executable: {path!r} (set CUTOVERCTL_BIN)")
    return path


# --------------------------------------------------------------------------------------------
# Deterministic bytes: 1 MiB pseudo-random base block; block i is the base with its first
# 8 bytes replaced by i (little endian), so no two blocks are equal and reordering is detected.

@functools.lru_cache(maxsize=1)
def _base_block() -> bytes:
    return random.Random(0xC0FFEE).randbytes(MiB)


def block(i: int) -> bytes:
    return i.to_bytes(8, "little") + _base_block()[8:]


def gen_bytes(n: int, piece: int = MiB):
    """Yield the first n bytes of the deterministic stream, in pieces of at most `piece` bytes."""
    assert piece <= MiB and MiB % piece == 0
    off = 0
    while off < n:
        b = block(off // MiB)
        start = off % MiB
        while start < MiB and off < n:
            take = min(piece, MiB - start, n - off)
            yield memoryview(b)[start:start + take]
            start += take
            off += take


@functools.lru_cache(maxsize=16)
def expected_sha256(n: int) -> str:
    h = hashlib.sha256()
    for p in gen_bytes(n):
        h.update(p)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------
# Backends

def read_body(rfile, headers) -> tuple[int, str, bool]:
    """Consume a request body framed by Content-Length or chunked (RFC 9112 §6, §7.1).
    Returns (bytes, sha256 hex, chunked)."""
    h = hashlib.sha256()
    total = 0
    te = (headers.get("Transfer-Encoding") or "").lower()
    if "chunked" in te:
        while True:
            line = rfile.readline(1024)
            if not line:
                raise ConnectionError("eof in chunk size")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                # trailers until the empty line
                for _ in range(1000):
                    t = rfile.readline(8192)
                    if t in (b"\r\n", b"\n", b""):
                        break
                break
            left = size
            while left:
                data = rfile.read(min(left, MiB))
                if not data:
                    raise ConnectionError("eof in chunk data")
                h.update(data)
                total += len(data)
                left -= len(data)
            crlf = rfile.readline(16)
            if crlf not in (b"\r\n", b"\n"):
                raise ConnectionError(f"bad chunk terminator {crlf!r}")
        return total, h.hexdigest(), True
    left = int(headers.get("Content-Length") or 0)
    while left:
        data = rfile.read(min(left, MiB))
        if not data:
            raise ConnectionError("eof in body")
        h.update(data)
        total += len(data)
        left -= len(data)
    return total, h.hexdigest(), False


class RequestEvent:
    """One request as a backend saw it: monotonic arrival time (request head parsed), completion
    time (response written; None while the handler runs), method, path, the X-Req-Id header (tests
    tag requests with it), all headers, body size and sha256."""
    __slots__ = ("t_arrive", "t_done", "side", "method", "path", "req_id", "headers", "nbytes",
                 "sha256")

    def __init__(self, t_arrive, side, method, path, req_id, headers, nbytes, sha256):
        self.t_arrive, self.t_done, self.side, self.method, self.path = t_arrive, None, side, method, path
        self.req_id, self.headers, self.nbytes, self.sha256 = req_id, headers, nbytes, sha256

    def __repr__(self):
        return (f"RequestEvent({self.side} {self.method} {self.path} id={self.req_id} "
                f"t_arrive={self.t_arrive:.4f} t_done={self.t_done})")


class QuickHandler(http.server.BaseHTTPRequestHandler):
    """Base of the test backends: HTTP/1.1 keep-alive, TCP_NODELAY, quiet, and reply() writing
    head and body in one write (a separate body write meets a 40 ms delayed ACK)."""
    protocol_version = "HTTP/1.1"
    server_version = "backend"
    sys_version = ""

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass

    def reply(self, code: int, body: bytes, headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()


class QuickServer(http.server.ThreadingHTTPServer):
    """A threaded server on 127.0.0.1:<free port> for a QuickHandler, serving from a daemon thread."""
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # the default of 5 drops SYNs when a proxy opens a pool at once

    def __init__(self, handler):
        super().__init__((LOCALHOST, 0), handler)
        self.addr = f"{LOCALHOST}:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()

    def close(self):
        self.shutdown()
        self.server_close()


class _Handler(QuickHandler):
    # The server object carries the shared state (see Backend).
    def setup(self):
        super().setup()
        self.server.backend._on_connection()

    def log_message(self, fmt, *args):  # keep test output quiet; remember for failure reports
        self.server.backend._log(fmt % args)

    def _send(self, code: int, body: bytes, ctype="text/plain", extra=()):
        self.reply(code, body, [("X-Backend", self.server.backend.side), ("Content-Type", ctype), *extra])

    def _handle(self):
        be = self.server.backend
        url = urllib.parse.urlsplit(self.path)
        endpoint = url.path.rstrip("/").rsplit("/", 1)[-1]
        q = urllib.parse.parse_qs(url.query)
        t_arrive = time.monotonic()  # request head parsed; the body may still be arriving
        nbytes, digest, chunked = read_body(self.rfile, self.headers)
        be._on_request(self.command, url.path)
        event = be._on_event(t_arrive, self.command, self.path, self.headers, nbytes, digest)
        try:
            self._dispatch(be, url, endpoint, q, nbytes, digest, chunked)
        finally:
            event.t_done = time.monotonic()

    def _dispatch(self, be, url, endpoint, q, nbytes, digest, chunked):
        if endpoint in ("echo-headers", "upload"):
            body = json.dumps({
                "side": be.side, "method": self.command, "path": self.path,
                "request_version": self.request_version,
                "headers": [[k, v] for k, v in self.headers.items()],
                "bytes": nbytes, "sha256": digest, "chunked": chunked,
            }).encode()
            self._send(200, body, "application/json")
        elif endpoint == "download":
            n = int(q.get("bytes", ["0"])[0])
            use_chunked = q.get("chunked", ["0"])[0] == "1"
            self.send_response(200)
            self.send_header("X-Backend", be.side)
            self.send_header("Content-Type", "application/octet-stream")
            if use_chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(n))
            self.end_headers()
            if self.command == "HEAD":
                return
            for p in gen_bytes(n, PIECE):
                if use_chunked:
                    self.wfile.write(b"%x\r\n" % len(p) + bytes(p) + b"\r\n")
                else:
                    self.wfile.write(p)
            if use_chunked:
                self.wfile.write(b"0\r\n\r\n")
        elif endpoint == "slow":
            ms = int(q.get("ms", ["0"])[0])
            time.sleep(min(ms, 30000) / 1000.0)
            self._send(200, f"slept {ms} ms on {be.side}".encode())
        elif endpoint == "hop-response":
            self._send(200, be.side.encode(), extra=[
                ("Connection", "X-Resp-Drop"), ("X-Resp-Drop", "1"), ("Keep-Alive", "timeout=5"),
                ("Proxy-Connection", "keep-alive"), ("X-Resp-Keep", "1")])
        elif endpoint == "status":
            code = int(q.get("code", ["200"])[0])
            if code in (204, 304):  # no body allowed (RFC 9110 §15.3.5, §15.4.5)
                self.send_response(code)
                self.send_header("X-Backend", be.side)
                self.end_headers()
            else:
                self._send(code, f"{be.side} status {code}".encode())
        elif endpoint == "close":  # answer, then close the connection (upstream not reusable)
            self._send(200, be.side.encode(), extra=[("Connection", "close")])
        else:
            self._send(200, be.side.encode())

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # the default of 5 drops SYNs when a proxy opens a pool at once

    def handle_error(self, request, client_address):
        self.backend._log(f"handler error from {client_address}: {sys.exc_info()[1]!r}")


class Backend:
    """One HTTP/1.1 keep-alive backend on 127.0.0.1:<free port> answering as `side`."""

    def __init__(self, side: str):
        self.side = side
        self._lock = threading.Lock()
        self.requests = 0
        self.connections = 0
        self.by_method: collections.Counter = collections.Counter()
        self.by_path: collections.Counter = collections.Counter()
        self.log: collections.deque = collections.deque(maxlen=200)
        self.events: collections.deque = collections.deque(maxlen=200000)
        self.server = _Server((LOCALHOST, 0), _Handler)
        self.server.backend = self
        self.port = self.server.server_address[1]
        self.addr = f"{LOCALHOST}:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name=f"backend-{side}", daemon=True)
        self._thread.start()

    def _on_connection(self):
        with self._lock:
            self.connections += 1

    def _on_request(self, method, path):
        with self._lock:
            self.requests += 1
            self.by_method[method] += 1
            self.by_path[path] += 1

    def _on_event(self, t_arrive, method, path, headers, nbytes, digest) -> "RequestEvent":
        ev = RequestEvent(t_arrive, self.side, method, path, headers.get("X-Req-Id"),
                          [(k, v) for k, v in headers.items()], nbytes, digest)
        with self._lock:
            self.events.append(ev)
        return ev

    def events_snapshot(self) -> list["RequestEvent"]:
        """Every request this backend received (bounded), in arrival order."""
        with self._lock:
            return list(self.events)

    def _log(self, line):
        self.log.append(line)

    def snapshot(self) -> dict:
        with self._lock:
            return {"requests": self.requests, "connections": self.connections,
                    "by_method": dict(self.by_method), "by_path": dict(self.by_path)}

    def reset(self):
        with self._lock:
            self.requests = 0
            self.connections = 0
            self.by_method.clear()
            self.by_path.clear()
            self.events.clear()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Backends:
    """A source and a target backend, as a context manager."""

    def __init__(self):
        self.source = Backend("source")
        self.target = Backend("target")

    def __getitem__(self, side):
        return {"source": self.source, "target": self.target}[side]

    def counts(self) -> dict:
        return {"source": self.source.snapshot()["requests"], "target": self.target.snapshot()["requests"]}

    def reset(self):
        self.source.reset()
        self.target.reset()

    def close(self):
        self.source.close()
        self.target.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_reserved_ports: list[socket.socket] = []


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: bound and never listened on, kept bound until the
    process exits, so a connect is refused and no other test's server (in a parallel ctest run) can
    be given the same port by bind(0)."""
    s = socket.socket()
    s.bind((LOCALHOST, 0))
    _reserved_ports.append(s)
    return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# Config

def to_yaml(obj) -> str:
    """The config as YAML text: JSON is valid YAML 1.2, so no emitter of our own is needed."""
    return json.dumps(obj, indent=2)


def cluster(*endpoints: str, connect_timeout="2s", response_timeout="60s") -> dict:
    return {"endpoints": list(endpoints), "connect_timeout": connect_timeout,
            "response_timeout": response_timeout}


def route(name, source="src", target="tgt", host="*", path_prefix="/", **weights) -> dict:
    r = {"name": name, "match": {"host": host, "path_prefix": path_prefix}, "source": source,
         "target": target}
    r.update(weights)
    return r


def make_config(clusters: dict, listeners: list, workers: int = 2, drain_timeout="2s") -> dict:
    return {"workers": workers, "drain_timeout": drain_timeout,
            "admin": {"listen": f"{LOCALHOST}:0"}, "clusters": clusters, "listeners": listeners}


def simple_config(backends: Backends, **route_weights) -> dict:
    """One listener "public" with one route "app" (host *, prefix /) from src to tgt."""
    return make_config(
        {"src": cluster(backends.source.addr), "tgt": cluster(backends.target.addr)},
        [{"name": "public", "address": f"{LOCALHOST}:0", "protocol": "http",
          "routes": [route("app", **route_weights)]}])


# --------------------------------------------------------------------------------------------
# Admin client

class CutoverTestCase(unittest.TestCase):
    """Tests sharing one cutover (`cls.cv`) in front of backends (`cls.be`) for the whole class:
    start it with start_cutover() in setUpClass; both are stopped after the class, and a test
    during which cutover died fails with its stderr."""
    cv = None
    be = None

    @classmethod
    def start_cutover(cls, config: dict, name: str, listener: str = "public"):
        cls.cv = Cutover(config, name=name).start()
        cls.port = cls.cv.port(listener)
        cls.admin = cls.cv.admin

    @classmethod
    def tearDownClass(cls):
        if cls.cv is not None:
            cls.cv.stop()
        if cls.be is not None:
            cls.be.close()

    def tearDown(self):
        if self.cv is not None:
            self.assertTrue(self.cv.alive(), f"cutover died during this test; stderr:\n{self.cv.log_tail(30)}")


class AdminClient:
    def __init__(self, port: int, timeout: float = 10.0):
        self.port = port
        self.timeout = timeout

    def request(self, method: str, path: str, body=None, raw: bytes | None = None,
                headers: dict | None = None):
        """Returns (status, parsed JSON or None, raw text)."""
        conn = http.client.HTTPConnection(LOCALHOST, self.port, timeout=self.timeout)
        try:
            hdrs = dict(headers or {})
            data = raw
            if body is not None:
                data = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            return resp.status, parsed, text
        finally:
            conn.close()

    def get(self, path):
        return self.request("GET", path)

    def put(self, path, body=None, raw=None):
        return self.request("PUT", path, body=body, raw=raw)

    def post(self, path, body=None, raw=None):
        return self.request("POST", path, body=body, raw=raw)

    # convenience wrappers that insist on success
    def route(self, name) -> dict:
        st, js, text = self.get(f"/v1/routes/{name}")
        if st != 200 or not isinstance(js, dict):
            raise AssertionError(f"GET /v1/routes/{name} -> {st} {text!r}")
        return js

    def set_weight(self, name, **body) -> dict:
        st, js, text = self.put(f"/v1/routes/{name}/weights", body)
        if st != 200:
            raise AssertionError(f"PUT /v1/routes/{name}/weights {body} -> {st} {text!r}")
        return js

    def rollback(self, name, body=None) -> dict:
        st, js, text = self.post(f"/v1/routes/{name}/rollback", body)
        if st != 200:
            raise AssertionError(f"POST /v1/routes/{name}/rollback -> {st} {text!r}")
        return js

    def metrics(self) -> str:
        st, _, text = self.get("/metrics")
        if st != 200:
            raise AssertionError(f"GET /metrics -> {st} {text[:300]!r}")
        return text


_METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> list[tuple[str, dict, float]]:
    """Prometheus text exposition -> [(name, labels, value)]."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _METRIC_RE.match(line)
        if not m:
            continue
        labels = dict(_LABEL_RE.findall(m.group(2) or ""))
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), labels, value))
    return out


def metric_values(text: str, name: str, **match) -> list[tuple[dict, float]]:
    return [(lb, v) for n, lb, v in parse_metrics(text)
            if n == name and all(lb.get(k) == str(val) for k, val in match.items())]


# --------------------------------------------------------------------------------------------
# Running cutover

_LISTEN_RE = re.compile(r"listening listener=(\S+) address=(\S+):(\d+)")
_ADMIN_RE = re.compile(r"listening admin address=(\S+):(\d+)")
_INSTANCES: list["Cutover"] = []  # every instance started in this process, for failure reports


class Cutover:
    """Writes `config` to a temp dir, runs `cutover --config`, learns its ports from stderr.

    with Cutover(cfg) as cv: cv.port("public"); cv.admin.route("app")
    """

    def __init__(self, config: dict, name: str = "cutover", startup_timeout: float = 10.0,
                 args: list[str] | None = None, share_dir_of: "Cutover | None" = None):
        """`args`: extra command-line arguments (["--upgrade"]); `share_dir_of`: run in that
        instance's directory with its config file (`config` is written over it), as a binary
        upgrade of it does."""
        self.config = config
        self.name = name
        self.startup_timeout = startup_timeout
        self.args = list(args or [])
        self.dir = share_dir_of.dir if share_dir_of else Path(tempfile.mkdtemp(prefix=f"cutover-it-{name}-"))
        self.config_path = self.dir / "cutover.yaml"
        self.config_path.write_text(to_yaml(config) + "\n")
        suffix = f"-{name}" if share_dir_of else ""
        self.log_path = self.dir / f"stderr{suffix}.log"
        self.stdout_path = self.dir / f"stdout{suffix}.log"
        self.proc: subprocess.Popen | None = None
        self.listeners: dict[str, tuple[str, int]] = {}
        self.admin_addr: tuple[str, int] | None = None
        self.admin: AdminClient | None = None
        self.returncode = None
        self._cv = threading.Condition()
        self._reader: threading.Thread | None = None
        _INSTANCES.append(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def port(self, listener: str, timeout: float = 10.0) -> int:
        """The port of `listener`'s "listening" line. A listener a reload just added may have its
        line still in the pipe to the reader thread: wait up to `timeout` for it."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while listener not in self.listeners and self.alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(min(left, 0.1))
        return self.listeners[listener][1]

    def start(self):
        want = {l["name"] for l in self.config.get("listeners", [])}
        self._stdout = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen([cutover_bin(), "--config", str(self.config_path), *self.args],
                                     stdin=subprocess.DEVNULL, stdout=self._stdout,
                                     stderr=subprocess.PIPE, cwd=self.dir,
                                     # glibc's fatal messages ("double free ...") go to stderr, not a tty
                                     env=dict(os.environ, LIBC_FATAL_STDERR_="1"))
        self._reader = threading.Thread(target=self._read_stderr, name=f"{self.name}-stderr",
                                        daemon=True)
        self._reader.start()
        deadline = time.monotonic() + self.startup_timeout
        with self._cv:
            while not (self.admin_addr and want <= set(self.listeners)):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    break
                self._cv.wait(min(left, 0.2))
        if not (self.admin_addr and want <= set(self.listeners)):
            rc = self.proc.poll()
            self.stop()
            raise RuntimeError(
                f"cutover did not report its listening addresses within {self.startup_timeout}s "
                f"(exit code {rc}; wanted listeners {sorted(want)} + admin, got "
                f"{sorted(self.listeners)} admin={self.admin_addr}).\nconfig:\n"
                f"{self.config_path.read_text()}\nstderr:\n{self.log_tail()}")
        self.admin = AdminClient(self.admin_addr[1])
        # readiness: bounded poll
        for _ in range(50):
            try:
                st, _, _ = self.admin.get("/readyz")
                if st == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        return self

    def _read_stderr(self):
        with open(self.log_path, "wb") as log:
            for line in iter(self.proc.stderr.readline, b""):
                log.write(line)
                log.flush()
                text = line.decode("utf-8", "replace")
                m = _LISTEN_RE.search(text)
                a = _ADMIN_RE.search(text)
                if m or a:
                    with self._cv:
                        if m:
                            self.listeners[m.group(1)] = (m.group(2), int(m.group(3)))
                        elif a:
                            self.admin_addr = (a.group(1), int(a.group(2)))
                        self._cv.notify_all()

    def stop(self, term_timeout: float = 5.0):
        """SIGTERM, then SIGKILL after term_timeout. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(term_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._reader:
            self._reader.join(5)
        if self.proc.stderr:
            self.proc.stderr.close()
        self._stdout.close()
        self.returncode = self.proc.returncode
        return self.returncode

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            data = self.log_path.read_text("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(data[-lines:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def run_check(config_text: str, name: str = "check.yaml") -> tuple[int, str, Path]:
    """`cutover --check --config FILE` on the given text. Returns (exit code, stdout+stderr, path)."""
    d = Path(tempfile.mkdtemp(prefix="cutover-it-check-"))
    p = d / name
    p.write_text(config_text)
    try:
        r = subprocess.run([cutover_bin(), "--check", "--config", str(p)], stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=30, cwd=d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return r.returncode, r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace"), p


# --------------------------------------------------------------------------------------------
# Clients

class CountingConnection(http.client.HTTPConnection):
    """HTTPConnection that counts TCP connects (http.client silently reconnects otherwise)."""

    def __init__(self, port: int, timeout: float = 30.0):
        super().__init__(LOCALHOST, port, timeout=timeout)
        self.connects = 0

    def connect(self):
        super().connect()
        self.connects += 1
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class ClientThreads:
    """`threads` client threads, each running self._run(i) until stop() (each also bounds itself);
    self.connects[i] counts the TCP connections thread i opened. Subclasses set self.timeout."""

    def __init__(self, threads: int):
        self.connects = [0] * threads
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), name=f"{type(self).__name__}-{i}",
                                          daemon=True) for i in range(threads)]

    def _run(self, i: int):
        raise NotImplementedError

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 5)


class LoadGen(ClientThreads):
    """`threads` keep-alive clients (one CountingConnection each) sending `method path` in a loop
    until stop(), `max_seconds` or `max_per_thread`. Each request is recorded as
    (t_send, t_recv, side, status, error) with monotonic timestamps; side is the X-Backend
    header (None when missing). A body that disagrees with X-Backend is recorded as an error."""

    def __init__(self, port: int, threads: int, path: str = "/", method: str = "GET",
                 body: bytes | None = None, max_seconds: float = 180.0,
                 max_per_thread: int = 100000, timeout: float = 15.0):
        self.port, self.nthreads, self.path, self.method, self.body = port, threads, path, method, body
        self.max_seconds, self.max_per_thread, self.timeout = max_seconds, max_per_thread, timeout
        self.records: list[list[tuple]] = [[] for _ in range(threads)]
        self.errors: list[str] = []
        super().__init__(threads)

    def _run(self, i: int):
        recs = self.records[i]
        deadline = time.monotonic() + self.max_seconds
        conn = CountingConnection(self.port, timeout=self.timeout)
        hdrs = {"Content-Type": "text/plain"} if self.body is not None else {}
        try:
            while not self._stop.is_set() and len(recs) < self.max_per_thread:
                t0 = time.monotonic()
                if t0 > deadline:
                    break
                try:
                    conn.request(self.method, self.path, body=self.body, headers=hdrs)
                    resp = conn.getresponse()
                    data = resp.read()
                    t1 = time.monotonic()
                    side = resp.getheader("X-Backend")
                    err = None
                    if resp.status == 200 and data.decode("latin-1") != side:
                        err = f"body {data[:80]!r} disagrees with X-Backend {side!r}"
                    elif resp.status != 200:
                        err = f"status {resp.status} body {data[:200]!r}"
                    recs.append((t0, t1, side, resp.status, err))
                    if err:
                        self.errors.append(f"thread {i} request {len(recs)}: {err}")
                except Exception as e:  # noqa: BLE001 - every failure is a finding
                    t1 = time.monotonic()
                    recs.append((t0, t1, None, None, repr(e)))
                    self.errors.append(f"thread {i} request {len(recs)}: {e!r}")
                    conn.close()
                    if len(self.errors) > 1000:
                        break
                    time.sleep(0.01)
        finally:
            self.connects[i] = conn.connects
            conn.close()


    def total(self) -> int:
        return sum(len(r) for r in self.records)

    def all_records(self) -> list[tuple]:
        out = []
        for r in self.records:
            out.extend(list(r))
        return out

    def count_sent_after(self, t: float) -> int:
        n = 0
        for r in self.records:
            # records are in send order per thread: count from the end
            for rec in reversed(list(r)):
                if rec[0] <= t:
                    break
                n += 1
        return n

    def wait_until(self, pred, timeout: float, interval: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return True
            if len(self.errors) > 1000 or not any(t.is_alive() for t in self._threads):
                return pred()
            time.sleep(interval)
        return pred()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def http_call(conn: http.client.HTTPConnection, method: str, path: str, headers: dict | None = None,
              body: bytes | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request on `conn` (kept open). Returns (status, [(name, value)], body)."""
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, resp.getheaders(), data


def wait_for(pred, timeout: float, interval: float = 0.02):
    """Poll pred() until it returns a truthy value or `timeout` seconds pass; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def side_counts(records) -> dict:
    """{"source": n, "target": m} over LoadGen records (what the clients saw)."""
    by_side = {"source": 0, "target": 0}
    for r in records:
        if r[2] in by_side:
            by_side[r[2]] += 1
    return by_side


def side_share(records, side: str = "target") -> tuple[float, int, int]:
    """(percent of records served by `side`, that count, total)."""
    n = len(records)
    k = sum(1 for r in records if r[2] == side)
    return (100.0 * k / n if n else float("nan")), k, n


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes, read until the peer closes (or timeout); returns everything read."""
    with socket.create_connection((LOCALHOST, port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
        except socket.timeout:
            pass
        return b"".join(chunks)


def read_response(fp, method: str = "GET"):
    """Read one HTTP/1.1 response from a buffered binary file.
    Returns (status, [(name, value)], body). Handles Content-Length, chunked, no-body."""
    status_line = fp.readline(65536)
    if not status_line:
        raise ConnectionError("connection closed before status line")
    parts = status_line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    status = int(parts[1])
    headers = []
    for _ in range(200):
        line = fp.readline(65536)
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        headers.append((k.strip(), v.strip()))
    hmap = {k.lower(): v for k, v in headers}
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, headers, b""
    if "chunked" in hmap.get("transfer-encoding", "").lower():
        body = []
        while True:
            size = int(fp.readline(1024).split(b";")[0].strip(), 16)
            if size == 0:
                while fp.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass
                break
            body.append(fp.read(size))
            fp.readline(16)
        return status, headers, b"".join(body)
    if "content-length" in hmap:
        return status, headers, fp.read(int(hmap["content-length"]))
    return status, headers, fp.read()


def header(headers, name):
    """First value of a header from a [(name, value)] list (case-insensitive), or None."""
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def header_all(headers, name):
    return [v for k, v in headers if k.lower() == name.lower()]


# --------------------------------------------------------------------------------------------
# RSS

def rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class RssSampler:
    """Samples VmRSS of pid every `interval` seconds in a thread; .max, .samples."""

    def __init__(self, pid: int, interval: float = 0.1):
        self.pid = pid
        self.interval = interval
        self.max = 0
        self.samples = 0
        self.series: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name="rss", daemon=True)

    def _run(self):
        t0 = time.monotonic()
        while not self._stop.is_set():
            r = rss_bytes(self.pid)
            if r is not None:
                self.samples += 1
                self.max = max(self.max, r)
                if len(self.series) < 100000:
                    self.series.append((time.monotonic() - t0, r))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)


# --------------------------------------------------------------------------------------------
# Running a test file

def main():
    """unittest.main() that, on failure, prints the stderr of every cutover instance started."""
    prog = unittest.main(exit=False, verbosity=2)
    ok = prog.result.wasSuccessful()
    if not ok:
        for cv in _INSTANCES:
            sys.stderr.write(f"\n===== cutover '{cv.name}' (config {cv.config_path}, exit "
                             f"{cv.returncode}) stderr tail =====\n{cv.log_tail(80)}\n")
    else:
        for cv in _INSTANCES:
            shutil.rmtree(cv.dir, ignore_errors=True)
    sys.exit(0 if ok else 1)
