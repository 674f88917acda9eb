#!/usr/bin/env python3
"""Fleet mode: three cutover nodes sharing route weights through a real 3-member etcd
(etcd_cluster.py, Debian's etcd-server), each in front of the same real source and target
backends, everything on 127.0.0.1. A weight change through one node reaches the others (traffic
through each shows it); two changes racing with one if_generation on two nodes get one 200 and
one 409; with every etcd member stopped the nodes serve on with no failed request, a weight change
answers 503 naming etcd, and a rollback applies on the node it reaches as a local override that
reaches the other nodes once etcd is back; a node killed with SIGKILL and started again joins at
the current weights."""
import pathlib
import sys
import threading
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness as h  # noqa: E402
import jsonschema  # noqa: E402
import yaml  # noqa: E402
from etcd_cluster import EtcdCluster  # noqa: E402

NODES = ("n1", "n2", "n3")
REQUESTS = 20  # per node and check: with weight 0 or 100 every one of them goes to one side


def node_config(backends, endpoints, name):
    cfg = h.simple_config(backends, weight=0)
    cfg["fleet"] = {"node": name, "etcd": {"endpoints": endpoints, "prefix": "/cutover-test/", "lease_ttl": "2s"},
                    "apply_timeout": "3s"}
    return cfg


class FleetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.etcd = EtcdCluster(members=3)
        cls.be = h.Backends()
        cls.nodes = {}
        for name in NODES:
            cls.nodes[name] = h.Cutover(node_config(cls.be, cls.etcd.endpoints, name), name=name).start()

    @classmethod
    def tearDownClass(cls):
        for cv in cls.nodes.values():
            cv.stop()
        cls.be.close()
        cls.etcd.close()

    def tearDown(self):
        for name, cv in self.nodes.items():
            self.assertTrue(cv.alive(), f"node {name} died; stderr:\n{cv.log_tail(30)}")

    # --- helpers ------------------------------------------------------------------------------
    def assert_schema(self, body, name):
        """`body` is valid by components/schemas/NAME of the OpenAPI description the node serves."""
        if not hasattr(self, "spec"):
            type(self).spec = yaml.safe_load(self.admin("n1").request("GET", "/v1/openapi.yaml")[2])
        schema = {"$ref": f"#/components/schemas/{name}", "$schema": "https://json-schema.org/draft/2020-12/schema"}
        validator = jsonschema.Draft202012Validator(schema, resolver=jsonschema.RefResolver.from_schema(self.spec))
        self.assertEqual([], [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(body)], name)

    def admin(self, name):
        return self.nodes[name].admin

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
        self.nodes["n3"].proc.kill()
        self.nodes["n3"].proc.wait(10)
        self.nodes["n3"].stop()
        self.set_weight("n1", 100)
        self.nodes["n3"] = h.Cutover(node_config(self.be, self.etcd.endpoints, "n3"), name="n3").start()
        self.assertEqual(self.admin("n3").route("app")["read_weight"], 100)
        self.assertEqual(self.sides_through("n3"), {"source": 0, "target": REQUESTS})
        self.assertTrue(h.wait_for(
            lambda: "n3" in [n["node"] for n in self.admin("n1").get("/v1/fleet")[1]["nodes"]], 10))


if __name__ == "__main__":
    h.main()
