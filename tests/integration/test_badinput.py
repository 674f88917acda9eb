"""Strict HTTP/1.1 framing (RFC 9112): malformed, ambiguous and smuggling-shaped requests
over raw sockets, each with the exact status cutover must answer, the connection closed after it,
and no request reaching the upstream. Plus the same strictness for upstream responses (502).

The smuggling variants follow the public request-smuggling research (CL.TE, TE.CL, TE.TE
obfuscations, duplicate lengths, line folding, bare line endings).
"""
from __future__ import annotations

import re
import socket
import socketserver
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import LOCALHOST, Backends, CutoverTestCase, cluster, make_config, metric_values, route  # noqa: E402

H = b"Host: shop.example\r\n"

# (name, raw request bytes, expected status)
CASES: list[tuple[str, bytes, int]] = [
    # Content-Length
    ("cl_and_te", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400),
    ("te_and_cl", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", 400),
    ("cl_differing_twice", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    ("cl_same_twice", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    ("cl_list", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5, 5\r\n\r\nhello", 400),
    ("cl_negative", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400),
    ("cl_plus_sign", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello", 400),
    ("cl_hex", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 0x5\r\n\r\nhello", 400),
    ("cl_empty", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: \r\n\r\n", 400),
    ("cl_space_inside", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1 2\r\n\r\nhello", 400),
    ("cl_huge", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 99999999999999999999999\r\n\r\n", 400),
    # Transfer-Encoding
    ("te_not_chunked_last", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\nhello", 400),
    ("te_chunked_then_gzip", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
    ("te_xchunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
    ("te_quoted", b"POST / HTTP/1.1\r\n" + H + b'Transfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n', 400),
    ("te_twice_chunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_second_field_not_chunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n", 400),
    ("te_in_http10", b"POST / HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_space_before_colon", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_vertical_tab", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", 400),
    ("te_folded", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400),
    # Header syntax
    ("whitespace_before_colon", b"GET / HTTP/1.1\r\n" + H + b"X-A : b\r\n\r\n", 400),
    ("obs_fold", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\r\n c\r\n\r\n", 400),
    ("line_starting_with_space", b"GET / HTTP/1.1\r\n Host: shop.example\r\n\r\n", 400),
    ("bare_cr_in_value", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\rc\r\n\r\n", 400),
    ("bare_lf_line_endings", b"GET / HTTP/1.1\nHost: shop.example\n\n", 400),
    ("nul_in_value", b"GET / HTTP/1.1\r\n" + H + b"X-A: b\x00c\r\n\r\n", 400),
    ("nul_in_name", b"GET / HTTP/1.1\r\n" + H + b"X-\x00A: b\r\n\r\n", 400),
    ("header_without_colon", b"GET / HTTP/1.1\r\n" + H + b"XA\r\n\r\n", 400),
    ("empty_header_name", b"GET / HTTP/1.1\r\n" + H + b": x\r\n\r\n", 400),
    ("space_in_header_name", b"GET / HTTP/1.1\r\n" + H + b"X A: b\r\n\r\n", 400),
    # Host
    ("missing_host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("duplicate_host", b"GET / HTTP/1.1\r\n" + H + b"Host: evil.example\r\n\r\n", 400),
    ("duplicate_host_http10", b"GET / HTTP/1.0\r\n" + H + b"Host: evil.example\r\n\r\n", 400),
    ("missing_host_http10", b"GET / HTTP/1.0\r\n\r\n", 400),
    # Request line
    ("bad_version", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 400),
    ("bad_method", b"G(T / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("space_in_target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("request_line_too_long", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + H + b"\r\n", 414),
    ("header_section_too_large", b"GET / HTTP/1.1\r\n" + H + b"X-A: " + b"a" * 70000 + b"\r\n\r\n", 431),
    # Chunked framing (the first chunk is bad: nothing is sent upstream)
    ("chunk_size_not_hex", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_negative", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_overflow", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk_size_line_bare_lf", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400),
    ("chunk_last_bare_lf", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\n\n", 400),
    ("chunk_data_longer_than_size", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n", 400),
    # Body limit (limits.max_request_body: 1KiB)
    ("body_over_limit_by_length", b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 2000\r\n\r\n" + b"x" * 2000, 413),
    ("body_over_limit_chunked", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n7d0\r\n" + b"x" * 2000 + b"\r\n0\r\n\r\n", 413),
    # A rejected request with a valid one pipelined behind it: the second is dropped, never forwarded
    ("pipelined_after_rejected", b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\nGET /next HTTP/1.1\r\n" + H + b"\r\n", 400),
]


def exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Sends `data`, reads until the peer closes. Returns (bytes read, closed by the peer)."""
    s = socket.create_connection((LOCALHOST, port))
    s.settimeout(timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while the rest was still being sent: the answer is already there
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return out, False
            except ConnectionResetError:
                return out, True
            if not chunk:
                return out, True
            out += chunk
        return out, False
    finally:
        s.close()


def statuses(raw: bytes) -> list[int]:
    """Status codes of the responses in `raw`, in order (the bodies here never look like a status line)."""
    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", raw)]


class RawUpstream(socketserver.ThreadingTCPServer):
    """An upstream answering each request with canned bytes chosen by the request path."""
    daemon_threads = True
    allow_reuse_address = True
    RESPONSES = {
        b"/cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"/cl-twice": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        b"/cl-list": b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello",
        b"/te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello",
        b"/obs-fold": b"HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 5\r\n\r\nhello",
        b"/bad-status": b"HTTP/1.1 2000 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"/status-042": b"HTTP/1.1 042 Odd\r\nContent-Length: 5\r\n\r\nhello",
        b"/many-1xx": b"HTTP/1.1 102 Processing\r\n\r\n" * 20 + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"/ok": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    }

    def __init__(self):
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                path = data.split(b" ")[1].removeprefix(b"/upstream")
                self.request.sendall(server.RESPONSES.get(path, server.RESPONSES[b"/ok"]))

        super().__init__((LOCALHOST, 0), Handler)
        self.addr = f"{LOCALHOST}:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()


class BadInputTest(CutoverTestCase):
    @classmethod
    def setUpClass(cls):
        cls.be = Backends()
        cls.raw = RawUpstream()
        cfg = make_config(
            {"src": cluster(cls.be.source.addr), "tgt": cluster(cls.be.target.addr), "raw": cluster(cls.raw.addr),
             "raw2": cluster(cls.raw.addr)},
            [{"name": "public", "address": f"{LOCALHOST}:0", "protocol": "http",
              "routes": [route("raw", source="raw", target="raw2", path_prefix="/upstream/", weight=0),
                         route("app", weight=0)]}])
        cfg["limits"] = {"max_request_body": "1KiB"}
        cls.start_cutover(cfg, "badinput")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.raw.shutdown()
        cls.raw.server_close()

    def upstream_requests(self) -> int:
        return len(self.be.source.events_snapshot()) + len(self.be.target.events_snapshot())

    def test_table_of_bad_requests(self):
        self.assertGreaterEqual(len(CASES), 30)
        def rejected(code: int) -> float:
            vals = metric_values(self.admin.metrics(), "cutover_downstream_rejected_total", listener="public",
                                 code=code)
            return vals[0][1] if vals else 0.0

        for name, data, want in CASES:
            with self.subTest(case=name):
                before = self.upstream_requests()
                # Refused before routing, so counted per listener (a bad chunk is the route's: 4xx there).
                pre_route = not name.startswith("chunk_") and name != "body_over_limit_chunked"
                rejected_before = rejected(want)
                out, closed = exchange(self.port, data)
                time.sleep(0.05)  # a forwarded request would be recorded by now
                self.assertEqual(statuses(out), [want], f"{name}: {out[:300]!r}")
                self.assertTrue(closed, f"{name}: the connection must be closed after the error")
                if not out.startswith(b"HTTP/1.0"):  # 1.0 closes by default and says nothing
                    self.assertIn(b"Connection: close", out)
                self.assertEqual(self.upstream_requests(), before, f"{name}: nothing may reach the upstream")
                self.assertEqual(rejected(want) - rejected_before, 1 if pre_route else 0, name)

    def test_the_proxy_still_serves_good_requests(self):
        # Control cases: the same shapes done right are forwarded.
        good = [
            b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 5\r\n\r\nhello",
            b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\n" + H + b"Transfer-Encoding:  chunked \r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n",
            b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 005\r\n\r\nhello",
            b"GET /" + b"a" * 8000 + b" HTTP/1.1\r\n" + H + b"\r\n",
            b"POST / HTTP/1.1\r\n" + H + b"Content-Length: 1024\r\n\r\n" + b"x" * 1024,
        ]
        for data in good:
            before = self.upstream_requests()
            out, _ = exchange(self.port, data + b"GET /last HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
            self.assertEqual(statuses(out), [200, 200], out[:300])
            self.assertEqual(self.upstream_requests(), before + 2)
        out, closed = exchange(self.port, b"GET / HTTP/1.0\r\n" + H + b"\r\n")
        self.assertEqual((statuses(out), closed), ([200], True))

    def test_smuggled_request_behind_a_valid_one(self):
        # The first request is fine and answered; the second is ambiguous: 400 and close, and only
        # the first one reaches the upstream.
        before = self.upstream_requests()
        data = (b"GET /a HTTP/1.1\r\n" + H + b"\r\n"
                b"POST /b HTTP/1.1\r\n" + H + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"0\r\n\r\nGET /smuggled HTTP/1.1\r\n" + H + b"\r\n")
        out, closed = exchange(self.port, data)
        time.sleep(0.05)
        self.assertEqual(statuses(out), [200, 400])
        self.assertTrue(closed)
        self.assertEqual(self.upstream_requests(), before + 1)
        self.assertNotIn("/smuggled", [e.path for e in self.be.source.events_snapshot()])

    def test_connection_naming_content_length_cannot_smuggle_a_request(self):
        # Found by fuzz/request_head_fuzz.cpp: dropping the fields Connection names used to drop
        # Content-Length itself, and the body went upstream as a second request.
        body = b"GET /smuggled HTTP/1.1\r\nHost: internal\r\n\r\n"
        before = len(self.be.source.events_snapshot())
        out, _ = exchange(self.port, b"POST /upload HTTP/1.1\r\n" + H + b"Connection: Content-Length, close\r\n"
                          b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        time.sleep(0.1)
        self.assertEqual(statuses(out), [200], out[:300])
        events = self.be.source.events_snapshot()[before:]
        self.assertEqual([(e.method, e.path, e.nbytes) for e in events], [("POST", "/upload", len(body))])

    def test_transfer_codings_before_chunked_survive_reframing(self):
        before = len(self.be.source.events_snapshot())
        out, _ = exchange(self.port, b"POST /echo-headers HTTP/1.1\r\n" + H + b"Connection: close\r\n"
                          b"Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        self.assertEqual(statuses(out), [200], out[:300])
        ev = self.be.source.events_snapshot()[before]
        self.assertEqual(dict((k.lower(), v) for k, v in ev.headers)["transfer-encoding"], "gzip, chunked")
        self.assertEqual(ev.nbytes, 5)

    def test_unsafe_upstream_responses_are_502(self):
        # The client's request was sound, so its connection may stay; the upstream one is dropped.
        for path in (b"/cl-te", b"/cl-twice", b"/cl-list", b"/te-gzip", b"/obs-fold", b"/bad-status",
                     b"/status-042", b"/many-1xx"):
            with self.subTest(path=path):
                out, closed = exchange(self.port, b"GET /upstream" + path + b" HTTP/1.1\r\n" + H +
                                       b"Connection: close\r\n\r\n")
                got = statuses(out)
                if path == b"/many-1xx":  # interim responses are passed on, up to the bound
                    self.assertEqual(got, [102] * 17 + [502], out[-300:])
                else:
                    self.assertEqual(got, [502], out[:300])
                self.assertIn(b"upstream", out)
                self.assertTrue(closed)
        out, _ = exchange(self.port, b"GET /upstream/ok HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n")
        self.assertEqual(statuses(out), [200])


if __name__ == "__main__":
    unittest.main(verbosity=2)
