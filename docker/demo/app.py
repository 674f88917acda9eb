#!/usr/bin/env python3
"""A tiny HTTP/1.1 web app standing in for the source (legacy) or the target (new) stack of the
compose demo, and the backend of docker/test.sh. Standard library only.

    python3 app.py --name legacy --port 8000 [--bind 0.0.0.0] [--fail-percent 0] [--latency-ms 0]

Every answer is JSON naming the app (`service`) and carrying a timestamp: the compose demo's mirror
ignores both fields, so source and target compare equal unless they really differ. Paths:
/healthz; /slow?ms=N (sleeps up to 30 s); /api/orders (POST stores, GET lists); anything else
echoes the method and path. --fail-percent answers 500 to that share of requests, --latency-ms
delays every answer: enough to watch a ramp's gates trip. The same flags read FAIL_PERCENT,
LATENCY_MS, APP_NAME, PORT and BIND from the environment.
"""
import argparse
import json
import os
import random
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "demo-app"
    sys_version = ""
    # One send per answer, sent at once: a separate write for the body behind Nagle's algorithm
    # meets the client's delayed ACK and adds 40 ms, which a ramp's p99 gate would see.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024  # flushed after each request by BaseHTTPRequestHandler
    orders: list = []
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # one line per request is noise in `compose logs`
        pass

    def _answer(self, code: int, obj: dict):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        opts = self.server.opts
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20)) if length else b""
        base = {"service": opts.name, "method": self.command, "path": url.path,
                "timestamp": time.time()}
        if url.path == "/healthz":
            return self._answer(200, {**base, "ok": True})
        if opts.latency_ms:
            time.sleep(opts.latency_ms / 1000.0)
        if opts.fail_percent and random.random() * 100 < opts.fail_percent:
            return self._answer(500, {**base, "error": "injected failure"})
        if url.path == "/slow":
            ms = int(urllib.parse.parse_qs(url.query).get("ms", ["0"])[0])
            time.sleep(min(ms, 30000) / 1000.0)
            return self._answer(200, {**base, "slept_ms": ms})
        if url.path == "/api/orders":
            with self.lock:
                if self.command == "POST":
                    self.orders.append(body.decode("utf-8", "replace")[:200])
                    del self.orders[:-100]  # bounded: the demo runs for hours
                    return self._answer(201, {**base, "stored": len(self.orders)})
                return self._answer(200, {**base, "orders": len(self.orders)})
        return self._answer(200, {**base, "bytes": len(body)})

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


def main():
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--name", default=env("APP_NAME", "app"))
    p.add_argument("--bind", default=env("BIND", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(env("PORT", "8000")))
    p.add_argument("--fail-percent", type=float, default=float(env("FAIL_PERCENT", "0")))
    p.add_argument("--latency-ms", type=float, default=float(env("LATENCY_MS", "0")))
    opts = p.parse_args()
    server = ThreadingHTTPServer((opts.bind, opts.port), App)
    server.daemon_threads = True
    server.opts = opts
    print(f"{opts.name} listening on {opts.bind}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
