#!/usr/bin/env python3
"""Steady demo traffic through cutover: users (X-User-Id, so sticky routes keep each on one side)
sending mostly reads and some writes, and a line every 10 s with how many answers came from each
side. Standard library only.

    python3 load.py --url http://cutover:8080 --rps 20 [--users 500] [--write-percent 10] [--seconds 0]

--seconds 0 runs until stopped (SIGTERM ends it at once). Requests are paced, one connection per
request, each with a 5 s timeout, so a stalled proxy shows up as errors rather than a stuck loop.
"""
import argparse
import collections
import http.client
import json
import os
import random
import signal
import sys
import time
import urllib.parse


def one(url, method, path, user, body=None):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=5)
    try:
        conn.request(method, path, body=body, headers={"X-User-Id": user, "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        try:
            side = json.loads(data).get("service", "?")
        except ValueError:
            side = "?"
        return resp.status, side
    finally:
        conn.close()


def main():
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", default=env("TARGET_URL", "http://127.0.0.1:8080"))
    p.add_argument("--rps", type=float, default=float(env("RPS", "20")))
    p.add_argument("--users", type=int, default=int(env("USERS", "500")))
    p.add_argument("--write-percent", type=float, default=float(env("WRITE_PERCENT", "10")))
    p.add_argument("--seconds", type=float, default=float(env("SECONDS", "0")))
    opts = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    rng = random.Random()
    counts = collections.Counter()
    start = last = time.monotonic()
    n = 0
    while not opts.seconds or time.monotonic() - start < opts.seconds:
        user = f"user-{rng.randrange(opts.users)}"
        try:
            if rng.random() * 100 < opts.write_percent:
                status, side = one(opts.url, "POST", "/api/orders", user, json.dumps({"user": user}))
            else:
                status, side = one(opts.url, "GET", f"/api/items/{rng.randrange(50)}", user)
            counts[f"{side} {status}"] += 1
        except OSError as e:
            counts[f"error {type(e).__name__}"] += 1
        n += 1
        now = time.monotonic()
        if now - last >= 10:
            print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())), flush=True)
            counts.clear()
            last = now
        # pace to --rps from the start, so slow answers do not pile up extra requests later
        time.sleep(max(0.0, start + n / opts.rps - time.monotonic()))


if __name__ == "__main__":
    main()
