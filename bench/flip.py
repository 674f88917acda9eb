#!/usr/bin/env python3
"""Weight change to effect (bench/run.sh stage "flip"): how long from issuing the admin PUT of a
route's weights until the next request through the proxy is served by the new side.

flip.py ADMIN_URL PROXY_URL ROUTE ROUNDS
Each round sets the weight to 100 (then, next round, 0), timing from just before the PUT is sent:
  admin_us  until the admin answer has arrived;
  effect_us until the answer of the first request sent afterwards (on an open keep-alive
            connection) that came from the new side (body "target\\n" / "source\\n").
`stale` counts requests sent after the admin call returned that were still served by the old side
(the contract is 0: the next request follows). Prints one line:
"ADMIN_MEDIAN_US ADMIN_P99_US EFFECT_MEDIAN_US EFFECT_P99_US STALE ROUNDS". Bounded: at most 100
requests per round, 5 s timeouts.
"""
import http.client
import json
import sys
import time
import urllib.parse


def conn(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=5)


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(q * len(v) + 0.999999) - 1))]


def main():
    admin_url, proxy_url, route, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    admin, proxy = conn(admin_url), conn(proxy_url)
    path = f"/v1/routes/{urllib.parse.quote(route)}/weights"
    admin_us, effect_us, stale = [], [], 0

    def get():
        proxy.request("GET", "/")
        r = proxy.getresponse()
        return r.read().decode().strip()

    def put(weight):
        admin.request("PUT", path, body=json.dumps({"weight": weight}),
                      headers={"Content-Type": "application/json"})
        r = admin.getresponse()
        r.read()
        if r.status != 200:
            sys.exit(f"flip: PUT {path} answered {r.status}")

    put(0)
    get()
    for i in range(rounds):
        weight, want = (100, "target") if i % 2 == 0 else (0, "source")
        t0 = time.perf_counter_ns()
        put(weight)
        t1 = time.perf_counter_ns()
        for _ in range(100):
            side = get()
            if side == want:
                break
            stale += 1
        else:
            sys.exit(f"flip: 100 requests after setting weight {weight} still answered by the old side")
        t2 = time.perf_counter_ns()
        admin_us.append((t1 - t0) / 1000)
        effect_us.append((t2 - t0) / 1000)
    print(f"{pct(admin_us, 0.5):.0f} {pct(admin_us, 0.99):.0f} {pct(effect_us, 0.5):.0f} "
          f"{pct(effect_us, 0.99):.0f} {stale} {rounds}")


if __name__ == "__main__":
    main()
