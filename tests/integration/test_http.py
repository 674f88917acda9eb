#!/usr/bin/env python3
"""HTTP behaviour of the proxy and its admin API against real backends: forwarding headers,
hop-by-hop removal, pipelining, 502/504/404, read vs write weights, route matching, weight changes
on an open connection, admin errors and generations, metrics, --check and graceful SIGTERM."""
import hashlib
import json
import os
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade")


def split_list(values):
    """Comma-separated header values (possibly several fields) -> [item]."""
    out = []
    for v in values:
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


class HttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.be = h.Backends()
        src, tgt = cls.be.source.addr, cls.be.target.addr
        R = h.route
        cfg = h.make_config(
            {"src": h.cluster(src), "tgt": h.cluster(tgt),
             "dead": h.cluster(f"{h.LOCALHOST}:{h.closed_port()}", connect_timeout="1s"),
             "slowsrc": h.cluster(src, response_timeout="300ms")},
            [{"name": "main", "address": f"{h.LOCALHOST}:0", "protocol": "http", "routes": [
                R("hdr", path_prefix="/hdr/", weight=0),
                R("pipe", path_prefix="/pipe/", weight=0),
                R("rw", path_prefix="/rw/", read_weight=100, write_weight=0),
                R("api", path_prefix="/api/", weight=100),
                R("apiv2", path_prefix="/api/v2/", weight=0),
                R("hostx", host="example.test", path_prefix="/h/", weight=100),
                R("hostany", host="*", path_prefix="/h/", weight=0),
                R("dead", source="dead", target="tgt", path_prefix="/dead/", weight=0),
                R("slow", source="slowsrc", path_prefix="/slowroute/", weight=0),
                R("m", path_prefix="/m/", weight=50),
                R("flip", path_prefix="/flip/", weight=0),
                R("adm", path_prefix="/adm/", weight=0),
            ]},
             {"name": "gauge", "address": f"{h.LOCALHOST}:0", "protocol": "http",
              "routes": [R("g", path_prefix="/", weight=0)]}])
        cls.cfg = cfg
        cls._start()

    @classmethod
    def _start(cls):
        cls.cv = h.Cutover(cls.cfg, name="http").start()
        cls.port = cls.cv.port("main")
        cls.admin = cls.cv.admin

    def _restart_if_dead(self):
        """If cutover died: start a fresh instance for the next tests; return (exit code, log)."""
        if self.cv.alive():
            return None
        cv = self.cv
        rc = cv.stop()
        type(self)._start()
        return rc, cv.log_tail(30)

    def tearDown(self):
        # A crash fails the test that caused it; the next test gets a fresh instance.
        dead = self._restart_if_dead()
        if dead:
            raise AssertionError(f"cutover died during this test (exit code {dead[0]}); stderr tail:\n"
                                 f"{dead[1]}")

    @classmethod
    def tearDownClass(cls):
        cls.cv.stop()
        cls.be.close()

    # helpers -------------------------------------------------------------------------------
    def assert_alive(self, after: str, grace: float = 0.3):
        """cutover is still running `grace` seconds after `after` (crashes can lag the response)."""
        try:
            self.cv.proc.wait(grace)
        except Exception:  # noqa: BLE001 - TimeoutExpired: still running
            return
        rc, log = self._restart_if_dead()
        self.fail(f"cutover exited with code {rc} after {after}; stderr tail:\n{log}")

    def get(self, path, method="GET", headers=None, body=None, conn=None, timeout=10):
        own = conn is None
        c = conn or h.CountingConnection(self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, r.getheaders(), data
        finally:
            if own:
                c.close()

    def side(self, path, method="GET", headers=None, conn=None):
        st, hdrs, data = self.get(path, method, headers,
                                  body=(b"x" if method not in ("GET", "HEAD", "OPTIONS", "TRACE") else None),
                                  conn=conn)
        self.assertEqual(st, 200, f"{method} {path} {headers}: {data[:200]!r}")
        return h.header(hdrs, "X-Backend")

    def echo(self, path, headers):
        st, hdrs, data = self.get(path, headers=headers)
        self.assertEqual(st, 200, data[:300])
        return json.loads(data)

    # forwarding headers ---------------------------------------------------------------------
    def test_forwarding_headers(self):
        js = self.echo("/hdr/echo-headers", {
            "Host": "app.example:1234",
            "X-Forwarded-For": "203.0.113.7",
            "Connection": "keep-alive, X-Drop-Me",
            "X-Drop-Me": "1",
            "Keep-Alive": "timeout=5",
            "Proxy-Connection": "keep-alive",
            "TE": "trailers",
            "Upgrade": "example/1",
            "X-Keep": "yes",
        })
        hdrs = js["headers"]
        self.assertEqual(js["side"], "source")
        with self.subTest("X-Forwarded-For appended"):
            self.assertEqual(split_list(h.header_all(hdrs, "X-Forwarded-For")), ["203.0.113.7", "127.0.0.1"],
                             hdrs)
        with self.subTest("X-Forwarded-Proto"):
            self.assertEqual(h.header_all(hdrs, "X-Forwarded-Proto"), ["http"], hdrs)
        with self.subTest("Via"):
            via = split_list(h.header_all(hdrs, "Via"))
            self.assertIn("1.1 cutover", via, hdrs)
        with self.subTest("Host preserved"):
            self.assertEqual(h.header_all(hdrs, "Host"), ["app.example:1234"], hdrs)
        with self.subTest("end-to-end header kept"):
            self.assertEqual(h.header_all(hdrs, "X-Keep"), ["yes"], hdrs)
        with self.subTest("hop-by-hop removed"):
            present = {k.lower() for k, _ in hdrs}
            leaked = [n for n in ("keep-alive", "proxy-connection", "te", "upgrade", "x-drop-me")
                      if n in present]
            self.assertEqual(leaked, [], f"hop-by-hop headers reached the upstream: {hdrs}")
            conn_tokens = [t.lower() for t in split_list(h.header_all(hdrs, "Connection"))]
            self.assertNotIn("x-drop-me", conn_tokens, hdrs)

        js = self.echo("/hdr/echo-headers", {"Host": "app.example"})
        with self.subTest("X-Forwarded-For added when absent"):
            self.assertEqual(split_list(h.header_all(js["headers"], "X-Forwarded-For")), ["127.0.0.1"],
                             js["headers"])

    def test_response_hop_by_hop_removed(self):
        st, hdrs, data = self.get("/hdr/hop-response")
        self.assertEqual((st, data), (200, b"source"))
        names = {k.lower() for k, _ in hdrs}
        self.assertIn("x-resp-keep", names, hdrs)
        leaked = [n for n in ("x-resp-drop", "keep-alive", "proxy-connection") if n in names]
        self.assertEqual(leaked, [], f"hop-by-hop response headers reached the client: {hdrs}")
        self.assertNotIn("x-resp-drop", [t.lower() for t in split_list(h.header_all(hdrs, "Connection"))])

    # pipelining ------------------------------------------------------------------------------
    def test_pipelined_requests_answered_in_order(self):
        reqs = (b"GET /pipe/slow?ms=300 HTTP/1.1\r\nHost: pipe.test\r\n\r\n"
                b"POST /pipe/echo-headers?i=2 HTTP/1.1\r\nHost: pipe.test\r\nContent-Length: 5\r\n\r\nhello"
                b"GET /pipe/echo-headers?i=3 HTTP/1.1\r\nHost: pipe.test\r\n\r\n")
        with socket.create_connection((h.LOCALHOST, self.port), timeout=10) as s:
            s.sendall(reqs)  # one write
            f = s.makefile("rb")
            r1 = h.read_response(f)
            r2 = h.read_response(f)
            r3 = h.read_response(f)
        self.assertEqual((r1[0], r1[2]), (200, b"slept 300 ms on source"), r1)
        self.assertEqual(r2[0], 200, r2)
        j2 = json.loads(r2[2])
        self.assertEqual((j2["method"], j2["path"], j2["bytes"], j2["sha256"]),
                         ("POST", "/pipe/echo-headers?i=2", 5, hashlib.sha256(b"hello").hexdigest()), j2)
        self.assertEqual(r3[0], 200, r3)
        j3 = json.loads(r3[2])
        self.assertEqual((j3["method"], j3["path"]), ("GET", "/pipe/echo-headers?i=3"), j3)

    # errors ------------------------------------------------------------------------------
    def test_502_on_connect_failure(self):
        t0 = time.monotonic()
        st, hdrs, data = self.get("/dead/x")
        dt = time.monotonic() - t0
        self.assertEqual(st, 502, data[:300])
        self.assertIn("connect", data.decode("utf-8", "replace").lower(), data[:300])
        self.assertLess(dt, 3.0, "502 took longer than connect_timeout allows")
        self.assert_alive("answering 502 for a refused upstream connect")
        m = h.metric_values(self.admin.metrics(), "cutover_upstream_connect_errors_total", cluster="dead")
        self.assertTrue(m and m[0][1] >= 1, f"cutover_upstream_connect_errors_total{{cluster=dead}}: {m}")

    def test_504_on_response_timeout_and_no_stale_response_reuse(self):
        conn = h.CountingConnection(self.port)
        t0 = time.monotonic()
        st, hdrs, data = self.get("/slowroute/slow?ms=2000", conn=conn)
        dt = time.monotonic() - t0
        self.assertEqual(st, 504, data[:300])
        self.assertIn("timeout", data.decode("utf-8", "replace").lower(), data[:300])
        self.assertTrue(0.25 <= dt <= 1.5, f"504 after {dt:.3f} s with response_timeout 300ms")
        self.assert_alive("answering 504 for an upstream response timeout")
        m = h.metric_values(self.admin.metrics(), "cutover_upstream_timeouts_total", cluster="slowsrc")
        self.assertTrue(m and m[0][1] >= 1, f"cutover_upstream_timeouts_total{{cluster=slowsrc}}: {m}")
        # The timed-out upstream connection must not be reused: its late answer ("slept 2000 ms")
        # would be handed to the next request. Keep asking until well past the 2 s, on the same
        # downstream connection (http.client reconnects if the proxy closed it) and on new ones.
        seen = []
        deadline = time.monotonic() + 2.5
        for i in range(2000):
            if time.monotonic() > deadline:
                break
            st, _, data = self.get("/slowroute/x", conn=conn if i % 2 == 0 else None)
            if (st, data) != (200, b"source"):
                seen.append((i, st, data[:100]))
            time.sleep(0.02)
        conn.close()
        self.assertEqual(seen[:5], [], "requests after a 504 got wrong answers")

    def test_404_without_matching_route(self):
        st, _, data = self.get("/nothing/here")
        self.assertEqual(st, 404, data[:300])
        st, _, data = self.get("/")
        self.assertEqual(st, 404, data[:300])
        self.assert_alive("answering 404")

    def test_upstream_connection_close_is_not_reused(self):
        conn = h.CountingConnection(self.port)
        bad = []
        try:
            for i in range(10):
                for path in ("/pipe/close", "/pipe/x"):
                    try:
                        st, _, data = self.get(path, conn=conn)
                    except OSError as e:
                        bad.append((i, path, repr(e)))
                        conn.close()
                        continue
                    if (st, data) != (200, b"source"):
                        bad.append((i, path, st, data[:200]))
        finally:
            conn.close()
        self.assertEqual(bad, [], "after the upstream answered with Connection: close")
        self.assert_alive("upstream Connection: close")

    def test_no_body_statuses_and_head(self):
        conn = h.CountingConnection(self.port, timeout=5)
        try:
            for code in (204, 304):
                st, hdrs, data = self.get(f"/pipe/status?code={code}", conn=conn)
                self.assertEqual((st, data, h.header(hdrs, "X-Backend")), (code, b"", "source"))
            st, hdrs, data = self.get("/pipe/x", method="HEAD", conn=conn)
            self.assertEqual((st, data, h.header(hdrs, "Content-Length")), (200, b"", "6"))
            st, hdrs, data = self.get("/pipe/x", conn=conn)  # framing still intact
            self.assertEqual((st, data), (200, b"source"))
            st, hdrs, data = self.get("/pipe/status?code=503", conn=conn)
            self.assertEqual((st, data), (503, b"source status 503"))
        finally:
            conn.close()

    def test_http10_client(self):
        raw = h.raw_request(self.port, b"GET /pipe/x HTTP/1.0\r\nHost: a.test\r\n\r\n", timeout=5)
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1."), raw[:200])
        self.assertIn(b" 200 ", head.split(b"\r\n")[0], raw[:200])
        self.assertEqual(body, b"source", raw[:300])

    # routing -------------------------------------------------------------------------------
    def test_read_and_write_weights(self):
        st = self.admin.route("rw")
        self.assertAlmostEqual(float(st["read_weight"]), 100.0, msg=st)
        self.assertAlmostEqual(float(st["write_weight"]), 0.0, msg=st)
        conn = h.CountingConnection(self.port)
        got = {}
        for method in ("GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH"):
            got[method] = {self.side("/rw/x", method, conn=conn) for _ in range(5)}
        conn.close()
        self.assertEqual(got, {"GET": {"target"}, "HEAD": {"target"}, "OPTIONS": {"target"},
                               "POST": {"source"}, "PUT": {"source"}, "DELETE": {"source"},
                               "PATCH": {"source"}})

    def test_longest_path_prefix_wins(self):
        self.assertEqual(self.side("/api/x"), "target")
        self.assertEqual(self.side("/api/v2/x"), "source")
        self.assertEqual(self.side("/api/v2"), "target")  # "/api/v2" does not start with "/api/v2/"

    def test_absolute_form_target_is_routed_by_its_authority_and_sent_in_origin_form(self):
        # RFC 9112 §3.2.2: the target's authority replaces Host; the upstream gets origin-form.
        st, hdrs, data = self.get("http://example.test:8080/h/echo-headers?a=1", headers={"Host": "other.test"})
        self.assertEqual(st, 200, data[:300])
        js = json.loads(data)
        self.assertEqual(js["side"], "target", "routed by example.test (route hostx), not by the Host field")
        self.assertEqual(js["path"], "/h/echo-headers?a=1")
        self.assertEqual(h.header_all(js["headers"], "Host"), ["example.test:8080"])
        for bad in ("ftp://example.test/h/x", "http://user@example.test/h/x"):
            with self.subTest(bad):
                st, _, data = self.get(bad, headers={"Host": "example.test"})
                self.assertEqual(st, 400, data)

    def test_exact_host_beats_wildcard(self):
        self.assertEqual(self.side("/h/x", headers={"Host": "example.test"}), "target")
        self.assertEqual(self.side("/h/x", headers={"Host": "other.test"}), "source")
        with self.subTest("host with port"):
            self.assertEqual(self.side("/h/x", headers={"Host": "example.test:8080"}), "target")
        with self.subTest("host case-insensitive"):
            self.assertEqual(self.side("/h/x", headers={"Host": "EXAMPLE.Test"}), "target")

    def test_weight_change_applies_to_next_request_on_open_connection(self):
        conn = h.CountingConnection(self.port)
        try:
            self.assertEqual(self.side("/flip/x", conn=conn), "source")
            self.admin.set_weight("flip", weight=100)
            self.assertEqual(self.side("/flip/x", conn=conn), "target")
            self.assertEqual(self.side("/flip/x", "POST", conn=conn), "target")
            self.admin.set_weight("flip", read_weight=0, write_weight=100)
            self.assertEqual(self.side("/flip/x", conn=conn), "source")
            self.assertEqual(self.side("/flip/x", "POST", conn=conn), "target")
            self.admin.rollback("flip")
            self.assertEqual(self.side("/flip/x", conn=conn), "source")
            self.assertEqual(self.side("/flip/x", "POST", conn=conn), "source")
            self.assertEqual(conn.connects, 1)
        finally:
            conn.close()

    # admin ---------------------------------------------------------------------------------
    def assertError(self, resp, code, what):
        st, js, text = resp
        self.assertEqual(st, code, f"{what}: {st} {text!r}")
        self.assertTrue(isinstance(js, dict) and isinstance(js.get("error"), str) and js["error"],
                        f"{what}: error body should be {{\"error\": \"...\"}}, got {text!r}")

    def test_admin_health_and_list(self):
        self.assertEqual(self.admin.get("/healthz")[0], 200)
        self.assertEqual(self.admin.get("/readyz")[0], 200)
        st, js, text = self.admin.get("/v1/routes")
        self.assertEqual(st, 200, text)
        names = {r["name"] for r in js["routes"]}
        self.assertTrue({"hdr", "rw", "api", "apiv2", "hostx", "m", "adm", "g"} <= names, names)
        rw = [r for r in js["routes"] if r["name"] == "rw"][0]
        self.assertEqual((rw["listener"], rw["source"], rw["target"]), ("main", "src", "tgt"), rw)
        self.assertAlmostEqual(float(rw["read_weight"]), 100.0)
        self.assertAlmostEqual(float(rw["write_weight"]), 0.0)

    def test_admin_errors_and_generations(self):
        A = self.admin
        with self.subTest("unknown route -> 404"):
            self.assertError(A.get("/v1/routes/nope"), 404, "GET unknown route")
            self.assertError(A.put("/v1/routes/nope/weights", {"weight": 5}), 404, "PUT unknown route")
            self.assertError(A.post("/v1/routes/nope/rollback", {}), 404, "rollback unknown route")

        before = A.route("adm")
        g = int(before["generation"])
        with self.subTest("invalid weights -> 422, nothing changes"):
            for body in ({"weight": 101}, {"weight": 10.005}, {"weight": -1},
                         {"read_weight": 100.01, "write_weight": 0}, {"read_weight": 5, "write_weight": 101}):
                self.assertError(A.put("/v1/routes/adm/weights", body), 422, f"PUT {body}")
            after = A.route("adm")
            self.assertEqual(int(after["generation"]), g, after)
            self.assertAlmostEqual(float(after["read_weight"]), 0.0)

        with self.subTest("bad JSON -> 400"):
            self.assertError(A.put("/v1/routes/adm/weights", raw=b'{"weight": '), 400, "truncated JSON")
            self.assertError(A.put("/v1/routes/adm/weights", raw=b'not json'), 400, "not JSON")
            self.assertEqual(int(A.route("adm")["generation"]), g)

        with self.subTest("0.01 steps accepted, generation +1"):
            js = A.set_weight("adm", weight=10.01)
            self.assertAlmostEqual(float(js["read_weight"]), 10.01, places=6, msg=js)
            self.assertAlmostEqual(float(js["write_weight"]), 10.01, places=6, msg=js)
            self.assertEqual(int(js["generation"]), g + 1, js)
            self.assertEqual(int(A.route("adm")["generation"]), g + 1)

        with self.subTest("stale if_generation -> 409"):
            self.assertError(A.put("/v1/routes/adm/weights", {"weight": 30, "if_generation": g}), 409,
                             "stale if_generation")
            st = A.route("adm")
            self.assertEqual(int(st["generation"]), g + 1, st)
            self.assertAlmostEqual(float(st["read_weight"]), 10.01, places=6, msg=st)

        with self.subTest("matching if_generation applies"):
            js = A.set_weight("adm", read_weight=40, write_weight=5, if_generation=g + 1)
            self.assertEqual(int(js["generation"]), g + 2, js)
            st = A.route("adm")
            self.assertAlmostEqual(float(st["read_weight"]), 40.0, msg=st)
            self.assertAlmostEqual(float(st["write_weight"]), 5.0, msg=st)

        with self.subTest("stale if_generation on rollback -> 409"):
            self.assertError(A.post("/v1/routes/adm/rollback", {"if_generation": g}), 409, "stale rollback")

        with self.subTest("rollback -> 0/0, generation +1"):
            js = A.rollback("adm")
            st = A.route("adm")
            self.assertEqual(int(st["generation"]), g + 3, st)
            self.assertAlmostEqual(float(st["read_weight"]), 0.0, msg=st)
            self.assertAlmostEqual(float(st["write_weight"]), 0.0, msg=st)

    # metrics -------------------------------------------------------------------------------
    def test_metrics_match_traffic(self):
        b0 = self.be.counts()
        want = {}
        conn = h.CountingConnection(self.port)
        for i in range(100):
            method = "GET" if i % 5 < 3 else "POST"
            side = self.side(f"/m/{i}", method, conn=conn)
            key = (side, "read" if method == "GET" else "write")
            want[key] = want.get(key, 0) + 1
        conn.close()
        b1 = self.be.counts()
        self.assertEqual({s: b1[s] - b0[s] for s in b1},
                         {s: sum(v for (sd, _), v in want.items() if sd == s) for s in ("source", "target")})
        self.assertEqual(len({k[0] for k in want}), 2, f"weight 50 should hit both sides: {want}")

        got, text = {}, ""
        for _ in range(20):  # metrics may be aggregated from workers lazily: bounded poll
            text = self.admin.metrics()
            got = {}
            for lb, v in h.metric_values(text, "cutover_requests_total", route="m"):
                if v == 0:
                    continue  # series may be pre-created at 0
                key = (lb.get("side"), lb.get("kind"))
                got[key] = got.get(key, 0) + v
                self.assertIn(lb.get("code_class"), ("2xx",), f"code_class label for 200s: {lb}")
            if got == {k: float(v) for k, v in want.items()}:
                break
            time.sleep(0.1)
        relevant = [l for l in text.splitlines() if 'route="m"' in l and "requests_total" in l]
        self.assertEqual(got, {k: float(v) for k, v in want.items()},
                         f"cutover_requests_total{{route=m}} vs traffic; lines: {relevant}")

        with self.subTest("route weight gauge"):
            rw = {lb.get("kind"): v for lb, v in h.metric_values(text, "cutover_route_weight", route="m")}
            self.assertEqual(set(rw), {"read", "write"}, rw)
            self.assertEqual(rw["read"], rw["write"])
            self.assertGreater(rw["read"], 0)
            self.admin.set_weight("m", read_weight=25, write_weight=50)
            rw2 = {lb.get("kind"): v for lb, v in
                   h.metric_values(self.admin.metrics(), "cutover_route_weight", route="m")}
            self.assertAlmostEqual(rw2["read"] * 2, rw["read"], msg=(rw, rw2))
            self.assertAlmostEqual(rw2["write"], rw["write"], msg=(rw, rw2))

        with self.subTest("request duration histogram"):
            cnt = sum(v for lb, v in h.metric_values(text, "cutover_request_duration_seconds_count", route="m"))
            self.assertEqual(cnt, 100.0, [l for l in text.splitlines() if "duration" in l and 'route="m"' in l])

    def test_downstream_connections_gauge(self):
        port = self.cv.port("gauge")

        def active():
            m = h.metric_values(self.admin.metrics(), "cutover_downstream_connections_active", listener="gauge")
            return m[0][1] if m else None

        conns = [h.CountingConnection(port) for _ in range(5)]
        try:
            for c in conns:
                self.assertEqual(self.get("/x", conn=c)[0], 200)
            self.assertEqual(active(), 5.0)
        finally:
            for c in conns:
                c.close()
        v = None
        for _ in range(30):
            v = active()
            if v == 0.0:
                break
            time.sleep(0.1)
        self.assertEqual(v, 0.0, "gauge did not return to 0 after clients closed")

    def test_connections_are_balanced_between_the_two_workers(self):
        # The kernel spreads connections over the workers' SO_REUSEPORT sockets by a hash; a worker
        # that accepts one while it serves more than the other hands it over (server/balance.hpp).
        # 100 connections opened one after the other end up 50/50 give or take the slack; by the
        # hash alone a 49..51 split of 100 has a chance of about 1 in 4.
        port = self.cv.port("gauge")

        def per_worker():
            return {lb["worker"]: v for lb, v in h.metric_values(self.admin.metrics(), "cutover_worker_connections_active")}

        before, settled = per_worker(), False
        for _ in range(50):  # connections of earlier tests finish closing
            time.sleep(0.1)
            now = per_worker()
            if now == before:
                settled = True
                break
            before = now
        self.assertTrue(settled, before)
        self.assertEqual(sorted(before), ["0", "1"], before)
        conns = [h.CountingConnection(port) for _ in range(100)]
        try:
            for c in conns:
                self.assertEqual(self.get("/x", conn=c)[0], 200)
            after = per_worker()
            self.assertEqual(sum(after.values()) - sum(before.values()), 100, (before, after))
            self.assertLessEqual(abs(after["0"] - after["1"]), 2, (before, after))
            # Handed-over connections go on serving requests.
            for c in conns:
                self.assertEqual(self.get("/x", conn=c)[0], 200)
        finally:
            for c in conns:
                c.close()

    def test_worker_cpu_affinity_auto_binds_each_worker_to_its_own_cpu(self):
        # worker_cpu_affinity: auto: worker i runs only on the i-th CPU this process may use.
        # The worker threads are the ones that serve requests; read every thread's allowed CPUs
        # from /proc and expect exactly `workers` threads bound to one CPU each, on distinct CPUs
        # (as many as there are), the others left unbound.
        allowed = sorted(os.sched_getaffinity(0))
        cfg = h.simple_config(self.be, weight=0)
        cfg["worker_cpu_affinity"] = "auto"
        cv = h.Cutover(cfg, name="affinity").start()
        try:
            conn = h.CountingConnection(cv.port("public"))
            try:
                self.assertEqual(self.get("/x", conn=conn)[0], 200)
            finally:
                conn.close()
            bound = []
            for task in os.listdir(f"/proc/{cv.pid}/task"):
                try:
                    cpus = os.sched_getaffinity(int(task))
                except ProcessLookupError:  # a short-lived thread that ended meanwhile
                    continue
                if len(cpus) == 1 and len(allowed) > 1:
                    bound.append(next(iter(cpus)))
            if not bound and "cannot bind to CPU" in cv.log_tail(200):
                self.skipTest("this machine refuses sched_setaffinity (cutover logged it and runs unbound)")
            expected = [allowed[i % len(allowed)] for i in range(2)]
            if len(allowed) > 1:
                self.assertEqual(sorted(bound), sorted(expected), f"bound threads' CPUs; allowed {allowed}")
        finally:
            cv.stop()
        # and without the key (the default, none): no thread is bound
        cv = h.Cutover(h.simple_config(self.be, weight=0), name="no-affinity").start()
        try:
            narrowed = []
            for task in os.listdir(f"/proc/{cv.pid}/task"):
                try:
                    if os.sched_getaffinity(int(task)) != set(allowed):
                        narrowed.append(task)
                except ProcessLookupError:
                    continue
            self.assertEqual(narrowed, [])
        finally:
            cv.stop()

    # config check ----------------------------------------------------------------------------
    def test_check_valid_config(self):
        import subprocess
        r = subprocess.run([h.cutover_bin(), "--check", "--config", str(self.cv.config_path)],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_check_bad_config_reports_file_line_col(self):
        text = ("workers: 2\n"                                   # 1
                "admin:\n"                                       # 2
                "  listen: \"127.0.0.1:0\"\n"                    # 3
                "  bogus_admin_key: 1\n"                         # 4  unknown key
                "clusters:\n"                                    # 5
                "  a:\n"                                         # 6
                "    endpoints: [\"127.0.0.1:1\"]\n"             # 7
                "listeners:\n"                                   # 8
                "  - name: l\n"                                  # 9
                "    address: \"127.0.0.1:0\"\n"                 # 10
                "    protocol: http\n"                           # 11
                "    routes:\n"                                  # 12
                "      - name: r\n"                              # 13
                "        match: {host: \"*\", path_prefix: /}\n"  # 14
                "        source: a\n"                            # 15
                "        target: nosuch\n"                       # 16 unknown cluster
                "        weight: 10\n")                          # 17
        rc, out, path = h.run_check(text, "bad.yaml")
        self.assertEqual(rc, 1, out)
        lines = re.findall(rf"^{re.escape(str(path))}:(\d+):(\d+): (.+)$", out, re.M)
        self.assertTrue(lines, f"no FILE:LINE:COL: message line in: {out!r}")
        reported = {int(l) for l, _, _ in lines}
        with self.subTest("unknown key reported at its line"):
            self.assertIn(4, reported, out)
        with self.subTest("unknown cluster reported at its line (every problem is printed)"):
            self.assertIn(16, reported, out)

    # drain -----------------------------------------------------------------------------------
    def test_sigterm_finishes_in_flight_and_exits_0(self):
        cv = h.Cutover(h.simple_config(self.be, weight=0), name="drain").start()
        result = {}

        def slow():
            conn = h.CountingConnection(cv.port("public"))
            try:
                result["r"] = self.get("/slow?ms=700", conn=conn)
            except Exception as e:  # noqa: BLE001
                result["r"] = repr(e)
            finally:
                conn.close()

        t = threading.Thread(target=slow, daemon=True)
        t.start()
        time.sleep(0.2)
        t0 = time.monotonic()
        rc = cv.stop(term_timeout=8)
        t.join(5)
        dt = time.monotonic() - t0
        r = result.get("r")
        self.assertTrue(isinstance(r, tuple) and r[0] == 200 and r[2] == b"slept 700 ms on source",
                        f"in-flight request during SIGTERM: {r!r}")
        self.assertEqual(rc, 0, f"exit code after SIGTERM (took {dt:.1f} s); stderr:\n{cv.log_tail()}")


if __name__ == "__main__":
    h.main()
