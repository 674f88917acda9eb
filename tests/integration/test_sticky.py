#!/usr/bin/env python3
"""Sticky, monotone assignment against the real binary.

Acceptance: 200 users with X-User-Id, 20 requests each on keep-alive connections at weight 30 ->
every user saw one side only and 30 +- 8 % of the users are on target; raise to 60 -> nobody moved
from target to source and 60 +- 8 % are on target; lower back to 30 -> the same users as before.
Also: the assignment survives a restart; reads and writes share the bucket; the pin cookie
(`Set-Cookie: cutover_bucket=<0..9999>; Path=/; Max-Age=<s>; HttpOnly; SameSite=Lax`) is set when
no key is present and its bucket decides later requests (target iff bucket < weight * 100); the
sources are tried in configuration order; client_ip is a key; no key and no pin -> random.
"""
import collections
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

USERS = [f"user-{i:03d}" for i in range(200)]
PER_USER = 20
THREADS = 6
PIN_COOKIE = "cutover_bucket"
_PIN_RE = re.compile(rf"^\s*{PIN_COOKIE}=([^;]*)(.*)$")


def sticky_config(be, routes):
    return h.make_config({"src": h.cluster(be.source.addr), "tgt": h.cluster(be.target.addr)},
                         [{"name": "public", "address": f"{h.LOCALHOST}:0", "protocol": "http",
                           "routes": routes}])


def routes_all():
    R = h.route
    hdr = {"header": "X-User-Id"}
    return [
        R("users", path_prefix="/u/", weight=30, sticky=dict(hdr)),
        R("rw", path_prefix="/rw/", read_weight=50, write_weight=50, sticky=dict(hdr)),
        R("pin", path_prefix="/pin/", weight=50,
          sticky={"header": "X-User-Id", "pin_cookie": PIN_COOKIE, "pin_max_age": "90m"}),
        # the same two sources in both orders: the first present in configuration order wins
        R("ch", path_prefix="/ch/", weight=50, sticky={"cookie": "uid", "header": "X-User-Id"}),
        R("hc", path_prefix="/hc/", weight=50, sticky={"header": "X-User-Id", "cookie": "uid"}),
        R("ip", path_prefix="/ip/", weight=50,
          sticky={"header": "X-User-Id", "client_ip": True, "pin_cookie": PIN_COOKIE}),
        R("rand", path_prefix="/rand/", weight=50, sticky=dict(hdr)),
    ]


def pin_cookies(headers):
    """[(value, attribute text)] of every Set-Cookie for the pin cookie in a response."""
    out = []
    for v in h.header_all(headers, "Set-Cookie"):
        m = _PIN_RE.match(v)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


def run_users(port, prefix, users, per_user, threads=THREADS, method="GET", header="X-User-Id"):
    """Every user sends `per_user` requests; request r of user i goes through client thread
    (i + r) % threads, so one user's requests travel on several keep-alive connections.
    Returns ({user: Counter(side)}, errors, connects per thread)."""
    jobs = [[] for _ in range(threads)]
    for r in range(per_user):
        for i, u in enumerate(users):
            jobs[(i + r) % threads].append(u)
    seen = collections.defaultdict(collections.Counter)
    errors, connects = [], [0] * threads
    lock = threading.Lock()
    body = b"w" if method not in ("GET", "HEAD", "OPTIONS", "TRACE") else None

    def worker(t):
        conn = h.CountingConnection(port, timeout=10)
        local = []
        try:
            for n, u in enumerate(jobs[t]):
                try:
                    st, hdrs, data = h.http_call(conn, method, f"{prefix}x?u={u}", {header: u}, body)
                except Exception as e:  # noqa: BLE001 - every failure is a finding
                    errors.append(f"{method} {prefix} user {u}: {e!r}")
                    conn.close()
                    if len(errors) > 20:
                        return
                    continue
                side = h.header(hdrs, "X-Backend")
                if st != 200 or data.decode("latin-1") != side:
                    errors.append(f"{method} {prefix} user {u}: {st} X-Backend={side} {data[:100]!r}")
                local.append((u, side))
        finally:
            connects[t] = conn.connects
            conn.close()
            with lock:
                for u, side in local:
                    seen[u][side] += 1

    ts = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return dict(seen), errors, connects


def one_side(test, seen, per_user, what):
    """{user: side}; fails when a user saw both sides or lost requests."""
    mixed = {u: dict(c) for u, c in seen.items() if len(c) != 1}
    test.assertEqual(mixed, {}, f"{what}: users that saw both sides (user: side counts)")
    short = {u: sum(c.values()) for u, c in seen.items() if sum(c.values()) != per_user}
    test.assertEqual(short, {}, f"{what}: users with a wrong number of answered requests")
    return {u: next(iter(c)) for u, c in seen.items()}


def target_share(assign):
    return 100.0 * sum(1 for s in assign.values() if s == "target") / len(assign)


class StickyTest(h.CutoverTestCase):
    @classmethod
    def setUpClass(cls):
        cls.be = h.Backends()
        cls.start_cutover(sticky_config(cls.be, routes_all()), "sticky")

    def call(self, path, headers=None, method="GET", conn=None):
        own = conn is None
        c = conn or h.CountingConnection(self.port, timeout=10)
        try:
            body = b"w" if method not in ("GET", "HEAD", "OPTIONS", "TRACE") else None
            st, hdrs, data = h.http_call(c, method, path, headers or {}, body)
        finally:
            if own:
                c.close()
        side = h.header(hdrs, "X-Backend")
        self.assertEqual(st, 200, f"{method} {path} {headers}: {st} {hdrs} {data[:200]!r}")
        self.assertEqual(data.decode("latin-1"), side, f"{method} {path} {headers}")
        return side, hdrs

    # acceptance ------------------------------------------------------------------------------
    def test_acceptance_users_keep_their_side_and_raising_only_moves_to_target(self):
        t0 = time.monotonic()
        seen30, errors, connects = run_users(self.port, "/u/", USERS, PER_USER)
        self.assertEqual(errors, [], "weight 30 run")
        self.assertEqual(len(seen30), len(USERS))
        a30 = one_side(self, seen30, PER_USER, "weight 30")
        share30 = target_share(a30)
        self.assertEqual(connects, [1] * THREADS, "keep-alive clients should use one connection each")

        self.admin.set_weight("users", weight=60)
        seen60, errors, connects = run_users(self.port, "/u/", USERS, PER_USER)
        self.assertEqual(errors, [], "weight 60 run")
        a60 = one_side(self, seen60, PER_USER, "weight 60")
        share60 = target_share(a60)

        self.admin.set_weight("users", weight=30)
        seen30b, errors, _ = run_users(self.port, "/u/", USERS, 5)
        self.assertEqual(errors, [], "back to weight 30")
        a30b = one_side(self, seen30b, 5, "back to weight 30")
        print(f"\nsticky: users on target {share30:.1f}% at 30, {share60:.1f}% at 60, "
              f"{target_share(a30b):.1f}% back at 30 ({time.monotonic() - t0:.1f} s)", file=sys.stderr)

        with self.subTest("weight 30: target share of users 30 +- 8 points"):
            self.assertTrue(22.0 <= share30 <= 38.0, f"{share30:.1f}% of 200 users on target at weight 30")
        with self.subTest("weight 60: target share of users 60 +- 8 points"):
            self.assertTrue(52.0 <= share60 <= 68.0, f"{share60:.1f}% of 200 users on target at weight 60")
        with self.subTest("raising 30 -> 60 moved nobody from target to source"):
            back = sorted(u for u, s in a30.items() if s == "target" and a60[u] != "target")
            self.assertEqual(back, [], "users on target at 30 but on source at 60")
        with self.subTest("lowering 60 -> 30 gives exactly the weight-30 assignment again"):
            diff = {u: (a30[u], a30b[u]) for u in USERS if a30[u] != a30b[u]}
            self.assertEqual(diff, {}, "user: (side at 30 before, side at 30 after 60)")

    def test_assignment_survives_a_restart(self):
        """Fixed hash seed: two fresh processes put every user on the same side."""
        users = USERS[:100]
        results = []
        for n in range(2):
            with h.Backends() as be, h.Cutover(
                    sticky_config(be, [h.route("users", path_prefix="/u/", weight=30,
                                               sticky={"header": "X-User-Id"})]),
                    name=f"sticky-restart{n}") as cv:
                seen, errors, _ = run_users(cv.port("public"), "/u/", users, 2, threads=2)
                self.assertEqual(errors, [], f"instance {n}")
                results.append(one_side(self, seen, 2, f"instance {n}"))
        diff = {u: (results[0][u], results[1][u]) for u in users if results[0][u] != results[1][u]}
        self.assertEqual(diff, {}, "users whose side changed across a restart at the same weight")
        self.assertTrue(0 < target_share(results[0]) < 100, results[0])

    # reads and writes --------------------------------------------------------------------------
    def test_reads_and_writes_of_a_user_share_the_bucket(self):
        self.admin.set_weight("rw", read_weight=50, write_weight=50)
        reads, e1, _ = run_users(self.port, "/rw/", USERS, 3, method="GET")
        writes, e2, _ = run_users(self.port, "/rw/", USERS, 3, method="POST")
        self.assertEqual(e1 + e2, [])
        r = one_side(self, reads, 3, "reads at 50/50")
        w = one_side(self, writes, 3, "writes at 50/50")
        with self.subTest("read_weight 50, write_weight 50: same side for reads and writes"):
            diff = {u: (r[u], w[u]) for u in USERS if r[u] != w[u]}
            self.assertEqual(diff, {}, "user: (read side, write side)")
            self.assertEqual(set(r.values()), {"source", "target"}, "weight 50 should use both sides")

        self.admin.set_weight("rw", read_weight=60, write_weight=30)
        reads, e1, _ = run_users(self.port, "/rw/", USERS, 2, method="GET")
        writes, e2, _ = run_users(self.port, "/rw/", USERS, 2, method="PUT")
        self.assertEqual(e1 + e2, [])
        r = one_side(self, reads, 2, "reads at 60")
        w = one_side(self, writes, 2, "writes at 30")
        with self.subTest("read_weight 60 >= write_weight 30: every user writing to target reads there too"):
            bad = sorted(u for u in USERS if w[u] == "target" and r[u] != "target")
            self.assertEqual(bad, [], "users writing to target but reading from source")
            self.assertTrue(any(w[u] == "source" and r[u] == "target" for u in USERS),
                            "some users should read from target and write to source at 60/30")

    # pin cookie ----------------------------------------------------------------------------
    def assert_pin_attributes(self, attrs, max_age, what):
        parts = [p.strip() for p in attrs.split(";") if p.strip()]
        got = {}
        for p in parts:
            k, eq, v = p.partition("=")
            got[k.strip().lower()] = v.strip() if eq else True
        self.assertEqual(got, {"path": "/", "max-age": str(max_age), "httponly": True, "samesite": "Lax"},
                         f"{what}: pin cookie attributes {attrs!r}")

    def test_pin_cookie_set_without_key_and_honoured(self):
        self.admin.set_weight("pin", weight=50)
        side, hdrs = self.call("/pin/x")
        pins = pin_cookies(hdrs)
        self.assertEqual(len(pins), 1, f"one Set-Cookie {PIN_COOKIE} expected without a key: {hdrs}")
        value, attrs = pins[0]
        self.assertRegex(value, r"^\d{1,4}$", f"pin cookie value should be a bucket 0..9999: {hdrs}")
        bucket = int(value)
        self.assertTrue(0 <= bucket <= 9999)
        self.assert_pin_attributes(attrs, 90 * 60, "pin_max_age 90m")
        expect = "target" if bucket < 5000 else "source"
        self.assertEqual(side, expect, f"the request that got bucket {bucket} was served by the other "
                                       f"side than the bucket selects at weight 50")

        conn = h.CountingConnection(self.port)
        try:
            for i in range(5):
                for method in ("GET", "POST"):
                    s2, hdrs2 = self.call("/pin/x", {"Cookie": f"{PIN_COOKIE}={bucket}"}, method, conn)
                    self.assertEqual(s2, expect, f"{method} #{i} with the pin cookie {bucket}")
                    self.assertEqual([v for v, _ in pin_cookies(hdrs2) if v != str(bucket)], [],
                                     f"a client that sent its pin cookie got another bucket: {hdrs2}")
        finally:
            conn.close()

        with self.subTest("a request with a key gets no pin cookie"):
            _, hdrs3 = self.call("/pin/x", {"X-User-Id": "someone"})
            self.assertEqual(pin_cookies(hdrs3), [], hdrs3)

        with self.subTest("fresh clients get random buckets, each served by its bucket's side"):
            buckets, sides, bad = set(), set(), []
            for i in range(60):
                s, hd = self.call(f"/pin/fresh{i}")
                p = pin_cookies(hd)
                if len(p) != 1 or not p[0][0].isdigit():
                    bad.append(("no pin", hd))
                    continue
                b = int(p[0][0])
                buckets.add(b)
                sides.add(s)
                if s != ("target" if b < 5000 else "source"):
                    bad.append((b, s))
            self.assertEqual(bad, [])
            self.assertGreater(len(buckets), 30, f"pin buckets should be random: {sorted(buckets)}")
            self.assertEqual(sides, {"source", "target"})

    def test_pin_cookie_bucket_decides_exactly(self):
        # (weight, bucket in the cookie, side): target iff bucket < weight * 100
        table = [(1, 100, "source"), (1.01, 100, "target"), (30, 2999, "target"), (29.99, 2999, "source"),
                 (0, 0, "source"), (0.01, 0, "target"), (100, 9999, "target"), (99.99, 9999, "source"),
                 (50, 4999, "target"), (50, 5000, "source")]
        conn = h.CountingConnection(self.port)
        got = []
        try:
            for w, b, _ in table:
                self.admin.set_weight("pin", weight=w)
                sides = tuple(self.call("/pin/b", {"Cookie": f"a=1; {PIN_COOKIE}={b}; z=2"}, m, conn)[0]
                              for m in ("GET", "POST", "GET"))
                got.append((w, b, sides))
        finally:
            conn.close()
            self.admin.set_weight("pin", weight=50)
        want = [(w, b, (s, s, s)) for w, b, s in table]
        self.assertEqual(got, want, "(weight, cookie bucket, sides of GET/POST/GET)")

    def test_pin_max_age_in_days(self):
        with h.Backends() as be, h.Cutover(
                sticky_config(be, [h.route("d", weight=0, sticky={"header": "X-User-Id", "pin_cookie": "cb",
                                                                   "pin_max_age": "30d"})]),
                name="sticky-days") as cv:
            c = h.CountingConnection(cv.port("public"))
            try:
                st, hdrs, _ = h.http_call(c, "GET", "/x")
            finally:
                c.close()
            self.assertEqual(st, 200)
            cookies = [v for v in h.header_all(hdrs, "Set-Cookie") if v.strip().startswith("cb=")]
            self.assertEqual(len(cookies), 1, hdrs)
            self.assertRegex(cookies[0], r"(?i);\s*Max-Age=2592000(;|$)", "30d = 2592000 s")

    # source order ------------------------------------------------------------------------------
    def probe(self, prefix, kind, key):
        hdrs = {"X-User-Id": key} if kind == "header" else {"Cookie": f"uid={key}"}
        return self.call(f"{prefix}p", hdrs)[0]

    def find(self, prefix, kind, side, exclude=()):
        for i in range(300):
            key = f"{kind}-{i}"
            if key not in exclude and self.probe(prefix, kind, key) == side:
                return key
        self.fail(f"no {kind} key among 300 goes to {side} on {prefix} at weight 50")

    def test_sources_tried_in_configuration_order(self):
        for prefix, first, second in (("/ch/", "cookie", "header"), ("/hc/", "header", "cookie")):
            for want in ("target", "source"):
                other = "source" if want == "target" else "target"
                k_first = self.find(prefix, first, want)
                k_second = self.find(prefix, second, other)
                keys = {first: k_first, second: k_second}
                hdrs = {"X-User-Id": keys["header"], "Cookie": f"theme=dark; uid={keys['cookie']}; lang=en"}
                sides = {self.call(f"{prefix}both", hdrs)[0] for _ in range(5)}
                with self.subTest(route=prefix, first=first, want=want):
                    self.assertEqual(sides, {want},
                                     f"{prefix} configured {first} before {second}: {first} key "
                                     f"{k_first!r} alone -> {want}, {second} key {k_second!r} alone -> "
                                     f"{other}; both present must follow the {first}")

    # client ip, no key ---------------------------------------------------------------------------
    def test_client_ip_is_a_key(self):
        sides, pins = collections.Counter(), []
        conn = h.CountingConnection(self.port)
        try:
            for i in range(40):
                s, hd = self.call(f"/ip/{i}", conn=conn)
                sides[s] += 1
                pins += pin_cookies(hd)
        finally:
            conn.close()
        self.assertEqual(len(sides), 1, f"no header: every request from 127.0.0.1 on one side: {sides}")
        self.assertEqual(pins, [], "the client IP is a key, so no pin cookie")
        by_header = {self.call("/ip/h", {"X-User-Id": f"ip-user-{i}"})[0] for i in range(60)}
        self.assertEqual(by_header, {"source", "target"}, "the header (configured first) still decides")

    def test_no_key_and_no_pin_cookie_is_random(self):
        sides, cookies = collections.Counter(), []
        conn = h.CountingConnection(self.port)
        try:
            for i in range(300):
                s, hd = self.call("/rand/x", conn=conn)
                sides[s] += 1
                cookies += h.header_all(hd, "Set-Cookie")
        finally:
            conn.close()
        self.assertTrue(100 <= sides["target"] <= 200, f"weight 50, no key: per-request random, got {sides}")
        self.assertEqual(cookies, [], "no pin_cookie configured: no Set-Cookie")

    # config ------------------------------------------------------------------------------------
    def test_check_accepts_sticky_and_rejects_unknown_keys(self):
        good = sticky_config(self.be, routes_all())
        rc, out, _ = h.run_check(h.to_yaml(good))
        self.assertEqual(rc, 0, out)
        bad = sticky_config(self.be, [h.route("b", weight=1, sticky={"header": "X-User-Id", "bogus": 1})])
        rc, out, path = h.run_check(h.to_yaml(bad), "bad.yaml")
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, rf"{re.escape(str(path))}:\d+:\d+: .*bogus", out)


if __name__ == "__main__":
    h.main()
