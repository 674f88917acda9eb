"""A ramp gate on a real Prometheus (Debian's `prometheus`): the server scrapes cutover's own
/metrics every second, and the ramp's gate queries it through the HTTP API. When the target starts
failing, the 5xx count the query sums crosses its max and the ramp rolls back.

test_ramp_steps.py covers the gate's cases against recorded answers; this test shows the whole
path with the real server once.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import LOCALHOST, wait_for  # noqa: E402
from test_ramp import RampCase  # noqa: E402

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def free_port() -> int:
    # Prometheus takes its port on the command line; the window between closing and its bind is short.
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


class Prometheus:
    def __init__(self, scrape_target: str):
        self.dir = Path(tempfile.mkdtemp(prefix="cutover-prom-"))
        self.port = free_port()
        self.url = f"http://{LOCALHOST}:{self.port}"
        (self.dir / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            f"  - job_name: cutover\n    static_configs: [{{targets: ['{scrape_target}']}}]\n")
        self.log = open(self.dir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.dir / 'prometheus.yml'}", f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address={LOCALHOST}:{self.port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, q: str):
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.loads(r.read())
        except OSError:
            return None

    def value(self, q: str) -> float | None:
        a = self.query(q)
        if not a or a.get("status") != "success" or len(a["data"]["result"]) != 1:
            return None
        return float(a["data"]["result"][0]["value"][1])

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrometheusGateTest(RampCase):
    def test_a_real_prometheus_gate_rolls_back_when_the_target_fails(self):
        self.start()
        self.traffic()
        prom = Prometheus(f"{LOCALHOST}:{self.cv.admin_addr[1]}")
        self.addCleanup(prom.close)
        # Ready once it has scraped cutover at least once.
        self.assertTrue(wait_for(lambda: prom.value('up{job="cutover"}') == 1.0, 60, 0.25),
                        (prom.dir / "prometheus.log").read_text(errors="replace")[-2000:])
        query = 'sum(cutover_requests_total{route="app",side="target",code_class="5xx"}) or vector(0)'
        self.assertEqual(prom.value(query), 0.0)
        view = self.start_ramp({"steps": [10, 50, 100], "interval": "30s", "gates": {
            "min_requests": 5, "prometheus": [{"url": prom.url, "query": query, "max": 20}]}})
        self.assertEqual(view["state"], "running")
        self.assertEqual(self.admin.route("app")["read_weight"], 10)
        # The target fails; only the Prometheus gate watches errors here.
        self.target.error_ratio = 1.0
        view = self.wait_state({"rolled_back", "completed"}, 40)
        self.assertEqual(view["state"], "rolled_back", json.dumps(view, indent=1))
        self.assertEqual(view["failed_gate"]["gate"], "prometheus")
        self.assertEqual(view["failed_gate"]["query"], query)
        self.assertGreater(view["failed_gate"]["value"], 20)
        r = self.admin.route("app")
        self.assertEqual((r["read_weight"], r["write_weight"]), (0, 0))


if __name__ == "__main__":
    unittest.main(verbosity=2)
