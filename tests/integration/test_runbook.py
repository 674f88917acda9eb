#!/usr/bin/env python3
"""docs/runbook.md run end to end: the runbook's own commands, in the order written, against a
cutover started from the runbook's own config, in front of real backends under steady load.

The runbook marks its blocks: a ```yaml block whose first line is `# runbook-config` is the config
(its hosts, ports and paths are pointed at this test: config_rewrites()); every ```sh block whose
first line is `# runbook-step: NAME` runs, in document order, under `bash -e -o pipefail` with
CUTOVER_ADMIN set, `cutover`/`cutoverctl` on PATH and /etc/cutover/cutover.yaml meaning the test's
config; every `# runbook-rollback: NAME` block runs after the steps, from the state of the phase it
belongs to. Durations and the requests a ramp step waits for are shortened (REWRITE_COMMANDS);
nothing else of a command changes except one threshold: the p99 ratio between two backends living
in this one Python process is noise, so `--max-p99-ratio` is relaxed.
After each step the route's state is checked against what the runbook says it should be
(STEP_CHECKS); a step missing from the runbook or not checked here fails the test, so the two stay
in sync. The Grafana dashboard's queries are also checked against this cutover's /metrics.

    CUTOVER_BIN=build/cutover CUTOVERCTL_BIN=build/cutoverctl python3 tests/integration/test_runbook.py
"""
from __future__ import annotations

import collections
import http.client
import http.server
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

_REPO = Path(__file__).resolve().parents[2]
RUNBOOK = _REPO / "docs" / "runbook.md"
sys.path.insert(0, str(_REPO / "docker"))
import check_dashboard  # noqa: E402

# Strings of the runbook's config -> what this test needs instead. Each must occur in the config:
# a runbook edit that drops one fails here instead of testing something else.
def config_rewrites(src_addr: str, tgt_addr: str, state_dir: Path) -> list[tuple[str, str]]:
    return [("legacy.internal:8080", src_addr), ("cloud.internal:8080", tgt_addr),
            ("address: 0.0.0.0:8080", "address: 127.0.0.1:0"),
            ("listen: 127.0.0.1:9901", "listen: 127.0.0.1:0"),
            ("/var/lib/cutover/", f"{state_dir}/"), ("workers: 0", "workers: 2")]

# Commands: regex -> replacement, for durations an operator waits minutes for.
REWRITE_COMMANDS = [
    (r"--interval \S+", "--interval 1s"),        # ramp steps and watch refreshes
    (r"--window \S+", "--window 3s"),            # stats windows
    (r"--min-requests \d+", "--min-requests 5"),
    (r"--max-wait \S+", "--max-wait 20s"),
    (r"--max-p99-ratio \S+", "--max-p99-ratio 50"),
]

STEP_TIMEOUT = 40.0      # one block, ramp and watch included
USERS = 300


def runbook_blocks(text: str) -> list[tuple[str, str, str, str]]:
    """(lang, kind, name, body) of every fenced block whose first line is `# runbook-KIND[: NAME]`."""
    out = []
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
        lang, body = m.group(1), m.group(2)
        first = body.split("\n", 1)[0].strip()
        mk = re.fullmatch(r"# runbook-(config|step|rollback)(?::\s*(\S+))?", first)
        if mk:
            out.append((lang, mk.group(1), mk.group(2) or "", body))
    return out


# --------------------------------------------------------------------------------------------
# Backends whose answers compare equal under the runbook's mirror settings: the same JSON from both
# sides except `timestamp` and `request_id` (ignored by the config), and the side in the `Server`
# header (ignored too), so the client can tell who answered.

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        # Without TCP_NODELAY, head and body writes meet delayed ACKs: 40 ms per response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _handle(self):
        be = self.server.backend
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        be.record(self.command, self.path, self.headers.get("X-User-Id"),
                  self.headers.get("X-Cutover-Shadow") == "1")
        body = json.dumps({"path": self.path, "method": self.command, "price": 10,
                           "timestamp": time.time(), "request_id": uuid.uuid4().hex}).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self._headers_buffer.append(b"\r\n")  # end_headers() and the body in one write
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()

    do_GET = do_HEAD = do_POST = do_PUT = _handle

    def version_string(self):
        return self.server.backend.side


class Backend:
    """One side: a threaded HTTP/1.1 server on 127.0.0.1:0 recording (time, method, user, shadow)."""

    def __init__(self, side: str):
        self.side = side
        self.lock = threading.Lock()
        self.events: collections.deque = collections.deque(maxlen=500000)
        self.server = http.server.ThreadingHTTPServer((h.LOCALHOST, 0), _Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 256
        self.server.backend = self
        self.addr = f"{h.LOCALHOST}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()

    def record(self, method, path, user, shadow):
        with self.lock:
            self.events.append((time.monotonic(), method, user, shadow))

    def served(self, since: float = 0.0, method: str | None = None) -> list[tuple]:
        """Primary (not mirrored) requests since a monotonic time, optionally of one method."""
        with self.lock:
            return [e for e in self.events if e[0] >= since and not e[3] and (method is None or e[1] == method)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Load:
    """`threads` keep-alive clients: users (X-User-Id) sending 90 % GETs and 10 % POSTs until stop().
    Records (t_send, t_recv, user, method, status, side or error)."""

    def __init__(self, port: int, threads: int = 6, max_seconds: float = 120.0):
        self.port, self.max_seconds = port, max_seconds
        self.records: list[tuple] = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _run(self, i):
        rng = random.Random(i)
        deadline = time.monotonic() + self.max_seconds
        conn = http.client.HTTPConnection(h.LOCALHOST, self.port, timeout=20)
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            user = f"user-{rng.randrange(USERS)}"
            method = "POST" if rng.random() < 0.1 else "GET"
            t0 = time.monotonic()
            try:
                conn.request(method, "/orders" if method == "POST" else f"/items/{rng.randrange(100)}",
                             body=b'{"qty": 1}' if method == "POST" else None,
                             headers={"X-User-Id": user, "Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                rec = (t0, time.monotonic(), user, method, resp.status, resp.getheader("Server"))
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                conn.close()
                rec = (t0, time.monotonic(), user, method, None, repr(e))
            with self.lock:
                self.records.append(rec)
            time.sleep(0.002)  # about 2000 requests/s at most over all threads: enough for every gate
        conn.close()

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(25)

    def snapshot(self, since: float = 0.0) -> list[tuple]:
        with self.lock:
            return [r for r in self.records if r[0] >= since]

    def failures(self) -> list[tuple]:
        with self.lock:
            return [r for r in self.records if r[4] is None or r[4] >= 500]


class RunbookTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.text = RUNBOOK.read_text()
        cls.blocks = runbook_blocks(cls.text)
        cls.tmp = Path(tempfile.mkdtemp(prefix="cutover-it-runbook-"))
        # `cutover` and `cutoverctl` by those names on PATH, as the runbook calls them.
        bindir = cls.tmp / "bin"
        bindir.mkdir()
        (bindir / "cutover").symlink_to(os.path.abspath(h.cutover_bin()))
        (bindir / "cutoverctl").symlink_to(os.path.abspath(h.cutoverctl_bin()))
        cls.source, cls.target = Backend("source"), Backend("target")
        configs = [b for b in cls.blocks if b[1] == "config"]
        assert len(configs) == 1, f"expected one `# runbook-config` block in {RUNBOOK}, found {len(configs)}"
        config = configs[0][3]
        state = cls.tmp / "state"
        state.mkdir()
        for old, new in config_rewrites(cls.source.addr, cls.target.addr, state):
            assert old in config, f"the runbook's config no longer has {old!r}: update config_rewrites()"
            config = config.replace(old, new)
        # The harness writes a config from a dict; this one is the runbook's text, written over it.
        cls.cv = h.Cutover({"listeners": [{"name": "public"}]}, name="runbook")
        cls.cv.config_path.write_text(config)
        cls.cv.start()
        cls.admin = cls.cv.admin
        cls.env = dict(os.environ, CUTOVER_ADMIN=f"http://{h.LOCALHOST}:{cls.cv.admin_addr[1]}",
                       PATH=f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}")
        cls.env.pop("CUTOVER_TOKEN", None)
        cls.load = Load(cls.cv.port("public"), max_seconds=240.0).start()

    @classmethod
    def tearDownClass(cls):
        cls.load.stop()
        cls.cv.stop()
        cls.source.close()
        cls.target.close()

    # ---- running blocks ----------------------------------------------------------------------

    def run_block(self, kind: str, name: str, body: str) -> subprocess.CompletedProcess:
        script = body.replace("/etc/cutover/cutover.yaml", str(self.cv.config_path))
        script = script.replace("http://app.example.com", f"http://{h.LOCALHOST}:{self.cv.port('public')}")
        for pattern, repl in REWRITE_COMMANDS:
            script = re.sub(pattern, repl, script)
        t0 = time.monotonic()
        res = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=self.tmp, env=self.env,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=STEP_TIMEOUT)
        print(f"\n--- runbook-{kind}: {name} ({time.monotonic() - t0:.1f} s, exit {res.returncode})\n"
              f"{script.strip()}\n{res.stdout.rstrip()}", file=sys.stderr)
        self.assertEqual(res.returncode, 0, f"runbook-{kind} {name} failed:\n{script}\nstdout:\n"
                         f"{res.stdout}\nstderr:\n{res.stderr}\ncutover:\n{self.cv.log_tail(20)}")
        return res

    def route(self) -> dict:
        return self.admin.route("app")

    def failures(self) -> list[tuple]:
        """The load's 5xx and errors, but for the maintenance window's own answers (cutover's 503)."""
        start, end = getattr(type(self), "maintenance", (0.0, 0.0))
        return [r for r in self.load.failures() if not (r[4] == 503 and r[5] == "cutover" and start <= r[0] <= end)]

    def assert_weights(self, read, write):
        r = self.route()
        self.assertEqual((r["read_weight"], r["write_weight"]), (read, write), r)

    # ---- what each step leaves behind ---------------------------------------------------------

    def check_prepare(self, res, t0, t_done):
        self.assert_weights(0, 0)
        self.assertIn("app", res.stdout)
        self.assertEqual(self.target.served(), [], "the target served a request before phase 2")

    def check_shadow(self, res, t0, t_done):
        st, js, _ = self.admin.get("/v1/shadow?route=app")
        self.assertEqual(st, 200)
        (route,) = [r for r in js["routes"] if r["route"] == "app"]
        self.assertGreater(route["compared"], 20, route)
        self.assertEqual(route["mismatched"], 0, f"identical answers must match under the runbook's "
                         f"ignore_json_fields/ignore_headers: {route}")
        self.assertIn("mismatch", res.stdout.lower())

    def check_read_slice(self, res, t0, t_done):
        self.assert_weights(1, 0)
        h.wait_for(lambda: self.target.served(t0, "GET"), 10)
        self.assertTrue(self.target.served(t0, "GET"), "no read reached the target at read weight 1")
        self.assertEqual(self.target.served(t0, "POST"), [], "a write reached the target")

    def check_canary(self, res, t0, t_done):
        self.assert_weights(10, 0)
        since = time.monotonic()  # users in buckets 100..999 moved during the step: look after it
        time.sleep(1.5)
        reads = [r for r in self.load.snapshot(since) if r[3] == "GET" and r[4] == 200]
        sides = collections.defaultdict(set)
        for r in reads:
            sides[r[2]].add(r[5])
        on_target = [u for u, s in sides.items() if "target" in s]
        self.assertFalse([u for u, s in sides.items() if len(s) > 1], "a sticky user saw both sides")
        self.assertTrue(0.02 * len(sides) <= len(on_target) <= 0.25 * len(sides),
                        f"{len(on_target)} of {len(sides)} users on target at read weight 10")
        self.assertEqual(self.target.served(t0, "POST"), [], "a write reached the target")

    def side_of(self, headers: dict) -> str:
        """The side that answered one HEAD request with `headers` (the backends' Server header)."""
        conn = http.client.HTTPConnection(h.LOCALHOST, self.cv.port("public"), timeout=10)
        try:
            conn.request("HEAD", "/", headers=headers)
            resp = conn.getresponse()
            resp.read()
            return resp.getheader("Server")
        finally:
            conn.close()

    def check_tenants(self, res, t0, t_done):
        self.assert_weights(10, 0)
        self.assertEqual(res.stdout.lower().count("server: target"), 2, res.stdout)
        st, js, _ = self.admin.get("/v1/routes/app/segments")
        self.assertEqual(st, 200)
        self.assertEqual([len(s["values"]) for s in js["segments"]], [2, 10000])
        # Listed tenants reach the target whatever the weight; an unlisted one follows the weights
        # (no X-User-Id here: a random bucket, 90 % source), so ask it 20 times.
        for tenant in ("acme", "internal-qa", "tenant-1", "tenant-10000"):
            self.assertEqual(self.side_of({"X-Tenant": tenant}), "target", tenant)
        unlisted = [self.side_of({"X-Tenant": "globex"}) for _ in range(20)]
        self.assertIn("source", unlisted)

    def check_rehearsal(self, res, t0, t_done):
        st, js, _ = self.admin.get("/v1/routes/app/ramp")
        self.assertEqual((st, js["state"], js["dry_run"]), (200, "completed", True), js)
        self.assertEqual([e["would"] for e in js["rehearsal"]],
                         ["would_start", "would_advance", "would_advance", "would_advance", "would_complete"])
        self.assert_weights(10, 0)  # nothing moved
        self.assertIn("DRY-RUN", res.stdout)
        st, js, _ = self.admin.get("/v1/audit?limit=20")
        self.assertIn("ramp_rehearsal", [e["action"] for e in js["entries"]])
        self.assertNotIn("ramp_step", [e["action"] for e in js["entries"]])

    def check_ramp(self, res, t0, t_done):
        st, js, _ = self.admin.get("/v1/routes/app/ramp")
        self.assertEqual((st, js["state"]), (200, "completed"), js)
        self.assertEqual(js["apply_to"], "read")
        self.assertFalse(js["dry_run"])
        self.assert_weights(100, 0)
        self.assertRegex(res.stdout.lower(), r"completed")
        self.assertIn("waits for approval", res.stdout)
        st, audit, _ = self.admin.get("/v1/audit?limit=30")
        approvals = [e for e in audit["entries"] if e["action"] == "ramp_approve"]
        self.assertEqual([e["ramp_step"] for e in approvals], [3], "one approval, at 50 %")
        # The dashboard's queries name metrics this cutover exports (cutover_ramp_step too, now).
        dash = json.loads((_REPO / "docker" / "grafana-dashboard.json").read_text())
        self.assertEqual(check_dashboard.check(dash, self.admin.metrics()), [])

    def check_hold(self, res, t0, t_done):
        r = self.route()
        self.assertTrue(r["writes"]["held"], r)
        self.assertEqual((r["read_weight"], r["write_weight"]), (100, 0))
        # Writes wait in the proxy now; reads keep flowing.
        self.assertTrue(h.wait_for(lambda: self.route()["writes"]["held_requests"] > 0, 5),
                        "no write of the load is held")
        self.assertTrue(h.wait_for(lambda: [r for r in self.load.snapshot(time.monotonic() - 0.3)
                                            if r[3] == "GET" and r[4] == 200], 3), "reads stopped during the hold")
        type(self).held_since = t_done  # writes arriving from here on wait for the release

    def check_promote(self, res, t0, t_done):
        self.assertTrue(self.route()["writes"]["held"])

    def check_release(self, res, t0, t_done):
        r = self.route()
        self.assertFalse(r["writes"]["held"], r)
        self.assert_weights(100, 100)
        type(self).released = time.monotonic()
        # No write reached the source once the hold answered; the held ones went to the target.
        self.assertEqual(self.source.served(self.held_since, "POST"), [])
        self.assertTrue(h.wait_for(lambda: self.target.served(self.held_since, "POST"), 5))
        time.sleep(3.5)  # decommission looks at the last (shortened) 3 s window: post-flip only

    def check_maintenance(self, res, t0, t_done):
        self.assertIn("503", res.stdout.splitlines(), res.stdout)
        self.assertIn("server: target", res.stdout.lower(), "the tester reached the target")
        r = self.route()
        self.assertIsNone(r.get("maintenance"), r)
        self.assert_weights(100, 100)
        # The public got cutover's own 503 with Retry-After meanwhile, no upstream contact.
        # (cutover's own answers say "Server: cutover".)
        answered = [x for x in self.load.snapshot(t0) if x[0] <= t_done and x[4] == 503]
        self.assertTrue(answered, "no client saw the maintenance answer")
        self.assertEqual([x for x in answered if x[5] != "cutover"], [], "a 503 from a backend")
        self.assertEqual(self.source.served(t0), [])
        type(self).maintenance = (t0, t_done)
        time.sleep(3.5)  # decommission looks at the last (shortened) 3 s window: after maintenance only

    def check_decommission(self, res, t0, t_done):
        st, js, _ = self.admin.get("/v1/stats?window=3s&route=app")
        self.assertEqual(st, 200)
        sides = js["routes"][0]["sides"]
        self.assertEqual(sides["source"]["requests"], 0, sides)
        self.assertGreater(sides["target"]["requests"], 0, sides)
        self.assertEqual(self.source.served(self.released), [], "the source served a request after the flip")
        audits = list(self.tmp.glob("cutover-audit-app-*.json"))
        self.assertEqual(len(audits), 1)
        actions = [e["action"] for e in json.loads(audits[0].read_text())["entries"]]
        for a in ("hold", "ramp_start", "release"):
            self.assertIn(a, actions)

    STEP_CHECKS = {"prepare": check_prepare, "shadow": check_shadow, "read-slice": check_read_slice,
                   "canary": check_canary, "tenants": check_tenants, "rehearsal": check_rehearsal,
                   "ramp": check_ramp, "hold": check_hold, "promote": check_promote,
                   "release": check_release, "maintenance": check_maintenance,
                   "decommission": check_decommission}

    # ---- the runbook, in order ----------------------------------------------------------------

    def test_1_steps_in_order(self):
        steps = [(name, body) for lang, kind, name, body in self.blocks if kind == "step"]
        self.assertEqual([n for n, _ in steps], list(self.STEP_CHECKS),
                         "the runbook's steps and this test's checks differ: keep them in sync")
        # Phase 1 needs mirrored reads compared before its commands show anything.
        self.assertTrue(h.wait_for(lambda: self._compared() > 20, 10), "no shadow comparisons")
        for name, body in steps:
            t0 = time.monotonic()
            res = self.run_block("step", name, body)
            self.STEP_CHECKS[name](self, res, t0, time.monotonic())
        self.assertEqual(self.failures(), [], "a client got a 5xx or an error during the migration")
        total = len(self.load.snapshot())
        print(f"\nload: {total} requests, no failure", file=sys.stderr)

    def _compared(self) -> int:
        st, js, _ = self.admin.get("/v1/shadow?route=app")
        return sum(r["compared"] for r in js["routes"] if r["route"] == "app") if st == 200 else 0

    # ---- every rollback block, from the state of its phase ------------------------------------

    def test_2_rollbacks(self):
        rollbacks = [(name, body) for lang, kind, name, body in self.blocks if kind == "rollback"]
        self.assertEqual(sorted(n for n, _ in rollbacks), ["any", "canary", "ramp", "read-slice", "release"])
        ctl = [str(self.tmp / "bin" / "cutoverctl")]
        set_up = {
            "any": lambda: self.admin.set_weight("app", read_weight=25, write_weight=0),
            "read-slice": lambda: self.admin.set_weight("app", read_weight=1, write_weight=0),
            "canary": lambda: self.admin.set_weight("app", read_weight=10, write_weight=0),
            # a ramp in its first step, far from done
            "ramp": lambda: self.assertEqual(self.admin.post("/v1/routes/app/ramp", {
                "steps": [10, 25, 50, 100], "interval": "10m", "apply_to": "read"})[0], 200),
            # after the flip: everything on target
            "release": lambda: self.admin.set_weight("app", weight=100),
        }
        for name, body in rollbacks:
            with self.subTest(rollback=name):
                st, js, _ = self.admin.get("/v1/routes/app/ramp")
                if st == 200 and js.get("state") in ("running", "paused"):
                    subprocess.run(ctl + ["ramp-abort", "app"], env=self.env, capture_output=True, timeout=10)
                set_up[name]()
                self.assertNotEqual(self.route()["read_weight"], 0)
                self.run_block("rollback", name, body)
                r = self.route()
                self.assertEqual((r["read_weight"], r["write_weight"]), (0, 0), r)
                self.assertFalse(r["writes"]["held"], r)
                if name == "ramp":
                    st, js, _ = self.admin.get("/v1/routes/app/ramp")
                    self.assertIn(js["state"], ("aborted", "rolled_back"), js)
                # The very next requests are the source's.
                after = time.monotonic()
                self.assertTrue(h.wait_for(lambda: len(self.load.snapshot(after)) > 20, 5))
                late = [x for x in self.load.snapshot(after) if x[5] == "target" and x[0] > after]
                self.assertEqual(late, [], f"requests sent after rollback '{name}' reached the target")
        self.assertEqual(self.failures(), [], "a client got a 5xx or an error during the rollbacks")


if __name__ == "__main__":
    h.main()
