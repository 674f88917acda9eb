#!/usr/bin/env python3
"""Binary upgrade (`cutover --upgrade`, `upgrade_socket`) against the real binary and real backends.

Acceptance:
- test_a: 8 keep-alive clients (LoadGen) run while the process is replaced 20 times in a row: no
  failed request (socket error or non-2xx), the listener's and the admin's ports stay, each old
  process exits 0 on its own.
- test_b: the same with 6 clients that send `Connection: close` (one TCP connection per request):
  no refused connection, no failed request.
- test_c: writes held in the old process during an upgrade (and more held in the new one) are
  each answered exactly once after the release through the new process: the old process stays up
  past its drain_timeout while they wait, the backend sees every one exactly once, on the side the
  release chose.
Failure cases: --upgrade with no running process (exit 1, says so); a config that does not load
(exit 1, the old process serves on and still takes changes); a new process that fails after it
took the sockets (a listener it cannot bind): the old one unfreezes and serves on; a second
process started without --upgrade is refused. test_e: READY=1 and MAINPID= on NOTIFY_SOCKET from
each process (the systemd unit follows the upgrade). test_f: a fleet node (one real etcd member):
the frozen old process resigns the ramp leadership and its successor leads while the old one still
drains, and a fleet-wide release through the successor answers the write held in the old one.
"""
import http.client
import os
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

UPGRADES = int(os.environ.get("UPGRADE_ITERATIONS", "20"))


def free_port() -> int:
    """A port free now: the listener gets a fixed port, so that a process that binds afresh (not
    this implementation) lands on the same address and the test can see what it costs."""
    with socket.socket() as s:
        s.bind((h.LOCALHOST, 0))
        return s.getsockname()[1]


def upgrade_config(be, port: int, routes=None, drain_timeout="2s") -> dict:
    cfg = h.make_config({"src": h.cluster(be.source.addr), "tgt": h.cluster(be.target.addr)},
                        [{"name": "public", "address": f"{h.LOCALHOST}:{port}", "protocol": "http",
                          "routes": routes or [h.route("app", weight=30)]}],
                        drain_timeout=drain_timeout)
    cfg["state_file"] = "state.json"
    cfg["audit_log"] = "audit.jsonl"
    cfg["upgrade_socket"] = "upgrade.sock"  # relative: the config's directory
    return cfg


class CloseLoad(h.ClientThreads):
    """`threads` clients sending GET `path` with `Connection: close`, one TCP connection per
    request, until stop() or `max_seconds`. errors: every failure (refused connects counted apart)."""

    def __init__(self, port: int, threads: int, path: str = "/", max_seconds: float = 120.0):
        self.port, self.path, self.max_seconds, self.timeout = port, path, max_seconds, 10.0
        self.ok = [0] * threads
        self.refused = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        super().__init__(threads)

    def _run(self, i: int):
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            conn = http.client.HTTPConnection(h.LOCALHOST, self.port, timeout=self.timeout)
            try:
                conn.request("GET", self.path, headers={"Connection": "close"})
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    raise AssertionError(f"status {resp.status} {body[:120]!r}")
                self.ok[i] += 1
                self.connects[i] += 1
            except ConnectionRefusedError as e:
                with self._lock:
                    self.refused += 1
                    self.errors.append(f"thread {i}: refused: {e!r}")
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                with self._lock:
                    self.errors.append(f"thread {i}: {e!r}")
            finally:
                conn.close()
            if len(self.errors) > 1000:
                break

    def total(self) -> int:
        return sum(self.ok)


class UpgradeTest(unittest.TestCase):
    def setUp(self):
        self.be = h.Backends()
        self.procs: list[h.Cutover] = []

    def tearDown(self):
        for p in self.procs:
            p.stop()
        self.be.close()

    def start_first(self, cfg) -> h.Cutover:
        cv = h.Cutover(cfg, name="upgrade").start()
        self.procs.append(cv)
        return cv

    def upgrade(self, first: h.Cutover, cfg, i: int) -> h.Cutover:
        nxt = h.Cutover(cfg, name=f"up{i}", args=["--upgrade"], share_dir_of=first)
        self.procs.append(nxt)
        return nxt.start()

    def wait_exit(self, cv: h.Cutover, timeout: float) -> int | None:
        try:
            return cv.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def run_upgrades(self, load, n: int):
        """Starts `load` on a first process and replaces the process `n` times under it; asserts
        what stays the same and that each old process exits 0 by itself."""
        port = free_port()
        cfg = upgrade_config(self.be, port)
        first = self.start_first(cfg)
        admin_port = first.admin_addr[1]
        load = load(port)
        load.start()
        try:
            self.assertTrue(h.wait_for(lambda: load.total() >= 50, 20), f"load did not start: {load.errors[:5]}")
            cur = first
            for i in range(n):
                before = load.total()
                nxt = self.upgrade(first, cfg, i)
                self.assertEqual(nxt.port("public"), port, nxt.log_tail())
                self.assertEqual(nxt.admin_addr[1], admin_port, "the admin listener moves to the new process")
                rc = self.wait_exit(cur, 10)
                self.assertEqual(rc, 0, f"upgrade {i}: the old process did not exit 0 by itself (rc {rc}):\n"
                                        f"{cur.log_tail(20)}")
                self.assertIn("the new process serves; this one stops accepting and drains", cur.log_path.read_text())
                # some requests through each new process before the next upgrade
                self.assertTrue(h.wait_for(lambda: load.total() >= before + 40, 10),
                                f"upgrade {i}: no progress: {load.errors[:5]}")
                cur = nxt
        finally:
            load.stop()
        return cur, load

    def test_a_twenty_upgrades_under_keep_alive_load(self):
        t0 = time.monotonic()
        last, load = self.run_upgrades(lambda port: h.LoadGen(port, 8, path="/app", max_seconds=120), UPGRADES)
        print(f"\nkeep-alive: {UPGRADES} upgrades in {time.monotonic() - t0:.1f} s, {load.total()} requests, "
              f"{sum(load.connects)} connections", file=sys.stderr)
        self.assertEqual(load.errors, [], f"{len(load.errors)} failed requests: {load.errors[:10]}")
        statuses = {r[3] for r in load.all_records()}
        self.assertEqual(statuses, {200}, statuses)
        # the weight set by the config came through every state file hand-over
        self.assertEqual(last.admin.route("app")["read_weight"], 30)

    def test_b_twenty_upgrades_under_connection_close_load(self):
        t0 = time.monotonic()
        _, load = self.run_upgrades(lambda port: CloseLoad(port, 6, path="/app"), UPGRADES)
        print(f"\nConnection: close: {UPGRADES} upgrades in {time.monotonic() - t0:.1f} s, {load.total()} "
              f"requests, {load.refused} refused", file=sys.stderr)
        self.assertEqual(load.refused, 0, f"refused connections: {load.errors[:10]}")
        self.assertEqual(load.errors, [], f"{len(load.errors)} failed requests: {load.errors[:10]}")

    def test_c_writes_held_across_an_upgrade_are_answered_once_after_release(self):
        port = free_port()
        routes = [h.route("app", weight=0, writes={"hold_timeout": "30s", "hold_max": "60s", "max_held": 1000})]
        cfg = upgrade_config(self.be, port, routes=routes, drain_timeout="1s")
        old = self.start_first(cfg)
        st, js, text = old.admin.post("/v1/routes/app/writes/hold", {})
        self.assertEqual(st, 200, text)
        results: dict[str, tuple] = {}

        def write(req_id: str):
            conn = http.client.HTTPConnection(h.LOCALHOST, port, timeout=40)
            try:
                conn.request("POST", f"/app/w/{req_id}", body=b"x", headers={"X-Req-Id": req_id})
                resp = conn.getresponse()
                resp.read()
                results[req_id] = (resp.status, resp.getheader("X-Backend"), resp.getheader("Connection"))
            except Exception as e:  # noqa: BLE001
                results[req_id] = (None, repr(e), None)
            finally:
                conn.close()

        def held(cv) -> int:
            return cv.admin.route("app")["writes"]["held_requests"]

        old_ids = [f"old-{k}" for k in range(6)]
        threads = [threading.Thread(target=write, args=(r,), daemon=True) for r in old_ids]
        for t in threads:
            t.start()
        self.assertTrue(h.wait_for(lambda: held(old) == 6, 5), old.admin.route("app"))

        new = self.upgrade(old, cfg, 0)
        # the old process stops accepting once the new one told it that it serves
        self.assertTrue(h.wait_for(lambda: "this one stops accepting" in old.log_path.read_text(), 5))
        state = new.admin.route("app")
        self.assertIs(state["writes"]["held"], True, f"the hold continues in the new process: {state}")
        new_ids = [f"new-{k}" for k in range(4)]
        more = [threading.Thread(target=write, args=(r,), daemon=True) for r in new_ids]
        for t in more:
            t.start()
        self.assertTrue(h.wait_for(lambda: held(new) == 4, 5), new.admin.route("app"))
        # past the old process's drain_timeout (1 s): its held writes keep it up
        time.sleep(1.5)
        self.assertTrue(old.alive(), f"the old process left while writes were held in it:\n{old.log_tail(20)}")
        self.assertEqual(results, {}, "no held write may be answered before the release")
        self.assertEqual(self.be.counts(), {"source": 0, "target": 0})

        st, js, text = new.admin.post("/v1/routes/app/writes/release", {"write_weight": 100})
        self.assertEqual(st, 200, text)
        for t in threads + more:
            t.join(20)
        self.assertEqual(set(results), set(old_ids + new_ids), results)
        for rid, (status, side, _) in results.items():
            self.assertEqual((status, side), (200, "target"), f"{rid}: {results[rid]}")
        seen = [e.req_id for side in ("source", "target") for e in self.be[side].events_snapshot()]
        for rid in old_ids + new_ids:
            self.assertEqual(seen.count(rid), 1, f"{rid} reached the backends {seen.count(rid)} times: {seen}")
        self.assertEqual(self.be.source.snapshot()["requests"], 0)
        self.assertEqual(self.wait_exit(old, 10), 0, old.log_tail(20))
        self.assertIn("the new process lifted the write hold; releasing 6 write(s)", old.log_path.read_text())
        # the release is recorded once, by the new process
        audit = (old.dir / "audit.jsonl").read_text().splitlines()
        self.assertEqual(sum('"writes_held":false' in line for line in audit), 1, audit)

    def test_f_a_fleet_node_hands_over_the_leadership_and_releases_its_held_writes(self):
        from etcd_cluster import EtcdCluster
        etcd = EtcdCluster(members=1)
        self.addCleanup(etcd.close)
        port = free_port()
        routes = [h.route("app", weight=0, writes={"hold_timeout": "30s", "hold_max": "60s", "max_held": 100})]
        cfg = upgrade_config(self.be, port, routes=routes, drain_timeout="1s")
        cfg["fleet"] = {"node": "n1", "etcd": {"endpoints": etcd.endpoints, "prefix": "/cutover-upgrade/",
                                               "lease_ttl": "10s"}}
        old = self.start_first(cfg)
        leader = lambda cv: h.metric_values(cv.admin.metrics(), "cutover_fleet_leader")[0][1]
        self.assertTrue(h.wait_for(lambda: leader(old) == 1, 10), old.log_tail(20))
        # A held write keeps the old process up after the hand-over (it drains it).
        st, _, text = old.admin.post("/v1/routes/app/writes/hold", {})
        self.assertEqual(st, 200, text)
        result = {}

        def write():
            conn = http.client.HTTPConnection(h.LOCALHOST, port, timeout=40)
            conn.request("POST", "/app/w", body=b"x", headers={"X-Req-Id": "held"})
            resp = conn.getresponse()
            resp.read()
            result["status"] = resp.status
            conn.close()
        t = threading.Thread(target=write, daemon=True)
        t.start()
        self.assertTrue(h.wait_for(lambda: old.admin.route("app")["writes"]["held_requests"] == 1, 5))
        new = self.upgrade(old, cfg, 0)
        # The successor leads while the old process is still up, long before the old lease (10 s)
        # could expire: the frozen process resigned.
        t0 = time.monotonic()
        self.assertTrue(h.wait_for(lambda: leader(new) == 1, 5), new.log_tail(20))
        self.assertLess(time.monotonic() - t0, 5)
        self.assertTrue(old.alive(), "the old process left before the check")
        self.assertTrue(h.wait_for(lambda: "resigns the leadership" in old.log_path.read_text(), 5), old.log_tail(20))
        st, _, text = new.admin.post("/v1/routes/app/writes/release", {"write_weight": 0})
        self.assertEqual(st, 200, text)
        t.join(20)
        self.assertEqual(result.get("status"), 200, result)
        self.assertEqual(self.wait_exit(old, 15), 0, old.log_tail(20))
        self.assertEqual(leader(new), 1)

    def test_d_failures_leave_the_running_process_serving(self):
        port = free_port()
        cfg = upgrade_config(self.be, port)
        # no process on the socket: says so, exit 1
        lone = h.Cutover(cfg, name="lone")
        r = subprocess.run([h.cutover_bin(), "--config", str(lone.config_path), "--upgrade"],
                           capture_output=True, text=True, timeout=20, cwd=lone.dir)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no running cutover answers on upgrade_socket", r.stderr)

        old = self.start_first(cfg)
        # a second process without --upgrade is refused, naming the way
        r = subprocess.run([h.cutover_bin(), "--config", str(old.config_path)],
                           capture_output=True, text=True, timeout=20, cwd=old.dir)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("start with --upgrade", r.stderr)

        # a config that does not load: exit 1 before anything is asked of the old process
        bad = old.dir / "bad.yaml"
        bad.write_text(h.to_yaml(dict(cfg, bogus_key=1)) + "\n")
        r = subprocess.run([h.cutover_bin(), "--config", str(bad), "--upgrade"],
                           capture_output=True, text=True, timeout=20, cwd=old.dir)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("bogus_key", r.stderr)

        # a new process that fails after it took the sockets: a second listener on a taken port
        with socket.socket() as taken:
            taken.bind((h.LOCALHOST, 0))
            taken.listen(1)
            cfg2 = dict(cfg)
            cfg2["listeners"] = cfg["listeners"] + [{
                "name": "second", "address": f"{h.LOCALHOST}:{taken.getsockname()[1]}", "protocol": "http",
                "routes": [h.route("app2")]}]
            other = old.dir / "other.yaml"
            other.write_text(h.to_yaml(cfg2) + "\n")
            r = subprocess.run([h.cutover_bin(), "--config", str(other), "--upgrade"],
                               capture_output=True, text=True, timeout=20, cwd=old.dir)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("listener second", r.stderr)
        self.assertTrue(h.wait_for(lambda: "went away before serving" in old.log_path.read_text(), 5),
                        old.log_tail(10))
        # the old process serves and takes changes as before
        self.assertTrue(old.alive())
        self.assertEqual(old.admin.set_weight("app", weight=60)["read_weight"], 60)
        conn = h.CountingConnection(port)
        st, _, _ = h.http_call(conn, "GET", "/app")
        self.assertEqual(st, 200)
        conn.close()
        # and a later upgrade works, with the state the old process had
        new = self.upgrade(old, cfg, 1)
        self.assertEqual(new.admin.route("app")["read_weight"], 60)
        self.assertEqual(self.wait_exit(old, 10), 0, old.log_tail(20))

    def test_e_systemd_notify_follows_the_upgrade(self):
        """Type=notify (packaging/systemd/cutover.service): each process sends READY=1 and its own
        MAINPID on NOTIFY_SOCKET once it serves, so the unit follows the new process."""
        sock_path = Path(tempfile.mkdtemp(prefix="cutover-it-notify-")) / "notify.sock"
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(str(sock_path))
        notify.settimeout(10)
        saved = os.environ.get("NOTIFY_SOCKET")
        os.environ["NOTIFY_SOCKET"] = str(sock_path)
        try:
            cfg = upgrade_config(self.be, free_port())
            old = self.start_first(cfg)
            self.assertEqual(notify.recv(256).decode(), f"READY=1\nMAINPID={old.pid}")
            new = self.upgrade(old, cfg, 0)
            self.assertEqual(notify.recv(256).decode(), f"READY=1\nMAINPID={new.pid}")
            self.assertEqual(self.wait_exit(old, 10), 0, old.log_tail(20))
        finally:
            if saved is None:
                os.environ.pop("NOTIFY_SOCKET", None)
            else:
                os.environ["NOTIFY_SOCKET"] = saved
            notify.close()


if __name__ == "__main__":
    h.main()
