#!/usr/bin/env python3
"""Shadow traffic to HTTP/2 clusters: the copy of a request goes out in the target cluster's
protocol, here as a stream on an HTTP/2 session, and its answer is compared with the primary's
on status, headers, trailers and body digest.

gRPC (Debian's python3-grpcio, real servers and a real client, raw-bytes handlers): a route at
weight 0 mirroring POST sends every unary call to the source, whose answer the client gets, and a
copy to the target, which sees `x-cutover-shadow: 1` among the call's metadata. Identical answers
count `match`; a target answering NOT_FOUND where the source answered OK, or with another trailer,
counts `mismatch` with a sample naming the trailer and showing both sides' trailers; a target that
holds the copy past the mirror timeout does not hold the client's call and counts `error`.

Plain HTTP/2: curl with prior knowledge through cutover to a source and a target that are h2c
servers (python3-h2): the copy goes over HTTP/2 and the identical answers count `match`.

Run with /usr/bin/python3 (Debian's h2 and grpc modules).
"""
import socket
import subprocess
import sys
import threading
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as h  # noqa: E402

import grpc  # noqa: E402
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.exceptions  # noqa: E402
from concurrent import futures  # noqa: E402

# How long a held target call waits for the test to let it go: far past the mirror timeout,
# bounded so that a failing test does not leave the server thread behind for ever.
HOLD_LIMIT_S = 30


class MirrorGrpcServer:
    """A gRPC server (raw bytes, no generated code) playing one side of test.Echo:
      Same     the same answer on both sides (the request echoed, a trailer x-v: 1)
      Status   OK on the source; NOT_FOUND "not on target" on the target
      Trailer  the same message on both sides, a trailer x-side naming the side
      Held     the source answers at once; the target holds the call until release() (or HOLD_LIMIT_S)
    Every call's method and metadata are recorded."""

    def __init__(self, side: str):
        self.side = side
        self.lock = threading.Lock()
        self.seen: list[tuple[str, dict]] = []
        self.holding = 0
        self.released = threading.Event()

        def record(method, context):
            with self.lock:
                self.seen.append((method, dict(context.invocation_metadata())))

        def same(request, context):
            record("Same", context)
            context.set_trailing_metadata((("x-v", "1"),))
            return b"same:" + request

        def status(request, context):
            record("Status", context)
            if side == "target":
                context.abort(grpc.StatusCode.NOT_FOUND, "not on target")
            return b"found"

        def trailer(request, context):
            record("Trailer", context)
            context.set_trailing_metadata((("x-side", side),))
            return b"same message"

        def held(request, context):
            record("Held", context)
            if side == "target":
                with self.lock:
                    self.holding += 1
                self.released.wait(HOLD_LIMIT_S)
                with self.lock:
                    self.holding -= 1
            return b"held"

        handlers = {name: grpc.unary_unary_rpc_method_handler(fn)
                    for name, fn in (("Same", same), ("Status", status), ("Trailer", trailer), ("Held", held))}
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Echo", handlers),))
        self.port = self.server.add_insecure_port(f"{h.LOCALHOST}:0")
        self.server.start()

    def calls(self, method: str) -> list[dict]:
        with self.lock:
            return [md for m, md in self.seen if m == method]

    def close(self):
        self.released.set()
        self.server.stop(0)


class H2TextServer:
    """An h2c server (prior knowledge; python3-h2 frames, our socket): every request is answered
    200 text/plain "same answer for PATH", the same on every instance; each request's headers are
    recorded."""

    def __init__(self):
        self.sock = socket.create_server((h.LOCALHOST, 0))
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn: socket.socket):
        c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        c.initiate_connection()
        heads = {}
        with conn:
            conn.sendall(c.data_to_send())
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for ev in c.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        heads[ev.stream_id] = dict(ev.headers)
                    elif isinstance(ev, h2.events.DataReceived):
                        c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.StreamEnded):
                        head = heads.pop(ev.stream_id, {})
                        with self.lock:
                            self.requests.append(head)
                        body = f"same answer for {head.get(':path')}".encode()
                        try:
                            c.send_headers(ev.stream_id, [(":status", "200"), ("content-type", "text/plain"),
                                                          ("content-length", str(len(body)))])
                            c.send_data(ev.stream_id, body, end_stream=True)
                        except h2.exceptions.StreamClosedError:
                            pass
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        return
                conn.sendall(c.data_to_send())

    def close(self):
        self.sock.close()


class GrpcMirrorTest(h.CutoverTestCase):
    @classmethod
    def setUpClass(cls):
        cls.source, cls.target = MirrorGrpcServer("source"), MirrorGrpcServer("target")
        cls.hsrc, cls.htgt = H2TextServer(), H2TextServer()
        mirror = {"percent": 100, "methods": ["POST"], "timeout": "5s"}

        def grpc_route(name, method, **m):
            return h.route(name, source="gsrc", target="gtgt", path_prefix=f"/test.Echo/{method}", weight=0,
                           mirror=dict(mirror, **m))

        routes = [grpc_route("same", "Same"), grpc_route("status", "Status"), grpc_route("trailer", "Trailer"),
                  grpc_route("held", "Held", timeout="300ms"),
                  h.route("plain", source="hsrc", target="htgt", path_prefix="/plain/", weight=0,
                          mirror={"percent": 100, "timeout": "5s"})]

        def h2_cluster(port):
            return dict(h.cluster(f"{h.LOCALHOST}:{port}"), protocol="http2")

        cfg = h.make_config({"gsrc": h2_cluster(cls.source.port), "gtgt": h2_cluster(cls.target.port),
                             "hsrc": h2_cluster(cls.hsrc.port), "htgt": h2_cluster(cls.htgt.port)},
                            [{"name": "public", "address": f"{h.LOCALHOST}:0", "routes": routes}])
        cls.start_cutover(cfg, "grpc-mirror")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for s in (cls.source, cls.target, cls.hsrc, cls.htgt):
            s.close()

    # ---- helpers ----------------------------------------------------------------------------

    def shadow(self, route: str) -> dict:
        st, js, text = self.admin.get(f"/v1/shadow?route={route}")
        self.assertEqual(st, 200, text)
        return js["routes"][0]

    def result(self, route: str, result: str) -> float:
        vals = h.metric_values(self.admin.metrics(), "cutover_mirror_requests_total", route=route, result=result)
        return vals[0][1] if vals else 0.0

    def settled(self, route: str, result: str, count: float) -> None:
        """Waits until `count` mirrors of the route ended in `result` and none is in flight."""
        ok = h.wait_for(lambda: self.result(route, result) >= count and self.shadow(route)["in_flight"] == 0, 20)
        self.assertTrue(ok, f"route {route}: {result} never reached {count}: {self.shadow(route)}")

    def call(self, method: str, request: bytes) -> tuple[bytes, grpc.Call]:
        with grpc.insecure_channel(f"{h.LOCALHOST}:{self.port}") as channel:
            return channel.unary_unary(f"/test.Echo/{method}").with_call(request, timeout=10)

    # ---- gRPC -------------------------------------------------------------------------------

    def test_identical_calls_match_and_the_target_sees_the_copy(self):
        before = self.result("same", "match")
        big = bytes(range(256)) * 1200  # 300 KiB each way: past the per-call send buffer and the stream window
        for request in (b"hi", big):
            reply, call = self.call("Same", request)
            self.assertEqual(reply, b"same:" + request)
            self.assertEqual(call.code(), grpc.StatusCode.OK)
            self.assertIn(("x-v", "1"), call.trailing_metadata())
        self.settled("same", "match", before + 2)
        self.assertEqual(self.result("same", "mismatch"), 0)
        self.assertEqual(self.result("same", "error"), 0, self.shadow("same"))
        copies = self.target.calls("Same")
        self.assertGreaterEqual(len(copies), 2)
        self.assertTrue(all(md.get("x-cutover-shadow") == "1" for md in copies), copies)
        self.assertTrue(all("x-cutover-shadow" not in md for md in self.source.calls("Same")))

    def test_a_different_grpc_status_is_a_mismatch_with_both_statuses_in_the_sample(self):
        before = self.result("status", "mismatch")
        reply, call = self.call("Status", b"x")
        self.assertEqual((reply, call.code()), (b"found", grpc.StatusCode.OK), "the client gets the source's answer")
        self.settled("status", "mismatch", before + 1)
        s = self.shadow("status")["samples"][-1]
        self.assertIn("trailer:grpc-status", s["differences"], s)
        self.assertIn("trailer:grpc-message", s["differences"], s)
        self.assertEqual(s["primary_trailers"]["grpc-status"], "0", s)
        self.assertEqual(s["shadow_trailers"]["grpc-status"], "5", s)
        self.assertEqual(s["shadow_trailers"]["grpc-message"], "not on target", s)
        self.assertEqual((s["primary_status"], s["shadow_status"]), (200, 200))

    def test_a_different_trailer_is_a_mismatch_naming_it(self):
        before = self.result("trailer", "mismatch")
        reply, call = self.call("Trailer", b"x")
        self.assertEqual(reply, b"same message")
        self.assertIn(("x-side", "source"), call.trailing_metadata())
        self.settled("trailer", "mismatch", before + 1)
        s = self.shadow("trailer")["samples"][-1]
        self.assertEqual(s["differences"], ["trailer:x-side"], s)
        self.assertEqual((s["primary_trailers"]["x-side"], s["shadow_trailers"]["x-side"]), ("source", "target"))

    def test_a_target_holding_the_copy_does_not_hold_the_call_and_counts_error(self):
        before = self.result("held", "error")
        self.target.released.clear()
        try:
            # The copy reaches the target, which holds it; the client's call is answered by the
            # source all the same, while the target still holds the copy.
            reply, call = self.call("Held", b"x")
            self.assertEqual((reply, call.code()), (b"held", grpc.StatusCode.OK))
            self.assertTrue(h.wait_for(lambda: self.target.holding == 1, 10), "the copy never reached the target")
            # Past the mirror timeout (300 ms) the copy is given up: an error, the stream reset.
            self.settled("held", "error", before + 1)
            self.assertIn("mirror timeout", self.shadow("held")["last_error"]["reason"])
            self.assertEqual(self.result("held", "match") + self.result("held", "mismatch"), 0)
        finally:
            self.target.released.set()
        self.assertTrue(h.wait_for(lambda: self.target.holding == 0, 10))

    # ---- plain HTTP/2 -----------------------------------------------------------------------

    def test_an_http2_request_is_mirrored_over_http2_and_matches(self):
        before = self.result("plain", "match")
        r = subprocess.run(["curl", "-sS", "--max-time", "20", "--http2-prior-knowledge",
                            f"http://{h.LOCALHOST}:{self.port}/plain/a?b=1"], capture_output=True, timeout=30)
        self.assertEqual(r.stdout, b"same answer for /plain/a?b=1", r.stderr)
        self.settled("plain", "match", before + 1)
        self.assertEqual(self.result("plain", "mismatch"), 0, self.shadow("plain"))
        with self.htgt.lock:
            copies = [r for r in self.htgt.requests if r.get(":path") == "/plain/a?b=1"]
        self.assertEqual(len(copies), 1)
        self.assertEqual(copies[0].get("x-cutover-shadow"), "1")
        self.assertEqual(copies[0].get(":method"), "GET")


if __name__ == "__main__":
    h.main()
