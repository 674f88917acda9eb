#!/usr/bin/env python3
"""HTTP/2 upstreams (clusters with `protocol: http2`) against the real binary: over TLS by ALPN h2
(a grpcio server with TLS credentials; an HTTP/1.1-only TLS upstream fails the connect and names
ALPN), PINGs on idle sessions (a session whose PING goes unanswered is replaced), health checks
spoken in HTTP/2 (cleartext and TLS), an upstream's graceful GOAWAY with a stream in flight, and
response_timeout on one stream (RST_STREAM CANCEL, 504 or DEADLINE_EXCEEDED, the session still
used by the next request).

The upstream servers are Debian's python3-h2 (a protocol state machine; the sockets are ours) and
python3-grpcio. Run with /usr/bin/python3.
"""
import http.client
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from test_tls import TlsBackend, make_ca, make_leaf  # noqa: E402

import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.exceptions  # noqa: E402
import hyperframe.frame  # noqa: E402


class H2Upstream:
    """An HTTP/2 server on 127.0.0.1:0 (prior knowledge, or TLS with ALPN h2 when `tls` is an
    SSLContext), one thread per connection, connections numbered from 1 as they are accepted.

    GET /healthz answers `health_status`; ?ms=N answers after N ms; a path ending in /goaway sends a
    graceful GOAWAY (NO_ERROR, last stream id = this stream) at once and answers after N ms; any
    other path answers 200 "NAME PATH". What it saw is recorded: requests (connection, path),
    PINGs per connection, streams the client reset, connections the client closed. freeze()
    makes the connections open now read and drop every byte (PINGs go unanswered)."""

    def __init__(self, name: str, tls: ssl.SSLContext | None = None):
        self.name = name
        self.tls = tls
        self.health_status = 200
        self.lock = threading.Lock()
        self.connections = 0
        self.open: set[int] = set()
        self.frozen: set[int] = set()
        self.closed_by_client: set[int] = set()
        self.requests: list[tuple[int, str]] = []
        self.pings: dict[int, int] = {}
        self.resets: list[tuple[int, int, int]] = []  # (connection, stream, error code)
        self.goaways_sent: list[int] = []
        self.sock = socket.create_server((h.LOCALHOST, 0))
        self.port = self.sock.getsockname()[1]
        self.addr = f"{h.LOCALHOST}:{self.port}"
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.running:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                n = self.connections
                self.open.add(n)
            threading.Thread(target=self._serve, args=(s, n), daemon=True).start()

    def freeze(self):
        with self.lock:
            self.frozen |= self.open

    def paths(self, prefix: str = "") -> list[tuple[int, str]]:
        with self.lock:
            return [(c, p) for c, p in self.requests if p.startswith(prefix)]

    def close(self):
        self.running = False
        self.sock.close()

    def _serve(self, s: socket.socket, n: int):
        try:
            if self.tls is not None:
                s.settimeout(10)
                s = self.tls.wrap_socket(s, server_side=True)
                s.settimeout(None)
            conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
            conn.initiate_connection()
            send_lock = threading.Lock()

            def send(extra: bytes = b""):
                with send_lock:
                    data = extra + conn.data_to_send()
                    if data:
                        s.sendall(data)

            send()
            heads: dict[int, dict] = {}
            while True:
                data = s.recv(65536)
                if not data:
                    break
                with self.lock:
                    if n in self.frozen:
                        continue
                with send_lock:
                    events = conn.receive_data(data)
                for ev in events:
                    if isinstance(ev, h2.events.RequestReceived):
                        heads[ev.stream_id] = dict(ev.headers)
                    elif isinstance(ev, h2.events.DataReceived):
                        with send_lock:
                            conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        self._answer(conn, send, send_lock, n, ev.stream_id, heads.pop(ev.stream_id, {}))
                    elif isinstance(ev, h2.events.PingReceived):
                        with self.lock:
                            self.pings[n] = self.pings.get(n, 0) + 1
                    elif isinstance(ev, h2.events.StreamReset):
                        with self.lock:
                            self.resets.append((n, ev.stream_id, ev.error_code))
                send()
        except (OSError, ssl.SSLError, h2.exceptions.ProtocolError):
            pass
        finally:
            with self.lock:
                self.open.discard(n)
                self.closed_by_client.add(n)
            try:
                s.close()
            except OSError:
                pass

    def _answer(self, conn, send, send_lock, n: int, sid: int, head: dict):
        url = urlsplit(head.get(":path", "/"))
        with self.lock:
            self.requests.append((n, url.path))
        ms = int(parse_qs(url.query).get("ms", ["0"])[0])
        if url.path.endswith("/healthz"):
            status, body = self.health_status, b"health"
        else:
            status, body = 200, f"{self.name} {url.path}".encode()

        def respond():
            try:
                with send_lock:
                    conn.send_headers(sid, [(":status", str(status)), ("content-length", str(len(body)))])
                    conn.send_data(sid, body, end_stream=True)
                send()
            except (OSError, h2.exceptions.ProtocolError):
                pass  # the stream was reset meanwhile (a response timeout), or the connection is gone

        if url.path.endswith("/goaway"):
            # Written beside h2's state machine, which takes no new frame after a GOAWAY of its
            # own; RFC 9113 §6.8 lets the streams up to last_stream_id finish.
            frame = hyperframe.frame.GoAwayFrame(0, last_stream_id=sid, error_code=0)
            send(frame.serialize())
            with self.lock:
                self.goaways_sent.append(n)
        if ms > 0:
            t = threading.Timer(ms / 1000, respond)
            t.daemon = True
            t.start()
        else:
            respond()


def server_tls(d: Path, name: str, alpn: list[str]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / f"{name}.pem", d / f"{name}.key")
    ctx.set_alpn_protocols(alpn)
    return ctx


class TlsGrpcServer:
    """A grpcio server with TLS credentials: /test.Echo/Unary echoes with "tls:", /test.Echo/Slow
    answers after 3 s."""

    def __init__(self, d: Path):
        import grpc
        from concurrent import futures

        def unary(request, context):
            return b"tls:" + request

        def slow(request, context):
            time.sleep(3)
            return b"late"

        handlers = {"Unary": grpc.unary_unary_rpc_method_handler(unary),
                    "Slow": grpc.unary_unary_rpc_method_handler(slow)}
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
        creds = grpc.ssl_server_credentials([((d / "upstream.key").read_bytes(), (d / "upstream.pem").read_bytes())])
        self.port = self.server.add_secure_port(f"{h.LOCALHOST}:0", creds)
        self.server.start()

    def close(self):
        self.server.stop(0)


def get(port: int, path: str) -> tuple[int, bytes]:
    c = http.client.HTTPConnection(h.LOCALHOST, port, timeout=20)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class UpstreamHttp2Test(h.CutoverTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = d = Path(tempfile.mkdtemp(prefix="cutover-it-h2up-"))
        make_ca(d, "ca")
        make_leaf(d, "ca", "upstream", ["upstream.test"])
        upstream_tls = {"sni": "upstream.test", "ca_file": str(d / "ca.pem")}
        cls.grpc_tls = TlsGrpcServer(d)
        cls.http1_tls = TlsBackend(d / "upstream.pem", d / "upstream.key")  # no ALPN: HTTP/1.1 only
        cls.plain = H2Upstream("plain")                                    # sessions, PINGs, GOAWAY, timeouts
        cls.hc_a = H2Upstream("a", server_tls(d, "upstream", ["h2"]))     # health checked over TLS
        cls.hc_b = H2Upstream("b", server_tls(d, "upstream", ["h2"]))
        cls.hc_c = H2Upstream("c")                                         # health checked in cleartext
        spare = h.Backends()
        cls.spare = spare

        def h2c(*endpoints, **extra):
            return dict(h.cluster(*endpoints), protocol="http2", **extra)

        health = {"path": "/healthz", "interval": "200ms", "timeout": "200ms",
                  "healthy_threshold": 1, "unhealthy_threshold": 1}
        clusters = {
            "src": h.cluster(spare.source.addr),
            "grpctls": h2c(f"{h.LOCALHOST}:{cls.grpc_tls.port}", tls=upstream_tls),
            "grpcslow": dict(h2c(f"{h.LOCALHOST}:{cls.grpc_tls.port}", tls=upstream_tls), response_timeout="500ms"),
            "noh2": h2c(cls.http1_tls.addr, tls=upstream_tls),
            "plain": h2c(cls.plain.addr, http2_ping_interval="300ms", http2_ping_timeout="300ms"),
            "short": dict(h2c(cls.plain.addr), response_timeout="500ms"),
            "hc": h2c(cls.hc_a.addr, cls.hc_b.addr, tls=upstream_tls, health_check=health),
            "hcplain": h2c(cls.hc_c.addr, health_check=health),
        }
        R = h.route
        routes = [R("grpc", source="grpctls", target="src", path_prefix="/test.Echo/Unary", weight=0),
                  R("grpcslow", source="grpcslow", target="src", path_prefix="/test.Echo/Slow", weight=0),
                  R("noh2", source="noh2", target="src", path_prefix="/noh2/", weight=0),
                  R("plain", source="plain", target="src", path_prefix="/plain/", weight=0),
                  R("short", source="short", target="src", path_prefix="/short/", weight=0),
                  R("hc", source="hc", target="src", path_prefix="/hc/", weight=0),
                  R("hcplain", source="hcplain", target="src", path_prefix="/hcplain/", weight=0)]
        # One worker: one pool, so "a new connection" means the session was replaced, not that
        # another worker's pool opened its own.
        cfg = h.make_config(clusters, [{"name": "public", "address": f"{h.LOCALHOST}:0", "routes": routes}],
                            workers=1)
        cls.start_cutover(cfg, "h2upstream")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for s in (cls.grpc_tls, cls.http1_tls, cls.plain, cls.hc_a, cls.hc_b, cls.hc_c, cls.spare):
            s.close()

    def healthy(self, cluster: str, server: H2Upstream) -> float | None:
        vals = h.metric_values(self.admin.metrics(), "cutover_endpoint_healthy", cluster=cluster, endpoint=server.addr)
        return vals[0][1] if vals else None

    # ---- TLS and ALPN ------------------------------------------------------------------------

    def test_grpc_call_to_a_tls_upstream(self):
        import grpc
        with grpc.insecure_channel(f"{h.LOCALHOST}:{self.port}") as channel:
            reply, call = channel.unary_unary("/test.Echo/Unary").with_call(b"hi", timeout=10)
        self.assertEqual(reply, b"tls:hi")
        self.assertEqual(call.code(), grpc.StatusCode.OK)

    def test_tls_upstream_without_h2_fails_the_connect_naming_alpn(self):
        before = sum(v for _, v in h.metric_values(self.admin.metrics(), "cutover_upstream_connect_errors_total",
                                                   cluster="noh2"))
        status, body = get(self.port, "/noh2/x")
        self.assertEqual(status, 502, body)
        self.assertIn(b"upstream connect failed (cluster noh2", body)
        self.assertIn(b"ALPN", body)
        self.assertIn(b"h2", body)
        self.assertEqual(self.http1_tls.take(), [], "no request may reach an upstream that did not select h2")
        after = sum(v for _, v in h.metric_values(self.admin.metrics(), "cutover_upstream_connect_errors_total",
                                                  cluster="noh2"))
        self.assertEqual(after, before + 1)

    # ---- PING on idle sessions ---------------------------------------------------------------

    def test_idle_session_answering_pings_is_kept(self):
        status, body = get(self.port, "/plain/one")
        self.assertEqual((status, body), (200, b"plain /plain/one"))
        conn = self.plain.paths("/plain/one")[-1][0]
        self.assertTrue(h.wait_for(lambda: self.plain.pings.get(conn, 0) >= 2, timeout=10),
                        f"PINGs seen: {self.plain.pings}")
        status, _ = get(self.port, "/plain/two")
        self.assertEqual(status, 200)
        self.assertEqual(self.plain.paths("/plain/two")[-1][0], conn, "an answering session must be reused")

    def test_session_without_ping_ack_is_replaced(self):
        status, _ = get(self.port, "/plain/before")
        self.assertEqual(status, 200)
        conn = self.plain.paths("/plain/before")[-1][0]
        self.plain.freeze()  # the connection stays open but answers nothing, PINGs included
        self.assertTrue(h.wait_for(lambda: conn in self.plain.closed_by_client, timeout=10),
                        "cutover kept a session whose PING went unanswered")
        status, body = get(self.port, "/plain/after")
        self.assertEqual((status, body), (200, b"plain /plain/after"))
        self.assertGreater(self.plain.paths("/plain/after")[-1][0], conn)

    # ---- GOAWAY from the upstream ------------------------------------------------------------

    def test_graceful_goaway_finishes_the_stream_in_flight(self):
        result = {}

        def slow():
            result["slow"] = get(self.port, "/plain/goaway?ms=1000")

        t = threading.Thread(target=slow)
        t.start()
        try:
            self.assertTrue(h.wait_for(lambda: self.plain.goaways_sent, timeout=10), "no GOAWAY sent")
            conn = self.plain.goaways_sent[-1]
            status, _ = get(self.port, "/plain/next")
            self.assertEqual(status, 200)
            self.assertNotEqual(self.plain.paths("/plain/next")[-1][0], conn,
                                "a request after GOAWAY must go on a new connection")
        finally:
            t.join(20)
        self.assertEqual(result.get("slow"), (200, b"plain /plain/goaway"))

    # ---- response_timeout on one stream ------------------------------------------------------

    def test_response_timeout_resets_the_stream_and_keeps_the_session(self):
        status, body = get(self.port, "/short/slow?ms=3000")
        self.assertEqual(status, 504, body)
        self.assertIn(b"upstream response timeout after 500 ms (cluster short)", body)
        conn = self.plain.paths("/short/slow")[-1][0]
        self.assertTrue(h.wait_for(lambda: any(c == conn and code == 8 for c, _, code in self.plain.resets), 10),
                        f"no RST_STREAM CANCEL: {self.plain.resets}")  # 8: CANCEL (RFC 9113 §7)
        status, _ = get(self.port, "/short/after-timeout")
        self.assertEqual(status, 200)
        self.assertEqual(self.plain.paths("/short/after-timeout")[-1][0], conn, "the session must stay in use")
        self.assertNotIn(conn, self.plain.closed_by_client)

    def test_grpc_response_timeout_is_deadline_exceeded(self):
        import grpc
        with grpc.insecure_channel(f"{h.LOCALHOST}:{self.port}") as channel:
            with self.assertRaises(grpc.RpcError) as cm:
                channel.unary_unary("/test.Echo/Slow")(b"x", timeout=10)
            self.assertEqual(cm.exception.code(), grpc.StatusCode.DEADLINE_EXCEEDED, cm.exception)
            self.assertIn("upstream response timeout", cm.exception.details())

    # ---- health checks in HTTP/2 -------------------------------------------------------------

    def check_fail_over(self, cluster: str, prefix: str, failing: H2Upstream, others: list[H2Upstream]):
        for s in [failing, *others]:
            self.assertTrue(h.wait_for(lambda: self.healthy(cluster, s) == 1, timeout=10), s.name)
        self.assertTrue(h.wait_for(lambda: failing.paths("/healthz"), timeout=10), "no probe arrived")
        failing.health_status = 503
        try:
            self.assertTrue(h.wait_for(lambda: self.healthy(cluster, failing) == 0, timeout=10),
                            "a 503 over HTTP/2 must mark the endpoint unhealthy")
            before = len(failing.paths(prefix))
            for i in range(6):
                status, body = get(self.port, f"{prefix}{i}")
                self.assertEqual(status, 200, body)
                self.assertNotEqual(body.split()[0].decode(), failing.name)
            self.assertEqual(len(failing.paths(prefix)), before, "an unhealthy endpoint got traffic")
        finally:
            failing.health_status = 200
        self.assertTrue(h.wait_for(lambda: self.healthy(cluster, failing) == 1, timeout=10))

    def test_health_check_over_tls_h2_fails_over_and_recovers(self):
        self.check_fail_over("hc", "/hc/", self.hc_a, [self.hc_b])
        # Healthy again: the round robin reaches it.
        names = {get(self.port, f"/hc/back{i}")[1].split()[0] for i in range(4)}
        self.assertEqual(names, {b"a", b"b"})

    def test_health_check_in_cleartext_h2(self):
        self.assertTrue(h.wait_for(lambda: self.healthy("hcplain", self.hc_c) == 1, timeout=10))
        self.hc_c.health_status = 503
        try:
            self.assertTrue(h.wait_for(lambda: self.healthy("hcplain", self.hc_c) == 0, timeout=10))
        finally:
            self.hc_c.health_status = 200
        self.assertTrue(h.wait_for(lambda: self.healthy("hcplain", self.hc_c) == 1, timeout=10))
        self.assertEqual(get(self.port, "/hcplain/x"), (200, b"c /hcplain/x"))


if __name__ == "__main__":
    h.main()
