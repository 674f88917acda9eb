#!/usr/bin/env python3
"""Access logs, request IDs and trace context against the real binary and real backends.

Acceptance:
- test_every_request_exactly_once: 5,000 mixed requests (reads, writes, writes held and released,
  a rollback half-way, mirrored GETs, 502s from a dead endpoint, 400s from malformed requests);
  every request's id (X-Request-Id of its answer) is in the access log exactly once, the log has
  no other line, and each line's side is the backend that recorded that request id.
- test_fifo_nobody_reads_then_rotate: the log is a FIFO whose reader never reads: requests keep
  completing, drops are counted; after `mv` + SIGUSR1 the new file gets every line that was
  neither dropped nor taken by the FIFO, each whole, none twice.
- test_request_id_round_trip / test_forged_id_replaced / test_traceparent_*: the request id goes
  client -> source -> response and to the shadow copy (same trace, its own span); an id from
  outside trust_cidrs is replaced; a malformed traceparent is dropped or replaced, never
  forwarded; mismatch samples carry the request id.
Also: the query left out unless log_query, sample 0 writes nothing, a tcp connection's line,
POST /v1/logs/reopen.
"""
import http.client
import json
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

HEX32 = re.compile(r"^[0-9a-f]{32}$")
TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE}-{PARENT}-01"


def read_lines(path: Path) -> list[dict]:
    """Every complete line of the access log, parsed (a line must be valid JSON)."""
    if not path.exists():
        return []
    text = path.read_bytes().decode("utf-8")
    return [json.loads(line) for line in text.split("\n")[:-1]]


def wait_lines(path: Path, n: int, timeout: float = 20.0) -> list[dict]:
    return h.wait_for(lambda: (lambda ls: ls if len(ls) >= n else None)(read_lines(path)), timeout) or read_lines(path)


def header(headers, name):
    return h.header(headers or [], name)


def backend_ids(backend) -> dict:
    """{request id: (side, is_shadow_copy)} of every request a backend received, as lists."""
    out = {}
    for ev in backend.events_snapshot():
        hd = dict((k.lower(), v) for k, v in ev.headers)
        out.setdefault(hd.get("x-request-id"), []).append((ev.side, hd.get("x-cutover-shadow") == "1", hd))
    return out


def access_config(be, log_path, routes=None, extra_clusters=None, **top):
    clusters = {"src": h.cluster(be.source.addr), "tgt": h.cluster(be.target.addr)}
    clusters.update(extra_clusters or {})
    cfg = h.make_config(clusters, [{
        "name": "public", "address": f"{h.LOCALHOST}:0", "protocol": "http",
        "access_log": {"path": str(log_path)} if isinstance(log_path, (str, Path)) else log_path,
        "routes": routes or [h.route("app")]}])
    cfg.update(top)
    return cfg


class AccessLogCase(unittest.TestCase):
    """A temp dir, two backends, and the cutover a test starts (self.cv), stopped after it."""

    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="cutover-access-"))
        self.be = h.Backends()
        self.cv = None

    def tearDown(self):
        if self.cv:
            self.cv.stop()
        self.be.close()


class MixedTraffic(AccessLogCase):
    def test_every_request_exactly_once(self):
        log = self.dir / "access.log"
        dead = h.closed_port()
        routes = [
            h.route("dead", source="gone", target="gone2", path_prefix="/dead/"),
            dict(h.route("app", read_weight=50, write_weight=50),
                 mirror={"percent": 30}, writes={"hold_timeout": "10s"}),
        ]
        cfg = access_config(self.be, log, routes, {"gone": h.cluster(f"{h.LOCALHOST}:{dead}", connect_timeout="1s"),
                                                  "gone2": h.cluster(f"{h.LOCALHOST}:{dead}", connect_timeout="1s")})
        self.cv = h.Cutover(cfg, name="access-mixed").start()
        port = self.cv.port("public")
        admin = self.cv.admin

        answers = []  # (kind, status, request id)
        lock = threading.Lock()
        total = 5000
        bad_every = 50   # raw malformed requests: 400
        dead_every = 25  # to the dead cluster: 502
        counter = iter(range(total))
        counter_lock = threading.Lock()

        def next_index():
            with counter_lock:
                return next(counter, None)

        def client():
            conn = http.client.HTTPConnection(h.LOCALHOST, port, timeout=30)
            while (i := next_index()) is not None:
                if i % bad_every == 0:
                    raw = h.raw_request(port, b"GET /bad HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n")
                    m = re.search(rb"(?i)\r\nx-request-id: ([0-9a-f]+)\r\n", raw)
                    st = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0
                    with lock:
                        answers.append(("bad", st, m.group(1).decode() if m else None))
                    continue
                if i % dead_every == 0:
                    method, path, body, kind = "GET", f"/dead/{i}", None, "dead"
                elif i % 3 == 0:
                    method, path, body, kind = "POST", f"/w/{i}", b"x" * (i % 300), "write"
                else:
                    method, path, body, kind = "GET", f"/r/{i}?token=secret{i}", None, "read"
                try:
                    st, hd, _ = h.http_call(conn, method, path, {"X-Req-Id": str(i)}, body)
                except (OSError, http.client.HTTPException):
                    conn.close()
                    st, hd = 0, []
                with lock:
                    answers.append((kind, st, header(hd, "X-Request-Id")))
            conn.close()

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        # A hold of the writes for ~1 s while traffic runs, released; then a rollback.
        h.wait_for(lambda: len(answers) > total // 4, 60)
        st, js, text = admin.post("/v1/routes/app/writes/hold", {"reason": "db flip"})
        self.assertEqual(st, 200, text)
        time.sleep(1.0)
        held = admin.route("app").get("writes", {}).get("held", 0)
        st, js, text = admin.post("/v1/routes/app/writes/release", {})
        self.assertEqual(st, 200, text)
        h.wait_for(lambda: len(answers) > total // 2, 60)
        admin.rollback("app")
        for t in threads:
            t.join(180)
        self.assertEqual(len(answers), total)
        self.assertGreater(held, 0, "no write waited in the hold")

        ids = [rid for _, _, rid in answers]
        self.assertNotIn(None, ids, [a for a in answers if a[2] is None][:5])
        self.assertEqual(len(set(ids)), total, "request ids are not unique")
        for rid in ids:
            self.assertRegex(rid, HEX32)
        by_kind = {}
        for kind, st, _ in answers:
            by_kind.setdefault(kind, []).append(st)
        self.assertTrue(all(s == 400 for s in by_kind["bad"]), by_kind["bad"][:5])
        self.assertTrue(all(s == 502 for s in by_kind["dead"]), by_kind["dead"][:5])
        self.assertTrue(all(s == 200 for s in by_kind["read"]))
        self.assertTrue(all(s == 200 for s in by_kind["write"]))

        lines = wait_lines(log, total)
        time.sleep(0.3)  # nothing more may come
        lines = read_lines(log)
        self.assertEqual(len(lines), total, "one line per request, no more")
        logged = {}
        for line in lines:
            self.assertNotIn(line["request_id"], logged, f"logged twice: {line}")
            logged[line["request_id"]] = line
        self.assertEqual(set(logged), set(ids))

        seen = backend_ids(self.be.source)
        for rid, entries in backend_ids(self.be.target).items():
            seen.setdefault(rid, []).extend(entries)
        mirrored = 0
        for kind, st, rid in answers:
            line = logged[rid]
            self.assertEqual(line["status"], st, line)
            self.assertEqual(line["listener"], "public")
            if kind == "bad":
                self.assertEqual(line["result"], "bad_request_obs_fold")
                self.assertIsNone(line["route"])
                self.assertNotIn(rid, seen)
                continue
            if kind == "dead":
                self.assertEqual((line["route"], line["result"], line["side"]), ("dead", "connect_failed", "source"))
                self.assertEqual(line["retries"], 0)
                self.assertNotIn(rid, seen)
                continue
            primary = [e for e in seen.get(rid, []) if not e[1]]
            self.assertEqual(len(primary), 1, f"{rid}: backends saw {seen.get(rid)}")
            self.assertEqual(line["side"], primary[0][0], line)
            self.assertEqual(line["result"], "response")
            self.assertNotIn("?", line["path"], "the query is left out by default")
            self.assertIn(line["side_reason"], ("weight", "failover"))
            shadows = [e for e in seen.get(rid, []) if e[1]]
            self.assertEqual(line["mirror"], bool(shadows), line)
            if shadows:
                mirrored += 1
                self.assertNotEqual(shadows[0][0], primary[0][0])
            if kind == "write":
                self.assertEqual(line["method"], "POST")
        self.assertGreater(mirrored, 100)
        held_lines = [l for l in lines if l["held_ms"] >= 100]
        self.assertGreater(len(held_lines), 0, "no line shows the time held")
        self.assertTrue(all(l["method"] == "POST" for l in held_lines))


class FifoAndRotation(AccessLogCase):
    def setUp(self):
        super().setUp()
        self.reader_fd = None

    def tearDown(self):
        if self.reader_fd is not None:
            os.close(self.reader_fd)
        super().tearDown()

    def run_requests(self, port, n, threads=4):
        ids, slow = [], []
        lock = threading.Lock()
        per = n // threads

        def client():
            conn = http.client.HTTPConnection(h.LOCALHOST, port, timeout=10)
            for _ in range(per):
                t0 = time.monotonic()
                st, hd, _ = h.http_call(conn, "GET", "/r")
                took = time.monotonic() - t0
                with lock:
                    ids.append(header(hd, "X-Request-Id"))
                    if st != 200 or took > 2.0:
                        slow.append((st, took))
            conn.close()

        ts = [threading.Thread(target=client) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        return ids, slow

    def dropped(self):
        return sum(v for _, v in h.metric_values(self.cv.admin.metrics(), "cutover_access_log_dropped_total",
                                                 listener="public"))

    def test_fifo_nobody_reads_then_rotate(self):
        fifo = self.dir / "access.log"
        os.mkfifo(fifo)
        # A reader that never reads: the pipe fills, then the writer's queue (64 KiB here).
        self.reader_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        cfg = access_config(self.be, {"path": str(fifo), "buffer": "64KiB"})
        self.cv = h.Cutover(cfg, name="access-fifo").start()
        port = self.cv.port("public")

        first, slow = self.run_requests(port, 4000)
        self.assertEqual(slow, [], "requests slowed or failed while the log could not be written")
        dropped = self.dropped()
        self.assertGreater(dropped, 0, "a full queue must drop and count")

        os.rename(fifo, self.dir / "access.log.1")
        self.cv.proc.send_signal(signal.SIGUSR1)
        new = self.dir / "access.log"
        # The lines the writer held when the FIFO stalled go to the new file first.
        self.assertTrue(h.wait_for(lambda: new.exists() and new.stat().st_size > 0, 10), "no new file after SIGUSR1")
        second, slow = self.run_requests(port, 400)
        self.assertEqual(slow, [])
        self.assertEqual(self.dropped(), dropped, "nothing dropped once the file is writable")

        # What the FIFO took (its reader drains it now): whole lines only, a cut one is not counted.
        chunks = []
        while True:
            try:
                c = os.read(self.reader_fd, 65536)
            except BlockingIOError:
                break
            if not c:
                break
            chunks.append(c)
        fifo_text = b"".join(chunks).decode("utf-8", "replace")
        fifo_ids = [json.loads(l)["request_id"] for l in fifo_text.split("\n")[:-1]]
        all_ids = first + second
        file_lines = wait_lines(new, len(all_ids) - len(fifo_ids) - int(dropped), 10)
        file_ids = [l["request_id"] for l in file_lines]
        self.assertEqual(len(set(fifo_ids) & set(file_ids)), 0, "a line written twice")
        self.assertEqual(len(fifo_ids) + len(file_ids) + int(dropped), len(all_ids),
                         f"fifo {len(fifo_ids)} + file {len(file_ids)} + dropped {dropped} != {len(all_ids)}")
        self.assertTrue(set(second) <= set(file_ids), "a request after the rotation is missing from the new file")
        self.assertTrue(set(fifo_ids) | set(file_ids) <= set(all_ids))

    def test_reopen_through_the_admin_api(self):
        log = self.dir / "access.log"
        self.cv = h.Cutover(access_config(self.be, log), name="access-reopen").start()
        port = self.cv.port("public")
        before, _ = self.run_requests(port, 40)
        wait_lines(log, 40)
        os.rename(log, self.dir / "access.log.1")
        st, js, text = self.cv.admin.post("/v1/logs/reopen", {})
        self.assertEqual(st, 200, text)
        self.assertEqual(js, {"reopened": [str(log)]})
        after, _ = self.run_requests(port, 40)
        lines = wait_lines(log, 40)
        self.assertEqual(sorted(l["request_id"] for l in lines), sorted(after))
        self.assertEqual(sorted(l["request_id"] for l in read_lines(self.dir / "access.log.1")), sorted(before))


class Identity(unittest.TestCase):
    """One cutover trusting 127.0.0.0/8's request ids and one trusting only 10.0.0.0/8."""

    @classmethod
    def setUpClass(cls):
        cls.dir = Path(tempfile.mkdtemp(prefix="cutover-access-"))
        cls.be = h.Backends()
        route = dict(h.route("app", read_weight=0, write_weight=0), mirror={"percent": 100})
        cls.trusting = h.Cutover(access_config(cls.be, cls.dir / "trusting.log", [route],
                                               request_id={"trust_cidrs": ["127.0.0.0/8"]}),
                                 name="access-trusting").start()
        cls.strict = h.Cutover(access_config(cls.be, {"path": str(cls.dir / "strict.log"), "log_query": True},
                                             [route], request_id={"trust_cidrs": ["10.0.0.0/8"]},
                                             tracing={"generate": True}),
                               name="access-strict").start()

    @classmethod
    def tearDownClass(cls):
        cls.trusting.stop()
        cls.strict.stop()
        cls.be.close()

    def call(self, cv, path, headers):
        conn = http.client.HTTPConnection(h.LOCALHOST, cv.port("public"), timeout=10)
        try:
            return h.http_call(conn, "GET", path, headers)
        finally:
            conn.close()

    def received(self, rid, timeout=5.0):
        """(primary headers, shadow headers) the backends saw for request id `rid`."""
        def look():
            seen = backend_ids(self.be.source)
            for k, v in backend_ids(self.be.target).items():
                seen.setdefault(k, []).extend(v)
            entries = seen.get(rid, [])
            prim = [e[2] for e in entries if not e[1]]
            shad = [e[2] for e in entries if e[1]]
            return (prim, shad) if prim and shad else None
        got = h.wait_for(look, timeout)
        self.assertIsNotNone(got, f"backends did not see {rid} twice")
        return got[0][0], got[1][0]

    def line_for(self, log, rid):
        line = h.wait_for(lambda: next((l for l in read_lines(log) if l["request_id"] == rid), None), 10)
        self.assertIsNotNone(line, f"{rid} not in {log}")
        return line

    def test_request_id_round_trip(self):
        st, hd, _ = self.call(self.trusting, "/echo-headers",
                              {"X-Request-Id": "req-abc.123", "traceparent": TRACEPARENT, "tracestate": "k=v"})
        self.assertEqual(st, 200)
        self.assertEqual(header(hd, "X-Request-Id"), "req-abc.123")
        prim, shadow = self.received("req-abc.123")
        self.assertEqual(prim.get("traceparent"), TRACEPARENT)
        self.assertEqual(prim.get("tracestate"), "k=v")
        self.assertEqual(shadow.get("x-request-id"), "req-abc.123")
        m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", shadow.get("traceparent", ""))
        self.assertIsNotNone(m, shadow)
        self.assertEqual(m.group(1), TRACE)
        self.assertNotEqual(m.group(2), PARENT, "the shadow copy is a span of its own")
        line = self.line_for(self.dir / "trusting.log", "req-abc.123")
        self.assertEqual(line["trace_id"], TRACE)
        self.assertTrue(line["mirror"])

    def test_forged_id_replaced(self):
        st, hd, _ = self.call(self.strict, "/echo-headers?user=1", {"X-Request-Id": "forged-by-client"})
        rid = header(hd, "X-Request-Id")
        self.assertRegex(rid, HEX32)
        prim, shadow = self.received(rid)
        self.assertEqual(prim.get("x-request-id"), rid)
        line = self.line_for(self.dir / "strict.log", rid)
        self.assertEqual(line["path"], "/echo-headers?user=1", "log_query keeps the query")
        # An invalid id is replaced even from a trusted client.
        st, hd, _ = self.call(self.trusting, "/echo-headers", {"X-Request-Id": "has space"})
        self.assertRegex(header(hd, "X-Request-Id"), HEX32)

    def test_traceparent_malformed_dropped(self):
        for bad in ("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  # upper case
                    f"00-{'0' * 32}-{PARENT}-01",                                 # all-zero trace id
                    f"00-{TRACE}-{PARENT}-01-extra",                              # 00 is exactly 55
                    "garbage"):
            st, hd, _ = self.call(self.trusting, "/echo-headers", {"traceparent": bad, "tracestate": "k=v"})
            rid = header(hd, "X-Request-Id")
            prim, shadow = self.received(rid)
            for seen in (prim, shadow):
                self.assertNotIn("traceparent", seen, bad)
                self.assertNotIn("tracestate", seen, bad)
            self.assertIsNone(self.line_for(self.dir / "trusting.log", rid)["trace_id"])

    def test_traceparent_malformed_replaced_when_generating(self):
        st, hd, _ = self.call(self.strict, "/echo-headers", {"traceparent": "00-xyz", "tracestate": "k=v"})
        rid = header(hd, "X-Request-Id")
        prim, shadow = self.received(rid)
        m = re.fullmatch(r"00-([0-9a-f]{32})-([0-9a-f]{16})-01", prim.get("traceparent", ""))
        self.assertIsNotNone(m, prim)
        self.assertNotIn("tracestate", prim)
        self.assertEqual(self.line_for(self.dir / "strict.log", rid)["trace_id"], m.group(1))
        self.assertIn(m.group(1), shadow.get("traceparent", ""))

    def test_mismatch_sample_carries_the_request_id(self):
        # The backends answer with their side's name: every mirrored GET of "/" is a mismatch.
        st, hd, _ = self.call(self.trusting, "/plain-mismatch", {"X-Request-Id": "mismatch-me"})
        self.assertEqual(st, 200)

        def sample():
            st, js, _ = self.trusting.admin.get("/v1/shadow?route=app")
            for r in (js or {}).get("routes", []):
                for s in r.get("samples", []):
                    if s.get("request_id") == "mismatch-me":
                        return s
            return None
        self.assertIsNotNone(h.wait_for(sample, 10), "no mismatch sample with the request id")


class TcpAndSampling(AccessLogCase):
    def test_tcp_connection_line(self):
        log = self.dir / "tcp.log"
        cfg = h.make_config({"src": h.cluster(self.be.source.addr), "tgt": h.cluster(self.be.target.addr)}, [{
            "name": "db", "address": f"{h.LOCALHOST}:0", "protocol": "tcp", "access_log": {"path": str(log)},
            "routes": [{"name": "pg", "source": "src", "target": "tgt", "weight": 0}]}])
        self.cv = h.Cutover(cfg, name="access-tcp").start()
        request = b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        with socket.create_connection((h.LOCALHOST, self.cv.port("db")), timeout=10) as s:
            s.sendall(request)
            local_port = s.getsockname()[1]
            got = b""
            while c := s.recv(65536):
                got += c
        line = wait_lines(log, 1)[0]
        self.assertEqual((line["protocol"], line["route"], line["side"], line["side_reason"]),
                         ("tcp", "pg", "source", "weight"))
        self.assertEqual(line["client_port"], local_port)
        self.assertEqual((line["bytes_in"], line["bytes_out"]), (len(request), len(got)))
        self.assertEqual(line["endpoint"], self.be.source.addr)
        self.assertIn(line["result"], ("closed", "reset"))
        self.assertIsNone(line["method"])

    def test_sample_zero_and_fields(self):
        log = self.dir / "few.log"
        self.cv = h.Cutover(access_config(self.be, {"path": str(log), "sample": 0}), name="access-sample").start()
        conn = http.client.HTTPConnection(h.LOCALHOST, self.cv.port("public"), timeout=10)
        for _ in range(50):
            h.http_call(conn, "GET", "/")
        conn.close()
        time.sleep(1.2)
        self.assertEqual(read_lines(log), [])
        self.cv.stop()
        self.cv = h.Cutover(access_config(self.be, {"path": str(log), "fields": ["status", "request_id"]}),
                            name="access-fields").start()
        conn = http.client.HTTPConnection(h.LOCALHOST, self.cv.port("public"), timeout=10)
        _, hd, _ = h.http_call(conn, "GET", "/")
        conn.close()
        line = wait_lines(log, 1)[0]
        self.assertEqual(list(line), ["status", "request_id"])
        self.assertEqual(line, {"status": 200, "request_id": header(hd, "X-Request-Id")})


if __name__ == "__main__":
    h.main()
