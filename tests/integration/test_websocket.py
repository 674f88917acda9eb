#!/usr/bin/env python3
"""WebSocket tunnels on HTTP routes, against the real binary with real WebSocket servers and
clients (Debian's python3-websockets, the asyncio API of version 10).

A `101` from the backend is relayed and the two connections become a byte tunnel; the tunnel is
write traffic (write_weight, sticky, force, write holds); rollback and release close the tunnels of
one side after a grace; `timeouts.tunnel_idle` closes silent tunnels; another answer than `101` is
an ordinary response on a connection that stays usable; `upgrade: []` and any upgrade the route
does not list (`h2c`) are plain HTTP/1.1 without the Upgrade header; upgrades are never mirrored;
tunnels have their metrics, `/v1/stats` entries and `cutoverctl status` column; SIGTERM ends them
at `drain_timeout`. WsSelfCheck runs the test's servers and clients without cutover.

The backends are WebSocket echo servers written here (WsBackend): the 101 carries `X-Backend:
<side>`, the first message is the side's name, then every message is echoed unchanged.

python3-websockets imports only under Debian's interpreter, so run this file with it:

    CUTOVER_BIN=build/cutover /usr/bin/python3 tests/integration/test_websocket.py
"""
from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import email.utils
import hashlib
import http
import json
import os
import random
import re
import signal
import socket
import ssl
import tempfile
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse
import uuid
from pathlib import Path

try:
    import websockets
    from websockets.exceptions import ConnectionClosed, InvalidStatusCode
except ImportError:
    sys.exit(f"test_websocket.py needs Debian's python3-websockets (scripts/setup.sh installs it) and an "
             f"interpreter that imports it, /usr/bin/python3; this one is {sys.executable}")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402
from harness import LOCALHOST, MiB  # noqa: E402

MAX_MESSAGE = 32 * MiB      # both ends accept the 16 MiB message
SUBPROTOCOL = "chat.v1"     # offered by the clients, selected by the servers: a header each way
FORCE_HEADER = "X-Cutover-Side"
USER_HEADER = "X-User-Id"


# --------------------------------------------------------------------------------------------
# The asyncio side: one event loop in a thread holds every server and client of this process.

class AsyncLoop:
    """An asyncio event loop in a daemon thread. Tests drive it from their own thread: run() waits
    for a coroutine with a bound, submit() returns a future to wait on later."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ws-loop", daemon=True)
        self._thread.start()

    def submit(self, coro) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro, timeout: float = 30.0):
        name = getattr(coro, "__qualname__", repr(coro))
        fut = self.submit(coro)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise AssertionError(f"{name} did not finish within {timeout} s") from None

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def digest_message(hsh, msg) -> None:
    """Adds one message to a running sha256: its kind, length and bytes, so that a message split,
    merged or turned from text into binary changes the digest."""
    data = msg.encode() if isinstance(msg, str) else bytes(msg)
    hsh.update(b"T" if isinstance(msg, str) else b"B")
    hsh.update(len(data).to_bytes(8, "little"))
    hsh.update(data)


def digest_of(msgs) -> str:
    hsh = hashlib.sha256()
    for m in msgs:
        digest_message(hsh, m)
    return hsh.hexdigest()


class ServerTunnel:
    """One WebSocket connection as a WsBackend saw it: request path and headers, the messages that
    arrived (count and digest_message sha256), when it ended (monotonic; None while open)."""

    def __init__(self, ws):
        self.ws = ws
        self.path = ws.path
        self.headers = list(ws.request_headers.raw_items())
        self.messages = 0
        self.sha256 = hashlib.sha256()
        self.closed_at: float | None = None


class WsBackend:
    """A WebSocket echo server on 127.0.0.1:<free port> answering as `side`.

    The 101 carries `X-Backend: <side>` and selects the subprotocol chat.v1; the first message is the
    side's name, then every message comes back unchanged. The request path's query changes that:
    `echo=0` echoes nothing; `push=N&size=B&every_ms=T` also sends N binary messages of B bytes, one
    every T ms. A request without `Upgrade: websocket` gets `200` with the side as its body (then the
    library closes the connection). Every request is kept in `requests` as (path, [(name, value)]),
    every tunnel as a ServerTunnel keyed by the `id` query parameter."""

    def __init__(self, loop: AsyncLoop, side: str, tls: "ssl.SSLContext | None" = None):
        self.side = side
        self.loop = loop
        self.lock = threading.Lock()
        self.requests: list[tuple[str, list]] = []
        self.tunnels: dict[str, ServerTunnel] = {}

        async def start():
            return await websockets.serve(
                self._handler, LOCALHOST, 0, process_request=self._process_request,
                subprotocols=[SUBPROTOCOL], extra_headers=[("X-Backend", side)], compression=None,
                ping_interval=None, max_size=MAX_MESSAGE, close_timeout=2, ssl=tls)

        self.server = loop.run(start(), 10)
        self.port = self.server.sockets[0].getsockname()[1]
        self.addr = f"{LOCALHOST}:{self.port}"

    async def _process_request(self, path, headers):
        with self.lock:
            self.requests.append((path, list(headers.raw_items())))
        if "websocket" in headers.get("Upgrade", "").lower():
            return None  # go on with the handshake
        return http.HTTPStatus.OK, [("X-Backend", self.side), ("Content-Type", "text/plain")], self.side.encode()

    async def _handler(self, ws):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(ws.path).query)

        def opt(name, default):
            return int(q.get(name, [default])[0])

        rec = ServerTunnel(ws)
        with self.lock:
            self.tunnels[q.get("id", [""])[0]] = rec
        pusher = None
        try:
            await ws.send(self.side)
            if opt("push", 0):
                pusher = asyncio.create_task(self._push(ws, opt("push", 0), opt("size", 8), opt("every_ms", 0)))
            async for msg in ws:
                with self.lock:
                    digest_message(rec.sha256, msg)
                    rec.messages += 1
                if opt("echo", 1):
                    await ws.send(msg)
        except ConnectionClosed:
            pass
        finally:
            if pusher:
                pusher.cancel()
            rec.closed_at = time.monotonic()

    @staticmethod
    async def _push(ws, n, size, every_ms):
        for i in range(n):
            await ws.send(i.to_bytes(4, "little") + b"p" * max(0, size - 4))
            await asyncio.sleep(every_ms / 1000)

    def requests_under(self, prefix: str) -> list[tuple[str, list]]:
        with self.lock:
            return [r for r in self.requests if r[0].startswith(prefix)]

    def tunnel(self, tid: str) -> ServerTunnel | None:
        with self.lock:
            return self.tunnels.get(tid)

    def abort(self, tid: str) -> None:
        """Drops the TCP connection of tunnel `tid` without a close frame."""
        self.loop.loop.call_soon_threadsafe(self.tunnels[tid].ws.transport.abort)

    def close(self):
        async def stop():
            self.server.close()
            await self.server.wait_closed()
        self.loop.run(stop(), 10)


# --------------------------------------------------------------------------------------------
# Clients

async def _closed_at(ws) -> float:
    await ws.wait_closed()
    return time.monotonic()


async def _open(url: str, headers, timeout: float, tls: "ssl.SSLContext | None" = None):
    """Opens a WebSocket (wss:// with `tls`) and reads the backend's greeting; returns (ws,
    greeting, a task that ends with the monotonic time the connection closed)."""
    ws = await websockets.connect(url, extra_headers=list(headers), subprotocols=[SUBPROTOCOL],
                                  compression=None, ping_interval=None, max_size=MAX_MESSAGE,
                                  open_timeout=timeout, close_timeout=2, ssl=tls)
    closed = asyncio.ensure_future(_closed_at(ws))
    try:
        greeting = await asyncio.wait_for(ws.recv(), timeout)
    except BaseException:
        await ws.close()
        raise
    return ws, greeting, closed


async def _round_trip(ws, payload, timeout: float):
    await ws.send(payload)
    return await asyncio.wait_for(ws.recv(), timeout)


async def _recv_n(ws, n: int, timeout: float) -> list:
    return [await asyncio.wait_for(ws.recv(), timeout) for _ in range(n)]


async def _exchange(ws, msgs, timeout: float) -> tuple[int, str]:
    """Sends msgs while reading as many back; returns (messages read, digest of them)."""
    got = hashlib.sha256()
    count = 0

    async def writer():
        for m in msgs:
            await ws.send(m)

    async def reader():
        nonlocal count
        for _ in msgs:
            digest_message(got, await ws.recv())
            count += 1

    await asyncio.wait_for(asyncio.gather(writer(), reader()), timeout)
    return count, got.hexdigest()


class Tunnel:
    """A WebSocket client connection, driven from the test's thread. `side` is the backend's greeting,
    `response_headers` the 101's, `id` the value of the `id` query parameter it was opened with (the
    key of its ServerTunnel)."""

    def __init__(self, loop: AsyncLoop, opened: tuple, tid: str):
        self.loop, self.id = loop, tid
        self.ws, self.side, self._closed = opened

    @property
    def response_headers(self):
        return self.ws.response_headers

    @classmethod
    def open(cls, loop: AsyncLoop, port: int, path: str, headers=(), timeout: float = 10.0,
             tls: "ssl.SSLContext | None" = None) -> "Tunnel":
        fut, tid = cls.open_async(loop, port, path, headers, timeout, tls)
        return cls.finish_open(loop, fut, tid, timeout + 5)

    @classmethod
    def open_async(cls, loop: AsyncLoop, port: int, path: str, headers=(), timeout: float = 10.0,
                   tls: "ssl.SSLContext | None" = None):
        """Starts the handshake (over TLS with `tls`); returns (future of what _open returns, id)."""
        tid = uuid.uuid4().hex
        sep = "&" if "?" in path else "?"
        scheme = "wss" if tls else "ws"
        return loop.submit(_open(f"{scheme}://{LOCALHOST}:{port}{path}{sep}id={tid}", headers, timeout, tls)), tid

    @classmethod
    def finish_open(cls, loop: AsyncLoop, fut, tid: str, timeout: float) -> "Tunnel":
        try:
            return cls(loop, fut.result(timeout), tid)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise AssertionError(f"no WebSocket within {timeout} s") from None

    def echo(self, payload=b"ping", timeout: float = 10.0) -> bool:
        """One round trip: True when the same message came back."""
        try:
            return self.loop.run(_round_trip(self.ws, payload, timeout), timeout + 5) == payload
        except (ConnectionClosed, OSError, asyncio.TimeoutError):
            return False

    def exchange(self, msgs, timeout: float = 120.0) -> tuple[int, str]:
        return self.loop.run(_exchange(self.ws, msgs, timeout), timeout + 5)

    def send(self, msg):
        self.loop.run(self.ws.send(msg), 10)

    def recv_n(self, n: int, timeout: float = 10.0) -> list:
        return self.loop.run(_recv_n(self.ws, n, timeout), timeout * n + 5)

    def closed_within(self, timeout: float) -> float | None:
        """The monotonic time the connection ended (by either peer, watched from the moment it
        opened), None if still open after `timeout` s."""
        if not h.wait_for(self._closed.done, timeout, 0.01):
            return None
        return self._closed.result()

    def close(self):
        try:
            self.loop.run(self.ws.close(), 10)
        except (ConnectionClosed, OSError, AssertionError):
            pass


def close_all(tunnels) -> None:
    for t in tunnels:
        t.close()


def handshake_request(path: str, upgrade: str = "websocket", extra: str = "") -> bytes:
    """A raw GET asking for an upgrade: a complete WebSocket handshake for `websocket` (RFC 6455
    §4.1), an HTTP/2 one for `h2c` (RFC 7540 §3.2), else just Upgrade and Connection."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {LOCALHOST}", f"Upgrade: {upgrade}"]
    if upgrade == "websocket":
        lines += ["Connection: Upgrade", f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
                  "Sec-WebSocket-Version: 13"]
    elif upgrade == "h2c":
        lines += ["Connection: Upgrade, HTTP2-Settings", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"]
    else:
        lines += ["Connection: Upgrade"]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


class RawConnection:
    """A client socket speaking HTTP/1.1 by hand: send bytes, read one response (harness.read_response);
    `status_line` is the last response's first line."""

    def __init__(self, port: int, timeout: float = 10.0):
        self.sock = socket.create_connection((LOCALHOST, port), timeout=timeout)
        self.fp = self.sock.makefile("rb")
        self.status_line = b""

    def readline(self, limit: int = -1) -> bytes:
        line = self.fp.readline(limit)
        if not self.status_line:
            self.status_line = line
        return line

    def read(self, n: int = -1) -> bytes:
        return self.fp.read(n)

    def request(self, data: bytes):
        self.sock.sendall(data)
        self.status_line = b""
        return h.read_response(self)

    def close(self):
        self.fp.close()
        self.sock.close()


def upstream_header(headers, name):
    return h.header([(k, v) for k, v in headers], name)


# --------------------------------------------------------------------------------------------
# Without cutover: the test's own servers and clients.

class WsSelfCheck(unittest.TestCase):
    """The backends and clients of this file connected directly, so a failure of the tests below is
    the proxy's and not the machinery's."""

    @classmethod
    def setUpClass(cls):
        cls.loop = AsyncLoop()
        cls.ws = WsBackend(cls.loop, "source")

    @classmethod
    def tearDownClass(cls):
        cls.ws.close()
        cls.loop.close()

    def test_greeting_echo_subprotocol_and_records(self):
        t = Tunnel.open(self.loop, self.ws.port, "/self/ws", [(USER_HEADER, "u1")])
        try:
            self.assertEqual(t.side, "source")
            self.assertEqual(t.response_headers.get("X-Backend"), "source")
            self.assertEqual(t.ws.subprotocol, SUBPROTOCOL)
            self.assertTrue(t.echo(b"\x00\xffbinary"))
            self.assertTrue(t.echo("text é€"))
            rec = self.ws.tunnel(t.id)
            self.assertEqual(rec.messages, 2)
            self.assertEqual(upstream_header(rec.headers, USER_HEADER), "u1")
            self.assertEqual(upstream_header(rec.headers, "Upgrade").lower(), "websocket")
        finally:
            t.close()
        self.assertIsNotNone(h.wait_for(lambda: rec.closed_at, 5))

    def test_bulk_exchange_and_large_message_digests(self):
        msgs = bulk_messages(1000)
        t = Tunnel.open(self.loop, self.ws.port, "/self/bulk")
        try:
            self.assertEqual(t.exchange(msgs), (1000, digest_of(msgs)))
            rec = self.ws.tunnel(t.id)
            self.assertEqual((rec.messages, rec.sha256.hexdigest()), (1000, digest_of(msgs)))
            self.assertNotEqual(digest_of(msgs[:-1] + [msgs[-1] + b"x"]), digest_of(msgs))
        finally:
            t.close()
        big = large_message()
        t = Tunnel.open(self.loop, self.ws.port, "/self/big")
        try:
            self.assertEqual(t.exchange([big]), (1, digest_of([big])))
        finally:
            t.close()

    def test_push_and_no_echo(self):
        t = Tunnel.open(self.loop, self.ws.port, "/self/push?push=3&size=100&echo=0")
        try:
            got = t.recv_n(3)
            self.assertEqual([len(m) for m in got], [100] * 3)
            t.send(b"x" * 50)
            self.assertTrue(h.wait_for(lambda: self.ws.tunnel(t.id).messages == 1, 5))
            self.assertIsNone(t.closed_within(0.5), "an open tunnel reported closed")
        finally:
            t.close()

    def test_abrupt_close_is_seen_at_once(self):
        t = Tunnel.open(self.loop, self.ws.port, "/self/abort")
        self.assertIsNone(t.closed_within(0.3))
        t0 = time.monotonic()
        self.ws.abort(t.id)
        at = t.closed_within(5)
        self.assertIsNotNone(at)
        self.assertLess(at - t0, 1.0)
        self.assertFalse(t.echo())

    def test_plain_request_and_raw_handshake(self):
        c = RawConnection(self.ws.port)
        try:
            st, hdrs, body = c.request(b"GET /self/plain HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual((st, body), (200, b"source"))
        finally:
            c.close()
        c = RawConnection(self.ws.port)
        try:
            st, hdrs, _ = c.request(handshake_request("/self/raw"))
            self.assertEqual(st, 101)
            self.assertEqual(h.header(hdrs, "Upgrade").lower(), "websocket")
        finally:
            c.close()
        paths = [p for p, _ in self.ws.requests_under("/self/")]
        self.assertIn("/self/plain", paths)
        self.assertIn("/self/raw", paths)
        # A plain HTTP answer to the handshake is what the client reports when cutover drops Upgrade.
        plain = h.Backend("plain")
        try:
            with self.assertRaises(InvalidStatusCode) as cm:
                self.loop.run(_open(f"ws://{plain.addr}/x", [], 5), 10)
            self.assertEqual(cm.exception.status_code, 200)
        finally:
            plain.close()


def bulk_messages(n: int) -> list:
    """n deterministic messages of 0 to 8 KiB, binary and text (with multi-byte characters) alternating."""
    rng = random.Random(0x5EED)
    alphabet = "ascii é ü € 😀 ✓ \n"
    out = []
    for i in range(n):
        size = rng.randrange(0, 8192)
        if i % 2:
            out.append(rng.randbytes(size))
        else:
            start = rng.randrange(len(alphabet))
            out.append(f"{i}:" + (alphabet * (size // len(alphabet) + 1))[start:start + size // 3])
    return out


def large_message() -> bytes:
    return b"".join(bytes(p) for p in h.gen_bytes(16 * MiB))


# --------------------------------------------------------------------------------------------
# Through cutover

def ws_route(name: str, prefix: str, source: str = "wsrc", target: str = "wtgt", **extra) -> dict:
    """A route from the WebSocket source to the WebSocket target (clusters wsrc, wtgt)."""
    return h.route(name, source=source, target=target, path_prefix=prefix, **extra)


def force_cfg() -> dict:
    return {"header": FORCE_HEADER, "allow_cidrs": ["127.0.0.0/8"]}


class WsCase(h.CutoverTestCase):
    """A cutover in front of a WebSocket source and target (cls.ws["source"], cls.ws["target"])."""
    loop: AsyncLoop
    ws: dict

    @classmethod
    def start_backends(cls):
        cls.loop = AsyncLoop()
        cls.ws = {side: WsBackend(cls.loop, side) for side in ("source", "target")}

    @classmethod
    def ws_clusters(cls) -> dict:
        return {"wsrc": h.cluster(cls.ws["source"].addr), "wtgt": h.cluster(cls.ws["target"].addr)}

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for b in cls.ws.values():
            b.close()
        cls.loop.close()

    def open(self, path: str, headers=(), timeout: float = 10.0) -> Tunnel:
        return Tunnel.open(self.loop, self.port, path, headers, timeout)

    def metric(self, name: str, **labels) -> float:
        return sum(v for _, v in h.metric_values(self.admin.metrics(), name, **labels))

    def tunnels_of(self, route: str) -> dict:
        st = self.admin.route(route)
        self.assertIn("tunnels", st, f"GET /v1/routes/{route} has no \"tunnels\": {st}")
        return st["tunnels"]

    def assert_tunnels(self, route: str, source: int, target: int, timeout: float = 5.0):
        want = {"source": source, "target": target}
        if not h.wait_for(lambda: self.tunnels_of(route) == want, timeout):
            self.assertEqual(self.tunnels_of(route), want, f"open tunnels of route {route}")

    def assert_closed_between(self, tunnels, t_sent: float, t_answered: float, low: float, high: float):
        """Every tunnel ended no sooner than `low` s after the admin call was sent and no later than
        `high` s after it was answered."""
        for t in tunnels:
            at = t.closed_within(t_answered + high + 1 - time.monotonic())
            self.assertIsNotNone(at, f"a {t.side} tunnel was still open {high} s after the call")
            self.assertGreaterEqual(at - t_sent, low, f"a {t.side} tunnel closed {at - t_sent:.2f} s after the call")
            self.assertLessEqual(at - t_answered, high)


class WebSocketTest(WsCase):
    @classmethod
    def setUpClass(cls):
        cls.start_backends()
        cls.be = h.Backends()  # plain HTTP/1.1 keep-alive backends for the non-101 cases
        R = ws_route
        clusters = dict(cls.ws_clusters(), hsrc=h.cluster(cls.be.source.addr), htgt=h.cluster(cls.be.target.addr),
                        dead=h.cluster(f"{LOCALHOST}:{h.closed_port()}", connect_timeout="1s"))
        routes = [
            R("split", "/split/", weight=0, force=force_cfg()),
            R("sticky", "/sticky/", weight=50, sticky={"header": USER_HEADER}),
            R("bulk", "/bulk/", weight=0),
            R("rb", "/rb/", weight=0),
            R("rel", "/rel/", weight=0, writes={"hold_timeout": "20s"}),
            R("relg", "/relg/", weight=0, writes={"hold_timeout": "20s"}),
            R("hto", "/hto/", weight=0, writes={"hold_timeout": "1s", "hold_max": "60s"}),
            R("metered", "/m/", weight=0, upgrade=["websocket"]),
            R("mirrored", "/mir/", weight=0, mirror={"percent": 100}),
            R("noup", "/noup/", weight=0, upgrade=[]),
            R("dead", "/dead/", target="dead", weight=100),
            R("ctl", "/ctl/", weight=0, force=force_cfg()),
            h.route("plain", source="hsrc", target="htgt", path_prefix="/plain/", weight=0),
        ]
        cls.access_log = Path(tempfile.mkdtemp(prefix="cutover-ws-")) / "access.log"
        cfg = h.make_config(clusters, [{"name": "public", "address": f"{LOCALHOST}:0", "protocol": "http",
                                        "access_log": {"path": str(cls.access_log)}, "routes": routes}])
        cls.start_cutover(cfg, "websocket")

    # -- where tunnels go ------------------------------------------------------------------------

    def test_weights_send_every_tunnel_to_one_side(self):
        """weight 0 -> every tunnel on source, 100 -> on target; a tunnel follows write_weight."""
        opened = []
        try:
            for weights, side in (({"weight": 0}, "source"), ({"weight": 100}, "target"),
                                  ({"read_weight": 0, "write_weight": 100}, "target"),
                                  ({"read_weight": 100, "write_weight": 0}, "source")):
                self.admin.set_weight("split", **weights)
                for i in range(10):
                    t = self.open(f"/split/ws?n={i}")
                    opened.append(t)
                    self.assertEqual(t.side, side, f"weights {weights}")
                    # The 101 came through whole: the backend's own header and subprotocol choice.
                    self.assertEqual(t.response_headers.get("X-Backend"), side)
                    self.assertEqual(t.ws.subprotocol, SUBPROTOCOL)
                    self.assertTrue(t.echo(f"hello {i}"))
            self.assert_tunnels("split", 20, 20)
            for t in opened[:3]:
                rec = self.ws[t.side].tunnel(t.id)
                self.assertEqual(upstream_header(rec.headers, "Upgrade").lower(), "websocket", rec.headers)
                self.assertIn("upgrade", upstream_header(rec.headers, "Connection").lower(), rec.headers)
                self.assertTrue(rec.path.startswith("/split/ws?n="), rec.path)
            # Every tunnel still works after the weights moved on.
            self.assertEqual([t for t in opened if not t.echo(b"again")], [])
        finally:
            close_all(opened)
        self.assert_tunnels("split", 0, 0)

    def test_forced_side_from_loopback(self):
        self.admin.set_weight("split", weight=0)
        a = self.open("/split/forced", [(FORCE_HEADER, "target")])
        self.admin.set_weight("split", weight=100)
        b = self.open("/split/forced", [(FORCE_HEADER, "source")])
        try:
            self.assertEqual((a.side, b.side), ("target", "source"))
            for t in (a, b):
                rec = self.ws[t.side].tunnel(t.id)
                self.assertIsNone(upstream_header(rec.headers, FORCE_HEADER), "the force header reached the backend")
                self.assertTrue(t.echo())
        finally:
            close_all((a, b))

    def test_sticky_user_tunnel_on_the_side_of_its_requests(self):
        """Weight 50, 40 users: each user's tunnel lands where its plain GET went; both sides used."""
        self.admin.set_weight("sticky", weight=50)
        seen = {}
        for n in range(40):
            user = f"user-{n}"
            conn = h.CountingConnection(self.port, timeout=10)
            try:
                st, hdrs, body = h.http_call(conn, "GET", "/sticky/who", {USER_HEADER: user})
            finally:
                conn.close()
            self.assertEqual(st, 200, body)
            t = self.open("/sticky/ws", [(USER_HEADER, user)])
            try:
                self.assertEqual(t.side, body.decode(), f"{user}: GET on {body.decode()}, tunnel on {t.side}")
                self.assertTrue(t.echo())
            finally:
                t.close()
            seen[user] = t.side
        sides = set(seen.values())
        self.assertEqual(sides, {"source", "target"}, f"40 users at weight 50 all on one side: {seen}")

    # -- the byte tunnel -------------------------------------------------------------------------

    def test_thousand_messages_each_way_and_16MiB_byte_exact(self):
        msgs = bulk_messages(1000)
        t = self.open("/bulk/ws")
        try:
            self.assertEqual(t.side, "source")
            self.assertEqual(t.exchange(msgs), (1000, digest_of(msgs)), "messages back to the client differ")
            rec = self.ws["source"].tunnel(t.id)
            self.assertEqual((rec.messages, rec.sha256.hexdigest()), (1000, digest_of(msgs)),
                             "messages at the backend differ")
        finally:
            t.close()
        big = large_message()
        t = self.open("/bulk/big")
        try:
            got = t.exchange([big], timeout=120)
            self.assertEqual(got, (1, digest_of([big])), "the 16 MiB message came back different")
            rec = self.ws["source"].tunnel(t.id)
            self.assertEqual(rec.sha256.hexdigest(), digest_of([big]), "the 16 MiB message arrived different")
            self.assertTrue(t.echo(), "the tunnel after the 16 MiB message")
        finally:
            t.close()

    def test_access_log_line_when_the_tunnel_ends(self):
        """One line per tunnel, written when it ends: 101, websocket, the bytes both ways, the id
        the client and the backend both saw."""
        t = self.open("/bulk/ws?token=secret")
        try:
            self.assertTrue(t.echo(b"x" * 1000))
            rid = t.response_headers.get("X-Request-Id")
            self.assertRegex(rid or "", r"^[0-9a-f]{32}$")
            rec = self.ws["source"].tunnel(t.id)
            self.assertEqual(upstream_header(rec.headers, "X-Request-Id"), rid)
        finally:
            t.close()

        def line():
            for text in self.access_log.read_text().splitlines() if self.access_log.exists() else []:
                entry = json.loads(text)
                if entry["request_id"] == rid:
                    return entry
            return None
        entry = h.wait_for(line, 10)
        self.assertIsNotNone(entry, "no access log line for the tunnel")
        self.assertEqual((entry["status"], entry["protocol"], entry["result"], entry["route"], entry["side"]),
                         (101, "websocket", "tunnel", "bulk", "source"))
        self.assertEqual(entry["path"], "/bulk/ws")
        self.assertGreater(entry["bytes_in"], 1000)
        self.assertGreater(entry["bytes_out"], 1000)

    # -- rollback and release --------------------------------------------------------------------

    def test_rollback_closes_target_tunnels_after_grace(self):
        self.admin.set_weight("rb", weight=0)
        src = [self.open("/rb/ws") for _ in range(2)]
        self.admin.set_weight("rb", weight=100)
        tgt = [self.open("/rb/ws") for _ in range(3)]
        try:
            self.assertEqual([t.side for t in src + tgt], ["source"] * 2 + ["target"] * 3)
            self.assert_tunnels("rb", 2, 3)
            t_sent = time.monotonic()
            st, js, text = self.admin.post("/v1/routes/rb/rollback", {"close_target_connections": True, "grace": "1s"})
            t_answered = time.monotonic()
            self.assertEqual(st, 200, text)
            self.assertEqual((js["read_weight"], js["write_weight"]), (0, 0))
            time.sleep(max(0.0, t_sent + 0.5 - time.monotonic()))
            self.assertEqual([t.echo() for t in tgt], [True] * 3, "target tunnels during the grace")
            self.assert_closed_between(tgt, t_sent, t_answered, 0.8, 3.0)
            self.assertEqual([t.echo() for t in src], [True] * 2, "source tunnels after the rollback")
            self.assertTrue(h.wait_for(lambda: all(self.ws["target"].tunnel(t.id).closed_at for t in tgt), 3),
                            "the target backend still has the tunnels")
            self.assert_tunnels("rb", 2, 0)
            new = self.open("/rb/ws")
            self.assertEqual(new.side, "source")
            new.close()
        finally:
            close_all(src + tgt)

    def hold(self, route: str) -> dict:
        st, js, text = self.admin.post(f"/v1/routes/{route}/writes/hold", {})
        self.assertEqual(st, 200, text)
        self.assertIs(js.get("writes", {}).get("held"), True, text)
        return js

    def test_release_to_target_closing_source_tunnels(self):
        """hold -> an upgrade waits -> release {write_weight: 100, close_tunnels: source}: the held
        upgrade lands on target, the source tunnels end at once, the hold reported them."""
        self.admin.set_weight("rel", weight=0)
        old = [self.open("/rel/ws") for _ in range(2)]
        held = None
        try:
            self.assertEqual([t.side for t in old], ["source"] * 2)
            js = self.hold("rel")
            self.assertEqual(js.get("tunnels"), {"source": 2, "target": 0}, f"hold answer {js}")
            self.assert_tunnels("rel", 2, 0)
            fut, tid = Tunnel.open_async(self.loop, self.port, "/rel/ws", timeout=20)
            time.sleep(0.7)
            self.assertFalse(fut.done(), f"an upgrade passed the hold: {fut}")
            self.assertEqual([p for p, _ in self.ws["source"].requests_under("/rel/") + self.ws["target"].requests_under("/rel/")
                              if tid in p], [], "the held upgrade reached a backend")
            self.assertEqual([t.echo() for t in old], [True] * 2, "source tunnels during the hold")
            t_sent = time.monotonic()
            st, rel, text = self.admin.post("/v1/routes/rel/writes/release",
                                            {"write_weight": 100, "close_tunnels": "source"})
            t_answered = time.monotonic()
            self.assertEqual(st, 200, text)
            held = Tunnel.finish_open(self.loop, fut, tid, 10)
            self.assertEqual(held.side, "target", "the upgrade held during the hold")
            self.assertTrue(held.echo())
            self.assert_closed_between(old, t_sent, t_answered, 0.0, 2.0)
            self.assertTrue(h.wait_for(lambda: all(self.ws["source"].tunnel(t.id).closed_at for t in old), 3),
                            "the source backend still has the tunnels")
            new = self.open("/rel/ws")
            self.assertEqual(new.side, "target")
            self.assert_tunnels("rel", 0, 2)
            new.close()
        finally:
            close_all(old + ([held] if held else []))

    def test_release_grace_keeps_source_tunnels_for_the_grace(self):
        self.admin.set_weight("relg", weight=0)
        old = [self.open("/relg/ws") for _ in range(2)]
        try:
            self.hold("relg")
            t_sent = time.monotonic()
            st, _, text = self.admin.post("/v1/routes/relg/writes/release",
                                          {"write_weight": 100, "close_tunnels": "source", "grace": "1s"})
            t_answered = time.monotonic()
            self.assertEqual(st, 200, text)
            time.sleep(max(0.0, t_sent + 0.4 - time.monotonic()))
            self.assertEqual([t.echo() for t in old], [True] * 2, "source tunnels during the grace")
            self.assert_closed_between(old, t_sent, t_answered, 0.8, 3.0)
        finally:
            close_all(old)

    def test_held_upgrade_times_out_with_503_and_retry_after(self):
        self.hold("hto")
        c = RawConnection(self.port)
        try:
            t0 = time.monotonic()
            st, hdrs, body = c.request(handshake_request("/hto/ws"))
            waited = time.monotonic() - t0
        finally:
            c.close()
            self.admin.post("/v1/routes/hto/writes/release", {})
        self.assertEqual(st, 503, body)
        ra = h.header(hdrs, "Retry-After")
        self.assertTrue(ra and (re.fullmatch(r"\d+", ra.strip()) or email.utils.parsedate(ra)),
                        f"Retry-After (delay-seconds or HTTP-date): {hdrs}")
        self.assertTrue(0.9 <= waited <= 3.0, f"answered after {waited:.2f} s with hold_timeout 1s")
        self.assertEqual(self.ws["source"].requests_under("/hto/") + self.ws["target"].requests_under("/hto/"), [])

    # -- not a tunnel ----------------------------------------------------------------------------

    def test_backend_answering_200_keeps_the_connection_for_the_next_request(self):
        c = RawConnection(self.port)
        try:
            st, hdrs, body = c.request(handshake_request("/plain/echo-headers"))
            self.assertEqual(st, 200, body)
            seen = dict((k.lower(), v) for k, v in json.loads(body)["headers"])
            self.assertEqual(seen.get("upgrade", "").lower(), "websocket", f"upstream headers {seen}")
            self.assertIn("upgrade", seen.get("connection", "").lower(), f"upstream headers {seen}")
            st, hdrs, body = c.request(f"GET /plain/next HTTP/1.1\r\nHost: {LOCALHOST}\r\n\r\n".encode())
            self.assertEqual((st, body), (200, b"source"), "the request after the upgrade's 200")
        finally:
            c.close()

    def test_unlisted_upgrade_is_plain_http(self):
        for upgrade in ("h2c", "foo/1"):
            with self.subTest(upgrade=upgrade):
                c = RawConnection(self.port)
                try:
                    st, hdrs, body = c.request(handshake_request("/plain/echo-headers", upgrade))
                    self.assertEqual((c.status_line[:12], st), (b"HTTP/1.1 200", 200), body)
                    self.assertIsNone(h.header(hdrs, "Upgrade"), hdrs)
                    js = json.loads(body)
                    names = {k.lower() for k, _ in js["headers"]}
                    self.assertNotIn("upgrade", names, f"the backend saw an Upgrade header: {js['headers']}")
                    self.assertNotIn("http2-settings", names, js["headers"])
                    self.assertEqual(js["request_version"], "HTTP/1.1")
                    st, _, body = c.request(f"GET /plain/after HTTP/1.1\r\nHost: {LOCALHOST}\r\n\r\n".encode())
                    self.assertEqual((st, body), (200, b"source"))
                finally:
                    c.close()

    def test_route_without_websocket_refuses_tunnels(self):
        """upgrade: [] -> the request reaches the backend without Upgrade, so no handshake."""
        before = self.metric("cutover_tunnels_total", route="noup")
        fut, tid = Tunnel.open_async(self.loop, self.port, "/noup/ws")
        with self.assertRaises(InvalidStatusCode) as cm:
            fut.result(15)
        self.assertEqual(cm.exception.status_code, 200, "the backend's plain answer")
        reqs = self.ws["source"].requests_under("/noup/")
        self.assertEqual(len(reqs), 1, reqs)
        self.assertIsNone(upstream_header(reqs[0][1], "Upgrade"), f"upstream headers {reqs[0][1]}")
        self.assertIsNone(self.ws["source"].tunnel(tid))
        self.assertEqual(self.tunnels_of("noup"), {"source": 0, "target": 0})
        self.assertEqual(self.metric("cutover_tunnels_total", route="noup"), before)

    def test_upgrades_are_not_mirrored(self):
        conn = h.CountingConnection(self.port, timeout=10)
        try:
            st, _, body = h.http_call(conn, "GET", "/mir/plain")
        finally:
            conn.close()
        self.assertEqual((st, body), (200, b"source"))
        # The mirror works on this route: the plain GET reached target too.
        self.assertTrue(h.wait_for(lambda: self.ws["target"].requests_under("/mir/plain"), 5),
                        "the plain GET was not mirrored: the route does not show anything")
        # The counter moves when the mirror's answer has been compared, a little after target saw
        # the request, so wait for it before taking the baseline.
        self.assertTrue(h.wait_for(
            lambda: self.metric("cutover_mirror_requests_total", route="mirrored") >= 1, 5),
            "the plain GET's mirror was never counted")
        mirrored = self.metric("cutover_mirror_requests_total", route="mirrored")
        t = self.open("/mir/ws")
        try:
            self.assertEqual(t.side, "source")
            self.assertTrue(t.echo())
        finally:
            t.close()
        time.sleep(0.5)
        self.assertEqual(self.ws["target"].requests_under("/mir/ws"), [], "the upgrade was mirrored")
        self.assertEqual(self.metric("cutover_mirror_requests_total", route="mirrored"), mirrored)

    # -- accounting ------------------------------------------------------------------------------

    def test_metrics_and_stats_count_tunnels(self):
        m = self.metric
        before = {k: m(n, route="metered", **lb) for k, (n, lb) in {
            "total_s": ("cutover_tunnels_total", {"side": "source"}),
            "total_t": ("cutover_tunnels_total", {"side": "target"}),
            "up": ("cutover_tunnel_bytes_total", {"side": "source", "direction": "upstream"}),
            "down": ("cutover_tunnel_bytes_total", {"side": "source", "direction": "downstream"}),
        }.items()}
        # One tunnel carries 20 x 1000 bytes up only, the other 20 x 1000 bytes down only.
        up = self.open("/m/ws?echo=0")
        down = self.open("/m/ws?echo=0&push=20&size=1000")
        try:
            self.assertTrue(h.wait_for(lambda: m("cutover_tunnels_active", route="metered", side="source") == 2, 5),
                            "cutover_tunnels_active{side=source} with two tunnels open")
            self.assertEqual(m("cutover_tunnels_active", route="metered", side="target"), 0)
            self.assert_tunnels("metered", 2, 0)
            for _ in range(20):
                up.send(b"u" * 1000)
            self.assertEqual([len(x) for x in down.recv_n(20)], [1000] * 20)
            self.assertTrue(h.wait_for(lambda: self.ws["source"].tunnel(up.id).messages == 20, 5))
        finally:
            close_all((up, down))
        self.assertTrue(h.wait_for(lambda: m("cutover_tunnels_active", route="metered", side="source") == 0, 5),
                        "cutover_tunnels_active after both closed")
        self.assertEqual(m("cutover_tunnels_total", route="metered", side="source") - before["total_s"], 2)
        self.assertEqual(m("cutover_tunnels_total", route="metered", side="target") - before["total_t"], 0)
        # A 1000-byte message is framed in 1008 bytes by the client (2 + 2 length + 4 mask), in 1004
        # by the server. The rest
        # (greetings, close frames, the handshake if counted) stays well under 4 KiB.
        d_up = m("cutover_tunnel_bytes_total", route="metered", side="source", direction="upstream") - before["up"]
        d_down = m("cutover_tunnel_bytes_total", route="metered", side="source", direction="downstream") - before["down"]
        self.assertTrue(20 * 1008 <= d_up <= 20 * 1008 + 4096, f"upstream bytes {d_up}")
        self.assertTrue(20 * 1004 <= d_down <= 20 * 1004 + 4096, f"downstream bytes {d_down}")
        st, js, text = self.admin.get("/v1/stats?window=60s&route=metered")
        self.assertEqual(st, 200, text)
        sides = js["routes"][0]["sides"]
        self.assertEqual((sides["source"]["requests"], sides["source"]["errors_5xx"]), (2, 0), text)
        self.assertEqual(sides["target"]["requests"], 0, text)

    def test_failed_upgrade_is_an_error_in_stats(self):
        c = RawConnection(self.port)
        try:
            st, _, body = c.request(handshake_request("/dead/ws"))
        finally:
            c.close()
        self.assertEqual(st, 502, body)
        st, js, text = self.admin.get("/v1/stats?window=60s&route=dead")
        self.assertEqual(st, 200, text)
        tgt = js["routes"][0]["sides"]["target"]
        self.assertEqual((tgt["requests"], tgt["error_rate"]), (1, 1.0), text)

    def test_cutoverctl_status_shows_open_tunnels(self):
        def line():
            r = subprocess.run([h.cutoverctl_bin(), "--admin", f"http://{LOCALHOST}:{self.admin.port}", "status", "ctl"],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            return r.stdout

        before = line()
        tunnels = [self.open("/ctl/ws") for _ in range(3)] + [self.open("/ctl/ws", [(FORCE_HEADER, "target")])
                                                              for _ in range(2)]
        try:
            self.assertEqual([t.side for t in tunnels], ["source"] * 3 + ["target"] * 2)
            self.assert_tunnels("ctl", 3, 2)
            after = line()
        finally:
            close_all(tunnels)
        header, row = after.splitlines()[0], after.splitlines()[-1]
        self.assertRegex(header, r"(?i)tunnel", f"no tunnel column:\n{after}")
        self.assertNotEqual(after, before, f"cutoverctl status is the same with 5 tunnels open:\n{after}")
        self.assertRegex(row, r"(?<![\d.])3\D{1,20}(?<!\.)2(?![\d.])", f"3 source and 2 target tunnels:\n{after}")


class TunnelLifecycleTest(WsCase):
    """tunnel_idle (with the keep-alive idle timeout shorter) and SIGTERM with tunnels open."""

    @classmethod
    def setUpClass(cls):
        cls.start_backends()
        cfg = h.make_config(cls.ws_clusters(), [{"name": "public", "address": f"{LOCALHOST}:0", "protocol": "http",
                                                 "routes": [ws_route("app", "/", weight=0)]}])
        cfg["timeouts"] = {"idle": "500ms", "tunnel_idle": "1500ms"}
        cls.start_cutover(cfg, "websocket-idle")

    def test_idle_tunnel_closes_busy_ones_do_not(self):
        idle = self.open("/idle")
        echoing = self.open("/busy")
        pushed = self.open("/down?echo=0&push=12&size=8&every_ms=300")
        upward = self.open("/up?echo=0")
        try:
            t0 = time.monotonic()
            # For 3.6 s: a round trip on one, a message from the client on another, every 0.3 s; the
            # backend pushes to the third on its own. None is silent for 1.5 s.
            for _ in range(12):
                self.assertTrue(echoing.echo(b"x"), "a busy tunnel (both ways) was closed")
                upward.send(b"y")
                time.sleep(0.3)
            self.assertEqual(len(pushed.recv_n(12)), 12, "a tunnel with traffic downstream only was closed")
            self.assertEqual(self.ws["source"].tunnel(upward.id).messages, 12,
                             "a tunnel with traffic upstream only was closed")
            at = idle.closed_within(0.1)
            self.assertIsNotNone(at, "the idle tunnel was still open after 3.6 s with tunnel_idle 1500ms")
            self.assertGreaterEqual(at - t0, 1.3, "closed before tunnel_idle (the keep-alive idle is 500 ms)")
            self.assertLessEqual(at - t0, 3.0, "closed long after tunnel_idle")
            # Now silent, the busy ones end too.
            for t in (echoing, pushed, upward):
                self.assertIsNotNone(t.closed_within(5), "a tunnel silent for 5 s with tunnel_idle 1500ms")
        finally:
            close_all((idle, echoing, pushed, upward))

    def test_check_accepts_tunnel_idle_durations(self):
        base = h.make_config(self.ws_clusters(), [{"name": "public", "address": f"{LOCALHOST}:0", "protocol": "http",
                                                   "routes": [ws_route("app", "/", upgrade=["websocket"])]}])
        for value, ok in (("1s", True), ("500ms", True), ("1h", True), ("soon", False)):
            with self.subTest(tunnel_idle=value):
                rc, out, _ = h.run_check(h.to_yaml(dict(base, timeouts={"tunnel_idle": value})))
                self.assertEqual(rc == 0, ok, out)

    def test_sigterm_ends_open_tunnels_within_drain_timeout(self):
        cfg = h.make_config(self.ws_clusters(), [{"name": "public", "address": f"{LOCALHOST}:0", "protocol": "http",
                                                  "routes": [ws_route("app", "/", weight=0)]}], drain_timeout="2s")
        cv = h.Cutover(cfg, name="websocket-drain").start()
        try:
            t = Tunnel.open(self.loop, cv.port("public"), "/drain")
            self.assertTrue(t.echo())
            t0 = time.monotonic()
            cv.proc.send_signal(signal.SIGTERM)
            rc = cv.proc.wait(10)
            took = time.monotonic() - t0
            self.assertEqual(rc, 0, cv.log_tail())
            self.assertLess(took, 2.0 + 2.0, "exit with a tunnel open, drain_timeout 2s")
            self.assertIsNotNone(t.closed_within(2), "the client's tunnel outlived the process")
            t.close()
        finally:
            cv.stop()



def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A P-256 certificate for localhost and 127.0.0.1 (its own CA), made by the openssl CLI."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl failed: {r.stderr.decode(errors='replace')}")
    return cert, key


class TlsTunnelTest(WsCase):
    """Tunnels over TLS on either side: wss:// into a TLS listener, to a plain and to a TLS upstream
    (a cluster with `tls`), and ws:// into a plain listener to the TLS upstream. The relay runs on
    the TLS streams where one side is TLS, on the sockets where neither is."""

    @classmethod
    def setUpClass(cls):
        cls.certs = Path(tempfile.mkdtemp(prefix="cutover-it-wss-"))
        cert, key = self_signed_certificate(cls.certs)
        server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_tls.load_cert_chain(cert, key)
        cls.client_tls = ssl.create_default_context(cafile=str(cert))
        cls.start_backends()
        cls.ws["secure"] = WsBackend(cls.loop, "secure", tls=server_tls)
        clusters = dict(cls.ws_clusters(),
                        wsec=dict(h.cluster(cls.ws["secure"].addr), tls={"ca_file": str(cert), "sni": "localhost"}))
        routes = [ws_route("plainup", "/plain/", weight=0), ws_route("tlsup", "/tls/", target="wsec", weight=100)]
        cfg = h.make_config(clusters, [
            {"name": "secure", "address": f"{LOCALHOST}:0", "protocol": "http",
             "tls": {"cert_file": str(cert), "key_file": str(key)}, "routes": routes},
            {"name": "public", "address": f"{LOCALHOST}:0", "protocol": "http",
             "routes": [ws_route("tlsplain", "/tls/", target="wsec", weight=100)]}])
        cls.start_cutover(cfg, "websocket-tls", listener="secure")
        cls.plain_port = cls.cv.port("public")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        subprocess.run(["rm", "-rf", str(cls.certs)], check=False)

    def check_relay(self, tunnel: Tunnel, side: str):
        self.assertEqual(tunnel.side, side)
        msgs = bulk_messages(300) + [b"".join(bytes(p) for p in h.gen_bytes(MiB))]
        count, digest = tunnel.exchange(msgs)
        self.assertEqual((count, digest), (len(msgs), digest_of(msgs)), "the echo differs from what was sent")
        rec = self.ws[side].tunnel(tunnel.id)
        self.assertEqual((rec.messages, rec.sha256.hexdigest()), (len(msgs), digest_of(msgs)),
                         "the backend got other bytes than the client sent")

    def test_wss_to_a_plain_upstream(self):
        t = Tunnel.open(self.loop, self.port, "/plain/ws", tls=self.client_tls)
        try:
            self.check_relay(t, "source")
            self.assert_tunnels("plainup", 1, 0)
        finally:
            t.close()
        self.assert_tunnels("plainup", 0, 0)

    def test_wss_to_a_tls_upstream(self):
        t = Tunnel.open(self.loop, self.port, "/tls/ws", tls=self.client_tls)
        try:
            self.check_relay(t, "secure")
        finally:
            t.close()

    def test_ws_to_a_tls_upstream(self):
        t = Tunnel.open(self.loop, self.plain_port, "/tls/ws")
        try:
            self.check_relay(t, "secure")
        finally:
            t.close()

    def test_rollback_closes_a_tls_tunnel(self):
        t = Tunnel.open(self.loop, self.port, "/tls/ws", tls=self.client_tls)
        try:
            self.assertTrue(t.echo())
            self.admin.post("/v1/routes/tlsup/rollback", {"close_target_connections": True})
            self.assertIsNotNone(t.closed_within(3), "the TLS target tunnel outlived the rollback")
            self.assertEqual(Tunnel.open(self.loop, self.port, "/tls/ws2", tls=self.client_tls).side, "source",
                             "after the rollback a new tunnel goes to source")
        finally:
            t.close()
            self.admin.set_weight("tlsup", weight=100)


if __name__ == "__main__":
    h.main()
