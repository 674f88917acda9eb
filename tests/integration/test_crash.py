#!/usr/bin/env python3
"""Crash safety of the state file and the audit log: cutover is killed with SIGKILL at a random
moment during a stream of admin changes, CRASH_ITERATIONS times (default 200), each time restarted
from what it left. After every kill the state file parses, and every change the admin API
acknowledged before the kill is in it (the route's generation and weights are at least the last
acknowledged) and in the audit log; the restarted process serves that state.

    CUTOVER_BIN=build/cutover python3 tests/integration/test_crash.py
"""
from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

ITERATIONS = int(os.environ.get("CRASH_ITERATIONS", "200"))


class CrashTest(unittest.TestCase):
    def setUp(self):
        self.be = h.Backends()
        self.addCleanup(self.be.close)
        self.dir = Path(tempfile.mkdtemp(prefix="cutover-it-crash-"))
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.cfg = h.simple_config(self.be, weight=0)
        self.cfg["state_file"] = str(self.dir / "state.json")
        self.cfg["audit_log"] = str(self.dir / "audit.jsonl")

    @staticmethod
    def changes(port: int, first: int, acked: list, stop: threading.Event):
        """PUTs weights (unique per change: they name it) until the process dies or `stop`."""
        k = first
        while not stop.is_set():
            read_bp, write_bp = k % 10001, (k * 7919) % 10001
            conn = http.client.HTTPConnection(h.LOCALHOST, port, timeout=5)
            try:
                conn.request("PUT", "/v1/routes/app/weights",
                             body=json.dumps({"read_weight": read_bp / 100, "write_weight": write_bp / 100}),
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                body = json.loads(resp.read())
                if resp.status != 200:
                    raise AssertionError(f"PUT weights answered {resp.status}: {body}")
                acked.append((body["generation"], read_bp, write_bp))
            except (OSError, http.client.HTTPException, ValueError):
                return  # killed: this change was not acknowledged
            finally:
                conn.close()
            k += 1

    def check_files(self, acked: list, i: int):
        state = json.loads((self.dir / "state.json").read_text())  # raises when torn
        app = state["routes"]["app"]
        if not acked:
            return
        gen, read_bp, write_bp = acked[-1]
        self.assertGreaterEqual(app["generation"], gen, f"iteration {i}: an acknowledged change is missing")
        if app["generation"] == gen:
            self.assertEqual((app["read_weight_bp"], app["write_weight_bp"]), (read_bp, write_bp), f"iteration {i}")
        audit = set()
        for line in (self.dir / "audit.jsonl").read_text().splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue  # a line torn by the kill: never an acknowledged one (checked below)
            after = e.get("after") or {}
            audit.add((round(after.get("read_weight", -1) * 100), round(after.get("write_weight", -1) * 100)))
        missing = [(r, w) for _, r, w in acked if (r, w) not in audit]
        self.assertEqual(missing, [], f"iteration {i}: acknowledged changes not in the audit log")

    def test_kill_9_during_admin_changes(self):
        rng = random.Random(int(os.environ.get("CRASH_SEED", "20261205")))
        k, total_acked = 1, 0
        for i in range(ITERATIONS):
            cv = h.Cutover(self.cfg, name=f"crash{i}").start()
            try:
                if (self.dir / "state.json").exists():
                    saved = json.loads((self.dir / "state.json").read_text())["routes"]["app"]
                    st = cv.admin.route("app")
                    self.assertEqual(st["generation"], saved["generation"], f"iteration {i}: restart state")
                acked: list = []
                stop = threading.Event()
                t = threading.Thread(target=self.changes, args=(cv.admin_addr[1], k, acked, stop), daemon=True)
                t.start()
                time.sleep(rng.uniform(0.0, 0.15))
                cv.proc.kill()  # SIGKILL at a random moment of the stream
                cv.proc.wait(10)
                stop.set()
                t.join(10)
            finally:
                cv.stop()
            self.check_files(acked, i)
            k += len(acked) + 1
            total_acked += len(acked)
        print(f"\n{ITERATIONS} kills, {total_acked} acknowledged changes, none lost", file=sys.stderr)
        self.assertGreater(total_acked, ITERATIONS, "the kills must land among changes, not before them")


if __name__ == "__main__":
    unittest.main(verbosity=2)
