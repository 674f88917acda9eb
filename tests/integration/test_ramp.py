"""Automated ramps: steps applied on an interval, gates on the target's error rate and
latency evaluated on the window statistics, rollback on a failed gate, pause/resume/abort,
webhook gates, restart in the middle of a ramp, and GET /v1/stats.

Each test starts its own cutover in front of backends whose target can be told to fail a share of
requests or to add latency, with keep-alive client threads (LoadGen) sending traffic throughout.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (LOCALHOST, Cutover, LoadGen, QuickHandler, QuickServer, cluster, make_config,  # noqa: E402
                     metric_values, route, wait_for)


class SideBackend:
    """Answers every request with its side's name (and X-Backend), after `delay_s`, or with 500 on
    a random `error_ratio` share. Records arrival times."""

    def __init__(self, side: str):
        self.side = side
        self.error_ratio = 0.0
        self.delay_s = 0.0
        self.lock = threading.Lock()
        self.arrivals: list[float] = []
        backend = self

        class Handler(QuickHandler):
            def handle_one(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                with backend.lock:
                    backend.arrivals.append(time.monotonic())
                if backend.delay_s:
                    time.sleep(backend.delay_s)
                fail = backend.error_ratio and random.random() < backend.error_ratio
                body = b"boom" if fail else backend.side.encode()
                self.reply(500 if fail else 200, body, [("X-Backend", backend.side)])

            do_GET = do_HEAD = do_POST = do_PUT = handle_one

        self.server = QuickServer(Handler)
        self.addr = self.server.addr

    def count(self, after: float = 0.0) -> int:
        with self.lock:
            return sum(1 for t in self.arrivals if t > after)

    def close(self):
        self.server.close()


class Webhook:
    """A webhook gate: answers `codes` in turn (the last one repeats) and records each call's body."""

    def __init__(self, codes: list[int]):
        self.codes = list(codes)
        self.calls: list[dict] = []
        hook = self

        class Handler(QuickHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hook.calls.append(json.loads(body))
                code = hook.codes[min(len(hook.calls) - 1, len(hook.codes) - 1)]
                self.reply(code, b"ok")

        self.server = QuickServer(Handler)
        self.url = f"http://{self.server.addr}/gate"

    def close(self):
        self.server.close()


class RampCase(unittest.TestCase):
    """One cutover with route `app` in front of a source and a target SideBackend, and the ramp
    calls; no tests of its own (test_ramp_steps.py builds on it too)."""

    def setUp(self):
        self.source = SideBackend("source")
        self.target = SideBackend("target")
        self.cv = None
        self.load = None

    def tearDown(self):
        if self.load:
            self.load.stop()
        alive = self.cv.alive() if self.cv else True
        log = self.cv.log_tail(30) if self.cv else ""
        if self.cv:
            self.cv.stop()
        self.source.close()
        self.target.close()
        self.assertTrue(alive, f"cutover died during the test:\n{log}")

    def start(self, state_file: str | None = None, cv_dir: Path | None = None, weight=0) -> Cutover:
        cfg = make_config({"src": cluster(self.source.addr), "tgt": cluster(self.target.addr)},
                          [{"name": "public", "address": f"{LOCALHOST}:0", "protocol": "http",
                            "routes": [route("app", weight=weight)]}])
        if state_file:
            cfg["state_file"] = state_file
        self.cv = Cutover(cfg, name="ramp")
        if cv_dir:  # a restart: the same directory, so relative state paths are the same file
            self.cv.dir = cv_dir
            self.cv.config_path = cv_dir / "cutover.yaml"
            self.cv.log_path = cv_dir / "stderr2.log"
            self.cv.stdout_path = cv_dir / "stdout2.log"
        self.cv.start()
        self.port = self.cv.port("public")
        self.admin = self.cv.admin
        return self.cv

    def traffic(self, threads: int = 4) -> LoadGen:
        self.load = LoadGen(self.port, threads, path="/app", max_seconds=120).start()
        return self.load

    def ramp(self) -> dict:
        st, js, text = self.admin.get("/v1/routes/app/ramp")
        self.assertEqual(st, 200, text)
        return js

    def start_ramp(self, body: dict, expect: int = 200) -> dict:
        st, js, text = self.admin.post("/v1/routes/app/ramp", body)
        self.assertEqual(st, expect, text)
        return js

    def wait_state(self, states: set[str], timeout: float) -> dict:
        wait_for(lambda: (lambda v: v if v["state"] in states else None)(self.ramp()), timeout, 0.05)
        view = self.ramp()
        self.assertIn(view["state"], states, json.dumps(view, indent=1))
        return view


class RampTest(RampCase):

    def test_healthy_target_completes_every_step(self):
        self.start()
        self.traffic()
        t0 = time.monotonic()
        view = self.start_ramp({"steps": [10, 50, 100], "interval": "2s",
                                "gates": {"max_error_rate": 0.05, "max_p99_ms": 1000, "min_requests": 10}})
        self.assertEqual((view["state"], view["step"], view["step_weight"]), ("running", 0, 10))
        self.assertEqual(self.admin.route("app")["read_weight"], 10)
        seen_steps = set()
        for _ in range(400):
            v = self.ramp()
            seen_steps.add(v["step"])
            if v["state"] != "running":
                break
            time.sleep(0.05)
        took = time.monotonic() - t0
        v = self.ramp()
        self.assertEqual(v["state"], "completed", json.dumps(v, indent=1))
        self.assertEqual(seen_steps, {0, 1, 2})
        self.assertGreaterEqual(took, 6.0)   # three intervals of 2 s
        self.assertLess(took, 15.0)
        r = self.admin.route("app")
        self.assertEqual((r["read_weight"], r["write_weight"]), (100, 100))
        self.assertEqual(v["last_evaluation"]["passed"], True)
        self.assertEqual(self.load.errors, [])
        # every step is audited
        st, js, _ = self.admin.get("/v1/audit?limit=20")
        actions = [e["action"] for e in js["entries"]]
        for a in ("ramp_start", "ramp_step", "ramp_complete"):
            self.assertIn(a, actions)
        self.assertEqual(metric_values(self.admin.metrics(), "cutover_ramp_step", route="app")[0][1], 0)

    def test_error_rate_gate_rolls_back_and_target_gets_nothing_after(self):
        self.start()
        self.target.error_ratio = 0.30
        self.traffic()
        t_start = time.monotonic()
        self.start_ramp({"steps": [10, 50, 100], "interval": "2s",
                         "gates": {"max_error_rate": 0.05, "min_requests": 10}})
        view = self.wait_state({"rolled_back", "completed"}, 10)
        t_seen = time.monotonic()
        self.assertEqual(view["state"], "rolled_back", json.dumps(view, indent=1))
        self.assertLess(t_seen - t_start, 2.0 + 1.5, "rolled back within one interval of the failure (+ a tick)")
        self.assertEqual(view["failed_gate"]["gate"], "max_error_rate")
        self.assertGreater(view["failed_gate"]["value"], 0.05)
        self.assertEqual(view["failed_gate"]["threshold"], 0.05)
        self.assertIn("max_error_rate", view["reason"])
        r = self.admin.route("app")
        self.assertEqual((r["read_weight"], r["write_weight"]), (0, 0))
        # Requests sent once the rollback was visible all went to source.
        self.assertTrue(self.load.wait_until(lambda: self.load.count_sent_after(t_seen) >= 200, 30))
        late = [rec for recs in self.load.records for rec in list(recs) if rec[0] > t_seen]
        self.assertTrue(late)
        self.assertEqual([rec for rec in late if rec[2] != "source"], [])
        st, js, _ = self.admin.get("/v1/audit?limit=5")
        rb = [e for e in js["entries"] if e["action"] == "ramp_rollback"]
        self.assertEqual(len(rb), 1)
        self.assertEqual(rb[0]["failed_gate"]["gate"], "max_error_rate")

    def test_latency_ratio_gate_trips_on_a_slow_target(self):
        self.start()
        self.target.delay_s = 0.2
        self.traffic(threads=8)
        self.start_ramp({"steps": [20, 50, 100], "interval": "3s",
                         "gates": {"max_p99_ratio": 2, "min_requests": 10}})
        view = self.wait_state({"rolled_back", "completed"}, 15)
        self.assertEqual(view["state"], "rolled_back", json.dumps(view, indent=1))
        self.assertEqual(view["failed_gate"]["gate"], "max_p99_ratio")
        self.assertGreater(view["failed_gate"]["value"], 2)
        self.assertEqual(self.admin.route("app")["read_weight"], 0)

    def test_min_requests_never_passes_on_no_data(self):
        self.start()
        # no traffic at all
        self.start_ramp({"steps": [10, 100], "interval": "1s", "max_wait": "2s", "gates": {"min_requests": 5}})
        time.sleep(1.6)
        v = self.ramp()
        self.assertEqual((v["state"], v["step"]), ("running", 0), "waiting, not passing")
        self.assertTrue(v["last_evaluation"]["waiting"])
        view = self.wait_state({"rolled_back", "completed"}, 6)
        self.assertEqual(view["state"], "rolled_back")
        self.assertEqual(view["failed_gate"]["gate"], "min_requests")
        self.assertEqual(self.admin.route("app")["read_weight"], 0)

    def test_pause_resume_abort_and_manual_changes(self):
        self.start()
        self.traffic()
        self.start_ramp({"steps": [10, 20, 30], "interval": "1s", "gates": {"min_requests": 5}})
        self.start_ramp({"steps": [10], "interval": "1s"}, expect=409)
        st, js, text = self.admin.post("/v1/routes/app/ramp/pause")
        self.assertEqual((st, js["state"]), (200, "paused"), text)
        step = js["step"]
        time.sleep(2.5)
        self.assertEqual((self.ramp()["state"], self.ramp()["step"]), ("paused", step), "a paused ramp stays put")
        st, _, _ = self.admin.post("/v1/routes/app/ramp/pause")
        self.assertEqual(st, 409)
        # while paused, an operator may set weights; while running, not
        st, _, _ = self.admin.put("/v1/routes/app/weights", {"weight": 5})
        self.assertEqual(st, 200)
        st, js, _ = self.admin.post("/v1/routes/app/ramp/resume")
        self.assertEqual((st, js["state"], js["step"]), (200, "running", step))
        self.assertEqual(self.admin.route("app")["read_weight"], [10, 20, 30][step], "resume re-applies the step")
        st, js, text = self.admin.put("/v1/routes/app/weights", {"weight": 5})
        self.assertEqual(st, 409, text)
        self.assertIn("ramp", js["error"])
        st, js, _ = self.admin.post("/v1/routes/app/ramp/abort")
        self.assertEqual((st, js["state"]), (200, "aborted"))
        w = self.admin.route("app")["read_weight"]
        time.sleep(1.5)
        self.assertEqual(self.admin.route("app")["read_weight"], w, "abort leaves the weights where they are")
        st, _, _ = self.admin.post("/v1/routes/app/ramp/resume")
        self.assertEqual(st, 409)
        # a manual rollback ends a running ramp as aborted
        self.start_ramp({"steps": [10, 20, 30], "interval": "5s"})
        self.admin.rollback("app")
        v = self.ramp()
        self.assertEqual(v["state"], "aborted")
        self.assertIn("rollback", v["reason"])
        time.sleep(1.5)
        self.assertEqual(self.admin.route("app")["read_weight"], 0)

    def test_bad_ramp_requests_are_422(self):
        self.start()
        for body in ({"steps": [], "interval": "1s"}, {"steps": [50, 10], "interval": "1s"},
                     {"steps": [10, 101], "interval": "1s"}, {"steps": [10], "interval": "0s"},
                     {"steps": [10]}, {"steps": [10], "interval": "1s", "apply_to": "all"},
                     {"steps": [10], "interval": "1s", "gates": {"max_error_rate": 2}},
                     {"steps": [10], "interval": "1s", "gates": {"min_requests": 0}},
                     {"steps": [10], "interval": "1s", "gates": {"max_errors": 1}},
                     {"steps": [10], "interval": "1s", "webhook": {"url": "https://x/"}}):
            st, js, text = self.admin.post("/v1/routes/app/ramp", body)
            self.assertEqual(st, 422, f"{body} -> {text}")
            self.assertIn("error", js)
        st, _, _ = self.admin.get("/v1/routes/app/ramp")
        self.assertEqual(st, 404)
        self.assertIsNone(self.admin.route("app")["ramp"])
        st, _, _ = self.admin.post("/v1/routes/nope/ramp", {"steps": [10], "interval": "1s"})
        self.assertEqual(st, 404)

    def test_apply_to_read_leaves_writes_alone(self):
        self.start()
        self.traffic()
        self.start_ramp({"steps": [10, 100], "interval": "1s", "apply_to": "read", "gates": {"min_requests": 5}})
        self.wait_state({"completed", "rolled_back"}, 10)
        r = self.admin.route("app")
        self.assertEqual((r["read_weight"], r["write_weight"]), (100, 0))

    def test_webhook_gate_holds_the_step_until_it_answers_2xx(self):
        hook = Webhook([503, 503, 200])
        try:
            self.start()
            self.traffic()
            self.start_ramp({"steps": [10, 50], "interval": "1s", "gates": {"min_requests": 5},
                             "webhook": {"url": hook.url, "timeout": "2s"}})
            view = self.wait_state({"completed", "rolled_back"}, 15)
            self.assertEqual(view["state"], "completed", json.dumps(view, indent=1))
            self.assertGreaterEqual(len(hook.calls), 3)
            self.assertEqual(hook.calls[0], {"route": "app", "step": 2, "steps": 2, "weight": 50})
        finally:
            hook.close()

    def test_failing_webhook_rolls_back_after_max_wait(self):
        hook = Webhook([500])
        try:
            self.start()
            self.traffic()
            self.start_ramp({"steps": [10, 50], "interval": "1s", "max_wait": "2s", "gates": {"min_requests": 5},
                             "webhook": {"url": hook.url, "timeout": "1s"}})
            view = self.wait_state({"completed", "rolled_back"}, 15)
            self.assertEqual(view["state"], "rolled_back")
            self.assertEqual(view["failed_gate"]["gate"], "webhook")
            self.assertIn("HTTP 500", view["reason"])
        finally:
            hook.close()

    def test_a_ramp_survives_a_restart_and_resumes_at_its_step(self):
        self.start(state_file="state.json")
        self.traffic()
        self.start_ramp({"steps": [10, 20, 30, 40, 100], "interval": "1s", "gates": {"min_requests": 3}})
        wait_for(lambda: self.ramp()["step"] >= 2, 10)
        self.load.stop()
        self.load = None
        self.admin.post("/v1/routes/app/ramp/pause")
        step = self.ramp()["step"]
        self.assertGreaterEqual(step, 2)
        self.admin.post("/v1/routes/app/ramp/resume")
        d = self.cv.dir
        self.assertEqual(self.cv.stop(), 0)
        self.start(state_file="state.json", cv_dir=d)
        v = self.ramp()
        self.assertEqual((v["state"], v["step"]), ("running", step), json.dumps(v, indent=1))
        self.assertEqual(self.admin.route("app")["read_weight"], [10, 20, 30, 40, 100][step])
        self.assertIn("resuming at step", self.cv.log_tail(40))
        self.traffic()
        view = self.wait_state({"completed", "rolled_back"}, 20)
        self.assertEqual(view["state"], "completed")

    def run_example(self, steps: str, seconds: int, max_rate: str) -> subprocess.CompletedProcess:
        script = Path(__file__).resolve().parents[2] / "examples" / "ramp.sh"
        env = dict(os.environ, CUTOVER_ADMIN=f"http://{LOCALHOST}:{self.admin.port}", MIN_REQUESTS="10")
        return subprocess.run(["sh", str(script), "app", steps, str(seconds), max_rate], env=env,
                              capture_output=True, text=True, timeout=120)

    def test_example_script_rolls_back_a_failing_target_and_exits_non_zero(self):
        self.start()
        self.target.error_ratio = 0.30
        self.traffic()
        r = self.run_example("10 50 100", 2, "0.05")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("rolled back", r.stderr)
        self.assertIn("target error rate", r.stderr)
        route_state = self.admin.route("app")
        self.assertEqual((route_state["read_weight"], route_state["write_weight"]), (0, 0))
        self.assertNotIn("at 50 %", r.stdout, "it must stop at the first step")

    def test_example_script_completes_on_a_healthy_target(self):
        self.start()
        self.traffic()
        r = self.run_example("10 100", 2, "0.05")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("reached 100 %", r.stdout)
        self.assertEqual(self.admin.route("app")["read_weight"], 100)
        # and a usage error is exit 2
        script = Path(__file__).resolve().parents[2] / "examples" / "ramp.sh"
        self.assertEqual(subprocess.run(["sh", str(script)], capture_output=True).returncode, 2)

    def test_stats_window_counts_each_side(self):
        self.start(weight=50)
        self.target.error_ratio = 1.0
        self.load = LoadGen(self.port, 2, path="/app", max_per_thread=200).start()
        self.load.wait_until(lambda: self.load.total() >= 400, 60)
        self.load.stop()
        recs = self.load.all_records()
        st, js, text = self.admin.get("/v1/stats?window=60s")
        self.assertEqual(st, 200, text)
        self.assertEqual(js["window_s"], 60)
        app = js["routes"][0]
        src, tgt = app["sides"]["source"], app["sides"]["target"]
        self.assertEqual(src["requests"] + tgt["requests"], len(recs))
        self.assertEqual(tgt["requests"], sum(1 for r in recs if r[3] == 500))
        self.assertEqual((tgt["errors_5xx"], tgt["error_rate"]), (tgt["requests"], 1.0))
        self.assertEqual((src["errors_5xx"], src["error_rate"]), (0, 0.0))
        self.assertGreater(src["p99_ms"], 0)
        self.assertLessEqual(src["p50_ms"], src["p99_ms"])
        st, js, _ = self.admin.get("/v1/stats?window=1s&route=app")
        self.assertEqual((st, js["window_s"]), (200, 1))
        for bad in ("0s", "16m", "abc", "1500ms"):
            st, _, _ = self.admin.get(f"/v1/stats?window={bad}")
            self.assertEqual(st, 400, bad)


if __name__ == "__main__":
    unittest.main(verbosity=2)
