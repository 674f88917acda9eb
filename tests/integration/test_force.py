#!/usr/bin/env python3
"""Forced side for internal testers against the real binary.

Acceptance: `X-Cutover-Side: target` from an allowed CIDR (127.0.0.0/8, the test client is
127.0.0.1) goes to target at weight 0, and `source` goes to source at weight 100; from a client
outside allow_cidrs ([10.0.0.0/8]) the header is ignored; in both cases the upstream never sees
the header. `cutover_forced_requests_total{route,side}` counts only honoured requests. The
`cutover_force` cookie works the same way.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

FORCE_HEADER = "X-Cutover-Side"
FORCE_COOKIE = "cutover_force"


def force(allow):
    return {"header": FORCE_HEADER, "cookie": FORCE_COOKIE, "allow_cidrs": list(allow)}


class ForceTest(h.CutoverTestCase):
    @classmethod
    def setUpClass(cls):
        cls.be = h.Backends()
        R = h.route
        ok, no = ["127.0.0.0/8"], ["10.0.0.0/8"]
        cfg = h.make_config(
            {"src": h.cluster(cls.be.source.addr), "tgt": h.cluster(cls.be.target.addr)},
            [{"name": "public", "address": f"{h.LOCALHOST}:0", "protocol": "http", "routes": [
                R("f0", path_prefix="/f0/", weight=0, force=force(ok)),
                R("f100", path_prefix="/f100/", weight=100, force=force(ok)),
                R("d0", path_prefix="/d0/", weight=0, force=force(no)),
                R("d100", path_prefix="/d100/", weight=100, force=force(no)),
                R("host", path_prefix="/host/", weight=0,
                  force={"header": FORCE_HEADER, "allow_cidrs": ["127.0.0.1/32"]}),
                R("fs", path_prefix="/fs/", weight=0, sticky={"header": "X-User-Id"}, force=force(ok)),
            ]}])
        cls.start_cutover(cfg, "force")

    def echo(self, path, headers, method="GET"):
        """(side, headers the upstream received) of one request to <path>echo-headers."""
        c = h.CountingConnection(self.port, timeout=10)
        try:
            body = b"payload" if method != "GET" else None
            st, hdrs, data = h.http_call(c, method, f"{path}echo-headers", headers, body)
        finally:
            c.close()
        self.assertEqual(st, 200, f"{method} {path} {headers}: {st} {hdrs} {data[:300]!r}")
        js = json.loads(data)
        self.assertEqual(js["side"], h.header(hdrs, "X-Backend"))
        return js["side"], js["headers"]

    def assert_not_forwarded(self, upstream_headers, what):
        leaked = [(k, v) for k, v in upstream_headers if k.lower() == FORCE_HEADER.lower()]
        self.assertEqual(leaked, [], f"{what}: the force header reached the upstream: {upstream_headers}")

    def forced(self):
        """{(route, side): value} of cutover_forced_requests_total."""
        text = self.admin.metrics()
        return {(lb.get("route"), lb.get("side")): v
                for lb, v in h.metric_values(text, "cutover_forced_requests_total")}

    def forced_delta(self, before, want, timeout=2.0):
        """Waits (bounded) for the counter increments to equal `want` ({(route, side): n});
        any other series that moved is reported too."""
        def delta():
            now = self.forced()
            return {k: v - before.get(k, 0.0) for k, v in now.items() if v - before.get(k, 0.0) != 0}
        got = h.wait_for(lambda: (lambda d: d if d == want else None)(delta()), timeout) or delta()
        return got

    # acceptance ----------------------------------------------------------------------------
    def test_allowed_client_is_forced(self):
        before = self.forced()
        cases = [("/f0/", "target", "GET", "target"), ("/f0/", "target", "POST", "target"),
                 ("/f100/", "source", "GET", "source"), ("/f100/", "source", "PUT", "source"),
                 ("/f0/", "source", "GET", "source"), ("/f100/", "target", "GET", "target")]
        for path, value, method, want in cases:
            with self.subTest(path=path, value=value, method=method):
                side, up = self.echo(path, {FORCE_HEADER: value}, method)
                self.assertEqual(side, want, f"{method} {path} with {FORCE_HEADER}: {value} from 127.0.0.1")
                self.assert_not_forwarded(up, f"{method} {path} honoured")
        with self.subTest("header name is case-insensitive"):
            side, up = self.echo("/f0/", {FORCE_HEADER.lower(): "target"})
            self.assertEqual(side, "target")
            self.assert_not_forwarded(up, "lower-case header")
        with self.subTest("without the header the weight decides"):
            self.assertEqual(self.echo("/f0/", {})[0], "source")
            self.assertEqual(self.echo("/f100/", {})[0], "target")
        with self.subTest("a /32 allow list holding 127.0.0.1"):
            side, up = self.echo("/host/", {FORCE_HEADER: "target"})
            self.assertEqual(side, "target")
            self.assert_not_forwarded(up, "/32")
        with self.subTest("cutover_forced_requests_total counts the honoured requests"):
            want = {("f0", "target"): 3.0, ("f0", "source"): 1.0, ("f100", "source"): 2.0,
                    ("f100", "target"): 1.0, ("host", "target"): 1.0}
            self.assertEqual(self.forced_delta(before, want), want)

    def test_disallowed_client_is_ignored_and_header_stripped(self):
        before = self.forced()
        cases = [("/d0/", "target", "GET", "source"), ("/d0/", "target", "POST", "source"),
                 ("/d100/", "source", "GET", "target"), ("/d100/", "source", "DELETE", "target")]
        for path, value, method, want in cases:
            with self.subTest(path=path, value=value, method=method):
                side, up = self.echo(path, {FORCE_HEADER: value}, method)
                self.assertEqual(side, want, f"{method} {path} {FORCE_HEADER}: {value} from 127.0.0.1 with "
                                             f"allow_cidrs [10.0.0.0/8] must be ignored")
                self.assert_not_forwarded(up, f"{method} {path} ignored")
        with self.subTest("X-Forwarded-For does not make a client allowed"):
            side, up = self.echo("/d0/", {FORCE_HEADER: "target", "X-Forwarded-For": "10.1.2.3"})
            self.assertEqual(side, "source", "allow_cidrs is checked against the peer address, not XFF")
            self.assert_not_forwarded(up, "spoofed XFF")
        with self.subTest("an invalid value from an allowed client is ignored and stripped"):
            side, up = self.echo("/f0/", {FORCE_HEADER: "sideways"})
            self.assertEqual(side, "source")
            self.assert_not_forwarded(up, "invalid value")
        with self.subTest("ignored requests are not counted"):
            self.assertEqual(self.forced_delta(before, {}, timeout=0.5), {})

    def test_cookie_variant(self):
        before = self.forced()
        cookie = {"Cookie": f"theme=dark; {FORCE_COOKIE}=target; lang=en"}
        with self.subTest("allowed: cookie forces target at weight 0"):
            self.assertEqual(self.echo("/f0/", cookie)[0], "target")
            self.assertEqual(self.echo("/f0/", cookie, "POST")[0], "target")
            self.assertEqual(self.echo("/f100/", {"Cookie": f"{FORCE_COOKIE}=source"})[0], "source")
        with self.subTest("disallowed: cookie ignored"):
            self.assertEqual(self.echo("/d0/", cookie)[0], "source")
            self.assertEqual(self.echo("/d100/", {"Cookie": f"{FORCE_COOKIE}=source"})[0], "target")
        with self.subTest("counted like the header"):
            want = {("f0", "target"): 2.0, ("f100", "source"): 1.0}
            self.assertEqual(self.forced_delta(before, want), want)

    def test_force_beats_sticky(self):
        users = [f"u{i}" for i in range(20)]
        self.assertEqual({self.echo("/fs/", {"X-User-Id": u})[0] for u in users}, {"source"}, "weight 0")
        got = {self.echo("/fs/", {"X-User-Id": u, FORCE_HEADER: "target"})[0] for u in users}
        self.assertEqual(got, {"target"}, "a forced side wins over the sticky bucket")


if __name__ == "__main__":
    h.main()
