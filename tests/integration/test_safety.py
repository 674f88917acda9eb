#!/usr/bin/env python3
"""Migration safety against the real binary and real backends: read-your-writes, tenant segments
and maintenance answers.

Acceptance:
- read 100 / write 0 with `read_your_writes`: every read within the window after a user's write
  reaches source (by the signed cookie, and by the sticky key), and target again after it; a
  forged cookie is ignored; `cutover_ryw_reads_total` counts the pinned reads and the access log
  says `read_your_writes`.
- segments: a listed tenant goes to target at weight 0 and an unlisted one to source; 10,000
  values are loaded through the API (and one more through cutoverctl); bad lists are 422.
- maintenance: 503 with Retry-After and zero upstream contact, while a tester allowed by `force`
  passes through to the side asked for; counted, not a 5xx in /v1/stats; DELETE ends it; the
  all-routes form covers every route.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

WINDOW_S = 2.0
FORCE = {"header": "X-Cutover-Side", "allow_cidrs": ["127.0.0.0/8"]}


class SafetyTest(h.CutoverTestCase):
    @classmethod
    def setUpClass(cls):
        cls.be = h.Backends()
        cls.tmp = tempfile.TemporaryDirectory(prefix="cutover-safety-")
        cls.log = os.path.join(cls.tmp.name, "access.log")
        R = h.route
        ryw = {"window": f"{int(WINDOW_S)}s"}
        cfg = h.make_config(
            {"src": h.cluster(cls.be.source.addr), "tgt": h.cluster(cls.be.target.addr)},
            [{"name": "public", "address": f"{h.LOCALHOST}:0", "protocol": "http",
              "access_log": {"path": cls.log},
              "routes": [
                  R("rywc", path_prefix="/rywc/", read_weight=100, write_weight=0, read_your_writes=ryw),
                  R("ryws", path_prefix="/ryws/", read_weight=100, write_weight=0, read_your_writes=ryw,
                    sticky={"header": "X-User-Id"}),
                  R("seg", path_prefix="/seg/", weight=0,
                    segments=[{"header": "X-Tenant", "values": ["internal"], "side": "target"}]),
                  R("mnt", path_prefix="/mnt/", weight=0, force=FORCE),
              ]}])
        cls.start_cutover(cfg, "safety")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.tmp.cleanup()

    def call(self, method, path, headers=None):
        """(status, headers, body) of one request on a new connection."""
        c = h.CountingConnection(self.port, timeout=10)
        try:
            body = b"saved" if method not in ("GET", "HEAD") else None
            return h.http_call(c, method, path, headers or {}, body)
        finally:
            c.close()

    def side(self, method, path, headers=None):
        st, hdrs, data = self.call(method, path, headers)
        self.assertEqual(st, 200, f"{method} {path} {headers}: {st} {data[:200]!r}")
        return h.header(hdrs, "X-Backend")

    def ryw_reads(self, route):
        return {lb["side"]: v for lb, v in h.metric_values(self.admin.metrics(), "cutover_ryw_reads_total", route=route)}

    # read-your-writes ------------------------------------------------------------------------
    def test_ryw_cookie_pins_reads_to_the_write_side_for_the_window(self):
        self.assertEqual(self.side("GET", "/rywc/page"), "target", "read weight 100")
        st, hdrs, _ = self.call("POST", "/rywc/form")
        self.assertEqual(st, 200)
        self.assertEqual(h.header(hdrs, "X-Backend"), "source", "write weight 0")
        set_cookie = h.header(hdrs, "Set-Cookie") or ""
        self.assertTrue(set_cookie.startswith("cutover_ryw="), set_cookie)
        for attr in ("HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2"):
            self.assertIn(attr, set_cookie)
        cookie = set_cookie.split(";", 1)[0]
        wrote = time.monotonic()
        before = self.ryw_reads("rywc").get("source", 0.0)
        n = 0
        while time.monotonic() - wrote < WINDOW_S - 0.5:  # bounded by the window
            self.assertEqual(self.side("GET", f"/rywc/page?{n}", {"Cookie": cookie}), "source",
                             f"read {n} within the window after the write")
            n += 1
        self.assertGreater(n, 5)
        self.assertEqual(self.ryw_reads("rywc").get("source", 0.0) - before, n)
        # Another user is not pinned; a forged or altered cookie is ignored.
        self.assertEqual(self.side("GET", "/rywc/page"), "target")
        name, value = cookie.split("=", 1)
        self.assertEqual(value[0], "s")
        _, expiry, mac = value.split(".")
        stretched = f"{name}=s.{int(expiry) + 60000}.{mac}"  # a longer pin under the same MAC
        self.assertEqual(self.side("GET", "/rywc/page", {"Cookie": stretched}), "target", "altered cookie")
        self.assertEqual(self.side("GET", "/rywc/page", {"Cookie": f"{name}=s.99999999999999.{'0' * 32}"}), "target")
        # After the window the weights decide again, cookie or not.
        time.sleep(max(0.0, WINDOW_S + 0.2 - (time.monotonic() - wrote)))
        self.assertEqual(self.side("GET", "/rywc/page", {"Cookie": cookie}), "target", "after the window")
        # The access log says why.
        def pinned_line():
            try:
                with open(self.log) as f:
                    return any(json.loads(l).get("side_reason") == "read_your_writes" and
                               json.loads(l).get("route") == "rywc" for l in f if l.strip())
            except FileNotFoundError:
                return False
        self.assertTrue(h.wait_for(pinned_line, 5.0), "no access log line with side_reason read_your_writes")

    def test_ryw_sticky_key_pins_that_user_only(self):
        self.assertEqual(self.side("POST", "/ryws/form", {"X-User-Id": "alice"}), "source")
        wrote = time.monotonic()
        n = 0
        while time.monotonic() - wrote < WINDOW_S - 0.5:
            self.assertEqual(self.side("GET", f"/ryws/page?{n}", {"X-User-Id": "alice"}), "source",
                             f"alice's read {n} within the window")
            self.assertEqual(self.side("GET", f"/ryws/page?{n}", {"X-User-Id": "bob"}), "target", "bob wrote nothing")
            n += 1
        self.assertGreater(n, 3)
        time.sleep(max(0.0, WINDOW_S + 0.2 - (time.monotonic() - wrote)))
        self.assertEqual(self.side("GET", "/ryws/page", {"X-User-Id": "alice"}), "target", "after the window")

    # segments --------------------------------------------------------------------------------
    def test_segments_route_listed_tenants_to_target_at_weight_zero(self):
        self.assertEqual(self.side("GET", "/seg/x", {"X-Tenant": "internal"}), "target")
        self.assertEqual(self.side("GET", "/seg/x", {"X-Tenant": "acme"}), "source")
        self.assertEqual(self.side("GET", "/seg/x"), "source")
        gen = self.admin.route("seg")["generation"]
        tenants = [f"tenant-{i}" for i in range(10000)]
        st, js, text = self.admin.put("/v1/routes/seg/segments", {
            "segments": [{"header": "X-Tenant", "values": tenants, "side": "target"},
                         {"client_cidrs": ["192.0.2.0/24"], "side": "target"}],
            "if_generation": gen, "reason": "wave 1"})
        self.assertEqual(st, 200, text[:300])
        self.assertEqual(js["generation"], gen + 1)
        st, js, _ = self.admin.get("/v1/routes/seg/segments")
        self.assertEqual(len(js["segments"][0]["values"]), 10000)
        for t in ("tenant-0", "tenant-5000", "tenant-9999"):
            self.assertEqual(self.side("GET", "/seg/x", {"X-Tenant": t}), "target", t)
        for t in ("internal", "tenant-10000", "acme"):
            self.assertEqual(self.side("GET", "/seg/x", {"X-Tenant": t}), "source", f"{t} is not listed now")
        self.assertEqual(self.side("POST", "/seg/x", {"X-Tenant": "tenant-42"}), "target", "writes too")
        # A stale generation and bad lists change nothing.
        st, _, _ = self.admin.put("/v1/routes/seg/segments", {"segments": [], "if_generation": gen})
        self.assertEqual(st, 409)
        for bad, field in ((
                [{"header": "X-Tenant", "values": ["a"], "side": "blue"}], "segments[0].side"),
                ([{"header": "X-Tenant", "values": [], "side": "target"}], "segments[0].values"),
                ([{"client_cidrs": ["300.1.1.1/8"], "side": "target"}], "segments[0].client_cidrs[0]"),
                ([{"header": "X-Tenant", "values": ["a", "a"], "side": "target"}], "segments[0].values[1]")):
            st, js, text = self.admin.put("/v1/routes/seg/segments", {"segments": bad})
            self.assertEqual(st, 422, text)
            self.assertIn(field, js["error"])
        self.assertEqual(self.side("GET", "/seg/x", {"X-Tenant": "tenant-1"}), "target")
        # cutoverctl adds one and lists them.
        ctl = [h.cutoverctl_bin(), "--admin", f"{h.LOCALHOST}:{self.cv.admin.port}"]
        out = subprocess.run(ctl + ["segment", "seg", "add", "--header", "X-Tenant", "--values", "vip",
                                    "--side", "target"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.side("GET", "/seg/x", {"X-Tenant": "vip"}), "target")
        out = subprocess.run(ctl + ["segment", "seg", "list"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("header X-Tenant: 10000 values", out.stdout)
        self.assertIn("header X-Tenant: 1 value (vip)", out.stdout)
        out = subprocess.run(ctl + ["segment", "seg", "remove", "3"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(self.side("GET", "/seg/x", {"X-Tenant": "vip"}), "source")

    # maintenance -----------------------------------------------------------------------------
    def test_maintenance_answers_without_upstream_contact_and_lets_testers_through(self):
        st, js, text = self.admin.put("/v1/routes/mnt/maintenance", {"retry_after": "120s", "reason": "write flip"})
        self.assertEqual(st, 200, text)
        self.assertEqual(js["maintenance"]["status"], 503)
        try:
            before = {s: self.be[s].snapshot() for s in ("source", "target")}
            for method in ("GET", "POST", "HEAD"):
                st, hdrs, data = self.call(method, "/mnt/page")
                self.assertEqual(st, 503, method)
                self.assertEqual(h.header(hdrs, "Retry-After"), "120")
                if method != "HEAD":
                    self.assertIn(b"maintenance", data)
                    self.assertTrue((h.header(hdrs, "Content-Type") or "").startswith("text/html"))
            # HEAD carries no body (RFC 9110 §9.3.2): on one raw connection (http.client would
            # reconnect after a HEAD) the answer to the GET that follows starts right after the
            # HEAD's head.
            with socket.create_connection((h.LOCALHOST, self.port), timeout=10) as sock:
                sock.sendall(b"HEAD /mnt/again HTTP/1.1\r\nHost: a\r\n\r\n")
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = sock.recv(65536)
                    self.assertTrue(chunk, "closed after HEAD")
                    data += chunk
                head, rest = data.split(b"\r\n\r\n", 1)
                self.assertTrue(head.startswith(b"HTTP/1.1 503"), head)
                self.assertIn(b"Retry-After: 120", head)
                sock.sendall(b"GET /mnt/again HTTP/1.1\r\nHost: a\r\n\r\n")
                while len(rest) < 12:
                    chunk = sock.recv(65536)
                    self.assertTrue(chunk, "closed after GET")
                    rest += chunk
                self.assertTrue(rest.startswith(b"HTTP/1.1 503"), f"after HEAD: {rest[:80]!r}")
            # A tester asks for target and gets there; asking for source works as well.
            self.assertEqual(self.side("GET", "/mnt/page", {"X-Cutover-Side": "target"}), "target")
            self.assertEqual(self.side("POST", "/mnt/page", {"X-Cutover-Side": "source"}), "source")
            after = {s: self.be[s].snapshot() for s in ("source", "target")}
            for s in ("source", "target"):
                self.assertEqual(after[s]["requests"] - before[s]["requests"], 1,
                                 f"{s}: only the tester's request reached the backend")
            count = sum(v for _, v in h.metric_values(self.admin.metrics(), "cutover_maintenance_responses_total",
                                                      route="mnt"))
            self.assertEqual(count, 5)
            st, stats, _ = self.admin.get("/v1/stats?window=60s&route=mnt")
            self.assertEqual(st, 200)
            sides = stats["routes"][0]["sides"]
            self.assertEqual(sides["source"]["errors_5xx"] + sides["target"]["errors_5xx"], 0,
                             "maintenance answers are not errors for ramp gates")
        finally:
            st, js, text = self.admin.request("DELETE", "/v1/routes/mnt/maintenance")
        self.assertEqual(st, 200, text)
        self.assertIsNone(js["maintenance"])
        self.assertEqual(self.side("GET", "/mnt/page"), "source")
        st, _, _ = self.admin.request("DELETE", "/v1/routes/mnt/maintenance")
        self.assertEqual(st, 409)

    def test_maintenance_for_every_route_with_a_body_file(self):
        page = os.path.join(self.tmp.name, "page.txt")
        with open(page, "w") as f:
            f.write("back at 10:00\n")
        ctl = [h.cutoverctl_bin(), "--admin", f"{h.LOCALHOST}:{self.cv.admin.port}"]
        out = subprocess.run(ctl + ["maintenance", "--all", "on", "--body-file", page, "--retry-after", "5m"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        try:
            before = self.be.counts()
            for path in ("/seg/x", "/rywc/x", "/mnt/x"):
                st, hdrs, data = self.call("GET", path)
                self.assertEqual((st, data), (503, b"back at 10:00\n"), path)
                self.assertEqual(h.header(hdrs, "Retry-After"), "300")
            self.assertEqual(self.be.counts(), before)
        finally:
            out = subprocess.run(ctl + ["maintenance", "--all", "off"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("seg: maintenance off", out.stdout)
        self.assertEqual(self.side("GET", "/seg/x"), "source")


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
