"""Ramps as a runbook runs them: steps that wait for a human's approval, hooks called around the
steps (a refusing pre_step hook pauses), gates on the team's own Prometheus (here a server that
answers recorded Prometheus API answers; test_prometheus_gate.py runs the real one), and dry runs
that rehearse a ramp against live traffic without moving a weight.

Each test starts its own cutover in front of a source and a target backend (the target can be told
to fail), with keep-alive clients sending traffic, and drives the ramp through the admin API or
cutoverctl.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import LOCALHOST, QuickHandler, QuickServer, cutoverctl_bin, metric_values, wait_for  # noqa: E402
from test_ramp import RampCase, Webhook  # noqa: E402


class PrometheusDouble:
    """Answers GET /api/v1/query like Prometheus's HTTP API: `value` as a one-sample vector, or
    `raw` (a whole JSON answer) when set. Records each query it was asked."""

    def __init__(self):
        self.value = "0"
        self.raw: str | None = None
        self.queries: list[str] = []
        double = self

        class Handler(QuickHandler):
            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                if url.path != "/api/v1/query":
                    self.reply(404, b"not found")
                    return
                double.queries.append(urllib.parse.parse_qs(url.query).get("query", [""])[0])
                body = double.raw or json.dumps({"status": "success", "data": {
                    "resultType": "vector",
                    "result": [{"metric": {}, "value": [time.time(), double.value]}]}})
                self.reply(200, body.encode(), [("Content-Type", "application/json")])

        self.server = QuickServer(Handler)
        self.url = f"http://{self.server.addr}"

    def close(self):
        self.server.close()


class RampStepsTest(RampCase):
    def setUp(self):
        super().setUp()
        self.hooks: list[Webhook] = []
        self.prom: PrometheusDouble | None = None

    def tearDown(self):
        for h in self.hooks:
            h.close()
        if self.prom:
            self.prom.close()
        super().tearDown()

    def hook(self, codes: list[int]) -> Webhook:
        h = Webhook(codes)
        self.hooks.append(h)
        return h

    def weights(self) -> tuple:
        r = self.admin.route("app")
        return (r["read_weight"], r["write_weight"])

    def ctl(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([cutoverctl_bin(), "--admin", f"http://{LOCALHOST}:{self.cv.admin_addr[1]}", *args],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)

    def audit(self, limit: int = 50) -> list[dict]:
        st, js, text = self.admin.get(f"/v1/audit?limit={limit}")
        self.assertEqual(st, 200, text)
        return js["entries"]

    # -----------------------------------------------------------------------------------------

    def test_an_approval_step_waits_until_approved(self):
        self.start()
        self.traffic()
        post_step = self.hook([200])
        view = self.start_ramp({"steps": [10, {"weight": 30, "approve": True}, 100], "interval": "1s",
                                "gates": {"max_error_rate": 0.05, "min_requests": 5},
                                "hooks": {"post_step": post_step.url}})
        self.assertEqual(view["steps"], [10, {"weight": 30, "approve": True}, 100])
        st, js, text = self.admin.post("/v1/routes/app/ramp/approve")
        self.assertEqual(st, 409, text)  # step 1 waits for no approval
        self.assertIn("not awaiting approval", js["error"])
        view = self.wait_state({"awaiting_approval"}, 10)
        self.assertEqual((view["step"], self.weights()), (1, (30, 30)), "the step's weight is applied, then it waits")
        # Several intervals pass with passing gates: it stays at step 2 of 3.
        time.sleep(3.5)
        view = self.ramp()
        self.assertEqual((view["state"], view["step"]), ("awaiting_approval", 1), json.dumps(view, indent=1))
        self.assertTrue(view["last_evaluation"]["passed"], "gates still evaluated while waiting")
        self.assertEqual(self.weights(), (30, 30))
        self.assertEqual(metric_values(self.admin.metrics(), "cutover_ramp_step", route="app")[0][1], 2)
        out = self.ctl("ramp-status", "app")
        self.assertIn("ramp-approve app", out.stdout)
        # cutoverctl ramp-approve lets it go on; the last step completes the ramp.
        r = self.ctl("ramp-approve", "app")
        self.assertEqual(r.returncode, 0, r.stderr)
        view = self.wait_state({"completed", "rolled_back"}, 10)
        self.assertEqual(view["state"], "completed", json.dumps(view, indent=1))
        self.assertEqual(self.weights(), (100, 100))
        approvals = [e for e in self.audit() if e["action"] == "ramp_approve"]
        self.assertEqual(len(approvals), 1)
        self.assertEqual(approvals[0]["ramp_step"], 2)
        self.assertEqual(approvals[0]["actor"], "anonymous")
        # post_step heard every step, with the weights it applied.
        wait_for(lambda: len(post_step.calls) >= 3, 5, 0.05)
        self.assertEqual([(c["event"], c["step"], c["weight"]) for c in post_step.calls],
                         [("post_step", 1, 10), ("post_step", 2, 30), ("post_step", 3, 100)])
        self.assertEqual(post_step.calls[1]["weights"], {"read": 30, "write": 30})
        self.assertEqual(self.load.errors, [])

    def test_a_ramp_awaiting_approval_and_a_rehearsal_survive_kill_9(self):
        self.start(state_file="state.json")
        self.traffic()
        hook = self.hook([200])
        self.start_ramp({"steps": [10, {"weight": 30, "approve": True}, 100], "interval": "1s",
                         "gates": {"min_requests": 3}, "hooks": {"on_complete": hook.url}})
        self.wait_state({"awaiting_approval"}, 10)
        self.load.stop()
        self.load = None
        d = self.cv.dir
        self.cv.proc.kill()  # SIGKILL: only what the state file holds comes back
        self.cv.stop()
        self.start(state_file="state.json", cv_dir=d)
        v = self.ramp()
        self.assertEqual((v["state"], v["step"]), ("awaiting_approval", 1), json.dumps(v, indent=1))
        self.assertEqual(v["hooks"]["on_complete"]["url"], hook.url)
        self.assertEqual(self.weights(), (30, 30))
        self.traffic()
        st, _, text = self.admin.post("/v1/routes/app/ramp/approve")
        self.assertEqual(st, 200, text)
        self.assertEqual(self.wait_state({"completed", "rolled_back"}, 10)["state"], "completed")
        wait_for(lambda: hook.calls, 5, 0.05)
        self.assertEqual(hook.calls[0]["event"], "on_complete")
        # A rehearsal in the middle of its steps comes back as a rehearsal, its decisions kept.
        self.start_ramp({"steps": [50, 60, 70, 100], "interval": "1s", "dry_run": True, "gates": {"min_requests": 3}})
        wait_for(lambda: self.ramp()["step"] >= 1, 10, 0.05)
        before = self.ramp()["rehearsal"]
        self.load.stop()
        self.load = None
        self.cv.proc.kill()
        self.cv.stop()
        self.start(state_file="state.json", cv_dir=d)
        v = self.ramp()
        self.assertTrue(v["dry_run"], v)
        self.assertEqual(v["state"], "running")
        self.assertEqual(v["rehearsal"][:len(before)], before)
        self.assertEqual(self.weights(), (100, 100), "a rehearsal moved no weight, before or after the restart")

    def test_a_failing_gate_rolls_back_a_ramp_awaiting_approval(self):
        self.start()
        self.traffic()
        self.start_ramp({"steps": [{"weight": 20, "approve": True}, 100], "interval": "1s",
                         "gates": {"max_error_rate": 0.05, "min_requests": 5}})
        self.wait_state({"awaiting_approval"}, 5)
        self.assertEqual(self.weights(), (20, 20))
        self.target.error_ratio = 1.0
        view = self.wait_state({"rolled_back"}, 10)
        self.assertEqual(view["failed_gate"]["gate"], "max_error_rate")
        self.assertEqual(self.weights(), (0, 0))
        st, _, _ = self.admin.post("/v1/routes/app/ramp/approve")
        self.assertEqual(st, 409)

    def test_a_refusing_pre_step_hook_pauses_the_ramp(self):
        self.start()
        self.traffic()
        pre = self.hook([503, 200])
        done = self.hook([200])
        self.start_ramp({"steps": [10, 50], "interval": "1s", "gates": {"min_requests": 5},
                         "hooks": {"pre_step": {"url": pre.url, "timeout": "2s"}, "on_complete": done.url}})
        view = self.wait_state({"paused", "completed", "rolled_back"}, 10)
        self.assertEqual(view["state"], "paused", json.dumps(view, indent=1))
        self.assertIn("pre_step", view["reason"])
        self.assertIn("503", view["reason"])
        self.assertEqual(self.weights(), (10, 10), "a refused step's weight is never applied")
        self.assertEqual(len(pre.calls), 1)
        self.assertEqual((pre.calls[0]["event"], pre.calls[0]["step"], pre.calls[0]["weight"]), ("pre_step", 2, 50))
        self.assertEqual(pre.calls[0]["route"], "app")
        self.assertTrue(any(g["gate"] == "min_requests" for g in pre.calls[0]["gates"]))
        time.sleep(2.0)
        self.assertEqual(self.ramp()["state"], "paused", "a paused ramp does not call again by itself")
        self.assertEqual(len(pre.calls), 1)
        pauses = [e for e in self.audit() if e["action"] == "ramp_pause"]
        self.assertEqual(len(pauses), 1)
        self.assertIn("pre_step", pauses[0]["reason"])
        # Resume: the hook answers 200 this time and the ramp goes on to complete.
        st, _, text = self.admin.post("/v1/routes/app/ramp/resume")
        self.assertEqual(st, 200, text)
        view = self.wait_state({"completed", "paused", "rolled_back"}, 10)
        self.assertEqual(view["state"], "completed", json.dumps(view, indent=1))
        self.assertEqual(self.weights(), (50, 50))
        self.assertEqual(len(pre.calls), 2)
        wait_for(lambda: done.calls, 5, 0.05)
        self.assertEqual((done.calls[0]["event"], done.calls[0]["step"]), ("on_complete", 2))

    def test_a_prometheus_gate_rolls_back_when_its_query_crosses_max(self):
        self.start()
        self.traffic()
        self.prom = PrometheusDouble()
        rolled = self.hook([200])
        query = 'sum(rate(http_requests_total{job="orders",code=~"5.."}[1m])) or vector(0)'
        body = {"steps": [10, 50, 100], "interval": "2s", "gates": {
            "min_requests": 5, "prometheus": [{"url": self.prom.url, "query": query, "max": 0.05}]},
            "hooks": {"on_rollback": rolled.url}}
        # An answer that is not one number refuses the ramp, naming the field; nothing moves.
        self.prom.raw = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}})
        st, js, text = self.admin.post("/v1/routes/app/ramp", body)
        self.assertEqual(st, 422, text)
        self.assertTrue(js["error"].startswith("gates.prometheus[0].query: "), js["error"])
        self.assertIn("matrix", js["error"])
        self.assertEqual(self.weights(), (0, 0))
        self.assertEqual(self.admin.get("/v1/routes/app/ramp")[0], 404)
        # Within bounds: the ramp starts and goes on.
        self.prom.raw = None
        self.prom.value = "0.01"
        self.start_ramp(body)
        # The second step, once evaluated (a new step starts without an evaluation).
        view = wait_for(lambda: (lambda v: v if v["step"] >= 1 and v["last_evaluation"] else None)(self.ramp()),
                        10, 0.05)
        self.assertTrue(view, json.dumps(self.ramp(), indent=1))
        gate = [g for g in view["last_evaluation"]["gates"] if g["gate"] == "prometheus"][0]
        self.assertEqual((gate["query"], gate["value"], gate["threshold"], gate["bound"], gate["passed"]),
                         (query, 0.01, 0.05, "max", True))
        self.assertIn(query, self.prom.queries)
        # The team's error metric crosses max: rolled back at once, weights 0.
        self.prom.value = "0.25"
        view = self.wait_state({"rolled_back", "completed"}, 10)
        self.assertEqual(view["state"], "rolled_back", json.dumps(view, indent=1))
        self.assertEqual(view["failed_gate"]["gate"], "prometheus")
        self.assertEqual(view["failed_gate"]["query"], query)
        self.assertEqual(view["failed_gate"]["value"], 0.25)
        self.assertIn("prometheus", view["reason"])
        self.assertEqual(self.weights(), (0, 0))
        wait_for(lambda: rolled.calls, 5, 0.05)
        self.assertEqual(rolled.calls[0]["event"], "on_rollback")
        self.assertIn("prometheus", rolled.calls[0]["reason"])
        self.assertEqual(rolled.calls[0]["weights"], {"read": 0, "write": 0})

    def test_a_prometheus_query_without_a_number_blocks_then_rolls_back(self):
        self.start()
        self.traffic()
        self.prom = PrometheusDouble()
        self.prom.value = "1"
        self.start_ramp({"steps": [10, 100], "interval": "1s", "max_wait": "2s", "gates": {
            "min_requests": 5, "prometheus": [{"url": self.prom.url, "query": "up", "min": 1}]}})
        self.prom.raw = json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error"})
        view = self.wait_state({"rolled_back", "completed"}, 10)
        self.assertEqual(view["state"], "rolled_back", json.dumps(view, indent=1))
        self.assertEqual(view["failed_gate"]["gate"], "prometheus")
        self.assertIn("parse error", view["reason"])
        self.assertEqual(self.weights(), (0, 0))

    def test_a_dry_run_rehearses_without_moving_a_weight(self):
        self.start(weight=20)
        self.traffic()
        hook = self.hook([200])
        # A healthy target: the rehearsal walks every step and would complete.
        r = self.ctl("ramp", "app", "--steps", "50,100", "--interval", "1s", "--min-requests", "5",
                     "--max-error-rate", "0.05", "--dry-run", "--post-step", hook.url)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("DRY-RUN", r.stdout)
        generation = self.admin.route("app")["generation"]
        # An operator may still set weights during a rehearsal.
        view = self.wait_state({"completed", "rolled_back"}, 10)
        self.assertEqual(view["state"], "completed", json.dumps(view, indent=1))
        self.assertTrue(view["dry_run"])
        self.assertEqual([e["would"] for e in view["rehearsal"]], ["would_start", "would_advance", "would_complete"])
        self.assertEqual(self.weights(), (20, 20))
        self.assertEqual(self.admin.route("app")["generation"], generation, "a rehearsal changes no generation")
        wait_for(lambda: len(hook.calls) >= 2, 5, 0.05)
        self.assertTrue(all(c["dry_run"] for c in hook.calls))
        # A failing target: it would roll back, and says why; the weights stay where they were.
        self.target.error_ratio = 1.0
        seen = set()
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                seen.add(self.weights())
                time.sleep(0.05)
        t = threading.Thread(target=sample)
        t.start()
        try:
            self.start_ramp({"steps": [50, 100], "interval": "1s", "dry_run": True,
                             "gates": {"max_error_rate": 0.05, "min_requests": 5}})
            st, _, text = self.admin.put("/v1/routes/app/weights", {"weight": 20})
            self.assertEqual(st, 200, f"a rehearsal does not lock the weights: {text}")
            view = self.wait_state({"completed", "rolled_back"}, 10)
        finally:
            stop.set()
            t.join()
        self.assertEqual(view["state"], "rolled_back", json.dumps(view, indent=1))
        self.assertEqual(view["rehearsal"][-1]["would"], "would_roll_back")
        self.assertIn("max_error_rate", view["rehearsal"][-1]["reason"])
        self.assertTrue(view["reason"].startswith("would roll back"), view["reason"])
        self.assertEqual(seen, {(20, 20)}, "no weight moved during the rehearsal")
        rehearsals = [e for e in self.audit() if e["action"] == "ramp_rehearsal"]
        self.assertIn("would_roll_back", [e["would"] for e in rehearsals])
        self.assertTrue(all(e["dry_run"] for e in rehearsals))
        self.assertNotIn("ramp_rollback", [e["action"] for e in self.audit()])
        out = self.ctl("ramp-status", "app").stdout
        self.assertIn("DRY-RUN", out)
        self.assertIn("would_roll_back", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
