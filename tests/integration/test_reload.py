#!/usr/bin/env python3
"""Config reload, against the real binary: POST /v1/config/reload and SIGHUP keep the
runtime weights of routes that still exist, add and remove routes, apply endpoint changes to the
next request; an invalid file (YAML syntax, unknown key, an endpoint that does not resolve) is a
422 with FILE:LINE:COL errors while the running config keeps serving; a listener is added (serving
at once) or removed (draining) by a reload, and one that cannot be bound fails it, named; the token is required when tokens_file is set; and 50 reloads, half of
them invalid, under continuous keep-alive load fail no request and keep the runtime weights."""
import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

THREADS = 6
RELOADS = 50


def config(be: h.Backends, routes: list, target_addr: str | None = None, **top) -> dict:
    """One listener "public" with `routes`, clusters src (source) and tgt (target, or target_addr)."""
    cfg = h.make_config({"src": h.cluster(be.source.addr), "tgt": h.cluster(target_addr or be.target.addr)},
                        [{"name": "public", "address": f"{h.LOCALHOST}:0", "protocol": "http", "routes": routes}])
    cfg.update(top)
    return cfg


def write_config(cv: h.Cutover, cfg: dict | str):
    cv.config_path.write_text(cfg if isinstance(cfg, str) else h.to_yaml(cfg) + "\n")


def reloads(cv: h.Cutover, result: str) -> float:
    vals = h.metric_values(cv.admin.metrics(), "cutover_config_reloads_total", result=result)
    return vals[0][1] if vals else 0.0


def refused(port: int) -> bool:
    """Whether a connect to `port` is refused (nothing listens there)."""
    try:
        socket.create_connection((h.LOCALHOST, port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, str | None]:
    st, hdrs, _ = h.http_call(conn, "GET", path)
    return st, h.header(hdrs, "X-Backend")


class ReloadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.be = h.Backends()
        cls.target2 = h.Backend("target2")

    @classmethod
    def tearDownClass(cls):
        cls.be.close()
        cls.target2.close()

    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="cutover-it-reload-files-"))
        self.addCleanup(shutil.rmtree, self.dir, True)

    def start(self, cfg: dict, name: str) -> h.Cutover:
        cv = h.Cutover(cfg, name=name).start()
        self.addCleanup(cv.stop)
        return cv

    def reload(self, cv: h.Cutover, expect: int = 200, headers: dict | None = None) -> dict:
        st, js, text = cv.admin.request("POST", "/v1/config/reload", headers=headers)
        self.assertEqual(st, expect, text)
        self.assertIsInstance(js, dict, text)
        return js

    def assert_errors_placed(self, cv: h.Cutover, js: dict, needle: str):
        """Every error is FILE:LINE:COL: message in the config file; one with a line > 0 mentions needle."""
        self.assertEqual(js["result"], "failure", js)
        self.assertTrue(js["errors"], js)
        pattern = re.compile(re.escape(str(cv.config_path)) + r":(\d+):(\d+): (.+)")
        placed = []
        for e in js["errors"]:
            m = pattern.fullmatch(e)
            self.assertIsNotNone(m, f"not FILE:LINE:COL: message: {e!r}")
            placed.append((int(m.group(1)), m.group(3)))
        self.assertTrue(any(line > 0 and needle in msg for line, msg in placed), f"{needle!r} not placed in {js}")
        self.assertIn("error", js)

    # ------------------------------------------------------------------------------------------
    def test_a_reload_keeps_runtime_weights_adds_removes_and_repoints(self):
        routes = [h.route("app", path_prefix="/app", weight=0),
                  h.route("old", path_prefix="/old", weight=0)]
        state = self.dir / "state.json"
        cv = self.start(config(self.be, routes, state_file=str(state)), "reload-a")
        cv.admin.set_weight("app", weight=100)
        gen = cv.admin.route("app")["generation"]
        conn = h.CountingConnection(cv.port("public"))
        self.addCleanup(conn.close)
        self.assertEqual(get(conn, "/app/x"), (200, "target"))
        self.assertEqual(get(conn, "/old/x"), (200, "source"))

        # The config's weight for app changes too: the runtime weight (100) wins for a kept route.
        new_routes = [h.route("app", path_prefix="/app", weight=0),
                      h.route("fresh", path_prefix="/fresh", weight=100)]
        write_config(cv, config(self.be, new_routes, target_addr=self.target2.addr, state_file=str(state)))
        js = self.reload(cv)
        self.assertEqual(js["result"], "success")
        self.assertEqual((js["routes"], js["routes_added"], js["routes_removed"]), (2, ["fresh"], ["old"]), js)

        st = cv.admin.route("app")
        self.assertEqual((st["read_weight"], st["write_weight"], st["generation"]), (100, 100, gen),
                         "runtime weights and generation survive the reload")
        # The same keep-alive connection: the next request already uses the new config.
        self.assertEqual(get(conn, "/app/x"), (200, "target2"), "the changed endpoint takes the next request")
        self.assertEqual(get(conn, "/fresh/x"), (200, "target2"), "the added route serves")
        cv.admin.set_weight("fresh", weight=10)
        self.assertEqual(get(conn, "/old/x")[0], 404, "the removed route is gone")
        self.assertEqual(conn.connects, 1)
        self.assertEqual(cv.admin.get("/v1/routes/old")[0], 404)
        self.assertEqual(sorted(json.loads(state.read_text())["routes"]), ["app", "fresh"],
                         "the state file follows the new route set")
        st, audit, _ = cv.admin.get("/v1/audit?limit=2")
        entry = audit["entries"][0]  # the reload, before the set_weights on fresh
        self.assertEqual((entry["action"], entry["result"], entry["routes_added"], entry["routes_removed"]),
                         ("config_reload", "success", ["fresh"], ["old"]), entry)

        # A route with held writes cannot be removed: its waiting writes would be lost.
        st, js, text = cv.admin.post("/v1/routes/fresh/writes/hold", {"drain": 0})
        self.assertEqual(st, 200, text)
        write_config(cv, config(self.be, [h.route("app", path_prefix="/app")], target_addr=self.target2.addr,
                                state_file=str(state)))
        js = self.reload(cv, 422)
        self.assertTrue(any("route 'fresh' is removed but its writes are held" in e for e in js["errors"]), js)
        self.assertEqual(get(conn, "/fresh/x")[0], 200, "still served: nothing changed")
        st, _, text = cv.admin.post("/v1/routes/fresh/writes/release", {})
        self.assertEqual(st, 200, text)
        self.reload(cv)
        self.assertEqual(get(conn, "/fresh/x")[0], 404)

        # Added back later, a route starts from its config weights (its old runtime state is gone).
        write_config(cv, config(self.be, new_routes, state_file=str(state)))
        self.reload(cv)
        self.assertEqual(cv.admin.route("fresh")["read_weight"], 100, "the config's 100, not the forgotten 10")
        self.assertEqual(cv.admin.route("app")["read_weight"], 100)
        self.assertEqual(get(conn, "/app/x"), (200, "target"), "back to the first target endpoint")
        self.assertEqual((reloads(cv, "success"), reloads(cv, "failure")), (3, 1))

    def test_b_an_invalid_file_is_a_422_with_places_and_changes_nothing(self):
        cv = self.start(config(self.be, [h.route("app", path_prefix="/", weight=0)]), "reload-b")
        cv.admin.set_weight("app", weight=100)
        good = config(self.be, [h.route("app", path_prefix="/", weight=0)])

        write_config(cv, "listeners: [\n  {name: public\n")
        self.assert_errors_placed(cv, self.reload(cv, 422), "")

        bad_key = dict(good, bogus_key=1)
        write_config(cv, bad_key)
        self.assert_errors_placed(cv, self.reload(cv, 422), "bogus_key")

        unresolvable = config(self.be, [h.route("app", path_prefix="/", weight=0)],
                              target_addr="no-such-host.invalid:80")
        write_config(cv, unresolvable)
        js = self.reload(cv, 422)
        self.assert_errors_placed(cv, js, "no-such-host.invalid")

        with contextlib.closing(http.client.HTTPConnection(h.LOCALHOST, cv.port("public"), timeout=10)) as conn:
            for _ in range(5):
                self.assertEqual(get(conn, "/x"), (200, "target"), "the running config keeps serving")
        st = cv.admin.route("app")
        self.assertEqual(st["read_weight"], 100)
        self.assertEqual((reloads(cv, "success"), reloads(cv, "failure")), (0, 3))
        self.assertIn("config reload (anonymous): " + str(cv.config_path) + ":", cv.log_path.read_text(),
                      "each error is logged with its place")

    def test_c_sighup_reloads_and_is_counted(self):
        cv = self.start(config(self.be, [h.route("app", path_prefix="/", weight=0)]), "reload-c")
        cv.admin.set_weight("app", weight=100)
        write_config(cv, config(self.be, [h.route("app", path_prefix="/", weight=0),
                                          h.route("api", path_prefix="/api", weight=0)]))
        cv.proc.send_signal(signal.SIGHUP)
        self.assertTrue(h.wait_for(lambda: reloads(cv, "success") == 1, 10), cv.log_tail())
        self.assertEqual(cv.admin.route("api")["read_weight"], 0)
        self.assertEqual(cv.admin.route("app")["read_weight"], 100)
        with contextlib.closing(http.client.HTTPConnection(h.LOCALHOST, cv.port("public"), timeout=10)) as conn:
            self.assertEqual(get(conn, "/api/x"), (200, "source"))
            self.assertEqual(get(conn, "/x"), (200, "target"))

        write_config(cv, "clusters: {\n")
        cv.proc.send_signal(signal.SIGHUP)
        self.assertTrue(h.wait_for(lambda: reloads(cv, "failure") == 1, 10), cv.log_tail())
        self.assertTrue(cv.alive())
        self.assertEqual(cv.admin.route("api")["read_weight"], 0, "the running config stays")
        # The failure is counted before its log line is written: wait for the line too.
        self.assertTrue(h.wait_for(lambda: "config reload (SIGHUP) failed" in cv.log_path.read_text(), 5),
                        cv.log_tail())
        st, audit, _ = cv.admin.get("/v1/audit?limit=2")
        self.assertEqual([(e["actor"], e["result"]) for e in audit["entries"]],
                         [("SIGHUP", "success"), ("SIGHUP", "failure")])

    def test_d_fifty_reloads_half_invalid_under_load(self):
        routes = [h.route("app", path_prefix="/", weight=0)]
        cv = self.start(config(self.be, routes), "reload-d")
        cv.admin.set_weight("app", read_weight=30, write_weight=30)
        gen = cv.admin.route("app")["generation"]
        good = [config(self.be, routes),
                config(self.be, [h.route("app", path_prefix="/", weight=100),
                                 h.route("extra", path_prefix="/extra", weight=50)])]
        bad = ["listeners: [\n",
               h.to_yaml(dict(config(self.be, routes), unknown_setting=True)),
               h.to_yaml(config(self.be, routes, target_addr="no-such-host.invalid:80")),
               h.to_yaml(config(self.be, routes, workers=7))]
        failures = []
        load = h.LoadGen(cv.port("public"), THREADS, path="/app", max_seconds=120)
        with load:
            self.assertTrue(load.wait_until(lambda: load.total() >= 200, timeout=20),
                            f"load did not start: {load.errors[:5]}")
            for i in range(RELOADS):
                valid = i % 2 == 0
                write_config(cv, good[(i // 2) % 2] if valid else bad[(i // 2) % len(bad)])
                st, js, text = cv.admin.request("POST", "/v1/config/reload")
                if st != (200 if valid else 422):
                    failures.append((i, st, text))
                time.sleep(0.02)
            before = load.total()
            self.assertTrue(load.wait_until(lambda: load.total() >= before + 200, timeout=20))
        recs = load.all_records()
        print(f"\nreload under load: {len(recs)} requests, backend counts {self.be.counts()}, "
              f"connects {load.connects}", file=sys.stderr)
        self.assertEqual(failures, [])
        self.assertEqual(load.errors, [], f"{len(load.errors)} failed requests: {load.errors[:10]}")
        self.assertTrue(all(r[3] == 200 for r in recs))
        self.assertEqual(load.connects, [1] * THREADS, "no keep-alive connection was dropped")
        st = cv.admin.route("app")
        self.assertEqual((st["read_weight"], st["write_weight"], st["generation"]), (30, 30, gen),
                         "the runtime weights survive every reload")
        share, _, n = h.side_share(recs)
        self.assertTrue(15 <= share <= 45, f"target share {share:.1f} % of {n} at weight 30")
        self.assertEqual((reloads(cv, "success"), reloads(cv, "failure")), (RELOADS / 2, RELOADS / 2))

    def test_g_long_requests_span_twenty_reloads(self):
        """A 50 MiB upload and a 50 MiB download, each paced over seconds, and a slow upstream
        answer, while the config is reloaded 20 times (routes and weights changing): each finishes
        on the connection it started on, byte for byte."""
        n = 50 * h.MiB
        routes = [h.route("app", path_prefix="/", weight=0)]
        cv = self.start(config(self.be, routes), "reload-g")
        good = [config(self.be, routes),
                config(self.be, [h.route("app", path_prefix="/", weight=0),
                                 h.route("extra", path_prefix="/extra", weight=50)], drain_timeout="3s")]
        results, started = {}, threading.Barrier(4)

        def upload():
            conn = http.client.HTTPConnection(h.LOCALHOST, cv.port("public"), timeout=60)
            conn.putrequest("POST", "/app/upload")
            conn.putheader("Content-Length", str(n))
            conn.endheaders()
            started.wait(10)
            for i, piece in enumerate(h.gen_bytes(n)):
                conn.send(piece)
                if i % 4 == 3:
                    time.sleep(0.02)  # about 3 s for the whole body
            resp = conn.getresponse()
            results["upload"] = (resp.status, json.loads(resp.read()))
            conn.close()

        def download():
            conn = http.client.HTTPConnection(h.LOCALHOST, cv.port("public"), timeout=60)
            conn.request("GET", f"/app/download?bytes={n}")
            resp = conn.getresponse()
            started.wait(10)
            digest, got = hashlib.sha256(), 0
            while chunk := resp.read(h.MiB):
                digest.update(chunk)
                got += len(chunk)
                time.sleep(0.05)  # a slow reader: cutover's buffers fill, the upstream waits
            results["download"] = (resp.status, got, digest.hexdigest())
            conn.close()

        def slow():
            conn = http.client.HTTPConnection(h.LOCALHOST, cv.port("public"), timeout=60)
            started.wait(10)
            st, _, body = h.http_call(conn, "GET", "/app/slow?ms=3000")
            results["slow"] = (st, body)
            conn.close()

        threads = [threading.Thread(target=f, daemon=True) for f in (upload, download, slow)]
        for t in threads:
            t.start()
        started.wait(10)
        for i in range(20):
            write_config(cv, good[i % 2])
            self.reload(cv)
            time.sleep(0.1)
        for t in threads:
            t.join(60)
        self.assertEqual(reloads(cv, "success"), 20)
        st, js = results.get("upload", (None, {}))
        self.assertEqual((st, js.get("bytes"), js.get("sha256")), (200, n, h.expected_sha256(n)), results)
        self.assertEqual(results.get("download"), (200, n, h.expected_sha256(n)))
        self.assertEqual(results.get("slow"), (200, b"slept 3000 ms on source"))

    def test_h_a_cluster_that_turns_tls_on_never_reuses_a_plain_connection(self):
        """A reload that gives a cluster `tls` (or another sni, CA or protocol) closes the
        connections pooled under the old settings: the next request is not sent in plain text over
        one of them. The backend here speaks plain HTTP only, so the new TLS handshake fails: 502."""
        routes = [h.route("app", path_prefix="/", weight=0)]
        cfg = config(self.be, routes)
        cv = self.start(cfg, "reload-h")
        conn = http.client.HTTPConnection(h.LOCALHOST, cv.port("public"), timeout=10)
        self.assertEqual(get(conn, "/app/1"), (200, "source"))  # leaves a pooled connection to source
        tls_cfg = config(self.be, routes)
        tls_cfg["clusters"]["src"]["tls"] = {"verify": False}
        write_config(cv, tls_cfg)
        self.reload(cv)
        status, backend = get(conn, "/app/2")
        self.assertEqual((status, backend), (502, None), "sent over the plain connection pooled before the reload")
        conn.close()

    def test_e_a_reload_adds_a_listener_that_serves_at_once_or_names_the_one_it_cannot_bind(self):
        routes = [h.route("app", path_prefix="/", weight=0)]
        cv = self.start(config(self.be, routes), "reload-e")
        added = config(self.be, routes)
        added["listeners"].append({"name": "second", "address": f"{h.LOCALHOST}:0", "protocol": "http",
                                   "routes": [h.route("two", path_prefix="/", weight=0)]})
        write_config(cv, added)
        self.assertEqual(self.reload(cv)["result"], "success")
        # Bound before the reload answered: its port is logged by then.
        self.assertTrue(h.wait_for(lambda: "second" in cv.listeners, 10), cv.log_tail())
        with contextlib.closing(http.client.HTTPConnection(h.LOCALHOST, cv.port("second"), timeout=10)) as conn:
            self.assertEqual(get(conn, "/x"), (200, "source"))

        # A port another socket holds: the reload fails naming the listener at its address, and
        # the running config (both listeners) stays.
        with contextlib.closing(socket.socket()) as busy:
            busy.bind((h.LOCALHOST, 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            third = json.loads(json.dumps(added))
            third["listeners"].append({"name": "third", "address": f"{h.LOCALHOST}:{port}", "protocol": "http",
                                       "routes": [h.route("three", path_prefix="/", weight=0)]})
            write_config(cv, third)
            js = self.reload(cv, 422)
            self.assert_errors_placed(cv, js, f"listener 'third': cannot listen on 127.0.0.1:{port}")
        for name in ("public", "second"):
            with contextlib.closing(http.client.HTTPConnection(h.LOCALHOST, cv.port(name), timeout=10)) as conn:
                self.assertEqual(get(conn, "/x"), (200, "source"))
        self.assertNotIn("third", cv.listeners)

        # What still needs a restart: a listener's protocol, and the worker count.
        retyped = json.loads(json.dumps(added))
        retyped["listeners"][1]["protocol"] = "tcp"
        retyped["listeners"][1]["routes"] = [{"name": "two", "source": "src", "target": "tgt"}]  # no match: tcp
        write_config(cv, retyped)
        self.assert_errors_placed(cv, self.reload(cv, 422), "listener 'second': protocol changes from http to tcp")
        write_config(cv, config(self.be, routes, workers=3))
        self.assert_errors_placed(cv, self.reload(cv, 422), "workers: changes from 2 to 3")
        with contextlib.closing(http.client.HTTPConnection(h.LOCALHOST, cv.port("public"), timeout=10)) as conn:
            self.assertEqual(get(conn, "/x"), (200, "source"))

        # Another address for "second": the new one serves, the old one stops accepting.
        with contextlib.closing(socket.socket()) as probe:  # a free port, let go for cutover to bind
            probe.bind((h.LOCALHOST, 0))
            new_port = probe.getsockname()[1]
        old_port = cv.port("second")
        moved = json.loads(json.dumps(added))
        moved["listeners"][1]["address"] = f"{h.LOCALHOST}:{new_port}"
        write_config(cv, moved)
        self.assertEqual(self.reload(cv)["result"], "success")
        with contextlib.closing(http.client.HTTPConnection(h.LOCALHOST, new_port, timeout=10)) as conn:
            self.assertEqual(get(conn, "/x"), (200, "source"))
        self.assertTrue(h.wait_for(lambda: refused(old_port), 10), "the old address still accepts")

    def test_i_a_removed_listener_drains_while_the_other_serves_on(self):
        """A reload removing listener "second" while a slow request is in flight on it: the request
        finishes 200 (Connection: close), an idle keep-alive connection on it is closed, new connects
        are refused; keep-alive clients of "public" see no error and keep their connections."""
        routes = [h.route("app", path_prefix="/", weight=0)]
        both = config(self.be, routes)
        both["listeners"].append({"name": "second", "address": f"{h.LOCALHOST}:0", "protocol": "http",
                                  "routes": [h.route("two", path_prefix="/", weight=0)]})
        cv = self.start(both, "reload-i")
        port2 = cv.port("second")
        idle = http.client.HTTPConnection(h.LOCALHOST, port2, timeout=10)
        self.addCleanup(idle.close)
        self.assertEqual(get(idle, "/warm"), (200, "source"))
        slow_result = {}

        def slow():
            with contextlib.closing(http.client.HTTPConnection(h.LOCALHOST, port2, timeout=30)) as conn:
                conn.request("GET", "/two/slow?ms=2000")
                resp = conn.getresponse()
                slow_result["got"] = (resp.status, resp.getheader("Connection"), resp.read())

        load = h.LoadGen(cv.port("public"), 2, path="/app", max_seconds=60)
        with load:
            self.assertTrue(load.wait_until(lambda: load.total() >= 50, timeout=20), f"{load.errors[:5]}")
            t = threading.Thread(target=slow, daemon=True)
            t.start()
            self.assertTrue(h.wait_for(lambda: any("/two/slow" in e.path for e in self.be.source.events_snapshot()),
                                       10))
            write_config(cv, config(self.be, routes))
            self.assertEqual(self.reload(cv)["result"], "success")
            self.assertTrue(h.wait_for(lambda: refused(port2), 10), "the removed listener still accepts")
            # The idle keep-alive connection was closed by cutover: the next read sees its end.
            idle.sock.settimeout(10)
            self.assertEqual(idle.sock.recv(1), b"")
            t.join(30)
            self.assertEqual(slow_result.get("got"), (200, "close", b"slept 2000 ms on source"))
            before = load.total()
            self.assertTrue(load.wait_until(lambda: load.total() >= before + 50, timeout=20))
        self.assertEqual(load.errors, [], f"{load.errors[:10]}")
        self.assertEqual(load.connects, [1, 1], "no keep-alive connection of the other listener was dropped")
        self.assertEqual(reloads(cv, "success"), 1)

    def test_f_the_token_is_required_when_tokens_are_configured(self):
        tokens = self.dir / "tokens.txt"
        tokens.write_text("ops:s3cret\n")
        cfg = config(self.be, [h.route("app", path_prefix="/", weight=0)])
        cfg["admin"]["tokens_file"] = str(tokens)
        cv = self.start(cfg, "reload-f")
        st, js, text = cv.admin.request("POST", "/v1/config/reload")
        self.assertEqual(st, 401, text)
        st, js, text = cv.admin.request("POST", "/v1/config/reload", headers={"Authorization": "Bearer wrong"})
        self.assertEqual(st, 401, text)
        self.assertEqual(reloads(cv, "success"), 0)
        js = self.reload(cv, 200, headers={"Authorization": "Bearer s3cret"})
        self.assertEqual(js["result"], "success")
        st, audit, _ = cv.admin.get("/v1/audit?limit=1")
        self.assertEqual(audit["entries"][-1]["actor"], "ops")


if __name__ == "__main__":
    h.main()
