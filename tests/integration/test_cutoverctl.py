#!/usr/bin/env python3
"""cutoverctl, the operator CLI, run as a subprocess against the real cutover binary.

Checks the commands against what the admin API then reports (status, set with and without
--if-generation, rollback, hold with a write in flight, release, shadow, --json), the global
options and their environment fallbacks (CUTOVER_ADMIN, CUTOVER_TOKEN), bearer tokens, and the
exit codes: 0 done, 1 API error, 2 usage, 3 admin unreachable, 4 a watched ramp rolled back.

The ramp commands, `watch` and `stats` run against the ramp and stats endpoints, which every
build serves: a missing endpoint fails those tests, it never skips them.

    CUTOVER_BIN=build/cutover CUTOVERCTL_BIN=build/cutoverctl python3 tests/integration/test_cutoverctl.py
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402



def clean_env(**extra) -> dict:
    """The environment without the caller's CUTOVER_ADMIN / CUTOVER_TOKEN, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("CUTOVER_ADMIN", "CUTOVER_TOKEN")}
    env.update(extra)
    return env


def run_ctl(*args: str, env: dict | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """cutoverctl ARGS with stdout/stderr captured as text (stdout is a pipe: no ANSI redraws)."""
    return subprocess.run([h.cutoverctl_bin(), *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=env if env is not None else clean_env())


class CtlCase(h.CutoverTestCase):
    """Runs cutoverctl against this class's cutover."""

    @classmethod
    def admin_url(cls) -> str:
        return f"http://{h.LOCALHOST}:{cls.cv.admin_addr[1]}"

    def ctl(self, *args: str, env: dict | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess:
        return run_ctl("--admin", self.admin_url(), *args, env=env, timeout=timeout)

    def ok(self, *args: str, **kw) -> str:
        """cutoverctl ARGS, which must exit 0 with nothing on stderr; returns stdout."""
        r = self.ctl(*args, **kw)
        self.assertEqual(r.returncode, 0, f"cutoverctl {' '.join(args)}: stdout {r.stdout!r} stderr {r.stderr!r}")
        self.assertEqual(r.stderr, "")
        return r.stdout

    def fails(self, code: int, *args: str, **kw) -> subprocess.CompletedProcess:
        """cutoverctl ARGS, which must exit `code` with one line on stderr."""
        r = self.ctl(*args, **kw)
        self.assertEqual(r.returncode, code, f"cutoverctl {' '.join(args)}: stdout {r.stdout!r} stderr {r.stderr!r}")
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertTrue(r.stderr.startswith("cutoverctl: "), r.stderr)
        return r

    def get_route(self, name: str = "app") -> dict:
        return self.cv.admin.route(name)


class CtlTest(CtlCase):
    """The commands of the foundation's admin API, on one cutover with a mirrored route."""

    @classmethod
    def setUpClass(cls):
        cls.be = h.Backends()
        cfg = h.simple_config(cls.be, weight=5)
        # Mirror everything: source and target answer with their own name, so copies mismatch.
        cfg["listeners"][0]["routes"][0]["mirror"] = {"percent": 100}
        cls.start_cutover(cfg, name="ctl")

    def setUp(self):
        if self.get_route()["writes"]["held"]:
            self.cv.admin.post("/v1/routes/app/writes/release", {})
        self.cv.admin.set_weight("app", weight=5)

    def test_status_lists_the_route_and_its_weights(self):
        out = self.ok("status")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["ROUTE", "SOURCE", "TARGET", "READ", "%", "WRITE", "%", "WRITES", "TUNNELS",
                                            "RAMP", "GEN"], out)
        gen = self.get_route()["generation"]
        self.assertRegex(out, rf"(?m)^app\s+src\s+tgt\s+5\s+5\s+flowing\s+0/0\s+\S.*\s{gen}$")
        one = self.ok("status", "app")
        self.assertRegex(one, r"(?m)^app\s+src\s+tgt\s+5\s+5\s")
        r = self.fails(1, "status", "nope")
        self.assertEqual(r.stderr, "cutoverctl: 404 no route named 'nope'\n")

    def test_set_changes_weights(self):
        out = self.ok("set", "app", "--weight", "25")
        gen = self.get_route()["generation"]
        self.assertEqual(out, f"app: read 25 %, write 25 %, writes flowing, generation {gen}\n")
        st = self.get_route()
        self.assertEqual((st["read_weight"], st["write_weight"]), (25, 25))

        out = self.ok("set", "app", "--read-weight", "50", "--write-weight", "12.25")
        st = self.get_route()
        self.assertEqual((st["read_weight"], st["write_weight"]), (50, 12.25))
        self.assertIn("read 50 %, write 12.25 %", out)
        self.assertEqual(st["generation"], gen + 1)

        self.ok("set", "app", "--write-weight", "0")
        st = self.get_route()
        self.assertEqual((st["read_weight"], st["write_weight"]), (50, 0), "only the given weight changes")

        # The server's 422 for a value that is in range but not in 0.01 steps.
        r = self.fails(1, "set", "app", "--weight", "10.005")
        self.assertRegex(r.stderr, r"^cutoverctl: 422 weight must be")

    def test_set_with_if_generation(self):
        gen = self.get_route()["generation"]
        r = self.fails(1, "set", "app", "--weight", "40", "--if-generation", str(gen + 7))
        self.assertEqual(r.stderr, f"cutoverctl: 409 generation is {gen}, not {gen + 7}\n")
        self.assertEqual(r.stdout, "")
        self.assertEqual(self.get_route()["read_weight"], 5, "a refused change changes nothing")
        self.ok("set", "app", "--weight", "40", "--if-generation", str(gen))
        st = self.get_route()
        self.assertEqual((st["read_weight"], st["generation"]), (40, gen + 1))

    def test_rollback(self):
        self.ok("set", "app", "--read-weight", "60", "--write-weight", "30")
        out = self.ok("--reason", "target 5xx at 4 %", "rollback", "app", "--close-target-connections")
        st = self.get_route()
        self.assertEqual((st["read_weight"], st["write_weight"]), (0, 0))
        self.assertTrue(out.startswith("app: read 0 %, write 0 %"), out)
        entries = self.cv.admin.get("/v1/audit?limit=1")[1]["entries"]
        self.assertEqual(entries[-1]["action"], "rollback")
        self.assertEqual(entries[-1]["reason"], "target 5xx at 4 %")
        self.assertTrue(entries[-1]["client"].startswith("127.0.0.1:"), entries[-1])

    def test_hold_waits_for_a_write_in_flight_then_release(self):
        # A slow write in flight when the hold starts: the hold answers once it finished.
        result = {}

        def slow_write():
            conn = http.client.HTTPConnection(h.LOCALHOST, self.port, timeout=20)
            conn.request("POST", "/slow?ms=1500", body=b"x")
            result["status"] = conn.getresponse().status
            conn.close()

        t = threading.Thread(target=slow_write, daemon=True)
        t.start()
        self.assertTrue(h.wait_for(lambda: self.get_route()["writes"]["in_flight"] == 1, 5), "write in flight")
        t0 = time.monotonic()
        out = self.ok("hold", "app", "--drain", "10")
        self.assertGreater(time.monotonic() - t0, 0.5, "the hold answers after the write in flight finished")
        self.assertIn("writes held (0 waiting)", out)
        self.assertIn("writes held; 1 in flight at the hold, all finished", out)
        t.join(10)
        self.assertEqual(result.get("status"), 200)
        self.assertTrue(self.get_route()["writes"]["held"])
        self.assertRegex(self.ok("status"), r"(?m)^app\s.*\sheld 0\s")

        # A write during the hold waits; release with a write weight sends it to target.
        def held_write():
            conn = http.client.HTTPConnection(h.LOCALHOST, self.port, timeout=20)
            conn.request("POST", "/order", body=b"y")
            resp = conn.getresponse()
            result["held"] = (resp.status, resp.getheader("X-Backend"))
            conn.close()

        t = threading.Thread(target=held_write, daemon=True)
        t.start()
        self.assertTrue(h.wait_for(lambda: self.get_route()["writes"]["held_requests"] == 1, 5))
        out = self.ok("release", "app", "--write-weight", "100")
        self.assertTrue(out.startswith("released 1 held writes\napp: read 5 %, write 100 %, writes flowing"), out)
        t.join(10)
        self.assertEqual(result.get("held"), (200, "target"))
        st = self.get_route()
        self.assertEqual((st["write_weight"], st["writes"]["held"]), (100, False))

        r = self.fails(1, "release", "app")
        self.assertEqual(r.stderr, "cutoverctl: 409 writes are not held on this route\n")

    def test_admin_from_the_environment(self):
        out = run_ctl("status", env=clean_env(CUTOVER_ADMIN=self.admin_url())).stdout
        self.assertRegex(out, r"(?m)^app\s+src\s+tgt\s")
        # The flag wins over the environment.
        bad = f"http://{h.LOCALHOST}:{h.closed_port()}"
        r = run_ctl("--admin", self.admin_url(), "status", env=clean_env(CUTOVER_ADMIN=bad))
        self.assertEqual(r.returncode, 0, r.stderr)
        # Without either, the default http://127.0.0.1:9901 is used.
        r = run_ctl("--help")
        self.assertIn("http://127.0.0.1:9901", r.stdout)

    def test_unreachable_admin_exits_3(self):
        port = h.closed_port()
        r = run_ctl("--admin", f"http://{h.LOCALHOST}:{port}", "status")
        self.assertEqual(r.returncode, 3, r)
        self.assertRegex(r.stderr, rf"^cutoverctl: cannot reach http://127\.0\.0\.1:{port}: .+\n$")
        r = run_ctl("set", "app", "--weight", "1", env=clean_env(CUTOVER_ADMIN=f"{h.LOCALHOST}:{port}"))
        self.assertEqual(r.returncode, 3, r)
        self.assertIn(f"cannot reach http://127.0.0.1:{port}", r.stderr)
        # A listener that never answers: --timeout bounds the call.
        with socket.socket() as silent:
            silent.bind((h.LOCALHOST, 0))
            silent.listen(4)
            t0 = time.monotonic()
            r = run_ctl("--admin", f"http://{h.LOCALHOST}:{silent.getsockname()[1]}", "--timeout", "0.5", "status")
            self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(r.returncode, 3, r)
        self.assertIn("timed out after 0.5 s", r.stderr)

    def test_usage_errors_exit_2(self):
        for args in ([], ["frobnicate"], ["set", "app"], ["set", "app", "--weight", "101"],
                     ["set", "app", "--weight", "5", "--read-weight", "6"], ["set"], ["hold"],
                     ["ramp", "app", "--steps", "1,5", "--interval", "soon"], ["ramp", "app", "--interval", "1s"],
                     ["ramp", "app", "--steps", "1", "--interval", "1s", "--apply-to", "all"],
                     ["--timeout", "-1", "status"], ["watch", "app", "--interval", "x"],
                     ["stats", "--window", "forever"]):
            with self.subTest(args=args):
                r = self.fails(2, *args)
                self.assertEqual(r.stdout, "")
        r = run_ctl("--admin", "https://127.0.0.1:1", "status")
        self.assertEqual(r.returncode, 2)
        self.assertIn("http:// only", r.stderr)
        self.assertEqual(self.get_route()["read_weight"], 5, "nothing was sent")

    def test_json_prints_the_raw_response(self):
        js = json.loads(self.ok("--json", "status"))
        self.assertEqual([r["name"] for r in js["routes"]], ["app"])
        js = json.loads(self.ok("set", "app", "--weight", "7", "--json"))
        self.assertEqual((js["name"], js["read_weight"], js["write_weight"]), ("app", 7, 7))
        js = json.loads(self.ok("shadow", "--json"))
        self.assertEqual(js["routes"][0]["route"], "app")
        # An API error: the raw body on stdout, the one-line reason on stderr.
        gen = self.get_route()["generation"]
        r = self.fails(1, "--json", "set", "app", "--weight", "9", "--if-generation", str(gen + 1))
        self.assertEqual(json.loads(r.stdout)["generation"], gen)

    def test_shadow_prints_counts_and_samples(self):
        before = self.cv.admin.get("/v1/shadow?route=app")[1]["routes"][0]["mirrored"]
        conn = http.client.HTTPConnection(h.LOCALHOST, self.port, timeout=10)
        for i in range(6):
            h.http_call(conn, "GET", f"/page/{i}")
        conn.close()
        self.assertTrue(h.wait_for(
            lambda: self.cv.admin.get("/v1/shadow?route=app")[1]["routes"][0]["mirrored"] >= before + 6, 10))
        out = self.ok("shadow")
        js = self.cv.admin.get("/v1/shadow?route=app")[1]["routes"][0]
        self.assertIn("route app: mirror 100 % of GET,HEAD\n", out)
        self.assertIn(f"  mirrored {js['mirrored']}  compared {js['compared']}  matched {js['matched']}  "
                      f"mismatched {js['mismatched']} (", out)
        self.assertGreaterEqual(js["mismatched"], 6, "source and target answer differently")
        self.assertIn("newest 5 of ", out)
        self.assertRegex(out, r"GET /page/5\s+(source 200 / target 200|target 200 / source 200)\s+\S")
        self.assertIn("newest 2 of", self.ok("shadow", "app", "--samples", "2"))
        r = self.fails(1, "shadow", "nope")
        self.assertEqual(r.stderr, "cutoverctl: 404 no route named 'nope'\n")


class CtlTokenTest(CtlCase):
    """admin.tokens_file: changes need a bearer token, from --token or CUTOVER_TOKEN."""

    @classmethod
    def setUpClass(cls):
        cls.be = h.Backends()
        cls.dir = Path(tempfile.mkdtemp(prefix="cutover-it-ctl-tokens-"))
        tokens = cls.dir / "tokens.txt"
        tokens.write_text("alice:s3cret-a\n")
        cfg = h.simple_config(cls.be, weight=5)
        cfg["admin"] = {"listen": f"{h.LOCALHOST}:0", "tokens_file": str(tokens)}
        cls.start_cutover(cfg, name="ctl-tokens")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_changes_need_a_token(self):
        r = self.fails(1, "set", "app", "--weight", "10")
        self.assertRegex(r.stderr, r"^cutoverctl: 401 ")
        r = self.fails(1, "--token", "wrong", "rollback", "app")
        self.assertIn("401", r.stderr)
        self.assertEqual(self.get_route()["read_weight"], 5)
        self.ok("status")  # reads need no token

        self.ok("--token", "s3cret-a", "set", "app", "--weight", "10")
        self.assertEqual(self.get_route()["read_weight"], 10)
        self.ok("set", "app", "--weight", "20", env=clean_env(CUTOVER_TOKEN="s3cret-a"))
        self.assertEqual(self.get_route()["read_weight"], 20)
        entries = self.cv.admin.get("/v1/audit?limit=2")[1]["entries"]
        self.assertEqual([e["actor"] for e in entries], ["alice", "alice"])
        # The flag wins over the environment.
        r = self.fails(1, "--token", "wrong", "set", "app", "--weight", "30", env=clean_env(CUTOVER_TOKEN="s3cret-a"))
        self.assertIn("401", r.stderr)


class CtlRampTest(CtlCase):
    """ramp, ramp-status, ramp-pause/resume/abort and watch, each test on its own route."""

    ROUTES = ("plan", "complete", "rollback", "maxsec", "never")

    @classmethod
    def setUpClass(cls):
        cls.be = h.Backends()
        cfg = h.make_config({"src": h.cluster(cls.be.source.addr), "tgt": h.cluster(cls.be.target.addr)},
                            [{"name": "public", "address": f"{h.LOCALHOST}:0", "protocol": "http",
                              "routes": [h.route(name, path_prefix=f"/{name}") for name in cls.ROUTES]}])
        cls.start_cutover(cfg, name="ctl-ramp")

    def load(self, path: str, threads: int = 2) -> h.LoadGen:
        gen = h.LoadGen(self.port, threads=threads, path=path, max_seconds=60)
        self.addCleanup(gen.stop)
        return gen.start()

    def test_ramp_start_status_pause_resume_abort(self):
        out = self.ok("ramp", "plan", "--steps", "10,50,100", "--interval", "60s", "--max-error-rate", "0.05",
                      "--max-p99-ms", "500", "--min-requests", "1", "--max-wait", "5m")
        self.assertIn("route plan  ramp running  step 1/3 at 10 %", out)
        self.assertIn("steps 10,50,100 % every 1m, apply to both, max wait 5m", out)
        st, ramp, text = self.cv.admin.get("/v1/routes/plan/ramp")
        self.assertEqual(st, 200, text)
        self.assertEqual((ramp["state"], ramp["steps"], ramp["step"], ramp["interval_s"], ramp["apply_to"]),
                         ("running", [10, 50, 100], 0, 60, "both"))
        self.assertEqual(ramp["gates"]["max_error_rate"], 0.05)
        self.assertEqual(ramp["gates"]["min_requests"], 1)
        self.assertEqual(ramp["max_wait_s"], 300)
        self.assertEqual(self.get_route("plan")["read_weight"], 10)
        self.assertRegex(self.ok("status"), r"(?m)^plan\s.*\srunning 1/3\s")

        r = self.fails(1, "ramp", "plan", "--steps", "10,100", "--interval", "60s")
        self.assertRegex(r.stderr, r"^cutoverctl: 409 ")
        self.assertIn("ramp running  step 1/3", self.ok("ramp-status", "plan"))
        self.assertIn("ramp paused", self.ok("ramp-pause", "plan"))
        self.assertRegex(self.fails(1, "ramp-pause", "plan").stderr, r"^cutoverctl: 409 ")
        self.assertIn("ramp running", self.ok("ramp-resume", "plan"))
        self.assertIn("ramp aborted", self.ok("ramp-abort", "plan"))
        self.assertRegex(self.fails(1, "ramp-resume", "plan").stderr, r"^cutoverctl: 409 ")
        js = json.loads(self.ok("--json", "ramp-status", "plan"))
        self.assertEqual(js["state"], "aborted")

    def test_ramp_rejects_bad_values_with_422(self):
        r = self.fails(1, "ramp", "never", "--steps", "50,10", "--interval", "1s")
        self.assertRegex(r.stderr, r"^cutoverctl: 422 ")

    def test_no_ramp_is_an_api_error(self):
        r = self.fails(1, "ramp-status", "never")
        self.assertEqual(r.stderr, "cutoverctl: 404 no ramp on route 'never'\n")
        r = self.fails(1, "watch", "never", "--max-seconds", "5")
        self.assertEqual(r.stderr, "cutoverctl: 404 no ramp on route 'never'\n")

    def test_watch_follows_a_ramp_to_completion(self):
        self.load("/complete/")
        self.ok("ramp", "complete", "--steps", "50,100", "--interval", "1s", "--max-error-rate", "0.5")
        t0 = time.monotonic()
        out = self.ok("watch", "complete", "--interval", "200ms", "--max-seconds", "60", timeout=90)
        self.assertLess(time.monotonic() - t0, 55, "watch stops when the ramp completes")
        blocks = out.split("\n\n")
        self.assertGreater(len(blocks), 2, "one block per refresh, separated by a blank line")
        self.assertNotIn("\x1b[", out, "no ANSI redraw when stdout is not a terminal")
        self.assertIn("cutoverctl watch complete", blocks[0])
        self.assertIn("time in step", blocks[0])
        self.assertIn("route complete  ramp completed  step 2/2 at 100 %  [##########] 2/2", blocks[-1])
        self.assertRegex(out, r"(?m)^  target\s+\d+")
        st = self.get_route("complete")
        self.assertEqual((st["read_weight"], st["write_weight"]), (100, 100))

    def test_watch_exits_4_when_the_ramp_rolls_back(self):
        self.load("/rollback/status?code=500")  # both sides answer 500: the target fails its gate
        self.ok("ramp", "rollback", "--steps", "50,100", "--interval", "1s", "--max-error-rate", "0.01",
                "--min-requests", "5")
        r = self.ctl("watch", "rollback", "--interval", "200ms", "--max-seconds", "60", timeout=90)
        self.assertEqual(r.returncode, 4, r)
        self.assertRegex(r.stderr, r"^cutoverctl: the ramp on route rollback rolled back: .+\n$")
        self.assertIn("ramp rolled_back", r.stdout.split("\n\n")[-1])
        self.assertIn("failed gate: max_error_rate", r.stdout)
        st = self.get_route("rollback")
        self.assertEqual((st["read_weight"], st["write_weight"]), (0, 0))

    def test_watch_stops_at_max_seconds(self):
        self.ok("ramp", "maxsec", "--steps", "5,100", "--interval", "5m")
        self.addCleanup(self.cv.admin.post, "/v1/routes/maxsec/ramp/abort")
        t0 = time.monotonic()
        r = self.ctl("watch", "maxsec", "--interval", "300ms", "--max-seconds", "1.5")
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r)
        self.assertTrue(1.2 < took < 10, took)
        self.assertGreaterEqual(r.stdout.count("ramp running"), 3)
        lines = [json.loads(line) for line in
                 self.ctl("--json", "watch", "maxsec", "--max-seconds", "0.5", "--interval", "200ms").stdout.splitlines()]
        self.assertGreaterEqual(len(lines), 2)
        self.assertEqual(lines[0]["ramp"]["state"], "running")


class CtlStatsTest(CtlCase):
    @classmethod
    def setUpClass(cls):
        cls.be = h.Backends()
        cls.start_cutover(h.simple_config(cls.be, weight=50), name="ctl-stats")

    def test_stats_table(self):
        conn = http.client.HTTPConnection(h.LOCALHOST, self.port, timeout=10)
        for i in range(40):
            h.http_call(conn, "GET", "/status?code=500" if i % 4 == 0 else "/")
        conn.close()
        counts = self.be.counts()
        out = self.ok("stats", "--window", "60s")
        self.assertTrue(out.startswith("window 1m\n"), out)
        m_src = re.search(r"(?m)^app\s+source\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)$", out)
        m_tgt = re.search(r"(?m)^app\s+target\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)$", out)
        self.assertTrue(m_src and m_tgt, out)
        self.assertEqual((int(m_src[1]), int(m_tgt[1])), (counts["source"], counts["target"]))
        self.assertEqual(int(m_src[2]) + int(m_tgt[2]), 10, "every fourth request was a 500")
        js = json.loads(self.ok("--json", "stats", "--route", "app", "--window", "30s"))
        self.assertEqual(js["window_s"], 30)
        self.assertEqual([r["route"] for r in js["routes"]], ["app"])


if __name__ == "__main__":
    h.main()
