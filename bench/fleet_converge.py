#!/usr/bin/env python3
"""Fleet convergence (bench/run.sh stage "fleet"): how long a weight change made through one node
takes to be applied on every node of a fleet, with a real 3-member etcd (Debian's etcd-server,
tests/integration/etcd_cluster.py) and N cutover nodes (`workers: 1` each), all on 127.0.0.1.

fleet_converge.py ROUNDS NODES [NODES ...]        e.g.  fleet_converge.py 200 3 10
For each fleet size: N nodes join one prefix; ROUNDS times, a `PUT /v1/routes/app/weights` with a
weight different from the last goes to node 1 (one keep-alive admin connection), timed from just
before it is sent until its answer, which comes once every live node has reported (its node key in
etcd) the change's revision applied, or after fleet.apply_timeout (5 s here) naming the laggards.
An answer with laggards counts as not converged. After each answer every node's
`GET /v1/routes/app` is read once: a node showing another weight counts as stale (must be 0: a
node reports a revision only once it applied it). Prints one markdown row per fleet size:
"| N | ROUNDS | p50 ms | p99 ms | max ms | not converged | stale |". Bounded: 10 s per call.
"""
import http.client
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "integration"))
import harness as h  # noqa: E402
from etcd_cluster import EtcdCluster  # noqa: E402


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(q * len(v) + 0.999999) - 1))]


def node_config(backends, endpoints, prefix, name):
    cfg = h.simple_config(backends, weight=0)
    cfg["workers"] = 1
    cfg["fleet"] = {"node": name, "etcd": {"endpoints": endpoints, "prefix": prefix, "lease_ttl": "5s"},
                    "apply_timeout": "5s"}
    return cfg


def measure(etcd, backends, n, rounds):
    prefix = f"/bench-fleet-{n}-{int(time.time())}/"
    nodes = []
    try:
        for i in range(n):
            nodes.append(h.Cutover(node_config(backends, etcd.endpoints, prefix, f"node-{i + 1}"),
                                   name=f"fleet-{n}-{i + 1}").start())
        live = h.wait_for(lambda: len(nodes[0].admin.get("/v1/fleet")[1]["nodes"]) == n, 20, 0.1)
        if not live:
            sys.exit(f"fleet: {n} nodes did not all join")
        admin = http.client.HTTPConnection(h.LOCALHOST, nodes[0].admin_addr[1], timeout=10)
        took_ms, not_converged, stale, last = [], 0, 0, 0
        for i in range(rounds):
            weight = (last + 1 + (i * 37) % 99) % 101
            if weight == last:
                weight = (weight + 1) % 101
            t0 = time.perf_counter_ns()
            admin.request("PUT", "/v1/routes/app/weights", body=json.dumps({"weight": weight}),
                          headers={"Content-Type": "application/json"})
            r = admin.getresponse()
            body = r.read()
            t1 = time.perf_counter_ns()
            if r.status != 200:
                sys.exit(f"fleet: PUT answered {r.status}: {body[:200]!r}")
            fleet = json.loads(body)["fleet"]
            took_ms.append((t1 - t0) / 1e6)
            if fleet["laggards"] or len(fleet["applied"]) != n:
                not_converged += 1
            for cv in nodes:
                if cv.admin.route("app")["read_weight"] != weight:
                    stale += 1
            last = weight
        admin.close()
        return (f"| {n} | {rounds} | {pct(took_ms, 0.5):.1f} | {pct(took_ms, 0.99):.1f} | {max(took_ms):.1f} "
                f"| {not_converged} | {stale} |")
    finally:
        for cv in nodes:
            cv.stop()


def main():
    rounds, sizes = int(sys.argv[1]), [int(a) for a in sys.argv[2:]]
    etcd = EtcdCluster(members=3)
    backends = h.Backends()
    try:
        for n in sizes:
            print(measure(etcd, backends, n, rounds), flush=True)
    finally:
        backends.close()
        etcd.close()


if __name__ == "__main__":
    main()
