#!/usr/bin/env python3
"""README.md's five-minute tour, run as written: `./scripts/demo.sh --serve` (the demo's nginx
environments, its config, its light traffic), then every ```sh block of the README whose first line
is `# tour-step: NAME`, in document order, under `bash -e -o pipefail`, each with the `export`
lines of the blocks before it (the reader's one terminal).

What changes in a command: the fixed addresses 127.0.0.1:8080 and :9901 become the ports the kernel
gave (the test asks for port 0), `$PWD/build` the directory of the binaries under test, and a ramp's `--interval` is
shortened. After each step the output and the route's state (admin API) are checked against what
the README says (the check_* methods); a tour step without a check, or a check without its step,
fails.

    CUTOVER_BIN=build/cutover CUTOVERCTL_BIN=build/cutoverctl python3 tests/integration/test_tour.py
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest
import urllib.request
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

_REPO = Path(__file__).resolve().parents[2]
README = _REPO / "README.md"
SERVE = "./scripts/demo.sh --serve"
SOURCE_BODY = "source v1 (on-prem)"
TARGET_BODY = "target v2 (cloud)"


def tour_blocks(text: str) -> list[tuple[str, str]]:
    """(name, body) of each ```sh block whose first line is `# tour-step: NAME`, in order."""
    out = []
    for m in re.finditer(r"```sh\n(.*?)```", text, re.S):
        body = m.group(1)
        first = body.split("\n", 1)[0]
        step = re.fullmatch(r"# tour-step: (\S+)", first.strip())
        if step:
            out.append((step.group(1), body))
    return out


class TourTest(unittest.TestCase):
    def setUp(self):
        # Port 0 for both: the script prints the bound addresses, which the steps then use.
        env = dict(os.environ, CUTOVER_BIN=h.cutover_bin(), LISTEN=f"{h.LOCALHOST}:0", ADMIN=f"{h.LOCALHOST}:0")
        self.serve = subprocess.Popen(["bash", "-c", SERVE], cwd=_REPO, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.serve_out: list[str] = []
        deadline = time.monotonic() + 120  # setup.sh, nginx, cutover: seconds when all is installed
        while time.monotonic() < deadline:
            line = self.serve.stdout.readline()
            if not line:
                break
            self.serve_out.append(line)
            m = re.search(r"cutover = listener http://(\S+), admin API http://(\S+) ", line)
            if m:
                self.listen, self.admin = m.groups()
            if line.startswith("ready:"):
                return
        self.tearDown()
        self.fail("demo.sh --serve did not get ready:\n" + "".join(self.serve_out[-30:]))

    def tearDown(self):
        if self.serve.poll() is None:
            os.killpg(self.serve.pid, signal.SIGINT)  # as Ctrl-C: the script stops its children
            try:
                self.serve.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.serve.pid, signal.SIGKILL)
                self.serve.wait(timeout=5)
        self.serve.stdout.close()

    def route(self) -> dict:
        with urllib.request.urlopen(f"http://{self.admin}/v1/routes/app", timeout=5) as r:
            return json.load(r)

    def rewrite(self, body: str) -> str:
        bindir = os.path.dirname(h.cutoverctl_bin())
        body = body.replace("127.0.0.1:8080", self.listen).replace("127.0.0.1:9901", self.admin)
        body = body.replace("$PWD/build", bindir)
        return re.sub(r"(cutoverctl ramp .*)--interval \S+", r"\1--interval 2s", body)

    def run_step(self, name: str, body: str) -> str:
        env = dict(os.environ, CUTOVER_ADMIN=f"http://{self.admin}")
        p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", self.rewrite(body)], cwd=_REPO, env=env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, f"tour step {name} failed:\n{self.rewrite(body)}\n"
                                          f"stdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p.stdout

    # What each step must have done: its output, and the route's state after it.
    def check_look(self, out, state):
        self.assertIn(SOURCE_BODY, out)
        self.assertRegex(out, r"(?m)^app\s+onprem\s+cloud\s+0\s+0\b")
        self.assertEqual((state["read_weight"], state["write_weight"]), (0, 0))

    def check_weight(self, out, state):
        counts = {body: int(n) for n, body in re.findall(r"(?m)^\s*(\d+) (.+)$", out)}
        self.assertEqual(sum(counts.values()), 20, out)
        # Per request at 50 %: both sides among 20 requests (all on one side: p = 2e-6).
        self.assertGreater(counts.get(SOURCE_BODY, 0), 0, out)
        self.assertGreater(counts.get(TARGET_BODY, 0), 0, out)
        self.assertEqual((state["read_weight"], state["write_weight"]), (50, 50))

    def check_rollback(self, out, state):
        self.assertEqual(out.strip().splitlines()[-1], SOURCE_BODY)
        self.assertEqual((state["read_weight"], state["write_weight"]), (0, 0))
        with urllib.request.urlopen(f"http://{self.admin}/v1/audit?limit=1", timeout=5) as r:
            self.assertEqual(json.load(r)["entries"][0]["reason"], "tour: target looked wrong")

    def check_hold(self, out, state):
        self.assertRegex(out, r"(?m)^app\s.*\sheld 1\s", "the POST waited in cutover during the hold")
        self.assertIn(TARGET_BODY, out.splitlines(), "the held POST went to target on release")
        self.assertNotIn(SOURCE_BODY, out)
        self.assertEqual((state["read_weight"], state["write_weight"]), (0, 100))
        self.assertFalse(state["writes"]["held"])

    def check_ramp(self, out, state):
        self.assertIn("ramp completed", out)
        self.assertEqual((state["read_weight"], state["write_weight"]), (100, 100))
        self.assertRegex(out, r"(?m)^app\s+target\s+[1-9]")

    def test_tour_as_written(self):
        text = README.read_text()
        self.assertIn(SERVE, text, "the tour's first command is gone from README.md")
        blocks = tour_blocks(text)
        names = [n for n, _ in blocks]
        checks = [m[len("check_"):] for m in dir(self) if m.startswith("check_")]
        self.assertEqual(sorted(names), sorted(checks), "tour steps and STEP_CHECKS differ")
        self.assertEqual(names, ["look", "weight", "rollback", "hold", "ramp"], "the tour's order changed")
        exports = ""  # one terminal: what an earlier step exported holds in the later ones
        for name, body in blocks:
            out = self.run_step(name, exports + body)
            exports += "".join(line + "\n" for line in body.splitlines() if line.startswith("export "))
            getattr(self, f"check_{name}")(out, self.route())


if __name__ == "__main__":
    unittest.main(verbosity=2)
