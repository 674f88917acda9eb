#!/usr/bin/env python3
"""Fleet-wide tenant segments and maintenance: three cutover nodes sharing them through a real
3-member etcd (etcd_cluster.py, Debian's etcd-server), each in front of the same real source and
target backends, everything on 127.0.0.1.

Acceptance:
- a segments PUT through n2 (10,000 tenants, with if_generation) routes a listed tenant to target
  and an unlisted one to source through every node (real requests, the backend that answered
  says which side); every node lands on etcd's generation; GET /v1/routes shows the segments
  summarized (a count, not the list) and GET .../segments the whole list on every node; a stale
  if_generation and a lost race are 409; the change is in the fleet-wide audit log once.
- maintenance ON through n3 answers 503 with Retry-After on every node with zero upstream contact;
  OFF through n1 restores traffic on every node; PUT/DELETE /v1/maintenance (every route) likewise.
- every etcd member stopped: a segments PUT and maintenance PUT/DELETE (one route and all) answer
  503 naming etcd and nothing changes on any node.
- a node killed with SIGKILL, while segments and maintenance change through another node, serves
  the current ones once started again (read from etcd before it serves).
- 55,000 values (a body just below the admin API's 1 MiB) and a 1,000,000-byte maintenance body go
  through etcd to every node; a maintenance over the 1,100,000-byte bound is 422.
"""
import os
import pathlib
import shutil
import sys
import tempfile
import threading

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness as h  # noqa: E402
from fleet_fixture import NODES, FleetCase  # noqa: E402

REQUESTS = 10  # per node, tenant and check
TENANTS = [f"tenant-{i}" for i in range(10000)]
STATE_DIR = tempfile.mkdtemp(prefix="cutover-fleet-safety-state-")


class FleetSafetyTest(FleetCase):
    @classmethod
    def node_config(cls, name):
        cfg = h.simple_config(cls.be, weight=0)
        # A second route, for the all-routes maintenance and for a change a stopped node misses.
        cfg["listeners"][0]["routes"].insert(0, h.route("other", path_prefix="/other/", weight=0))
        cfg["state_file"] = os.path.join(STATE_DIR, f"{name}.json")
        cfg["fleet"] = {"node": name, "etcd": {"endpoints": cls.etcd.endpoints, "prefix": "/cutover-safety-test/",
                                               "lease_ttl": "2s"},
                        "apply_timeout": "3s"}
        return cfg

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        shutil.rmtree(STATE_DIR, ignore_errors=True)

    # --- helpers ------------------------------------------------------------------------------
    def sides(self, name, path="/app/x", headers=None):
        """Sends REQUESTS GETs through node `name`: {side: count} from the X-Backend of the answers,
        checked against what the backends saw."""
        self.be.reset()
        seen = {"source": 0, "target": 0}
        conn = h.CountingConnection(self.nodes[name].port("public"), timeout=10)
        try:
            for _ in range(REQUESTS):
                status, hdrs, body = h.http_call(conn, "GET", path, headers or {})
                self.assertEqual(status, 200, f"{name} {path} {headers}: {status} {body[:200]!r}")
                seen[h.header(hdrs, "X-Backend")] += 1
        finally:
            conn.close()
        self.assertEqual(self.be.counts(), seen, f"{name}: the backends saw other requests than answered")
        return seen

    def tenant_side(self, name, tenant):
        got = self.sides(name, headers={"X-Tenant": tenant})
        self.assertIn(REQUESTS, got.values(), f"{name} {tenant}: split {got}")
        return "target" if got["target"] == REQUESTS else "source"

    def in_maintenance(self, name, path):
        """Every request through `name` to `path` is a 503 with Retry-After and no backend saw any."""
        self.be.reset()
        conn = h.CountingConnection(self.nodes[name].port("public"), timeout=10)
        try:
            for _ in range(REQUESTS):
                status, hdrs, _ = h.http_call(conn, "GET", path)
                if status != 503 or h.header(hdrs, "Retry-After") is None:
                    return False
        finally:
            conn.close()
        self.assertEqual(self.be.counts(), {"source": 0, "target": 0}, f"{name}: maintenance contacted a backend")
        return True

    def audit(self, name, action):
        return [e for e in self.admin(name).get("/v1/audit?limit=200")[1]["entries"] if e["action"] == action]

    # --- segments -------------------------------------------------------------------------------
    def test_1_segments_through_n2_route_on_every_node(self):
        for name in NODES:
            self.assertEqual(self.tenant_side(name, "tenant-42"), "source", f"{name} before")
        gen = self.admin("n2").route("app")["generation"]
        segments = [{"header": "X-Tenant", "values": TENANTS, "side": "target"},
                    {"client_cidrs": ["192.0.2.0/24", "198.51.100.0/24"], "side": "source"}]
        status, body, text = self.admin("n2").put("/v1/routes/app/segments",
                                                  {"segments": segments, "if_generation": gen, "reason": "wave 1"})
        self.assertEqual(status, 200, text[:500])
        self.assertEqual(body["generation"], gen + 1)
        self.assertEqual(sorted(body["fleet"]["applied"]), list(NODES), body["fleet"])
        self.assertEqual(body["fleet"]["laggards"], [], body["fleet"])
        self.assert_schema(body, "SegmentsView")
        for name in NODES:
            for tenant in ("tenant-0", "tenant-42", "tenant-9999"):
                self.assertEqual(self.tenant_side(name, tenant), "target", f"{name}: {tenant} is listed")
            for tenant in ("tenant-10000", "acme"):
                self.assertEqual(self.tenant_side(name, tenant), "source", f"{name}: {tenant} is not listed")
            self.assertEqual(self.sides(name), {"source": REQUESTS, "target": 0}, f"{name}: no tenant header")
            route = self.admin(name).route("app")
            self.assertEqual(route["generation"], gen + 1, f"{name}: not etcd's generation")
            self.assertEqual(route["segments"], [{"side": "target", "header": "X-Tenant", "values_count": 10000},
                                                 {"side": "source", "client_cidrs_count": 2}], name)
            listing = self.admin(name).get("/v1/routes")[1]
            self.assertLess(len(str(listing)), 20000, f"{name}: the listing carries the values")
            for r in listing["routes"]:
                self.assert_schema(r, "RouteState")
            full = self.admin(name).get("/v1/routes/app/segments")[1]
            self.assertEqual(full["segments"][0]["values"], TENANTS, name)
        # The fleet-wide audit log has the change once, made on n2.
        for name in NODES:
            self.assertTrue(h.wait_for(lambda: len(self.audit(name, "set_segments")) == 1, 10), name)
            entry = self.audit(name, "set_segments")[0]
            self.assertEqual((entry["node"], entry["route"], entry["generation"], entry["values"]),
                             ("n2", "app", gen + 1, 10002), entry)
            self.assertEqual(entry["reason"], "wave 1")
            self.assert_schema(entry, "AuditEntry")

        # A stale if_generation through another node: 409 with etcd's generation, nothing changes.
        status, body, text = self.admin("n1").put("/v1/routes/app/segments", {"segments": [], "if_generation": gen})
        self.assertEqual(status, 409, text)
        self.assertEqual(body["generation"], gen + 1)
        self.assertEqual(self.tenant_side("n3", "tenant-7"), "target")
        # Two changes racing with one if_generation on two nodes: one wins, everywhere.
        results = {}
        barrier = threading.Barrier(2)

        def change(name, tenant):
            barrier.wait(10)
            results[name] = self.admin(name).put("/v1/routes/app/segments", {
                "segments": [{"header": "X-Tenant", "values": [tenant], "side": "target"}],
                "if_generation": gen + 1})[0]

        threads = [threading.Thread(target=change, args=("n1", "race-n1")),
                   threading.Thread(target=change, args=("n3", "race-n3"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(sorted(results.values()), [200, 409], results)
        winner = "race-n1" if results["n1"] == 200 else "race-n3"
        loser = "race-n3" if winner == "race-n1" else "race-n1"
        for name in NODES:
            self.assertTrue(h.wait_for(lambda: self.admin(name).route("app")["generation"] == gen + 2, 10), name)
            self.assertEqual(self.tenant_side(name, winner), "target", name)
            self.assertEqual(self.tenant_side(name, loser), "source", name)
            self.assertEqual(self.tenant_side(name, "tenant-42"), "source", f"{name}: the list was replaced")

    # --- maintenance ----------------------------------------------------------------------------
    def test_2_maintenance_on_through_n3_off_through_n1(self):
        status, body, text = self.admin("n3").put("/v1/routes/app/maintenance",
                                                  {"retry_after": "30s", "reason": "write flip"})
        self.assertEqual(status, 200, text)
        self.assert_schema(body, "RouteMaintenance")
        self.assertEqual(sorted(body["fleet"]["applied"]), list(NODES), body)
        since = body["maintenance"]["since"]
        for name in NODES:
            self.assertTrue(self.in_maintenance(name, "/app/x"), f"{name} is not in maintenance")
            self.be.reset()
            c = h.CountingConnection(self.nodes[name].port("public"), timeout=10)
            try:
                status, hdrs, _ = h.http_call(c, "GET", "/app/y")
            finally:
                c.close()
            self.assertEqual((status, h.header(hdrs, "Retry-After")), (503, "30"), name)
            route = self.admin(name).route("app")
            self.assertEqual((route["maintenance"]["retry_after_s"], route["maintenance"]["since"]), (30, since), name)
            self.assertEqual(self.sides(name, "/other/x"), {"source": REQUESTS, "target": 0}, f"{name}: other route")
        status, body, text = self.admin("n1").request("DELETE", "/v1/routes/app/maintenance", {})[:3]
        self.assertEqual(status, 200, text)
        self.assertIsNone(body["maintenance"])
        self.assertEqual(sorted(body["fleet"]["applied"]), list(NODES), body)
        for name in NODES:
            self.assertEqual(self.sides(name), {"source": REQUESTS, "target": 0}, f"{name}: traffic not restored")
            self.assertIsNone(self.admin(name).route("app")["maintenance"], name)
        status, _, text = self.admin("n2").request("DELETE", "/v1/routes/app/maintenance", {})[:3]
        self.assertEqual(status, 409, text)

        # Every route at once, through n2; ended through n3.
        status, body, text = self.admin("n2").put("/v1/maintenance", {"status": 503, "retry_after": 5})
        self.assertEqual(status, 200, text)
        self.assert_schema(body, "MaintenanceEverywhere")
        self.assertEqual(sorted(body["fleet"]["applied"]), list(NODES), body)
        for name in NODES:
            for path in ("/app/x", "/other/x"):
                self.assertTrue(self.in_maintenance(name, path), f"{name} {path}")
        status, body, text = self.admin("n3").request("DELETE", "/v1/maintenance", {})[:3]
        self.assertEqual(status, 200, text)
        for name in NODES:
            self.assertEqual(self.sides(name, "/other/x"), {"source": REQUESTS, "target": 0}, name)
            self.assertEqual(self.sides(name), {"source": REQUESTS, "target": 0}, name)
        # Audited once each, by the node that made the change.
        def made(name, action):
            return sorted((e["node"], e["route"]) for e in self.audit(name, action))

        for name in NODES:
            self.assertTrue(h.wait_for(lambda: made(name, "maintenance_on") == [("n2", "app"), ("n2", "other"),
                                                                                 ("n3", "app")], 10),
                            f"{name}: {made(name, 'maintenance_on')}")
            self.assertTrue(h.wait_for(lambda: made(name, "maintenance_off") == [("n1", "app"), ("n3", "app"),
                                                                                  ("n3", "other")], 10),
                            f"{name}: {made(name, 'maintenance_off')}")

    # --- etcd down ------------------------------------------------------------------------------
    def test_3_etcd_down_refuses_and_changes_nothing(self):
        status, _, text = self.admin("n1").put("/v1/routes/other/maintenance", {})
        self.assertEqual(status, 200, text)
        before = {name: [self.admin(name).route(r) for r in ("app", "other")] +
                  [self.admin(name).get("/v1/routes/app/segments")[1]] for name in NODES}
        self.etcd.stop_all()
        try:
            calls = [("n1", "PUT", "/v1/routes/app/segments",
                      {"segments": [{"header": "X-Tenant", "values": ["acme"], "side": "target"}]}),
                     ("n2", "PUT", "/v1/routes/app/maintenance", {}),
                     ("n3", "PUT", "/v1/maintenance", {}),
                     ("n1", "DELETE", "/v1/routes/other/maintenance", {}),
                     ("n2", "DELETE", "/v1/maintenance", {})]
            for via, method, path, req in calls:
                status, body, text = self.admin(via).request(method, path, req)[:3]
                self.assertEqual(status, 503, f"{method} {path} through {via}: {text}")
                self.assertIn("etcd", body["error"])
                self.assertEqual(body["etcd"], "unreachable")
            for name in NODES:
                self.assertEqual(self.tenant_side(name, "acme"), "source", f"{name}: a refused list applied")
                self.assertFalse(self.in_maintenance(name, "/app/x"), f"{name}: a refused maintenance applied")
                self.assertTrue(self.in_maintenance(name, "/other/x"), f"{name}: a refused end applied")
                now = [self.admin(name).route(r) for r in ("app", "other")] + \
                    [self.admin(name).get("/v1/routes/app/segments")[1]]
                self.assertEqual(now, before[name], f"{name}: a refused change changed the route")
        finally:
            self.etcd.start_all()
        for name in NODES:
            self.assertTrue(h.wait_for(lambda: self.admin(name).get("/v1/fleet")[1]["etcd"]["up"], 20), name)
        status, _, text = self.admin("n2").request("DELETE", "/v1/routes/other/maintenance", {})[:3]
        self.assertEqual(status, 200, text)
        for name in NODES:
            self.assertEqual(self.sides(name, "/other/x"), {"source": REQUESTS, "target": 0}, name)

    # --- a node restarted -----------------------------------------------------------------------
    def test_4_killed_node_restarts_with_current_segments_and_maintenance(self):
        self.kill_node("n3")
        status, body, text = self.admin("n1").put("/v1/routes/app/segments", {
            "segments": [{"header": "X-Tenant", "values": ["late-joiner"], "side": "target"}]})
        self.assertEqual(status, 200, text)
        generation = body["generation"]
        status, _, text = self.admin("n1").put("/v1/routes/other/maintenance", {"retry_after": 7})
        self.assertEqual(status, 200, text)
        self.start_node("n3")
        self.assertEqual(self.admin("n3").get("/v1/routes/app/segments")[1]["segments"],
                         [{"header": "X-Tenant", "values": ["late-joiner"], "side": "target"}])
        self.assertEqual(self.admin("n3").route("app")["generation"], generation)
        self.assertEqual(self.tenant_side("n3", "late-joiner"), "target")
        self.assertEqual(self.tenant_side("n3", "tenant-42"), "source")
        self.assertTrue(self.in_maintenance("n3", "/other/x"), "n3 missed the maintenance set while it was down")
        # Killed again once it has them, and restarted: the same (its state file and etcd agree).
        self.kill_node("n3")
        self.start_node("n3")
        self.assertEqual(self.tenant_side("n3", "late-joiner"), "target")
        self.assertTrue(self.in_maintenance("n3", "/other/x"))
        status, _, text = self.admin("n2").request("DELETE", "/v1/routes/other/maintenance", {})[:3]
        self.assertEqual(status, 200, text)
        for name in NODES:
            self.assertEqual(self.sides(name, "/other/x"), {"source": REQUESTS, "target": 0}, name)

    # --- the size bound -------------------------------------------------------------------------
    def test_5_sizes_up_to_the_etcd_bound(self):
        # 55,000 values of 15 characters: a body just below the admin API's 1 MiB, which every
        # node gets through etcd (its request limit is 1.5 MiB).
        values = [f"t{i:014d}" for i in range(55000)]
        status, body, text = self.admin("n2").put("/v1/routes/app/segments", {
            "segments": [{"header": "X-Tenant", "values": values, "side": "target"}]})
        self.assertEqual(status, 200, text[:300])
        # A megabyte through etcd and three watches may take a loaded machine past apply_timeout
        # (a laggard then); what matters here is that every node gets it.
        self.assertEqual(sorted(body["fleet"]["applied"] + body["fleet"]["laggards"]), list(NODES), body["fleet"])
        for name in NODES:
            self.assertTrue(h.wait_for(
                lambda: self.admin(name).route("app")["segments"] == [
                    {"side": "target", "header": "X-Tenant", "values_count": 55000}], 15), name)
            self.assertEqual(self.tenant_side(name, values[-1]), "target", name)
            self.assertEqual(self.tenant_side(name, f"t{55000:014d}"), "source", name)
        status, _, text = self.admin("n1").put("/v1/routes/app/segments", {"segments": []})
        self.assertEqual(status, 200, text)
        # A maintenance body of 1,000,000 bytes goes too; one that JSON escapes to over 1,100,000
        # bytes is 422 naming etcd, and changes nothing.
        plain = os.path.join(STATE_DIR, "plain.html")
        quotes = os.path.join(STATE_DIR, "quotes.html")
        with open(plain, "w") as f:
            f.write("a" * 1000000)
        with open(quotes, "w") as f:
            f.write('"' * 600000)
        status, body, text = self.admin("n3").put("/v1/routes/other/maintenance", {"body_file": quotes})
        self.assertEqual(status, 422, text)
        self.assertIn("etcd", body["error"])
        self.assertIsNone(self.admin("n3").route("other")["maintenance"])
        status, body, text = self.admin("n3").put("/v1/routes/other/maintenance", {"body_file": plain})
        self.assertEqual(status, 200, text)
        self.assertEqual(sorted(body["fleet"]["applied"] + body["fleet"]["laggards"]), list(NODES), body["fleet"])
        for name in NODES:
            self.assertTrue(h.wait_for(lambda: self.admin(name).route("other")["maintenance"] is not None, 15), name)
            c = h.CountingConnection(self.nodes[name].port("public"), timeout=10)
            try:
                status, _, data = h.http_call(c, "GET", "/other/x")
            finally:
                c.close()
            self.assertEqual((status, len(data)), (503, 1000000), name)
        status, _, text = self.admin("n3").request("DELETE", "/v1/routes/other/maintenance", {})[:3]
        self.assertEqual(status, 200, text)

if __name__ == "__main__":
    h.main()
