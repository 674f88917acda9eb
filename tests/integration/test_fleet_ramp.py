#!/usr/bin/env python3
"""Fleet ramps: three cutover nodes and a real 3-member etcd (etcd_cluster.py), each node in front
of the shared source backend and a target backend of its own, everything on 127.0.0.1, traffic
through every node. A ramp started, paused, resumed and aborted through different nodes is one ramp
on all of them; an error burst on one node's target (not the leader's) makes the leader, reading
the statistics every node publishes, roll the whole fleet back (weights 0 on every node); the
leader killed with SIGKILL mid-ramp is replaced within the lease TTL by another node, which
continues the ramp from the same step (the same step start, no step repeated or skipped, in the
audit logs and the weights of the surviving nodes) to completion. With etcd stopped, a ramp
change answers 503 naming etcd."""
import json
import pathlib
import sys
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness as h  # noqa: E402
from etcd_cluster import EtcdCluster  # noqa: E402
from test_ramp import SideBackend  # noqa: E402

NODES = ("n1", "n2", "n3")
LEASE_TTL_S = 2


def node_config(source, target, endpoints, name):
    cfg = h.make_config({"src": h.cluster(source.addr), "tgt": h.cluster(target.addr)},
                        [{"name": "public", "address": f"{h.LOCALHOST}:0", "protocol": "http",
                          "routes": [h.route("app", weight=0)]}])
    cfg["fleet"] = {"node": name, "etcd": {"endpoints": endpoints, "prefix": "/cutover-ramp-test/",
                                           "lease_ttl": f"{LEASE_TTL_S}s"},
                    "apply_timeout": "3s"}
    return cfg


class FleetRampTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdCluster(members=3)
        cls.source = SideBackend("source")
        cls.targets = {name: SideBackend("target") for name in NODES}
        cls.nodes = {}
        for name in NODES:
            cls.nodes[name] = cls.start_node(name)

    @classmethod
    def start_node(cls, name):
        return h.Cutover(node_config(cls.source, cls.targets[name], cls.etcd.endpoints, name), name=name).start()

    @classmethod
    def tearDownClass(cls):
        for cv in cls.nodes.values():
            cv.stop()
        cls.source.close()
        for t in cls.targets.values():
            t.close()
        cls.etcd.close()

    def setUp(self):
        self.loads = []

    def tearDown(self):
        for load in self.loads:
            load.stop()
        for name, cv in self.nodes.items():
            self.assertTrue(cv.alive(), f"node {name} died; stderr:\n{cv.log_tail(30)}")
        for t in self.targets.values():
            t.error_ratio = 0.0

    # --- helpers ------------------------------------------------------------------------------
    def admin(self, name):
        return self.nodes[name].admin

    def traffic(self, names=NODES):
        for name in names:
            self.loads.append(h.LoadGen(self.nodes[name].port("public"), 2, path="/app", max_seconds=120).start())

    def ramp(self, name):
        st, js, text = self.admin(name).get("/v1/routes/app/ramp")
        self.assertEqual(st, 200, text)
        return js

    def leader(self, names=NODES, other_than=""):
        """The leader every node in `names` agrees on, not `other_than` (waits up to 10 s for one)."""
        def agreed():
            seen = {self.admin(n).get("/v1/fleet")[1]["leader"] for n in names}
            return seen.pop() if len(seen) == 1 and not seen & {"", other_than} else None
        leader = h.wait_for(agreed, 10, 0.1)
        self.assertTrue(leader, "the nodes did not agree on a leader")
        return leader

    def leader_metric(self, name):
        return h.metric_values(self.admin(name).metrics(), "cutover_fleet_leader")[0][1]

    def reset_route(self):
        """Weight 0 everywhere and no ramp running (an earlier test's ramp ended)."""
        for name in NODES:
            if self.nodes[name].alive() and self.ramp_state(name) in ("running", "paused", "awaiting_approval"):
                self.admin(name).post("/v1/routes/app/ramp/abort", {})
        st, _, text = self.admin("n1").put("/v1/routes/app/weights", {"weight": 0})
        self.assertEqual(st, 200, text)
        # A step's first evaluation reads whole seconds, the first partly before the step began:
        # let an earlier test's target traffic (test 2's errors) leave those seconds first.
        time.sleep(2.1)

    def ramp_state(self, name):
        st, js, _ = self.admin(name).get("/v1/routes/app/ramp")
        return js["state"] if st == 200 else None

    def wait_state(self, names, states, timeout):
        ok = h.wait_for(lambda: all(self.ramp_state(n) in states for n in names), timeout, 0.1)
        self.assertTrue(ok, {n: self.ramp(n) for n in names})

    def audit(self, name, action):
        st, js, _ = self.admin(name).get("/v1/audit?limit=200")
        return [e for e in js["entries"] if e["action"] == action and e.get("route") == "app"]

    # --- the tests ------------------------------------------------------------------------------
    def test_1_leader_elected_and_ramp_controlled_through_any_node(self):
        leader = self.leader()
        for name in NODES:
            self.assertEqual(self.leader_metric(name), 1 if name == leader else 0, name)
        self.reset_route()
        st, view, text = self.admin("n2").post("/v1/routes/app/ramp", {
            "steps": [10, 50, 100], "interval": "30s", "gates": {"max_error_rate": 0.5, "min_requests": 1}})
        self.assertEqual(st, 200, text)
        self.assertEqual((view["state"], view["step"]), ("running", 0))
        self.wait_state(NODES, {"running"}, 5)
        self.assertTrue(h.wait_for(lambda: all(self.admin(n).route("app")["read_weight"] == 10 for n in NODES), 5))
        # A second start through another node: the fleet has one ramp.
        st, _, text = self.admin("n3").post("/v1/routes/app/ramp", {"steps": [20], "interval": "1s"})
        self.assertEqual(st, 409, text)
        # Manual weights are refused on every node while the fleet's ramp runs.
        st, _, text = self.admin("n1").put("/v1/routes/app/weights", {"weight": 30})
        self.assertEqual(st, 409, text)
        st, view, text = self.admin("n3").post("/v1/routes/app/ramp/pause", {})
        self.assertEqual((st, view.get("state")), (200, "paused"), text)
        self.wait_state(NODES, {"paused"}, 5)
        st, view, text = self.admin("n1").post("/v1/routes/app/ramp/resume", {})
        self.assertEqual((st, view.get("state")), (200, "running"), text)
        self.wait_state(NODES, {"running"}, 5)
        st, view, text = self.admin("n2").post("/v1/routes/app/ramp/abort", {})
        self.assertEqual((st, view.get("state")), (200, "aborted"), text)
        self.wait_state(NODES, {"aborted"}, 5)
        for name in NODES:
            self.assertEqual(self.admin(name).route("app")["read_weight"], 10, "abort leaves the weights")
        self.assertEqual(len(self.audit("n3", "ramp_pause")), 1)
        self.assertEqual(len(self.audit("n1", "ramp_resume")), 1)

    def test_2_error_burst_on_one_node_rolls_the_fleet_back(self):
        self.reset_route()
        leader = self.leader()
        bad = next(n for n in NODES if n != leader)
        self.targets[bad].error_ratio = 1.0  # only this node's target traffic fails
        self.traffic()
        st, _, text = self.admin(leader).post("/v1/routes/app/ramp", {
            "steps": [20, 50, 100], "interval": "4s", "gates": {"max_error_rate": 0.1, "min_requests": 10}})
        self.assertEqual(st, 200, text)
        self.wait_state(NODES, {"rolled_back", "completed"}, 15)
        for name in NODES:
            view = self.ramp(name)
            self.assertEqual(view["state"], "rolled_back", json.dumps(view, indent=1))
            self.assertEqual(view["failed_gate"]["gate"], "max_error_rate", view)
            self.assertGreater(view["failed_gate"]["value"], 0.1, view)
            self.assertEqual(view["step"], 0, view)
        for name in NODES:
            self.assertTrue(h.wait_for(lambda n=name: (lambda r: (r["read_weight"], r["write_weight"]))(
                self.admin(n).route("app")) == (0, 0), 5), f"{name} kept target weight after the rollback")
        # The leader's own target answered every request: the rollback came from the others' counts.
        good = [rec for load in self.loads[NODES.index(leader):NODES.index(leader) + 1]
                for recs in load.records for rec in list(recs) if rec[2] == "target"]
        self.assertTrue(all(rec[3] == 200 for rec in good))
        self.assertEqual(len(self.audit(leader, "ramp_rollback")), 1)

    def test_3_leader_killed_mid_ramp_another_continues_from_the_same_step(self):
        self.reset_route()
        self.traffic()
        leader = self.leader()
        others = [n for n in NODES if n != leader]
        interval = 4
        st, _, text = self.admin(others[0]).post("/v1/routes/app/ramp", {
            "steps": [10, 20, 30, 40, 100], "interval": f"{interval}s",
            "gates": {"max_error_rate": 0.5, "min_requests": 5}})
        self.assertEqual(st, 200, text)
        # Into step 2 (index 1), then the leader dies a second into it.
        self.assertTrue(h.wait_for(lambda: self.ramp(others[0])["step"] >= 1, 3 * interval), self.ramp(others[0]))
        time.sleep(1.0)
        before = self.ramp(others[0])
        self.assertEqual(before["state"], "running", before)
        step_at_kill = before["step"]
        self.nodes[leader].proc.kill()
        self.nodes[leader].proc.wait(10)
        t_kill = time.monotonic()
        new_leader = self.leader(others, other_than=leader)
        took = time.monotonic() - t_kill
        self.assertIn(new_leader, others)
        self.assertLess(took, LEASE_TTL_S + 2.0, "takeover within the lease TTL (+ a poll and a round trip)")
        self.assertEqual(self.leader_metric(new_leader), 1)
        after = self.ramp(new_leader)
        if after["step"] == step_at_kill:  # the same step, with the same start: its remaining time runs
            self.assertEqual(after["step_started"], before["step_started"], (before, after))
        else:
            self.assertEqual(after["step"], step_at_kill + 1, (before, after))
        # The weights of every surviving node go through the steps in order, to completion.
        seen = {n: [] for n in others}
        deadline = time.monotonic() + 6 * interval
        while time.monotonic() < deadline and self.ramp_state(others[0]) == "running":
            for n in others:
                w = self.admin(n).route("app")["read_weight"]
                if not seen[n] or seen[n][-1] != w:
                    seen[n].append(w)
            time.sleep(0.1)
        self.wait_state(others, {"completed"}, 2 * interval)
        steps = [10, 20, 30, 40, 100]
        for n in others:
            self.assertEqual(seen[n], steps[steps.index(seen[n][0]):], f"{n}: weights {seen[n]}")
            self.assertEqual(self.admin(n).route("app")["read_weight"], 100)
        # The audit: every step after the one the old leader started is written once, by the new one.
        written = [e["ramp_step"] for e in self.audit(new_leader, "ramp_step")]
        expected_after = list(range(after["step"] + 2, len(steps) + 1))
        self.assertEqual(written[-len(expected_after):] if written else [], expected_after, written)
        self.assertEqual(len(written), len(set(written)), f"a step written twice: {written}")
        self.assertEqual(len(self.audit(new_leader, "ramp_complete")), 1)
        for load in self.loads:
            self.assertTrue(load.records)
        # The killed node comes back as a follower at the fleet's weights.
        self.nodes[leader].stop()
        self.nodes[leader] = self.start_node(leader)
        self.assertEqual(self.admin(leader).route("app")["read_weight"], 100)
        self.assertEqual(self.leader(NODES), new_leader)
        self.assertEqual(self.ramp(leader)["state"], "completed")

    def test_5_an_approval_through_any_node_and_a_fleet_rehearsal(self):
        leader = self.leader()
        follower = next(n for n in NODES if n != leader)
        self.reset_route()
        self.traffic()
        st, view, text = self.admin("n2").post("/v1/routes/app/ramp", {
            "steps": [10, {"weight": 40, "approve": True}, 100], "interval": "1s",
            "gates": {"max_error_rate": 0.5, "min_requests": 1}})
        self.assertEqual(st, 200, text)
        self.wait_state(NODES, {"awaiting_approval"}, 15)
        self.assertTrue(h.wait_for(lambda: all(self.admin(n).route("app")["read_weight"] == 40 for n in NODES), 5))
        time.sleep(2.5)  # intervals pass with passing gates: every node still waits at step 2
        self.assertEqual({self.ramp_state(n) for n in NODES}, {"awaiting_approval"})
        st, view, text = self.admin(follower).post("/v1/routes/app/ramp/approve", {"reason": "fleet looks fine"})
        self.assertEqual((st, view.get("state")), (200, "running"), text)
        self.wait_state(NODES, {"completed"}, 15)
        self.assertTrue(h.wait_for(lambda: all(self.admin(n).route("app")["read_weight"] == 100 for n in NODES), 5))
        approvals = self.audit("n3", "ramp_approve")
        self.assertEqual([(e["actor"], e["ramp_step"]) for e in approvals][-1:], [("anonymous", 2)])
        # A rehearsal across the fleet: every node shows it, none moves a weight.
        st, _, text = self.admin("n1").put("/v1/routes/app/weights", {"weight": 20})
        self.assertEqual(st, 200, text)
        st, view, text = self.admin("n3").post("/v1/routes/app/ramp", {
            "steps": [50, 100], "interval": "1s", "dry_run": True, "gates": {"max_error_rate": 0.5, "min_requests": 1}})
        self.assertEqual((st, view.get("dry_run")), (200, True), text)
        self.wait_state(NODES, {"completed"}, 15)
        rehearsals = [e["would"] for e in self.audit("n1", "ramp_rehearsal")]
        self.assertEqual(rehearsals[-2:], ["would_advance", "would_complete"], "each decision audited once, fleet-wide")
        for n in NODES:
            v = self.ramp(n)
            self.assertTrue(v["dry_run"], v)
            self.assertEqual([e["would"] for e in v["rehearsal"]], ["would_start", "would_advance", "would_complete"], v)
            self.assertEqual(self.admin(n).route("app")["read_weight"], 20, n)

    def test_6_ramp_steps_keep_a_fleet_wide_write_hold_and_a_rollback_lifts_it(self):
        self.reset_route()
        self.traffic()  # reads only
        st, _, text = self.admin("n1").post("/v1/routes/app/writes/hold", {})
        self.assertEqual(st, 200, text)
        held = lambda: [self.admin(n).route("app")["writes"]["held"] for n in NODES]
        self.assertTrue(h.wait_for(lambda: held() == [True] * 3, 5), held())
        st, _, text = self.admin("n2").post("/v1/routes/app/ramp", {
            "steps": [10, 20, 30, 100], "interval": "1s", "gates": {"max_error_rate": 0.5, "min_requests": 1}})
        self.assertEqual(st, 200, text)
        self.assertTrue(h.wait_for(lambda: self.ramp("n1")["step"] >= 2, 15), self.ramp("n1"))
        self.assertEqual(held(), [True] * 3, "a ramp step lifted the fleet's write hold")
        # The target fails: the rollback sets weights 0 and lifts the hold, as a manual one does.
        for t in self.targets.values():
            t.error_ratio = 1.0
        self.wait_state(NODES, {"rolled_back"}, 15)
        self.assertTrue(h.wait_for(lambda: held() == [False] * 3, 5), held())
        self.assertTrue(h.wait_for(lambda: all(self.admin(n).route("app")["read_weight"] == 0 for n in NODES), 5))

    def test_4_ramp_changes_answer_503_while_etcd_is_down(self):
        self.assertTrue(h.wait_for(lambda: all(self.ramp_state(n) not in ("running", "paused") for n in NODES), 5))
        self.etcd.stop_all()
        try:
            st, body, text = self.admin("n2").post("/v1/routes/app/ramp", {"steps": [10, 100], "interval": "5s"})
            self.assertEqual(st, 503, text)
            self.assertIn("etcd", body["error"])
            self.assertEqual(body["etcd"], "unreachable")
            self.assertNotEqual(self.ramp_state("n2"), "running", "nothing changed")
        finally:
            self.etcd.start_all()
        self.assertTrue(h.wait_for(lambda: all(self.admin(n).get("/v1/fleet")[1]["etcd"]["up"] for n in NODES), 20, 0.2))


if __name__ == "__main__":
    h.main()
