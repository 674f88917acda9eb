#!/usr/bin/env python3
"""fleet/etcd's client against real etcd members (etcd_cluster.py, 3 members on 127.0.0.1),
driven through tests/fleet/etcd_probe (ETCD_PROBE_BIN, default build/tests/etcd_probe): put,
range and delete cross-checked through the gateway directly, endpoint failover past a dead
endpoint, two txns guarded on one mod_revision of which exactly one wins, a lease kept past its
TTL by keepalives and then expiring with its key, revoke, a watch seeing puts and deletes in
order, a watch resuming without loss or duplicates across a killed member, a silent (stopped)
member and a full stop/start of the cluster, a compacted start revision reported, a watch
message past its bound ending the watch; and, on a member of its own with authentication, a
token sent, and a new one fetched when etcd let the first expire; and over https with a client
certificate."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from etcd_cluster import EtcdCluster, _free_ports, make_tls_files  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
PROBE = os.environ.get("ETCD_PROBE_BIN", str(ROOT / "build" / "tests" / "etcd_probe"))


def probe(endpoints, *args, timeout=30, env=None):
    """Runs one probe command: (exit status, its JSON lines). `env`: more environment."""
    env = dict(os.environ, ETCD_ENDPOINTS=",".join(endpoints), **(env or {}))
    r = subprocess.run([PROBE, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    if r.stderr.strip():
        print(r.stderr, file=sys.stderr)
    return r.returncode, lines


class WatchProcess:
    """`etcd_probe watch` in the background; a thread collects its JSON lines."""

    def __init__(self, endpoints, prefix, start=0, max_events=0, env=None):
        env = dict(os.environ, ETCD_ENDPOINTS=",".join(endpoints), ETCD_WATCH_IDLE_MS="2000", **(env or {}))
        self.proc = subprocess.Popen([PROBE, "watch", prefix, str(start), str(max_events)], env=env,
                                     stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                with self.cond:
                    self.lines.append(json.loads(line))
                    self.cond.notify_all()
        with self.cond:
            self.lines.append({"eof": True})
            self.cond.notify_all()

    def wait_for(self, predicate, what, timeout=20):
        """Until predicate(lines) holds; fails the test with the lines so far after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate(self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.lines and "eof" in self.lines[-1]):
                    raise AssertionError(f"watch: no {what} within {timeout} s; lines: {self.lines[-20:]}")
                self.cond.wait(min(left, 0.5))
            return list(self.lines)

    def events(self):
        with self.cond:
            return [line for line in self.lines if "event" in line]

    def notices(self, kind):
        with self.cond:
            return [line for line in self.lines if line.get("notice") == kind]

    def wait_events(self, n, timeout=20):
        self.wait_for(lambda lines: sum("event" in line for line in lines) >= n, f"{n} events", timeout)
        return self.events()

    def stop(self):
        with self.cond:
            ended = any("end" in line for line in self.lines)
        # A watch that ended is exiting on its own; a SIGTERM now would find no handler.
        if not ended and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise
        self.reader.join(timeout=10)
        self.proc.stdout.close()
        return rc


def put_retrying(cluster, key, value, members, attempts=50):
    """A put through the first of `members` that takes it (an election may be under way)."""
    for i in range(attempts):
        try:
            return cluster.put(key, value, member=members[i % len(members)])
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"put {key} failed {attempts} times")


class EtcdClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = EtcdCluster(members=3)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def setUp(self):
        self.cluster.start_all()  # whatever an earlier test stopped

    def assert_in_order_without_duplicates(self, events, revisions):
        got = [e["mod_revision"] for e in events]
        self.assertEqual(got, sorted(set(got)), "events out of order or repeated")
        self.assertTrue(set(revisions) <= set(got), f"lost revisions {sorted(set(revisions) - set(got))}")

    def test_put_range_delete_and_failover(self):
        eps = self.cluster.endpoints
        rc, [put] = probe(eps, "put", "/kv/a", "one")
        self.assertEqual(rc, 0, put)
        self.assertEqual(self.cluster.get("/kv/a")[:2], ("one", put["revision"]))
        rc, [b] = probe(eps, "put", "/kv/b", "two words")
        rc, [listed] = probe(eps, "prefix", "/kv/")
        self.assertEqual(rc, 0, listed)
        self.assertEqual([(kv["key"], kv["value"], kv["mod_revision"]) for kv in listed["kvs"]],
                         [("/kv/a", "one", put["revision"]), ("/kv/b", "two words", b["revision"])])
        self.assertEqual(listed["count"], 2)
        rc, [missing] = probe(eps, "get", "/kv/none")
        self.assertEqual((rc, missing["kvs"]), (0, []))
        rc, [deleted] = probe(eps, "delete", "/kv/a")
        self.assertEqual((rc, deleted["deleted"]), (0, 1))
        self.assertIsNone(self.cluster.get("/kv/a")[0])
        # Nothing listens on the first endpoint: the request goes to the next one.
        dead = f"http://127.0.0.1:{_free_ports(1)[0]}"
        rc, [through] = probe([dead, eps[1]], "get", "/kv/b")
        self.assertEqual(rc, 0, through)
        self.assertEqual(through["kvs"][0]["value"], "two words")
        rc, [nothing] = probe([dead], "get", "/kv/b")
        self.assertEqual(rc, 1)
        self.assertIn(dead, nothing["error"])

    def test_guarded_txns_on_one_revision_exactly_one_wins(self):
        for round_ in range(5):
            rc, [race] = probe(self.cluster.endpoints, "race", "/race/k")
            self.assertEqual(rc, 0, race)
            self.assertEqual(sorted(race["succeeded"]), [False, True], race)
            winner = "writer-1" if race["succeeded"][0] else "writer-2"
            self.assertEqual(race["value"], winner)
            value, mod, _ = self.cluster.get("/race/k")
            self.assertEqual(value, winner)
            self.assertGreater(mod, race["guard"])

    def test_lease_kept_alive_past_its_ttl_then_expires_with_its_key(self):
        rc, [lease] = probe(self.cluster.endpoints, "lease", 2, 3, "/lease/node-1")
        self.assertEqual(rc, 0, lease)
        self.assertTrue(lease["present"], lease)  # 3 s after a 2 s grant, kept by the beats
        self.assertEqual(len(lease["ttls"]), 3)
        self.assertTrue(all(ttl > 0 for ttl in lease["ttls"]), lease)
        self.assertGreater(lease["time_to_live"], 0)
        deadline = time.monotonic() + 15
        while self.cluster.get("/lease/node-1")[0] is not None:
            self.assertLess(time.monotonic(), deadline, "the key outlived its lease")
            time.sleep(0.2)

    def test_revoke_deletes_the_leased_key(self):
        rc, [revoked] = probe(self.cluster.endpoints, "revoke", 60, "/lease/node-2")
        self.assertEqual(rc, 0, revoked)
        self.assertFalse(revoked["present"])
        self.assertEqual(revoked["ttl_after_revoke"], 0)

    def test_watch_sees_puts_and_deletes_in_order(self):
        w = WatchProcess(self.cluster.endpoints, "/order/")
        try:
            w.wait_for(lambda lines: any(line.get("notice") == "connected" for line in lines), "connection")
            revisions = [self.cluster.put(f"/order/k{i:02}", f"v{i}", member=i % 3) for i in range(30)]
            revisions.append(self.cluster.call("/v3/kv/deleterange", {"key": "L29yZGVyL2swMA=="})["header"]["revision"])
            self.cluster.put("/other/k", "not watched")
            events = w.wait_events(31)
            self.assertEqual([(e["event"], e["key"], e["value"]) for e in events[:30]],
                             [("put", f"/order/k{i:02}", f"v{i}") for i in range(30)])
            self.assertEqual((events[30]["event"], events[30]["key"]), ("delete", "/order/k00"))
            self.assertEqual([e["mod_revision"] for e in events], [int(r) for r in revisions])
        finally:
            self.assertEqual(w.stop(), 0)
        self.assertEqual(w.lines[-2]["end"], "canceled")

    def test_watch_resumes_across_a_killed_member(self):
        w = WatchProcess(self.cluster.endpoints, "/fail/")
        try:
            lines = w.wait_for(lambda ls: any(x.get("notice") == "connected" for x in ls), "connection")
            first = next(x for x in lines if x.get("notice") == "connected")["endpoint"]
            victim = self.cluster.endpoints.index(first)
            others = [i for i in range(3) if i != victim]
            revisions = [put_retrying(self.cluster, f"/fail/a{i}", str(i), others) for i in range(10)]
            w.wait_events(10)
            self.cluster.kill(victim)
            revisions += [put_retrying(self.cluster, f"/fail/b{i}", str(i), others) for i in range(10)]
            events = w.wait_events(20)
            self.assert_in_order_without_duplicates(events, revisions)
            self.assertEqual(len(events), 20, events)
            self.assertTrue(w.notices("disconnected"))
            self.assertNotEqual(w.notices("connected")[-1]["endpoint"], first)
        finally:
            w.stop()
            self.cluster.restart(victim)

    def test_watch_leaves_a_silent_member(self):
        w = WatchProcess(self.cluster.endpoints, "/silent/")
        victim = None
        try:
            lines = w.wait_for(lambda ls: any(x.get("notice") == "connected" for x in ls), "connection")
            first = next(x for x in lines if x.get("notice") == "connected")["endpoint"]
            victim = self.cluster.endpoints.index(first)
            others = [i for i in range(3) if i != victim]
            # Its connection stays open and says nothing: only the watch's probe can tell.
            self.cluster.pause(victim)
            revisions = [put_retrying(self.cluster, f"/silent/k{i}", str(i), others) for i in range(5)]
            events = w.wait_events(5, timeout=30)
            self.assert_in_order_without_duplicates(events, revisions)
            self.assertEqual(len(events), 5, events)
            self.assertIn("probe failed", w.notices("disconnected")[0]["error"])
            self.assertNotEqual(w.notices("connected")[-1]["endpoint"], first)
        finally:
            if victim is not None:
                self.cluster.resume(victim)
            w.stop()

    def test_watch_resumes_across_a_full_stop_and_start(self):
        w = WatchProcess(self.cluster.endpoints, "/restart/")
        try:
            w.wait_for(lambda ls: any(x.get("notice") == "connected" for x in ls), "connection")
            revisions = [self.cluster.put(f"/restart/a{i}", str(i)) for i in range(5)]
            w.wait_events(5)
            self.cluster.stop_all()
            w.wait_for(lambda ls: any(x.get("notice") == "disconnected" for x in ls), "disconnection")
            self.cluster.start_all()
            # Put before the watch is back: it must get these from its resume revision.
            revisions += [put_retrying(self.cluster, f"/restart/b{i}", str(i), [0, 1, 2]) for i in range(5)]
            events = w.wait_events(10, timeout=30)
            self.assert_in_order_without_duplicates(events, revisions)
            self.assertEqual(len(events), 10, events)
        finally:
            w.stop()

    def test_watch_message_past_its_bound_ends_the_watch(self):
        w = WatchProcess(self.cluster.endpoints, "/big/", env={"ETCD_WATCH_MAX_BYTES": "4096"})
        try:
            w.wait_for(lambda ls: any(x.get("notice") == "connected" for x in ls), "connection")
            small = self.cluster.put("/big/small", "x")
            self.cluster.put("/big/large", "y" * 8192)  # base64 in JSON: over 10 KiB
            lines = w.wait_for(lambda ls: any("end" in x for x in ls), "end")
        finally:
            rc = w.stop()
        self.assertEqual(rc, 1)
        self.assertEqual([(x["key"], x["mod_revision"]) for x in lines if "event" in x], [("/big/small", small)])
        end = next(x for x in lines if "end" in x)
        self.assertEqual(end["end"], "failed")
        self.assertIn("larger than 4096 bytes", end["error"])

    def test_compacted_start_revision_is_reported(self):
        r1 = self.cluster.put("/compact/k", "v1")
        self.cluster.put("/compact/k", "v2")
        r3 = self.cluster.put("/compact/k", "v3")
        self.cluster.compact(r3)
        rc, lines = probe(self.cluster.endpoints, "watch", "/compact/", r1)
        self.assertEqual(rc, 0, lines)
        self.assertEqual(lines[-1]["end"], "compacted", lines)
        self.assertEqual(lines[-1]["compact_revision"], r3)
        self.assertFalse([x for x in lines if "event" in x])
        # What a caller does next: watch again from the compact revision.
        rc, lines = probe(self.cluster.endpoints, "watch", "/compact/", r3, 1)
        self.assertEqual(rc, 0, lines)
        self.assertEqual([(x["value"], x["mod_revision"]) for x in lines if "event" in x], [("v3", r3)])


class EtcdAuthTest(unittest.TestCase):
    """One member with authentication and tokens that expire after 1 s unused."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = EtcdCluster(members=1, extra_args=["--auth-token-ttl", "1"])
        cls.cluster.enable_auth("s3cret")

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()

    def probe_as(self, user, password, *args):
        return probe(self.cluster.endpoints, *args, env={"ETCD_USER": user, "ETCD_PASSWORD": password})

    def test_token_sent_and_renewed_after_expiry(self):
        rc, [out] = self.probe_as("root", "s3cret", "reauth", "/auth/k", 3000)
        self.assertEqual(rc, 0, out)
        self.assertLess(out["revisions"][0], out["revisions"][1])
        token = self.cluster.call("/v3/auth/authenticate", {"name": "root", "password": "s3cret"})["token"]
        answer = self.cluster.call("/v3/kv/range", {"key": "L2F1dGgvaw=="}, token=token)
        self.assertEqual(answer["kvs"][0]["value"], "c2Vjb25k")  # "second"

    def test_without_a_token_or_with_a_wrong_password_etcd_refuses(self):
        rc, [out] = probe(self.cluster.endpoints, "get", "/auth/k")
        self.assertEqual(rc, 1)
        self.assertIn("user name", out["error"])
        rc, [out] = self.probe_as("root", "wrong", "get", "/auth/k")
        self.assertEqual(rc, 1)
        self.assertIn("authentication failed", out["error"])


class EtcdTlsTest(unittest.TestCase):
    """One member on https that wants a client certificate from its CA."""

    @classmethod
    def setUpClass(cls):
        cls.files_dir = tempfile.mkdtemp(prefix="cutover-etcd-tls-")
        cls.files = make_tls_files(cls.files_dir)
        cls.cluster = EtcdCluster(members=1, tls=cls.files)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.close()
        shutil.rmtree(cls.files_dir, ignore_errors=True)

    def test_put_get_and_watch_over_tls_with_a_client_certificate(self):
        env = {"ETCD_CA_FILE": self.files["ca"], "ETCD_CERT_FILE": self.files["cert"], "ETCD_KEY_FILE": self.files["key"]}
        rc, [put] = probe(self.cluster.endpoints, "put", "/tls/k", "v", env=env)
        self.assertEqual(rc, 0, put)
        rc, [got] = probe(self.cluster.endpoints, "get", "/tls/k", env=env)
        self.assertEqual((got["kvs"][0]["value"], got["kvs"][0]["mod_revision"]), ("v", put["revision"]))
        rc, lines = probe(self.cluster.endpoints, "watch", "/tls/", put["revision"], 1, env=env)
        self.assertEqual([(x["key"], x["mod_revision"]) for x in lines if "event" in x], [("/tls/k", put["revision"])])
        # Without the client certificate the handshake fails; with the system CAs the server's is not trusted.
        rc, [out] = probe(self.cluster.endpoints, "get", "/tls/k", env={"ETCD_CA_FILE": self.files["ca"]})
        self.assertEqual(rc, 1, out)
        self.assertIn("bad certificate", out["error"])
        rc, [out] = probe(self.cluster.endpoints, "get", "/tls/k")
        self.assertEqual(rc, 1, out)
        self.assertIn("certificate verify failed", out["error"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
