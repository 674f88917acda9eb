#!/usr/bin/env python3
"""Write hold and release against the real binary and real backends.

Acceptance (test_acceptance_hold_and_release_under_load): 8 keep-alive readers and 8 keep-alive
writers run continuously; POST writes/hold answers once the writes in flight have completed; 50
more writes arrive during the hold and wait (route state and cutover_writes_held show them);
reads keep succeeding; release with write_weight 100 -> every held write succeeds at target, the
source receives no write after the hold started, and no client sees an error.
Second run (test_hold_timeout_gives_503_and_reaches_nobody): a hold longer than hold_timeout ->
503 with Retry-After and a JSON reason, and those writes reach neither side.
Also: max_held (503 at once beyond it), rollback while held (held writes go to source), release
when not held (409), the drain limit of the hold call, hold_max (the hold releases itself and is
audited), a held write's body arriving intact.
"""
import email.utils
import hashlib
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

SAFE = ("GET", "HEAD", "OPTIONS", "TRACE")


class Result:
    __slots__ = ("rid", "method", "path", "t_send", "t_recv", "status", "headers", "body", "error")

    def __init__(self, rid, method, path):
        self.rid, self.method, self.path = rid, method, path
        self.t_send = self.t_recv = self.status = self.headers = self.body = self.error = None

    @property
    def side(self):
        return h.header(self.headers or [], "X-Backend")

    def __repr__(self):
        return (f"<{self.method} {self.path} id={self.rid} -> {self.status} side={self.side} "
                f"body={self.body[:160] if self.body else self.body!r} error={self.error} "
                f"t={self.t_send}..{self.t_recv}>")


def perform(conn, res: Result, body=None, headers=None):
    hdrs = {"X-Req-Id": res.rid}
    hdrs.update(headers or {})
    res.t_send = time.monotonic()
    try:
        res.status, res.headers, res.body = h.http_call(conn, res.method, res.path, hdrs, body)
    except Exception as e:  # noqa: BLE001 - every failure is a finding
        res.error = repr(e)
        conn.close()
    res.t_recv = time.monotonic()
    return res


class Loop(h.ClientThreads):
    """`threads` keep-alive clients sending `method path` (tagged X-Req-Id <tag>-<thread>-<n>)
    until stop(); every request is a Result in self.results[thread]."""

    def __init__(self, port, tag, threads, method, path, body=None, timeout=30.0, max_seconds=50.0):
        self.port, self.tag, self.method, self.path, self.body = port, tag, method, path, body
        self.timeout, self.max_seconds = timeout, max_seconds
        self.results = [[] for _ in range(threads)]
        super().__init__(threads)

    def _run(self, i):
        conn = h.CountingConnection(self.port, timeout=self.timeout)
        deadline = time.monotonic() + self.max_seconds
        n = 0
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                res = perform(conn, Result(f"{self.tag}-{i}-{n}", self.method, self.path), self.body)
                self.results[i].append(res)
                n += 1
                if res.error or res.status != 200:
                    time.sleep(0.01)
        finally:
            self.connects[i] = conn.connects
            conn.close()


    def all(self):
        return [r for rs in self.results for r in list(rs)]

    def done(self):
        return sum(1 for rs in self.results for r in list(rs) if r.status == 200)

    def failures(self):
        return [r for r in self.all() if r.error or r.status != 200 or r.side not in ("source", "target")]


class Shot(threading.Thread):
    """One request on its own connection, in a thread."""

    def __init__(self, port, rid, method, path, body=None, headers=None, timeout=30.0):
        super().__init__(daemon=True)
        self.port, self.body, self.hdrs, self.timeout = port, body, headers, timeout
        self.res = Result(rid, method, path)

    def run(self):
        conn = h.CountingConnection(self.port, timeout=self.timeout)
        try:
            perform(conn, self.res, self.body, self.hdrs)
        finally:
            conn.close()


def spearman(xs):
    """Rank correlation between positions 0..n-1 and the values xs (distinct)."""
    n = len(xs)
    if n < 2:
        return 1.0
    ranks = {v: r for r, v in enumerate(sorted(xs))}
    d2 = sum((i - ranks[v]) ** 2 for i, v in enumerate(xs))
    return 1 - 6 * d2 / (n * (n * n - 1))


class OrderingBackend:
    """Records the order in which cutover opened its connections to it, which for released held
    writes is the order it sent them in: it answers every request with `Connection: close`, so
    each write comes on a new connection, and cutover opens the next one only after the previous
    write's request head went out. The accept queue keeps SYN order, so accept order is exact,
    whatever order handler threads later run in (which a timestamp in a handler would show)."""

    def __init__(self):
        import socket
        self.lsock = socket.create_server((h.LOCALHOST, 0), backlog=256)
        self.lsock.settimeout(0.1)
        self.addr = f"{h.LOCALHOST}:{self.lsock.getsockname()[1]}"
        self.seen: list[tuple[int, str]] = []  # (accept sequence, X-Req-Id)
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True, name="ordering-backend")
        self.thread.start()

    @property
    def order(self) -> list[str]:
        with self.lock:
            return [rid for _, rid in sorted(self.seen)]

    def _accept_loop(self):
        seq = 0
        deadline = time.monotonic() + 300  # bounded: tests stop it long before
        while not self.stopping and time.monotonic() < deadline:
            try:
                c, _ = self.lsock.accept()
            except OSError:  # timeout: look at `stopping` again
                continue
            seq += 1
            threading.Thread(target=self._serve, args=(c, seq), daemon=True).start()

    def _serve(self, c, seq):
        with c:
            c.settimeout(10)
            f = c.makefile("rb")
            f.readline()  # request line
            fields = {}
            while (line := f.readline()) not in (b"\r\n", b"\n", b""):
                k, _, v = line.decode("latin-1").partition(":")
                fields[k.strip().lower()] = v.strip()
            f.read(int(fields.get("content-length", "0")))
            with self.lock:
                self.seen.append((seq, fields.get("x-req-id", "")))
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nX-Backend: target\r\nConnection: close\r\n\r\ntarget\n")

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.lsock.close()


def hold_config(be, routes):
    cfg = h.make_config({"src": h.cluster(be.source.addr), "tgt": h.cluster(be.target.addr)},
                        [{"name": "public", "address": f"{h.LOCALHOST}:0", "protocol": "http",
                          "routes": routes}])
    cfg["audit_log"] = "audit.jsonl"  # relative to the instance's directory (its cwd)
    return cfg


class HoldBase(h.CutoverTestCase):
    def hold(self, admin, route, body=None):
        t0 = time.monotonic()
        st, js, text = admin.post(f"/v1/routes/{route}/writes/hold", body if body is not None else {})
        t1 = time.monotonic()
        self.assertEqual(st, 200, f"POST /v1/routes/{route}/writes/hold {body} -> {st} {text!r}")
        self.assertIsInstance(js, dict, text)
        for k in ("in_flight_at_hold", "in_flight_remaining"):
            self.assertTrue(isinstance(js.get(k), int) and not isinstance(js.get(k), bool), f"{k}: {text}")
        self.assertIsInstance(js.get("drained"), bool, text)
        self.assertEqual(js.get("name"), route, f"hold answer should carry the route state: {text}")
        self.assertIs(js.get("writes", {}).get("held"), True, text)
        return js, t0, t1

    def release(self, admin, route, body=None):
        t0 = time.monotonic()
        st, js, text = admin.post(f"/v1/routes/{route}/writes/release", body if body is not None else {})
        t1 = time.monotonic()
        self.assertEqual(st, 200, f"POST /v1/routes/{route}/writes/release {body} -> {st} {text!r}")
        self.assertTrue(isinstance(js.get("released"), int) and not isinstance(js.get("released"), bool),
                        text)
        self.assertIs(js.get("writes", {}).get("held"), False, text)
        return js, t0, t1

    @staticmethod
    def writes_state(admin, route):
        w = admin.route(route).get("writes")
        if not isinstance(w, dict):
            raise AssertionError(f"GET /v1/routes/{route} has no \"writes\" object: {admin.route(route)}")
        return w

    def wait_held(self, admin, route, n, timeout=5.0):
        w = h.wait_for(lambda: (lambda s: s if s.get("held_requests") == n else None)(
            self.writes_state(admin, route)), timeout, 0.01)
        if not w:
            self.fail(f"route {route}: held_requests did not reach {n} within {timeout} s: "
                      f"{self.writes_state(admin, route)}")
        return w

    @staticmethod
    def metric(admin, name, route):
        vals = h.metric_values(admin.metrics(), name, route=route)
        return sum(v for _, v in vals) if vals else None

    def assert_metric(self, admin, name, route, want, timeout=2.0):
        got = h.wait_for(lambda: self.metric(admin, name, route) == want, timeout)
        if not got:
            self.fail(f"{name}{{route=\"{route}\"}} = {self.metric(admin, name, route)}, want {want}")

    @staticmethod
    def events_with(be, ids):
        ids = set(ids)
        return [e for side in ("source", "target") for e in be[side].events_snapshot() if e.req_id in ids]


# ------------------------------------------------------------------------------------------------
class HoldAcceptanceTest(HoldBase):
    READERS = 8
    WRITERS = 8
    BURST = 50

    def test_acceptance_hold_and_release_under_load(self):
        routes = [h.route("app", weight=0, writes={"hold_timeout": "30s", "hold_max": "60s", "max_held": 10000})]
        with h.Backends() as be, h.Cutover(hold_config(be, routes), name="hold-accept") as cv:
            port, A = cv.port("public"), cv.admin
            readers = Loop(port, "rd", self.READERS, "GET", "/read")
            # slow writes so that some are always in flight when the hold starts
            writers = Loop(port, "wr", self.WRITERS, "POST", "/slow?ms=150", body=b"write")
            burst = []
            try:
                readers.start()
                writers.start()
                ok = h.wait_for(lambda: writers.done() >= 40 and readers.done() >= 200, 15, 0.05)
                self.assertTrue(ok, f"load did not start: {writers.done()} writes, {readers.done()} reads; "
                                    f"failures {(writers.failures() + readers.failures())[:5]}")

                hold, t_hold0, t_hold1 = self.hold(A, "app")
                # every continuous writer's next write is held
                self.wait_held(A, "app", self.WRITERS)
                # 50 more writes, one at a time, each waiting in the proxy before the next is sent
                for k in range(self.BURST):
                    s = Shot(port, f"burst-{k}", "POST", f"/burst?k={k}", body=f"burst {k}".encode())
                    s.start()
                    burst.append(s)
                    self.wait_held(A, "app", self.WRITERS + k + 1, timeout=3)
                held_state = self.writes_state(A, "app")
                held_gauge = self.metric(A, "cutover_writes_held", "app")
                time.sleep(0.3)  # the readers keep going while the writes wait
                reads_during = [[r for r in list(rs) if r.t_send > t_hold1] for rs in readers.results]

                rel, t_rel0, t_rel1 = self.release(A, "app", {"write_weight": 100})
                for s in burst:
                    s.join(15)
                time.sleep(0.5)  # the writers continue, now to target
            finally:
                readers.stop()
                writers.stop()
            src_events = be.source.events_snapshot()
            tgt_events = be.target.events_snapshot()
            reads_during = [[r for r in rs if r.t_recv is not None and r.t_recv < t_rel0] for rs in reads_during]
            print(f"\nhold: call took {1000 * (t_hold1 - t_hold0):.0f} ms, answer {hold}; "
                  f"release took {1000 * (t_rel1 - t_rel0):.0f} ms, released {rel.get('released')}; "
                  f"reads during hold per reader {[len(r) for r in reads_during]}; "
                  f"writes {len(writers.all())}, reads {len(readers.all())}", file=sys.stderr)

            with self.subTest("hold answered after the in-flight writes drained"):
                self.assertIs(hold["drained"], True, hold)
                self.assertEqual(hold["in_flight_remaining"], 0, hold)
                self.assertTrue(0 <= hold["in_flight_at_hold"] <= self.WRITERS, hold)
                early = [e for e in src_events if e.method == "POST" and e.t_arrive < t_hold1]
                # t_done is stamped by the backend's thread after its send returned, so scheduling
                # can put it a little after the proxy saw the response end; a hold that did not
                # wait would answer up to the writes' 150 ms early.
                unfinished = [e for e in early if e.t_done is None or e.t_done > t_hold1 + 0.05]
                self.assertEqual(unfinished, [], "writes that reached the source before the hold answered "
                                                 "but were still running when it answered")
                started = [e for e in src_events if e.method == "POST" and e.t_arrive > t_hold0]
                self.assertLessEqual(len(started), hold["in_flight_at_hold"],
                                     f"writes that reached the source after the hold call was sent: {started}")

            with self.subTest("the held writes were visible in route state and the gauge"):
                want = self.WRITERS + self.BURST
                self.assertEqual(held_state.get("held"), True, held_state)
                self.assertEqual(held_state.get("held_requests"), want, held_state)
                self.assertEqual(held_state.get("in_flight"), 0, held_state)
                self.assertEqual(held_gauge, float(want), "cutover_writes_held{route=\"app\"} during the hold")

            with self.subTest("reads kept succeeding during the hold"):
                per_reader = [len(r) for r in reads_during]
                self.assertTrue(all(n > 0 for n in per_reader),
                                f"reads completed during the hold per reader: {per_reader}")
                bad = [r for rs in reads_during for r in rs if r.status != 200]
                self.assertEqual(bad[:5], [])

            with self.subTest("release: write weight applied, every held write released"):
                self.assertEqual(rel["released"], self.WRITERS + self.BURST, rel)
                self.assertAlmostEqual(float(rel["write_weight"]), 100.0, msg=rel)
                self.assertAlmostEqual(float(rel["read_weight"]), 0.0, msg=rel)
                w = self.writes_state(A, "app")
                self.assertEqual((w.get("held"), w.get("held_requests")), (False, 0), w)
                self.assert_metric(A, "cutover_writes_held", "app", 0.0)
                self.assert_metric(A, "cutover_writes_released_total", "app", float(self.BURST + self.WRITERS))

            with self.subTest("all 50 held writes succeeded at target, and only after the release"):
                res = [s.res for s in burst]
                bad = [r for r in res if r.error or r.status != 200 or r.side != "target"]
                self.assertEqual(bad, [])
                ids = [f"burst-{k}" for k in range(self.BURST)]
                at_src = [e for e in src_events if e.req_id in set(ids)]
                self.assertEqual(at_src, [], "held writes that reached the source")
                tgt = [e for e in tgt_events if e.req_id in set(ids)]
                self.assertEqual(sorted(e.req_id for e in tgt), sorted(ids), "each held write once at target")
                early = [e for e in tgt if e.t_arrive < t_rel0]
                self.assertEqual(early, [], "held writes that reached target before release was called")

            # The order of the released writes is checked in HoldTest.test_release_forwards_in_
            # arrival_order, against an idle backend: here 16 clients load the thread-per-connection
            # backend, whose handler threads stamp arrival out of the order cutover sent them in.
            tgt_burst = sorted((e for e in tgt_events if e.req_id and e.req_id.startswith("burst-")),
                               key=lambda e: e.t_arrive)
            order = [int(e.req_id.split("-")[1]) for e in tgt_burst]
            print(f"hold: target arrival order of the burst under load (sent 0..49): {order}; "
                  f"spearman {spearman(order):.3f}", file=sys.stderr)

            with self.subTest("the source received no write after the hold started"):
                late = [e for e in src_events if e.method not in SAFE and e.t_arrive >= t_hold1]
                self.assertEqual(late, [], f"writes at the source after the hold answered "
                                           f"(hold answered at {t_hold1:.4f})")

            with self.subTest("no client saw an error"):
                fails = readers.failures() + writers.failures()
                self.assertEqual(fails[:10], [], f"{len(fails)} failed requests")
                self.assertEqual(readers.connects, [1] * self.READERS, "readers reconnected")
                self.assertEqual(writers.connects, [1] * self.WRITERS, "writers reconnected")

            with self.subTest("after the release writes go to target, reads stay on source"):
                after_w = [r for r in writers.all() if r.t_send > t_rel1]
                after_r = [r for r in readers.all() if r.t_send > t_rel1]
                self.assertGreater(len(after_w), 0)
                self.assertEqual({r.side for r in after_w}, {"target"})
                self.assertEqual({r.side for r in after_r}, {"source"})
                # the continuous writers' held writes: sent during the hold (some while the hold
                # call was still answering), answered after the release
                held_cont = [r for r in writers.all() if t_hold0 < r.t_send < t_rel0 and r.t_recv > t_rel0]
                self.assertEqual(len(held_cont), self.WRITERS, held_cont)
                self.assertEqual({r.side for r in held_cont}, {"target"}, "held continuous writes")
            self.assertTrue(cv.alive(), cv.log_tail(30))


# ------------------------------------------------------------------------------------------------
class HoldTest(HoldBase):
    @classmethod
    def setUpClass(cls):
        cls.be = h.Backends()
        R = h.route
        routes = [
            R("to", path_prefix="/to/", weight=0, writes={"hold_timeout": "1s", "hold_max": "60s"}),
            R("mh", path_prefix="/mh/", weight=0, writes={"hold_timeout": "20s", "max_held": 5}),
            R("rb", path_prefix="/rb/", weight=100, writes={"hold_timeout": "20s"}),
            R("nh", path_prefix="/nh/", weight=0),
            R("sh", path_prefix="/sh/", weight=0, sticky={"header": "X-User-Id"}, writes={"hold_timeout": "20s"}),
            R("dr", path_prefix="/dr/", weight=0, writes={"hold_timeout": "20s"}),
            # hold_timeout <= hold_max (the loader insists): a write sent 1 s into the hold waits
            # for the hold to expire at 2 s, well inside its own 1.5 s timeout
            R("hm", path_prefix="/hm/", weight=0, writes={"hold_timeout": "1500ms", "hold_max": "2s"}),
            R("ord", path_prefix="/ord/", target="ordtgt", weight=0, writes={"hold_timeout": "20s"}),
        ]
        cls.ordering = OrderingBackend()
        cfg = hold_config(cls.be, routes)
        cfg["clusters"]["ordtgt"] = h.cluster(cls.ordering.addr)
        cls.start_cutover(cfg, "hold")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.ordering.close()

    def shots(self, prefix, tag, n, method="POST", path="upload", body=None):
        out = []
        for k in range(n):
            s = Shot(self.port, f"{tag}-{k}", method, f"{prefix}{path}?k={k}",
                     body=body if body is not None else f"{tag} {k}".encode())
            s.start()
            out.append(s)
        return out

    def test_hold_timeout_gives_503_and_reaches_nobody(self):
        A = self.admin
        self.hold(A, "to")
        shots = self.shots("/to/", "expire", 5)
        time.sleep(0.2)
        read = Shot(self.port, "to-read", "GET", "/to/read")
        read.start()
        for s in shots:
            s.join(10)
        read.join(10)
        time.sleep(0.3)
        ids = [s.res.rid for s in shots]
        reached = self.events_with(self.be, ids)
        state = self.writes_state(A, "to")
        rel, _, _ = self.release(A, "to")
        after = Shot(self.port, "to-after", "POST", "/to/upload", body=b"after")
        after.start()
        after.join(10)

        with self.subTest("a read during the hold is served"):
            self.assertEqual((read.res.status, read.res.side), (200, "source"), read.res)
        for s in shots:
            r = s.res
            with self.subTest(request=r.rid):
                self.assertEqual(r.status, 503, r)
                ra = h.header(r.headers, "Retry-After")
                self.assertTrue(ra is not None and (re.fullmatch(r"\d+", ra.strip()) or email.utils.parsedate(ra)),
                                f"Retry-After (delay-seconds or HTTP-date): {r.headers}")
                self.assertIsNone(r.side, f"a 503 from the proxy, not from a backend: {r.headers}")
                try:
                    js = json.loads(r.body)
                except ValueError:
                    js = None
                self.assertTrue(isinstance(js, dict) and isinstance(js.get("error"), str) and js["error"],
                                f"JSON reason expected: {r.body!r}")
                waited = r.t_recv - r.t_send
                self.assertTrue(0.9 <= waited <= 3.0, f"answered after {waited:.2f} s with hold_timeout 1s")
        with self.subTest("no write reached either side"):
            self.assertEqual(reached, [])
            self.assertEqual(self.events_with(self.be, ids), [], "not even after the release")
        with self.subTest("the hold stays in place; nothing left held"):
            self.assertEqual((state.get("held"), state.get("held_requests")), (True, 0), state)
            self.assertEqual(rel["released"], 0, rel)
        with self.subTest("expired counter"):
            self.assert_metric(A, "cutover_writes_expired_total", "to", 5.0)
        with self.subTest("writes flow again after the release"):
            self.assertEqual((after.res.status, after.res.side), (200, "source"), after.res)

    def test_max_held_rejects_at_once(self):
        A = self.admin
        self.hold(A, "mh")
        big = h.MiB * 2 + 123
        payload = b"".join(bytes(p) for p in h.gen_bytes(big))
        shots = self.shots("/mh/", "mh", 4)
        shots.append(Shot(self.port, "mh-big", "POST", "/mh/upload", body=payload))
        shots[-1].start()
        self.wait_held(A, "mh", 5)
        self.assert_metric(A, "cutover_writes_held", "mh", 5.0)
        sixth = Shot(self.port, "mh-6th", "POST", "/mh/upload", body=b"sixth")
        sixth.start()
        sixth.join(5)
        state = self.writes_state(A, "mh")
        r6 = sixth.res
        rel, t_rel0, _ = self.release(A, "mh", {"write_weight": 100})
        for s in shots:
            s.join(15)

        with self.subTest("the 6th concurrent held write is 503 at once"):
            self.assertEqual(r6.status, 503, r6)
            self.assertLess(r6.t_recv - r6.t_send, 1.0, f"took {r6.t_recv - r6.t_send:.2f} s")
            try:
                js = json.loads(r6.body)
            except ValueError:
                js = None
            self.assertTrue(isinstance(js, dict) and js.get("error"), f"JSON reason expected: {r6.body!r}")
            self.assertEqual(state.get("held_requests"), 5, state)
            self.assert_metric(A, "cutover_writes_rejected_total", "mh", 1.0)
        with self.subTest("the held five succeed at target after the release"):
            self.assertEqual(rel["released"], 5, rel)
            bad = [s.res for s in shots if s.res.status != 200 or s.res.side != "target"]
            self.assertEqual(bad, [])
            ev = self.events_with(self.be, [s.res.rid for s in shots])
            self.assertEqual(sorted(e.req_id for e in ev if e.side == "target"), sorted(s.res.rid for s in shots))
            self.assertEqual([e for e in ev if e.side == "source" or e.t_arrive < t_rel0], [])
        with self.subTest("a held 2 MiB body arrives intact"):
            ev = [e for e in self.events_with(self.be, ["mh-big"])]
            self.assertEqual([(e.nbytes, e.sha256) for e in ev], [(big, hashlib.sha256(payload).hexdigest())])
        with self.subTest("the rejected write reached nobody"):
            self.assertEqual(self.events_with(self.be, ["mh-6th"]), [])

    def test_rollback_while_held_sends_held_writes_to_source(self):
        A = self.admin
        A.set_weight("rb", weight=100)
        self.hold(A, "rb")
        shots = self.shots("/rb/", "rb", 5)
        self.wait_held(A, "rb", 5)
        A.rollback("rb")
        for s in shots:
            s.join(15)
        st = A.route("rb")
        with self.subTest("held writes answered by the source"):
            bad = [s.res for s in shots if s.res.status != 200 or s.res.side != "source"]
            self.assertEqual(bad, [])
            ev = self.events_with(self.be, [s.res.rid for s in shots])
            self.assertEqual(sorted((e.side, e.req_id) for e in ev), sorted(("source", s.res.rid) for s in shots))
        with self.subTest("weights 0 and the hold is over"):
            self.assertEqual((float(st["read_weight"]), float(st["write_weight"])), (0.0, 0.0), st)
            self.assertEqual((st["writes"].get("held"), st["writes"].get("held_requests")), (False, 0), st)
            self.assert_metric(A, "cutover_writes_held", "rb", 0.0)
        A.set_weight("rb", weight=100)

    def test_release_to_a_partial_weight_follows_the_sticky_buckets(self):
        """Released writes go where their user's bucket points under the new write weight, the
        same side the user's next writes go to."""
        A = self.admin
        self.hold(A, "sh")
        users = [f"held-user-{i}" for i in range(30)]
        shots = []
        for u in users:
            s = Shot(self.port, f"sh-{u}", "POST", "/sh/upload", body=b"w", headers={"X-User-Id": u})
            s.start()
            shots.append(s)
        self.wait_held(A, "sh", len(users))
        rel, _, _ = self.release(A, "sh", {"write_weight": 50})
        for s in shots:
            s.join(15)
        self.assertEqual([s.res for s in shots if s.res.status != 200], [])
        held_side = {u: s.res.side for u, s in zip(users, shots)}
        conn = h.CountingConnection(self.port)
        try:
            later = {u: h.header(h.http_call(conn, "POST", "/sh/upload", {"X-User-Id": u}, b"w")[1], "X-Backend")
                     for u in users}
        finally:
            conn.close()
        self.assertEqual(rel["released"], len(users), rel)
        diff = {u: (held_side[u], later[u]) for u in users if held_side[u] != later[u]}
        self.assertEqual(diff, {}, "user: (side of the held write, side of the next write)")
        self.assertEqual(set(held_side.values()), {"source", "target"}, "write weight 50 over 30 users")

    def test_release_forwards_in_arrival_order(self):
        """Held writes leave in the order they arrived: each is written upstream before the next
        is released, so a backend that reads in wire order sees exactly that order."""
        A = self.admin
        n = 30
        self.hold(A, "ord")
        shots = []
        for k in range(n):
            s = Shot(self.port, f"ord-{k}", "POST", f"/ord/w?k={k}", body=f"ord {k}".encode())
            s.start()
            shots.append(s)
            self.wait_held(A, "ord", k + 1, timeout=3)
        rel, t_rel0, _ = self.release(A, "ord", {"write_weight": 100})
        for s in shots:
            s.join(15)
        self.assertEqual(rel["released"], n, rel)
        self.assertEqual([(s.res.status, s.res.side) for s in shots], [(200, "target")] * n)
        order = [int(r.split("-")[1]) for r in self.ordering.order if r.startswith("ord-")]
        print(f"hold: order the held writes reached the target (sent 0..{n - 1}): {order}; "
              f"spearman {spearman(order):.3f}", file=sys.stderr)
        self.assertEqual(order, list(range(n)), "released writes must reach the target in arrival order")

    def test_release_when_not_held_is_409(self):
        A = self.admin
        for body in ({}, {"write_weight": 100}):
            st, js, text = A.post("/v1/routes/nh/writes/release", body)
            self.assertEqual(st, 409, f"release {body} without a hold: {st} {text!r}")
            self.assertTrue(isinstance(js, dict) and js.get("error"), text)
        r = A.route("nh")
        self.assertAlmostEqual(float(r["write_weight"]), 0.0, msg="a refused release must not apply its weight")
        with self.subTest("unknown route -> 404"):
            for what in ("hold", "release"):
                st, js, text = A.post(f"/v1/routes/nope/writes/{what}", {})
                self.assertEqual(st, 404, f"{what} on an unknown route: {st} {text!r}")
        with self.subTest("route state of a route that is not held"):
            w = self.writes_state(A, "nh")
            self.assertEqual((w.get("held"), w.get("held_requests"), w.get("in_flight")), (False, 0, 0), w)

    def test_client_gone_while_held(self):
        """A held write whose client disconnects stops counting as held (it must not use up
        max_held), and the proxy carries on."""
        A = self.admin
        self.hold(A, "dr")
        import socket
        sock = socket.create_connection((h.LOCALHOST, self.port), timeout=5)
        sock.sendall(b"POST /dr/upload HTTP/1.1\r\nHost: t\r\nX-Req-Id: gone-1\r\n"
                     b"Content-Length: 4\r\n\r\ngone")
        self.wait_held(A, "dr", 1)
        sock.close()
        gone = h.wait_for(lambda: self.writes_state(A, "dr").get("held_requests") == 0, 3)
        state = self.writes_state(A, "dr")
        rel, _, _ = self.release(A, "dr")
        after = Shot(self.port, "dr-after", "POST", "/dr/upload", body=b"after")
        after.start()
        after.join(10)
        self.assertTrue(gone, f"held_requests after the client closed its connection: {state}")
        self.assertEqual(rel["released"], 0, rel)
        self.assertEqual((after.res.status, after.res.side), (200, "source"), after.res)

    def test_client_gone_just_before_the_release_is_not_forwarded(self):
        """A held write whose client leaves less than a poll period (200 ms) before the release is
        dropped, not forwarded: the client is looked at again after the release, before any
        upstream contact. The write held behind it still goes out."""
        A = self.admin
        self.hold(A, "dr")
        import socket
        sock = socket.create_connection((h.LOCALHOST, self.port), timeout=5)
        sock.sendall(b"POST /dr/upload HTTP/1.1\r\nHost: t\r\nX-Req-Id: gone-late\r\n"
                     b"Content-Length: 4\r\n\r\ngone")
        self.wait_held(A, "dr", 1)
        kept = Shot(self.port, "dr-kept", "POST", "/dr/upload", body=b"kept")
        kept.start()
        self.wait_held(A, "dr", 2)
        sock.close()
        self.release(A, "dr")  # at once: well within the 200 ms between two looks at the client
        kept.join(10)
        self.assertEqual(kept.res.status, 200, kept.res)
        # The kept write was released after the gone one (arrival order), so once it has been
        # answered the gone one had its turn.
        self.assertEqual([e.req_id for e in self.events_with(self.be, ["gone-late"])], [],
                         "a write whose client had left was forwarded")
        self.assertEqual(len(self.events_with(self.be, ["dr-kept"])), 1)

    def test_hold_drain_limit(self):
        A = self.admin
        slow = Shot(self.port, "dr-slow", "POST", "/dr/slow?ms=2500", body=b"slow")
        slow.start()
        ok = h.wait_for(lambda: self.events_with(self.be, ["dr-slow"]), 5)
        self.assertTrue(ok, "the slow write did not reach the source")
        in_flight = self.writes_state(A, "dr").get("in_flight")
        js, t0, t1 = self.hold(A, "dr", {"drain": 0.5})
        slow.join(10)
        rel, _, _ = self.release(A, "dr")
        with self.subTest("route state counts the write in flight"):
            self.assertEqual(in_flight, 1)
        with self.subTest("the hold answers after `drain` seconds with what remains"):
            self.assertTrue(0.4 <= t1 - t0 <= 1.5, f"hold with drain 0.5 took {t1 - t0:.2f} s")
            self.assertEqual((js["in_flight_at_hold"], js["in_flight_remaining"], js["drained"]), (1, 1, False), js)
        with self.subTest("the write in flight is not cut"):
            self.assertEqual((slow.res.status, slow.res.side), (200, "source"), slow.res)

    def test_hold_max_releases_itself(self):
        A = self.admin
        _, t_hold0, _ = self.hold(A, "hm")
        time.sleep(1.0)
        s = Shot(self.port, "hm-1", "POST", "/hm/upload", body=b"hm")
        s.start()
        self.wait_held(A, "hm", 1)
        time.sleep(0.3)
        still = self.writes_state(A, "hm")
        s.join(8)
        after = self.writes_state(A, "hm")
        st, js, text = A.get("/v1/audit?limit=20")
        with self.subTest("held before hold_max"):
            self.assertEqual(still.get("held"), True, still)
            self.assertEqual(still.get("held_requests"), 1, still)
        with self.subTest("hold_max 2s: the write is released to the current weights (source)"):
            self.assertEqual((s.res.status, s.res.side), (200, "source"), s.res)
            waited = s.res.t_recv - t_hold0
            self.assertTrue(1.8 <= waited <= 3.5, f"released {waited:.2f} s after the hold started")
            self.assertEqual((after.get("held"), after.get("held_requests")), (False, 0), after)
        with self.subTest("audit entry hold_expired"):
            self.assertEqual(st, 200, text)
            entries = [e for e in js.get("entries", []) if e.get("route") == "hm"]
            self.assertIn("hold_expired", [e.get("action") for e in entries], text)


if __name__ == "__main__":
    h.main()
