#!/usr/bin/env python3
"""Runtime state and the control plane's files, against the real binary: weights survive a
restart through state_file, a truncated state file is survived (kept aside, config weights used),
the audit log survives a restart, bearer tokens guard mutating calls, and --check reads the
tokens file the way start-up will."""
import http.client
import json
import os
import shutil
import sys
import tempfile
import threading
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


class StateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.be = h.Backends()

    @classmethod
    def tearDownClass(cls):
        cls.be.close()

    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="cutover-it-state-"))
        self.addCleanup(shutil.rmtree, self.dir, True)

    def config(self, **extra):
        cfg = h.simple_config(self.be, weight=5)
        cfg["state_file"] = str(self.dir / "state.json")
        cfg["audit_log"] = str(self.dir / "audit.jsonl")
        cfg.update(extra)
        return cfg

    def test_weights_and_audit_survive_a_restart(self):
        with h.Cutover(self.config(), name="state1") as cv:
            self.assertEqual(cv.admin.route("app")["read_weight"], 5)
            cv.admin.set_weight("app", read_weight=37.5, write_weight=12.25)
            cv.admin.rollback("app")
            cv.admin.set_weight("app", read_weight=37.5, write_weight=12.25)
        saved = json.loads((self.dir / "state.json").read_text())
        self.assertEqual(saved["routes"]["app"], {"read_weight_bp": 3750, "write_weight_bp": 1225, "generation": 3,
                                                "writes_held": False, "ramp": None, "segments": [],
                                                "maintenance": None})

        with h.Cutover(self.config(), name="state2") as cv:
            st = cv.admin.route("app")
            self.assertEqual((st["read_weight"], st["write_weight"], st["generation"]), (37.5, 12.25, 3),
                             "the runtime weights, not the config's 5 %, apply after a restart")
            m = h.metric_values(cv.admin.metrics(), "cutover_route_weight", route="app", kind="read")
            self.assertEqual([v for _, v in m], [37.5])
            st, js, _ = cv.admin.get("/v1/audit?limit=10")
            self.assertEqual(st, 200)
            self.assertEqual([e["action"] for e in js["entries"]], ["set_weights", "rollback", "set_weights"])
            self.assertEqual(js["entries"][1]["before"], {"read_weight": 37.5, "write_weight": 12.25})
        lines = (self.dir / "audit.jsonl").read_text().splitlines()
        self.assertEqual(len(lines), 3)
        for line in lines:
            entry = json.loads(line)
            self.assertTrue(entry["time"].endswith("Z"), entry)
            self.assertEqual(entry["route"], "app")

    def test_segments_and_maintenance_survive_a_restart(self):
        with h.Cutover(self.config(), name="safety1") as cv:
            segs = [{"header": "X-Tenant", "values": ["acme"], "side": "target"}]
            st, js, text = cv.admin.put("/v1/routes/app/segments", {"segments": segs})
            self.assertEqual(st, 200, text)
            st, js, text = cv.admin.put("/v1/routes/app/maintenance", {"retry_after": "30s", "body": "later"})
            self.assertEqual(st, 200, text)
        with h.Cutover(self.config(), name="safety2") as cv:
            st, js, _ = cv.admin.get("/v1/routes/app/segments")
            self.assertEqual(js["segments"], segs)
            c = h.CountingConnection(cv.port("public"), timeout=10)
            try:
                status, hdrs, data = h.http_call(c, "GET", "/x", {"X-Tenant": "acme"})
            finally:
                c.close()
            self.assertEqual((status, h.header(hdrs, "Retry-After"), data), (503, "30", b"later"),
                             "still in maintenance after the restart")
            st, js, _ = cv.admin.request("DELETE", "/v1/routes/app/maintenance")
            self.assertEqual(st, 200)
            c = h.CountingConnection(cv.port("public"), timeout=10)
            try:
                status, hdrs, _ = h.http_call(c, "GET", "/x", {"X-Tenant": "acme"})
            finally:
                c.close()
            self.assertEqual((status, h.header(hdrs, "X-Backend")), (200, "target"), "the restored segment applies")

    def test_a_write_hold_survives_a_restart(self):
        with h.Cutover(self.config(), name="hold1") as cv:
            st, js, _ = cv.admin.post("/v1/routes/app/writes/hold", {})
            self.assertEqual(st, 200, js)
        self.assertIs(json.loads((self.dir / "state.json").read_text())["routes"]["app"]["writes_held"], True)

        with h.Cutover(self.config(), name="hold2") as cv:
            self.assertIs(cv.admin.route("app")["writes"]["held"], True, "the hold is back after the restart")
            result = {}

            def write():
                conn = http.client.HTTPConnection(h.LOCALHOST, cv.port("public"), timeout=10)
                conn.request("POST", "/order", body=b"x")
                resp = conn.getresponse()
                result["answer"] = (resp.status, resp.getheader("X-Backend"))
                conn.close()

            t = threading.Thread(target=write, daemon=True)
            t.start()
            held = h.wait_for(lambda: cv.admin.route("app")["writes"]["held_requests"] == 1, 5)
            self.assertTrue(held, "a write after the restart must wait in the hold")
            self.assertNotIn("answer", result)
            st, js, _ = cv.admin.post("/v1/routes/app/writes/release", {"write_weight": 100})
            self.assertEqual((st, js["released"]), (200, 1), js)
            t.join(10)
            self.assertEqual(result.get("answer"), (200, "target"))

    @staticmethod
    def sides(port: int, method: str, n: int) -> set:
        """The X-Backend of `n` requests on one keep-alive connection."""
        conn = http.client.HTTPConnection(h.LOCALHOST, port, timeout=10)
        seen = set()
        try:
            for i in range(n):
                conn.request(method, f"/kill9/{i}", body=b"x" if method == "POST" else None)
                resp = conn.getresponse()
                resp.read()
                seen.add((resp.status, resp.getheader("X-Backend")))
        finally:
            conn.close()
        return seen

    def test_traffic_after_an_unclean_kill_follows_the_acknowledged_state(self):
        """kill -9 right after the admin call answered: after the restart, requests are routed by
        what the call acknowledged (the state file), not by the config's weights."""
        cv = h.Cutover(self.config(), name="kill9-a").start()
        st, js, _ = cv.admin.put("/v1/routes/app/weights", {"read_weight": 100, "write_weight": 0})
        self.assertEqual(st, 200, js)
        cv.proc.kill()
        cv.stop()
        with h.Cutover(self.config(), name="kill9-b") as cv:
            self.assertEqual(self.sides(cv.port("public"), "GET", 20), {(200, "target")})
            self.assertEqual(self.sides(cv.port("public"), "POST", 20), {(200, "source")})
            st, js, _ = cv.admin.post("/v1/routes/app/rollback", {})
            self.assertEqual(st, 200, js)
            cv.proc.kill()
        with h.Cutover(self.config(), name="kill9-c") as cv:
            self.assertEqual(self.sides(cv.port("public"), "GET", 20), {(200, "source")},
                             "the rollback acknowledged before kill -9 holds after the restart")
            entries = cv.admin.get("/v1/audit?limit=10")[1]["entries"]
            self.assertEqual([e["action"] for e in entries], ["set_weights", "rollback"])

    def test_truncated_state_file_is_survived_and_kept(self):
        state = self.dir / "state.json"
        state.write_text('{"version":1,"routes":{"app":{"read_weight_bp":50')
        with h.Cutover(self.config(), name="state-corrupt") as cv:
            st = cv.admin.route("app")
            self.assertEqual((st["read_weight"], st["generation"]), (5, 0), "config weights apply")
            self.assertIn("invalid JSON", cv.log_tail())
            kept = list(self.dir.glob("state.json.corrupt-*"))
            self.assertEqual(len(kept), 1, list(self.dir.iterdir()))
            self.assertEqual(kept[0].read_text(), '{"version":1,"routes":{"app":{"read_weight_bp":50')
            cv.admin.set_weight("app", weight=20)
        self.assertEqual(json.loads(state.read_text())["routes"]["app"]["read_weight_bp"], 2000)

    def test_tokens_guard_mutating_calls_and_name_the_actor(self):
        tokens = self.dir / "tokens.txt"
        tokens.write_text("# operators\nalice:s3cret-a\nbob:s3cret-b\n")
        cfg = self.config(admin={"listen": f"{h.LOCALHOST}:0", "tokens_file": str(tokens)})
        with h.Cutover(cfg, name="tokens") as cv:
            st, js, _ = cv.admin.put("/v1/routes/app/weights", {"weight": 50})
            self.assertEqual(st, 401)
            self.assertIn("error", js)
            st, _, _ = cv.admin.request("PUT", "/v1/routes/app/weights", body={"weight": 50},
                                        headers={"Authorization": "Bearer s3cret-x"})
            self.assertEqual(st, 401)
            self.assertEqual(cv.admin.route("app")["read_weight"], 5, "a refused call changes nothing")
            st, _, _ = cv.admin.request("PUT", "/v1/routes/app/weights", body={"weight": 50, "reason": "step 2 of CHG-42"},
                                        headers={"Authorization": "Bearer s3cret-b"})
            self.assertEqual(st, 200)
            self.assertEqual(cv.admin.get("/metrics")[0], 200, "reads need no token")
            entries = cv.admin.get("/v1/audit")[1]["entries"]
            self.assertEqual(entries[-1]["actor"], "bob")
            st, js, _ = cv.admin.request("POST", "/v1/routes/app/rollback", body={"reason": 7},
                                         headers={"Authorization": "Bearer s3cret-a"})
            self.assertEqual(st, 422, js)
            self.assertEqual(cv.admin.route("app")["read_weight"], 50, "a refused reason changes nothing")
        # On disk, written before the call answered (fdatasync): who, from where, why.
        entry = json.loads((self.dir / "audit.jsonl").read_text().splitlines()[-1])
        self.assertEqual((entry["actor"], entry["reason"], entry["route"]), ("bob", "step 2 of CHG-42", "app"))
        self.assertEqual((entry["before"]["read_weight"], entry["after"]["read_weight"]), (5, 50))
        host, port = entry["client"].rsplit(":", 1)
        self.assertEqual(host, h.LOCALHOST)
        self.assertTrue(0 < int(port) < 65536, entry)

    def test_check_reports_an_unreadable_tokens_file_with_its_position(self):
        text = ("admin:\n  listen: 127.0.0.1:0\n  tokens_file: /nonexistent/tokens.txt\n"
                "clusters:\n  a: {endpoints: [\"127.0.0.1:1\"]}\n  b: {endpoints: [\"127.0.0.1:2\"]}\n"
                "listeners:\n  - name: l\n    address: 127.0.0.1:0\n"
                "    routes: [{name: r, source: a, target: b}]\n")
        rc, out, path = h.run_check(text)
        self.assertEqual(rc, 1, out)
        self.assertIn(f"{path}:3:16: tokens_file /nonexistent/tokens.txt: cannot open", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
