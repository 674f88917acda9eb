"""Faults with real servers and clients: an upstream that resets in the middle of a
response body, a slowloris crowd of 500 connections trickling their heads while a normal client is
served, SIGTERM under load (in-flight requests complete, exit 0 within drain_timeout), a process out
of file descriptors that backs off instead of spinning, and max_connections holding connections in
the kernel's backlog.
Refused connections (502), hanging upstreams (504) and a truncated state file are in test_http.py
and test_state.py.
"""
from __future__ import annotations

import http.client
import os
import resource
import socket
import socketserver
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import LOCALHOST, Backends, Cutover, cluster, make_config, metric_values, route, wait_for  # noqa: E402


class ResettingUpstream(socketserver.ThreadingTCPServer):
    """Answers /reset with a 1 MiB Content-Length, sends 100 KiB, then resets the connection
    (SO_LINGER 0); anything else with a small keep-alive response. Counts connections."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.connections = 0
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                server.connections += 1
                buf = b""
                while True:
                    while b"\r\n\r\n" not in buf:
                        chunk = self.request.recv(4096)
                        if not chunk:
                            return
                        buf += chunk
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    if head.split(b" ")[1] == b"/reset":
                        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + b"x" * 102400)
                        time.sleep(0.1)
                        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                        self.request.close()
                        return
                    self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

        super().__init__((LOCALHOST, 0), Handler)
        self.addr = f"{LOCALHOST}:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()


def one_route_config(source_addr: str, target_addr: str, drain_timeout: str = "5s") -> dict:
    return make_config({"src": cluster(source_addr), "tgt": cluster(target_addr)},
                       [{"name": "public", "address": f"{LOCALHOST}:0", "protocol": "http",
                         "routes": [route("app", weight=0)]}], drain_timeout=drain_timeout)


class FaultTest(unittest.TestCase):
    def test_upstream_reset_mid_body_truncates_and_reuses_nothing(self):
        up = ResettingUpstream()
        be = Backends()
        try:
            with Cutover(one_route_config(up.addr, be.target.addr), name="reset") as cv:
                port = cv.port("public")
                s = socket.create_connection((LOCALHOST, port))
                s.settimeout(10)
                s.sendall(b"GET /reset HTTP/1.1\r\nHost: a\r\n\r\n")
                got = b""
                while True:
                    try:
                        chunk = s.recv(65536)
                    except ConnectionResetError:
                        break
                    if not chunk:
                        break
                    got += chunk
                s.close()
                head, _, body = got.partition(b"\r\n\r\n")
                self.assertIn(b"200 OK", head)
                self.assertIn(b"Content-Length: 1048576", head)
                # What arrived was forwarded, then the client connection closed: a short body.
                self.assertGreater(len(body), 0)
                self.assertLess(len(body), 1048576)
                # The next request opens a fresh upstream connection (the reset one is not reused).
                before = up.connections
                conn = http.client.HTTPConnection(LOCALHOST, port, timeout=10)
                conn.request("GET", "/ok")
                r = conn.getresponse()
                self.assertEqual((r.status, r.read()), (200, b"ok"))
                conn.close()
                self.assertEqual(up.connections, before + 1)
        finally:
            up.shutdown()
            up.server_close()
            be.close()

    def test_slowloris_crowd_does_not_starve_a_normal_client(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 2000:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
        be = Backends()
        crowd: list[socket.socket] = []
        stop = threading.Event()
        try:
            with Cutover(one_route_config(be.source.addr, be.target.addr), name="slowloris") as cv:
                port = cv.port("public")
                for _ in range(500):
                    s = socket.create_connection((LOCALHOST, port))
                    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")
                    crowd.append(s)

                def trickle():  # one more header byte per connection every 0.5 s, never finishing
                    i = 0
                    while not stop.is_set() and i < 60:
                        for s in crowd:
                            try:
                                s.sendall(b"X")
                            except OSError:
                                pass
                        i += 1
                        stop.wait(0.5)

                t = threading.Thread(target=trickle, daemon=True)
                t.start()
                time.sleep(1.0)
                latencies = []
                conn = http.client.HTTPConnection(LOCALHOST, port, timeout=10)
                for i in range(100):
                    t0 = time.monotonic()
                    conn.request("GET", f"/normal/{i}")
                    r = conn.getresponse()
                    r.read()
                    latencies.append(time.monotonic() - t0)
                    self.assertEqual(r.status, 200)
                conn.close()
                latencies.sort()
                print(f"\nnormal client with 500 slowloris connections open: median "
                      f"{latencies[50] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms", file=sys.stderr)
                # What is asserted is that every normal request was answered while the whole crowd
                # stayed open and unanswered (starvation would be a 10 s socket timeout above); the
                # latencies are printed, not asserted: a timing claim on a shared 2-core machine,
                # under TSan at that, belongs in bench/.
                self.assertEqual(len(latencies), 100)
                ended = 0  # answered, closed or reset: anything but still waiting
                for s in crowd:
                    s.setblocking(False)
                    try:
                        s.recv(1)
                        ended += 1
                    except BlockingIOError:
                        pass
                    except OSError:
                        ended += 1
                self.assertEqual(ended, 0, "the slowloris connections are still waiting for their heads")
                self.assertTrue(cv.alive())
        finally:
            stop.set()
            for s in crowd:
                s.close()
            be.close()

    def test_sigterm_under_load_completes_in_flight_and_exits_0(self):
        be = Backends()
        try:
            cv = Cutover(one_route_config(be.source.addr, be.target.addr, drain_timeout="5s"), name="drain").start()
            port = cv.port("public")
            results: list[tuple[int, bytes]] = []
            errors: list[str] = []

            def client(i: int):
                try:
                    conn = http.client.HTTPConnection(LOCALHOST, port, timeout=15)
                    conn.request("GET", "/slow?ms=800")
                    r = conn.getresponse()
                    results.append((r.status, r.read()))
                    conn.close()
                except Exception as e:  # noqa: BLE001 - every failure is a finding
                    errors.append(repr(e))

            threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
            for t in threads:
                t.start()
            self.assertTrue(wait_for(lambda: len(be.source.events_snapshot()) >= 20, 10))
            t0 = time.monotonic()
            os.kill(cv.pid, 15)
            # New connections are refused once draining began.
            time.sleep(0.2)
            with self.assertRaises(OSError):
                c = socket.create_connection((LOCALHOST, port), timeout=2)
                c.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                if not c.recv(100):
                    raise ConnectionResetError("closed without an answer")
            for t in threads:
                t.join(20)
            rc = cv.proc.wait(10)
            took = time.monotonic() - t0
            cv.stop()
            self.assertEqual(errors, [])
            self.assertEqual([s for s, _ in results], [200] * 20)
            self.assertEqual(rc, 0)
            self.assertLess(took, 5.0 + 1.0, "exit within drain_timeout")
        finally:
            be.close()

def cpu_seconds(pid: int) -> float:
    """utime + stime of process `pid` (all its threads), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get_ok(port: int, path: str = "/ok", timeout: float = 10) -> int:
    conn = http.client.HTTPConnection(LOCALHOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


class EdgeBoundsTest(unittest.TestCase):
    def setUp(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 2000:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))

    def test_out_of_descriptors_backs_off_counts_and_recovers(self):
        be = Backends()
        crowd: list[socket.socket] = []
        try:
            with Cutover(one_route_config(be.source.addr, be.target.addr), name="emfile") as cv:
                port = cv.port("public")
                self.assertEqual(get_ok(port), 200)
                # As under `ulimit -n 64`: set on the running process so that start-up is unaffected.
                _, hard = resource.prlimit(cv.pid, resource.RLIMIT_NOFILE)
                resource.prlimit(cv.pid, resource.RLIMIT_NOFILE, (64, hard))
                for _ in range(500):  # the kernel completes the handshakes; cutover runs out of descriptors
                    crowd.append(socket.create_connection((LOCALHOST, port), timeout=10))
                time.sleep(0.5)  # let the workers take what they can and hit EMFILE
                before = cpu_seconds(cv.pid)
                t0 = time.monotonic()
                time.sleep(3.0)
                used = cpu_seconds(cv.pid) - before
                wall = time.monotonic() - t0
                # A busy loop on a failing accept would burn a core per worker; backing off uses
                # next to nothing. Half a core is a generous bound against the busy loop.
                self.assertLess(used, 0.5 * wall, f"cutover used {used:.2f} s of CPU in {wall:.2f} s out of descriptors")
                self.assertTrue(cv.alive())
                for s in crowd:
                    s.close()
                crowd.clear()
                # Once the crowd left (its accepted connections closed, the backlog emptied), a
                # normal request is served again, and the admin API answers.
                self.assertTrue(wait_for(lambda: _status_or_none(port) == 200, 20, 0.2))
                errors = metric_values(cv.admin.metrics(), "cutover_accept_errors_total", listener="public",
                                       reason="emfile")
                self.assertEqual(len(errors), 1)
                self.assertGreater(errors[0][1], 0)
                self.assertTrue(cv.alive())
        finally:
            for s in crowd:
                s.close()
            be.close()

    def test_max_connections_leaves_the_next_one_in_the_backlog(self):
        be = Backends()
        cfg = one_route_config(be.source.addr, be.target.addr)
        cfg["listeners"][0]["max_connections"] = 2
        held: list[http.client.HTTPConnection] = []
        waiting = None
        try:
            with Cutover(cfg, name="maxconn") as cv:
                port = cv.port("public")
                for i in range(2):  # two keep-alive connections, each known accepted by its answer
                    conn = http.client.HTTPConnection(LOCALHOST, port, timeout=10)
                    conn.request("GET", f"/held/{i}")
                    r = conn.getresponse()
                    r.read()
                    self.assertEqual(r.status, 200)
                    held.append(conn)
                # The third connects (the kernel's backlog takes it) but is not accepted: its request
                # waits, neither answered nor closed.
                waiting = socket.create_connection((LOCALHOST, port), timeout=10)
                waiting.sendall(b"GET /third HTTP/1.1\r\nHost: a\r\n\r\n")
                waiting.settimeout(1.0)
                with self.assertRaises(socket.timeout):
                    waiting.recv(100)
                active = metric_values(cv.admin.metrics(), "cutover_downstream_connections_active", listener="public")
                self.assertEqual(sum(v for _, v in active), 2)
                # One held connection ends: the third is accepted and answered.
                held.pop().close()
                waiting.settimeout(10)
                got = b""
                while b"\r\n\r\n" not in got:
                    chunk = waiting.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:100])
        finally:
            for c in held:
                c.close()
            if waiting:
                waiting.close()
            be.close()


def _status_or_none(port: int):
    try:
        return get_ok(port, timeout=2)
    except OSError:
        return None


if __name__ == "__main__":
    unittest.main(verbosity=2)
