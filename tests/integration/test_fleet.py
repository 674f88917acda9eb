#!/usr/bin/env python3
"""Fleet mode: three cutover nodes sharing route weights through a real 3-member etcd
(etcd_cluster.py, Debian's etcd-server), each in front of the same real source and target
backends, everything on 127.0.0.1. A weight change through one node reaches the others (traffic
through each shows it); two changes racing with one if_generation on two nodes get one 200 and
one 409; with every etcd member stopped the nodes serve on with no failed request, a weight change
answers 503 naming etcd, and a rollback applies on the node it reaches as a local override that
reaches the other nodes once etcd is back (and survives a restart of its node meanwhile: it is in
the state file); a node killed with SIGKILL and started again joins at the current revision.
Write holds are fleet-wide: a hold through n2 holds writes sent to n1 and n3 and answers only once
the writes in flight on every node finished (per-node counts); a release through n3 releases every
node's held writes, each answered once at the release's side, in arrival order per node; the
generation stays the one etcd stores on every node. One etcd member killed changes nothing for
clients, and a change still applies everywhere. GET /v1/audit on any node is the fleet-wide log,
each change in it once, with the node that made it."""
import os
import pathlib
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness as h  # noqa: E402
from fleet_fixture import NODES, FleetCase  # noqa: E402
from test_hold import OrderingBackend, Shot  # noqa: E402
REQUESTS = 20  # per node and check: with weight 0 or 100 every one of them goes to one side


STATE_DIR = tempfile.mkdtemp(prefix="cutover-fleet-state-")  # state files outlive a node's restart
ORDERING = OrderingBackend()


def node_config(backends, endpoints, name):
    cfg = h.simple_config(backends, weight=0)
    # Writes under /held/ are the hold test's: their target records the exact order cutover sent
    # them in (OrderingBackend: one connection per write, accept order).
    cfg["clusters"]["ordtgt"] = h.cluster(ORDERING.addr)
    cfg["listeners"][0]["routes"].insert(0, h.route("held", target="ordtgt", path_prefix="/held/", weight=0))
    cfg["state_file"] = os.path.join(STATE_DIR, f"{name}.json")
    cfg["fleet"] = {"node": name, "etcd": {"endpoints": endpoints, "prefix": "/cutover-test/", "lease_ttl": "2s"},
                    "apply_timeout": "3s"}
    return cfg


class FleetTest(FleetCase):
    @classmethod
    def node_config(cls, name):
        return node_config(cls.be, cls.etcd.endpoints, name)

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        ORDERING.close()
        shutil.rmtree(STATE_DIR, ignore_errors=True)

    # --- helpers ------------------------------------------------------------------------------
    def etcd_up_metric(self, name):
        return h.metric_values(self.admin(name).metrics(), "cutover_fleet_etcd_up")[0][1]

    def sides_through(self, name):
        """Sends REQUESTS GETs through node `name`; returns {side: count} the backends saw."""
        self.be.reset()
        conn = h.CountingConnection(self.nodes[name].port("public"), timeout=10)
        try:
            for i in range(REQUESTS):
                status, _, _ = h.http_call(conn, "GET", f"/fleet/{i}")
                self.assertEqual(status, 200)
        finally:
            conn.close()
        return self.be.counts()

    def wait_weight(self, name, weight, timeout=15):
        return h.wait_for(lambda: self.admin(name).route("app")["read_weight"] == weight, timeout)

    def restart(self, name, kill=True):
        if kill:
            self.kill_node(name)
        self.nodes[name].stop()
        self.start_node(name)

    def fleet(self, name):
        return self.admin(name).get("/v1/fleet")[1]

    def set_weight(self, via, weight):
        status, body, text = self.admin(via).put("/v1/routes/app/weights", {"weight": weight})
        self.assertEqual(status, 200, text)
        return body

    # --- the fleet ------------------------------------------------------------------------------
    def test_1_weight_change_reaches_every_node(self):
        body = self.set_weight("n1", 100)
        self.assertEqual(sorted(body["fleet"]["applied"]), list(NODES), body)
        self.assertEqual(body["fleet"]["laggards"], [], body)
        self.assert_schema(body, "RouteState")
        for name in NODES:
            route = self.admin(name).route("app")
            self.assertEqual((route["read_weight"], route["write_weight"]), (100, 100), name)
            self.assertEqual(self.sides_through(name), {"source": 0, "target": REQUESTS}, name)
        generations = {self.admin(name).route("app")["generation"] for name in NODES}
        self.assertEqual(len(generations), 1, "every node has the generation etcd stored")

    def test_2_racing_changes_one_wins(self):
        gen = self.admin("n1").route("app")["generation"]
        self.assertEqual(self.admin("n2").route("app")["generation"], gen)
        results = {}
        start = threading.Barrier(2)

        def change(name, weight):
            start.wait(10)
            results[name] = self.admin(name).put("/v1/routes/app/weights",
                                                 {"weight": weight, "if_generation": gen})[0]

        threads = [threading.Thread(target=change, args=("n1", 40)), threading.Thread(target=change, args=("n2", 60))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(sorted(results.values()), [200, 409], results)
        winner = 40 if results["n1"] == 200 else 60
        for name in NODES:
            self.assertTrue(self.wait_weight(name, winner), f"{name} did not apply the winner's weight")

    def test_3_etcd_down_fail_static_and_rollback_override(self):
        self.set_weight("n1", 100)
        failures, sent = [0], [0]
        stop = threading.Event()

        def traffic(name):
            conn = h.CountingConnection(self.nodes[name].port("public"), timeout=10)
            while not stop.is_set():
                try:
                    status, _, _ = h.http_call(conn, "GET", "/during-outage")
                    ok = status == 200
                except OSError:
                    ok = False
                    conn.close()
                sent[0] += 1
                failures[0] += 0 if ok else 1
            conn.close()

        threads = [threading.Thread(target=traffic, args=(name,), daemon=True) for name in NODES]
        for t in threads:
            t.start()
        try:
            self.etcd.stop_all()
            status, body, text = self.admin("n2").put("/v1/routes/app/weights", {"weight": 10})
            self.assertEqual(status, 503, text)
            self.assertIn("etcd", body["error"])
            status, body, text = self.admin("n2").post("/v1/routes/app/writes/hold", {"drain": "1s"})
            self.assertEqual(status, 503, text)
            self.assertIn("etcd", body["error"])
            self.assertFalse(self.admin("n2").route("app")["writes"]["held"], "a refused hold held writes")
            status, body, text = self.admin("n1").post("/v1/routes/app/rollback", {})
            self.assertEqual(status, 200, text)
            self.assertTrue(body["fleet"]["local_override"], body)
            self.assert_schema(body, "RouteState")
            fleet = self.admin("n1").get("/v1/fleet")[1]
            self.assert_schema(fleet, "Fleet")
            self.assertFalse(fleet["etcd"]["up"], fleet)
            self.assertEqual([o["route"] for o in fleet["local_overrides"]], ["app"], fleet)
        finally:
            stop.set()
            for t in threads:
                t.join(15)
        self.assertGreater(sent[0], 0)
        self.assertEqual(failures[0], 0, f"{failures[0]} of {sent[0]} requests failed while etcd was down")
        # The rollback serves on n1; the others keep their last applied weights.
        self.assertEqual(self.sides_through("n1"), {"source": REQUESTS, "target": 0})
        self.assertEqual(self.sides_through("n2"), {"source": 0, "target": REQUESTS})
        # The override is in n1's state file: restarted while etcd is still down, n1 keeps it, so
        # etcd's older value does not undo the rollback when it answers again.
        self.restart("n1")
        self.assertEqual(self.admin("n1").route("app")["read_weight"], 0)
        self.assertEqual([o["route"] for o in self.fleet("n1")["local_overrides"]], ["app"])

        self.etcd.start_all()
        for name in NODES:
            self.assertTrue(self.wait_weight(name, 0), f"{name} did not get the rollback after etcd came back")
        self.assertTrue(h.wait_for(lambda: self.admin("n1").get("/v1/fleet")[1]["local_overrides"] == [], 15))
        fleet = self.admin("n1").get("/v1/fleet")[1]
        self.assertTrue(fleet["etcd"]["up"], fleet)
        self.assert_schema(fleet, "Fleet")
        self.assertTrue(h.wait_for(lambda: self.etcd_up_metric("n2") == 1, 10))
        self.assertEqual(self.sides_through("n3"), {"source": REQUESTS, "target": 0})
        self.assertEqual(self.admin("n1").route("app")["read_weight"], 0, "reconnecting undid the rollback")

    def test_4_killed_node_rejoins_at_current_weights(self):
        self.kill_node("n3")
        revision = self.set_weight("n1", 100)["fleet"]["revision"]
        self.start_node("n3")
        self.assertEqual(self.admin("n3").route("app")["read_weight"], 100)
        self.assertGreaterEqual(self.fleet("n3")["applied_revision"], revision)
        self.assertEqual(self.admin("n3").route("app")["generation"], self.admin("n1").route("app")["generation"])
        self.assertEqual(self.sides_through("n3"), {"source": 0, "target": REQUESTS})
        self.assertTrue(h.wait_for(
            lambda: "n3" in [n["node"] for n in self.admin("n1").get("/v1/fleet")[1]["nodes"]], 10))

    def test_5_fleet_wide_hold_and_release(self):
        # Route "held" (/held/): weights 0, so writes go to source until the release.
        self.be.reset()
        # A slow write in flight on n1 and on n3 when the hold (through n2) begins.
        slow = {name: Shot(self.nodes[name].port("public"), f"slow-{name}", "POST", "/held/slow?ms=1500")
                for name in ("n1", "n3")}
        for shot in slow.values():
            shot.start()
        self.assertTrue(h.wait_for(lambda: all(self.admin(n).route("held")["writes"]["in_flight"] == 1 for n in slow), 10))
        gen = self.admin("n2").route("held")["generation"]
        status, body, text = self.admin("n2").post("/v1/routes/held/writes/hold", {"drain": "10s", "if_generation": gen})
        answered = time.monotonic()
        self.assertEqual(status, 200, text)
        # Each slow write ends 1.5 s after it reached the backend: not before the hold's answer.
        slow_arrivals = [e.t_arrive for e in self.be.source.events_snapshot() if e.path.startswith("/held/slow")]
        self.assertEqual(len(slow_arrivals), 2)
        self.assertGreaterEqual(answered, max(slow_arrivals) + 1.5,
                                "the hold answered before every node's writes in flight finished")
        for shot in slow.values():
            shot.join(10)
            self.assertEqual(shot.res.status, 200, shot.res)
        self.assert_schema(body, "HoldAnswer")
        self.assertTrue(body["drained"], body)
        nodes = body["fleet"]["nodes"]
        self.assertEqual(sorted(nodes), list(NODES), body)
        self.assertEqual({n: (v["in_flight_at_hold"], v["drained"]) for n, v in nodes.items()},
                         {"n1": (1, True), "n2": (0, True), "n3": (1, True)}, body)
        for name in NODES:
            route = self.admin(name).route("held")
            self.assertTrue(route["writes"]["held"], name)
            self.assertEqual(route["generation"], gen + 1, f"{name}: the generation drifted from etcd's")

        # Writes sent to every node wait; each node's arrive one after another (known order).
        held = {name: [] for name in NODES}
        hold_started = time.monotonic()
        for i in range(PER_NODE_HELD):
            for name in NODES:
                shot = Shot(self.nodes[name].port("public"), f"held-{name}-{i}", "POST", f"/held/{name}/{i}")
                shot.start()
                held[name].append(shot)
            self.assertTrue(h.wait_for(
                lambda: all(self.admin(n).route("held")["writes"]["held_requests"] == i + 1 for n in NODES), 10), i)
        reads = self.sides_through("n1")  # reads flow during the hold
        self.assertEqual(reads["source"] + reads["target"], REQUESTS)
        self.be.reset()
        status, body, text = self.admin("n3").post("/v1/routes/held/writes/release", {"write_weight": 100})
        self.assertEqual(status, 200, text)
        self.assert_schema(body, "ReleaseAnswer")
        self.assertEqual(body["released"], PER_NODE_HELD, body)
        for shots in held.values():
            for shot in shots:
                shot.join(15)
        for name, shots in held.items():
            self.assertEqual([(s.res.status, s.res.side) for s in shots], [(200, "target")] * PER_NODE_HELD, name)
        self.assertEqual(self.be.source.snapshot()["requests"], 0, "a held write reached the old side")
        arrivals = ORDERING.order
        self.assertEqual(len(arrivals), len(set(arrivals)), "a held write was sent twice")
        for name in NODES:
            order = [int(r.rsplit("-", 1)[1]) for r in arrivals if r.startswith(f"held-{name}-")]
            self.assertEqual(order, list(range(PER_NODE_HELD)), f"{name}: not released in arrival order")
        generations = {self.admin(name).route("held")["generation"] for name in NODES}
        self.assertEqual(generations, {gen + 2}, "every node has the generation etcd stored")
        for name in NODES:
            self.assertFalse(self.admin(name).route("held")["writes"]["held"], name)
        self.assertLess(time.monotonic() - hold_started, 60)

        # The fleet-wide audit log: on any node, each change once, with the node that made it.
        def entries(name):
            return self.admin(name).get("/v1/audit?limit=50")[1]["entries"]

        def changes(name):
            return [(e["action"], e.get("node")) for e in entries(name) if e["action"] in ("hold", "release")][-2:]

        for name in NODES:
            self.assertTrue(h.wait_for(lambda: changes(name) == [("hold", "n2"), ("release", "n3")], 10),
                            f"{name}: {entries(name)[-5:]}")
            log = entries(name)
            self.assertNotIn("fleet_apply", {e["action"] for e in log}, "a change applied from etcd was audited again")
            self.assertEqual(len([e for e in log if e["action"] == "hold"]), 1, log)
            for e in log:
                self.assert_schema(e, "AuditEntry")

    def test_6_etcd_member_killed_changes_nothing(self):
        self.set_weight("n1", 0)
        loads = [h.LoadGen(self.nodes[name].port("public"), threads=2, path="/member-down", max_seconds=60)
                 for name in NODES]
        for load in loads:
            load.start()
        try:
            killed = self.etcd.running()[0]
            self.etcd.kill(killed)
            self.etcd.wait_healthy()  # the other two (a new raft leader if the killed one led)
            body = self.set_weight("n2", 100)
            self.assertEqual(sorted(body["fleet"]["applied"]), list(NODES), body)
            for name in NODES:
                self.assertTrue(self.wait_weight(name, 100), name)
            time.sleep(0.5)
        finally:
            for load in loads:
                load.stop()
        self.etcd.restart(killed)
        for load, name in zip(loads, NODES):
            self.assertGreater(load.total(), 0, name)
            self.assertEqual(load.errors, [], f"{name}: requests failed with one etcd member down")
        for name in NODES:
            self.assertTrue(h.wait_for(lambda: self.fleet(name)["etcd"]["up"], 10), name)


PER_NODE_HELD = 4


if __name__ == "__main__":
    h.main()
