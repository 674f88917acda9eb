"""Health: active health checks, passive outlier detection with ejection, retry of a
failed connect on another endpoint, and failover of the target's share to source when no target
endpoint is available (never the reverse).

Each backend runs in its own process (this file with --serve NAME), so a test can kill one with
SIGKILL, and is steered over HTTP: GET /__set?health=CODE&status=CODE.
"""
from __future__ import annotations

import http.client
import http.server
import os
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (LOCALHOST, Cutover, LoadGen, QuickHandler, QuickServer, cluster, make_config,  # noqa: E402
                     metric_values, route, wait_for)


def serve(name: str) -> None:
    """A keep-alive backend answering `name` (and X-Backend: NAME's side) until killed."""
    state = {"health": 200, "status": 200}

    class Handler(QuickHandler):
        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/__set":
                for k, v in urllib.parse.parse_qsl(url.query):
                    state[k] = int(v)
                code, body = 200, b"set"
            elif url.path == "/healthz":
                code, body = state["health"], b"health"
            else:
                code, body = state["status"], name.split("-")[0].encode()
            self.reply(code, body, [("X-Backend", name.split("-")[0]), ("X-Endpoint", name)])

    server = QuickServer(Handler)
    print(server.addr, flush=True)
    time.sleep(300)  # backstop: the test kills it long before
    os._exit(0)


class Backend:
    def __init__(self, name: str):
        self.name = name
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", name], stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self.addr = self.proc.stdout.readline().strip()

    def set(self, **kw):
        host, port = self.addr.rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=5)
        c.request("GET", "/__set?" + urllib.parse.urlencode(kw))
        c.getresponse().read()
        c.close()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc.stdout.close()


def get(port: int, path: str = "/x") -> tuple[int, str]:
    c = http.client.HTTPConnection(LOCALHOST, port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return r.status, r.getheader("X-Endpoint") or ""
    finally:
        c.close()


class HealthTest(unittest.TestCase):
    def setUp(self):
        self.backends: list[Backend] = []
        self.cv = None
        self.load = None

    def tearDown(self):
        if self.load:
            self.load.stop()
        alive = self.cv.alive() if self.cv else True
        log = self.cv.log_tail(30) if self.cv else ""
        if self.cv:
            self.cv.stop()
        for b in self.backends:
            b.kill()
        self.assertTrue(alive, f"cutover died:\n{log}")

    def backend(self, name: str) -> Backend:
        b = Backend(name)
        self.backends.append(b)
        return b

    def start(self, clusters: dict, weight=0) -> int:
        cfg = make_config(clusters, [{"name": "public", "address": f"{LOCALHOST}:0", "protocol": "http",
                                      "routes": [route("app", weight=weight)]}])
        self.cv = Cutover(cfg, name="health").start()
        self.port = self.cv.port("public")
        return self.port

    def metric(self, name: str, **labels) -> float:
        vals = metric_values(self.cv.admin.metrics(), name, **labels)
        return vals[0][1] if vals else 0.0

    def test_killed_endpoint_is_ejected_retried_around_and_no_client_error_after(self):
        a, b = self.backend("source-a"), self.backend("source-b")
        t = self.backend("target-t")
        src = cluster(a.addr, b.addr, connect_timeout="500ms")
        src["outlier_detection"] = {"consecutive_connect_failures": 1, "consecutive_5xx": 3, "ejection_time": "30s"}
        self.start({"src": src, "tgt": cluster(t.addr)})
        self.load = LoadGen(self.port, 4, path="/x", max_seconds=60).start()
        self.assertTrue(self.load.wait_until(lambda: self.load.total() >= 300, 20))
        b.kill()
        t_kill = time.monotonic()
        self.assertTrue(wait_for(lambda: self.metric("cutover_outlier_ejections_total", cluster="src") >= 1, 10),
                        self.cv.log_tail(20))
        t_ejected = time.monotonic()
        time.sleep(0.2)
        t_after = time.monotonic()
        n_after = self.load.count_sent_after(t_after)
        self.assertTrue(self.load.wait_until(lambda: self.load.count_sent_after(t_after) >= n_after + 500, 30))
        self.load.stop()
        late = [r for recs in self.load.records for r in list(recs) if r[0] > t_after]
        self.assertGreaterEqual(len(late), 500)
        self.assertEqual([r for r in late if r[3] != 200], [], "no client error once the endpoint is ejected")
        errors_during = [r for recs in self.load.records for r in list(recs) if t_kill <= r[0] <= t_after and r[3] != 200]
        print(f"\nkilled endpoint: ejected after {1000 * (t_ejected - t_kill):.0f} ms; client errors before "
              f"ejection {len(errors_during)}; retries {self.metric('cutover_upstream_retries_total', cluster='src')}",
              file=sys.stderr)
        self.assertEqual(self.metric("cutover_endpoint_healthy", cluster="src", endpoint=b.addr), 0)
        self.assertEqual(self.metric("cutover_endpoint_healthy", cluster="src", endpoint=a.addr), 1)

    def test_connect_failure_is_retried_on_another_endpoint(self):
        a = self.backend("source-a")
        t = self.backend("target-t")
        dead = socket.socket()
        dead.bind((LOCALHOST, 0))
        dead_addr = f"{LOCALHOST}:{dead.getsockname()[1]}"
        dead.close()
        self.start({"src": cluster(dead_addr, a.addr, connect_timeout="500ms"), "tgt": cluster(t.addr)})
        for _ in range(10):
            self.assertEqual(get(self.port), (200, "source-a"))
        self.assertGreaterEqual(self.metric("cutover_upstream_retries_total", cluster="src"), 1)

    def test_active_check_takes_an_endpoint_out_and_back(self):
        a, b = self.backend("source-a"), self.backend("source-b")
        t = self.backend("target-t")
        src = cluster(a.addr, b.addr)
        src["health_check"] = {"path": "/healthz", "interval": "200ms", "timeout": "150ms",
                               "healthy_threshold": 2, "unhealthy_threshold": 2}
        self.start({"src": src, "tgt": cluster(t.addr)})
        seen = {get(self.port)[1] for _ in range(20)}
        self.assertEqual(seen, {"source-a", "source-b"})
        b.set(health=503)
        self.assertTrue(wait_for(lambda: self.metric("cutover_endpoint_healthy", cluster="src", endpoint=b.addr) == 0, 5))
        self.assertEqual({get(self.port)[1] for _ in range(50)}, {"source-a"}, "never an unhealthy endpoint")
        b.set(health=200)
        self.assertTrue(wait_for(lambda: self.metric("cutover_endpoint_healthy", cluster="src", endpoint=b.addr) == 1, 5))
        self.assertEqual({get(self.port)[1] for _ in range(20)}, {"source-a", "source-b"})
        self.assertIn("is unhealthy after 2 failed checks", self.cv.log_tail(60))

    def test_consecutive_5xx_eject_an_endpoint(self):
        a, b = self.backend("source-a"), self.backend("source-b")
        t = self.backend("target-t")
        src = cluster(a.addr, b.addr)
        src["outlier_detection"] = {"consecutive_5xx": 3, "ejection_time": "30s"}
        self.start({"src": src, "tgt": cluster(t.addr)})
        b.set(status=500)
        results = [get(self.port) for _ in range(20)]
        self.assertLessEqual(sum(1 for s, _ in results if s == 500), 3)
        self.assertEqual(self.metric("cutover_outlier_ejections_total", cluster="src"), 1)
        self.assertEqual({get(self.port) for _ in range(20)}, {(200, "source-a")})

    def test_target_down_fails_over_to_source_but_never_the_reverse(self):
        s = self.backend("source-s")
        t = self.backend("target-t")
        tgt = cluster(t.addr)
        tgt["health_check"] = {"path": "/healthz", "interval": "200ms", "timeout": "150ms", "unhealthy_threshold": 1}
        src = cluster(s.addr)
        src["health_check"] = {"path": "/healthz", "interval": "200ms", "timeout": "150ms", "unhealthy_threshold": 1}
        self.start({"src": src, "tgt": tgt}, weight=100)
        self.assertEqual({get(self.port)[1] for _ in range(10)}, {"target-t"})
        t.set(health=503)
        self.assertTrue(wait_for(lambda: self.metric("cutover_endpoint_healthy", cluster="tgt", endpoint=t.addr) == 0, 5))
        self.assertEqual({get(self.port) for _ in range(20)}, {(200, "source-s")}, "the target's share goes to source")
        self.assertGreaterEqual(self.metric("cutover_failovers_total", route="app"), 20)
        self.assertIn("its share goes to source", self.cv.log_tail(60))
        # The reverse is never automatic: a sick source at weight 0 still gets its requests.
        t.set(health=200)
        self.cv.admin.set_weight("app", weight=0)
        s.set(health=503)
        self.assertTrue(wait_for(lambda: self.metric("cutover_endpoint_healthy", cluster="src", endpoint=s.addr) == 0, 5))
        self.assertEqual({get(self.port)[1] for _ in range(10)}, {"source-s"})


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
        sys.exit(0)
    unittest.main(verbosity=2)
