"""TCP listeners: the side per connection by weight (and sticky by client IP), the byte
relay (100 MiB both ways byte-exact, half-close), rollback closing target connections after a
grace, weight changes for new connections only, connect retry, outlier ejection and failover,
the idle timeout, PROXY protocol v1/v2 headers byte for byte, metrics, reload and drain.

The backends are TCP servers written here: on accept (after reading a PROXY header when they
expect one) they send their side ("source\\n" or "target\\n"), echo every byte, and on EOF send
the sha256 of what they received plus "\\n", then close.
"""
from __future__ import annotations

import hashlib
import json
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (LOCALHOST, MiB, Cutover, CutoverTestCase, closed_port, cluster, cutoverctl_bin,  # noqa: E402
                     expected_sha256, gen_bytes, main, make_config, metric_values, to_yaml, wait_for)

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


class TcpBackend:
    """A threaded TCP echo server tagging each connection with its side; see the module doc."""

    def __init__(self, side: str, proxy: str | None = None):
        self.side = side
        self.proxy = proxy  # None, "v1" or "v2": the PROXY header expected first
        self.sock = socket.create_server((LOCALHOST, 0), backlog=1024)
        self.port = self.sock.getsockname()[1]
        self.addr = f"{LOCALHOST}:{self.port}"
        self.lock = threading.Lock()
        self.accepted = 0
        self.eofs = 0              # connections whose client half-closed (or closed) cleanly
        self.headers: list[bytes] = []  # raw PROXY headers, in arrival order
        self.received: list[str] = []   # sha256 of what each finished connection received
        threading.Thread(target=self._accept_loop, daemon=True, name=f"tcp-{side}").start()

    def _accept_loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_exact(self, conn, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError("closed inside the PROXY header")
            buf += chunk
        return buf

    def _read_header(self, conn) -> bytes:
        if self.proxy == "v2":
            fixed = self._read_exact(conn, 16)
            return fixed + self._read_exact(conn, struct.unpack("!H", fixed[14:16])[0])
        line = b""
        while not line.endswith(b"\r\n") and len(line) < 108:
            line += self._read_exact(conn, 1)
        return line

    def _serve(self, conn: socket.socket):
        try:
            with conn:
                conn.settimeout(120)
                if self.proxy:
                    header = self._read_header(conn)
                    with self.lock:
                        self.headers.append(header)
                conn.sendall(f"{self.side}\n".encode())
                h = hashlib.sha256()
                while True:
                    data = conn.recv(256 * 1024)
                    if not data:
                        break
                    h.update(data)
                    conn.sendall(data)
                with self.lock:
                    self.eofs += 1
                    self.received.append(h.hexdigest())
                conn.sendall(h.hexdigest().encode() + b"\n")
                conn.shutdown(socket.SHUT_WR)
        except (OSError, EOFError):
            pass  # closed by cutover (rollback, idle timeout) or reset

    def close(self):
        self.sock.close()


def read_line(s: socket.socket, limit: int = 200) -> bytes:
    buf = b""
    while not buf.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            raise EOFError(f"connection closed after {buf!r}")
        buf += c
        if len(buf) > limit:
            raise AssertionError(f"no line end in {buf!r}")
    return buf


def open_conn(port: int, timeout: float = 10.0) -> tuple[socket.socket, str]:
    """Connects through cutover; returns the socket and the side that greeted it."""
    s = socket.create_connection((LOCALHOST, port), timeout=timeout)
    try:
        return s, read_line(s).decode().strip()
    except BaseException:
        s.close()
        raise


def echo_ok(s: socket.socket, payload: bytes = b"ping\n") -> bool:
    """One round trip on an open connection: True when the echo came back whole."""
    try:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(len(payload) - len(got))
            if not chunk:
                return False
            got += chunk
        return got == payload
    except OSError:
        return False


def closed_within(s: socket.socket, timeout: float) -> float | None:
    """Reads until EOF or reset; returns the monotonic time it closed, None if still open then."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        s.settimeout(left)
        try:
            if not s.recv(65536):
                return time.monotonic()
        except socket.timeout:
            return None
        except OSError:
            return time.monotonic()


def side_of_new_conn(port: int) -> str:
    s, side = open_conn(port)
    s.close()
    return side


class TcpTest(CutoverTestCase):
    @classmethod
    def setUpClass(cls):
        cls.src = TcpBackend("source")
        cls.tgt = TcpBackend("target")
        cls.ppv1 = TcpBackend("source", proxy="v1")
        cls.ppv2 = TcpBackend("target", proxy="v2")
        dead = f"{LOCALHOST}:{closed_port()}"
        cls.dead = dead
        clusters = {
            "src": cluster(cls.src.addr),
            "tgt": cluster(cls.tgt.addr),
            "tgt_retry": cluster(dead, cls.tgt.addr),
            "tgt_eject": dict(cluster(dead, cls.tgt.addr),
                              outlier_detection={"consecutive_connect_failures": 1, "ejection_time": "60s"}),
            "tgt_down": dict(cluster(f"{LOCALHOST}:{closed_port()}"),
                             outlier_detection={"consecutive_connect_failures": 1, "ejection_time": "60s"}),
            "pp_v1": dict(cluster(cls.ppv1.addr), send_proxy_protocol="v1"),
            "pp_v2": dict(cluster(cls.ppv2.addr), send_proxy_protocol="v2"),
        }

        def listener(name, route_name, source="src", target="tgt", weight=0, **extra):
            r = {"name": route_name, "source": source, "target": target, "weight": weight}
            r.update(extra.pop("route_extra", {}))
            return dict({"name": name, "address": f"{LOCALHOST}:0", "protocol": "tcp", "routes": [r]}, **extra)

        listeners = [
            listener("db", "pg", weight=25),
            listener("sticky", "pg_sticky", route_extra={"sticky": {"client_ip": True}}),
            listener("idle", "pg_idle", idle_timeout="1s"),
            listener("retry", "pg_retry", target="tgt_retry", weight=100),
            listener("eject", "pg_eject", target="tgt_eject", weight=100),
            listener("failover", "pg_failover", target="tgt_down", weight=100),
            listener("pp", "pg_pp", source="pp_v1", target="pp_v2"),
            listener("metered", "pg_metered"),
            listener("ramped", "pg_ramp"),
        ]
        cls.start_cutover(make_config(clusters, listeners), "tcp", listener="db")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        for b in (cls.src, cls.tgt, cls.ppv1, cls.ppv2):
            b.close()

    def p(self, listener: str) -> int:
        return self.cv.port(listener)

    def metric(self, name: str, **labels) -> float:
        vals = metric_values(self.admin.metrics(), name, **labels)
        return sum(v for _, v in vals)

    # -- split ---------------------------------------------------------------------------------

    def test_weight_25_over_2000_connections(self):
        self.admin.set_weight("pg", weight=25)
        counts = {"source": 0, "target": 0}
        for _ in range(2000):
            counts[side_of_new_conn(self.p("db"))] += 1
        share = counts["target"] / 2000 * 100
        self.assertTrue(22 <= share <= 28, f"target share {share:.1f} % of 2000 at weight 25: {counts}")
        # Every connection of the route is counted once, on the side it went to.
        wait_for(lambda: self.metric("cutover_tcp_connections_active", route="pg") == 0, 10)
        self.assertGreaterEqual(self.metric("cutover_tcp_connections_total", route="pg", side="target"),
                                counts["target"])

    def test_sticky_client_ip_one_side_per_weight_and_monotone(self):
        sides_by_weight = {}
        for weight in range(0, 101, 10):
            self.admin.set_weight("pg_sticky", weight=weight)
            sides = {side_of_new_conn(self.p("sticky")) for _ in range(8)}
            self.assertEqual(len(sides), 1, f"connections from 127.0.0.1 split at weight {weight}: {sides}")
            sides_by_weight[weight] = sides.pop()
        self.assertEqual(sides_by_weight[0], "source")
        self.assertEqual(sides_by_weight[100], "target")
        flipped = [w for w in sides_by_weight if sides_by_weight[w] == "target"]
        # Raising the weight only moves the client's bucket to target, never back.
        self.assertEqual(flipped, list(range(flipped[0], 101, 10)), sides_by_weight)

    def test_weight_change_applies_to_new_connections_only(self):
        self.admin.set_weight("pg", weight=0)
        old, side = open_conn(self.p("db"))
        self.assertEqual(side, "source")
        self.admin.set_weight("pg", weight=100)
        new, side2 = open_conn(self.p("db"))
        try:
            self.assertEqual(side2, "target")
            self.assertTrue(echo_ok(old), "the source connection broke when the weight changed")
            self.admin.set_weight("pg", weight=0)
            self.assertEqual(side_of_new_conn(self.p("db")), "source")
            # The existing target connection keeps working at weight 0.
            self.assertTrue(echo_ok(new), "the target connection broke when the weight went to 0")
            self.assertTrue(echo_ok(old))
        finally:
            old.close()
            new.close()

    # -- relay ---------------------------------------------------------------------------------

    def test_100MiB_both_ways_byte_exact_with_half_close(self):
        self.admin.set_weight("pg", weight=100)
        n = 100 * MiB
        s, side = open_conn(self.p("db"), timeout=120)
        self.assertEqual(side, "target")
        errors = []

        def writer():
            try:
                for piece in gen_bytes(n, piece=256 * 1024):
                    s.sendall(piece)
                s.shutdown(socket.SHUT_WR)  # the server sees EOF only after every byte
            except OSError as e:
                errors.append(e)

        t = threading.Thread(target=writer)
        t.start()
        h = hashlib.sha256()
        got = 0
        while got < n:
            chunk = s.recv(min(1 << 20, n - got))
            if not chunk:
                break
            h.update(chunk)
            got += len(chunk)
        trailer = b""
        while True:  # after the echo: the server's digest of what it received, then EOF
            chunk = s.recv(4096)
            if not chunk:
                break
            trailer += chunk
        t.join(60)
        s.close()
        self.assertEqual(errors, [])
        self.assertEqual(got, n)
        self.assertEqual(h.hexdigest(), expected_sha256(n), "bytes back to the client differ")
        self.assertEqual(trailer.decode().strip(), expected_sha256(n), "bytes at the server differ")

    def test_half_close_client_shutdown_still_receives(self):
        self.admin.set_weight("pg", weight=0)
        eofs_before = self.src.eofs
        s, side = open_conn(self.p("db"))
        try:
            s.sendall(b"hello")
            s.shutdown(socket.SHUT_WR)
            s.settimeout(10)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        # The echo and the digest the server sends only after it saw EOF, then its own EOF.
        self.assertEqual(data, b"hello" + hashlib.sha256(b"hello").hexdigest().encode() + b"\n")
        self.assertTrue(wait_for(lambda: self.src.eofs > eofs_before, 5))

    # -- rollback ------------------------------------------------------------------------------

    def test_rollback_closes_target_connections_after_grace(self):
        self.admin.set_weight("pg", weight=0)
        src_conn, side = open_conn(self.p("db"))
        self.assertEqual(side, "source")
        self.admin.set_weight("pg", weight=100)
        tgt_conns = [open_conn(self.p("db"))[0] for _ in range(4)]
        try:
            st, js, text = self.admin.post("/v1/routes/pg/rollback", {"close_target_connections": True, "grace": "2s"})
            self.assertEqual(st, 200, text)
            t0 = time.monotonic()
            self.assertEqual((js["read_weight"], js["write_weight"]), (0, 0))
            time.sleep(1.0)
            for c in tgt_conns:
                self.assertTrue(echo_ok(c), "a target connection closed before the grace ended")
            closed_at = [closed_within(c, 10) for c in tgt_conns]
            for t in closed_at:
                self.assertIsNotNone(t, "a target connection was still open long after the grace")
                # Not before the grace (small slack for clocks), and soon after it.
                self.assertGreaterEqual(t - t0, 1.9)
                self.assertLess(t - t0, 2.0 + 3.0)
            self.assertTrue(echo_ok(src_conn), "the source connection was closed by the rollback")
            self.assertEqual(side_of_new_conn(self.p("db")), "source")
            self.assertGreaterEqual(self.metric("cutover_tcp_target_closed_total", route="pg"), 4)
        finally:
            src_conn.close()
            for c in tgt_conns:
                c.close()

    def test_rollback_without_grace_closes_at_once_and_bad_grace_is_422(self):
        self.admin.set_weight("pg", weight=100)
        c, side = open_conn(self.p("db"))
        try:
            self.assertEqual(side, "target")
            st, _, text = self.admin.post("/v1/routes/pg/rollback", {"grace": "2s"})
            self.assertEqual(st, 422, text)
            st, _, text = self.admin.post("/v1/routes/pg/rollback", {"close_target_connections": True, "grace": "x"})
            self.assertEqual(st, 422, text)
            self.assertTrue(echo_ok(c), "a refused rollback closed a connection")
            t0 = time.monotonic()
            self.admin.rollback("pg", {"close_target_connections": True})
            t = closed_within(c, 5)
            self.assertIsNotNone(t)
            self.assertLess(t - t0, 2.0)
        finally:
            c.close()

    def test_cutoverctl_rollback_with_grace(self):
        ctl = cutoverctl_bin()
        self.admin.set_weight("pg", weight=100)
        c, side = open_conn(self.p("db"))
        try:
            self.assertEqual(side, "target")
            t0 = time.monotonic()
            r = subprocess.run([ctl, "--admin", f"http://{LOCALHOST}:{self.admin.port}", "rollback", "pg",
                                "--close-target-connections", "--grace", "1s"],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            t = closed_within(c, 6)
            self.assertIsNotNone(t)
            self.assertGreaterEqual(t - t0, 0.9)
        finally:
            c.close()

    def test_admin_keeps_tcp_weights_equal(self):
        st, _, text = self.admin.put("/v1/routes/pg/weights", {"read_weight": 10})
        self.assertEqual(st, 422, text)
        self.assertIn("tcp route", text)

    # -- ramps ---------------------------------------------------------------------------------

    def test_ramp_on_a_tcp_route_counts_connections_and_completes(self):
        st, _, text = self.admin.post("/v1/routes/pg_ramp/ramp", {"steps": [50], "interval": "1s", "apply_to": "read"})
        self.assertEqual(st, 422, text)
        stop = threading.Event()
        seen = {"source": 0, "target": 0}

        def traffic():
            while not stop.is_set():
                seen[side_of_new_conn(self.p("ramped"))] += 1
                time.sleep(0.01)

        t = threading.Thread(target=traffic)
        t.start()
        try:
            st, js, text = self.admin.post("/v1/routes/pg_ramp/ramp", {
                "steps": [50, 100], "interval": "1s", "gates": {"max_error_rate": 0.05, "min_requests": 5}})
            self.assertEqual(st, 200, text)
            view = wait_for(lambda: (lambda v: v if v["state"] != "running" else None)(
                self.admin.get("/v1/routes/pg_ramp/ramp")[1]), 15, 0.1)
        finally:
            stop.set()
            t.join(10)
        self.assertIsNotNone(view, "the ramp did not end within 15 s")
        self.assertEqual(view["state"], "completed", view)
        self.assertEqual(self.admin.route("pg_ramp")["write_weight"], 100)
        self.assertGreater(seen["target"], 0)
        # One window entry per connection, per side.
        st, js, text = self.admin.get("/v1/stats?window=60s&route=pg_ramp")
        self.assertEqual(st, 200, text)
        sides = js["routes"][0]["sides"]
        self.assertEqual((sides["source"]["requests"], sides["target"]["requests"]), (seen["source"], seen["target"]))
        self.assertEqual(sides["target"]["errors_5xx"], 0)

    # -- upstream failures ---------------------------------------------------------------------

    def test_connect_retry_to_another_endpoint(self):
        before = self.metric("cutover_upstream_retries_total", cluster="tgt_retry")
        for _ in range(20):
            self.assertEqual(side_of_new_conn(self.p("retry")), "target")
        # Round robin per worker: the dead endpoint came up and each time the next one served.
        self.assertGreater(self.metric("cutover_upstream_retries_total", cluster="tgt_retry"), before)
        self.assertGreater(self.metric("cutover_upstream_connect_errors_total", cluster="tgt_retry"), 0)

    def test_connect_failure_ejects_the_endpoint(self):
        for _ in range(20):
            self.assertEqual(side_of_new_conn(self.p("eject")), "target")
        self.assertGreaterEqual(self.metric("cutover_outlier_ejections_total", cluster="tgt_eject"), 1)
        # Ejected after its first failure: later connections are not even tried there.
        self.assertLessEqual(self.metric("cutover_upstream_connect_errors_total", cluster="tgt_eject"), 2)
        vals = metric_values(self.admin.metrics(), "cutover_endpoint_healthy", cluster="tgt_eject", endpoint=self.dead)
        self.assertEqual([v for _, v in vals], [0.0])

    def test_target_down_fails_over_to_source(self):
        # The first connection may find the endpoint not yet ejected (it then fails: one endpoint).
        try:
            side_of_new_conn(self.p("failover"))
        except (EOFError, OSError):
            pass
        sides = [side_of_new_conn(self.p("failover")) for _ in range(10)]
        self.assertEqual(sides, ["source"] * 10)
        self.assertGreaterEqual(self.metric("cutover_failovers_total", route="pg_failover"), 10)

    # -- idle timeout --------------------------------------------------------------------------

    def test_idle_timeout_closes_idle_connection_only(self):
        before = self.metric("cutover_tcp_idle_timeouts_total", route="pg_idle")
        busy, _ = open_conn(self.p("idle"))
        idle, _ = open_conn(self.p("idle"))
        try:
            t0 = time.monotonic()
            # The busy one moves a byte every 0.3 s for 2.5 s: never idle for 1 s.
            while time.monotonic() - t0 < 2.5:
                self.assertTrue(echo_ok(busy, b"x"), "a busy connection was closed")
                time.sleep(0.3)
            t = closed_within(idle, 5)
            self.assertIsNotNone(t, "the idle connection was not closed")
            self.assertGreaterEqual(t - t0, 0.9)
            self.assertIsNotNone(closed_within(busy, 5), "the busy connection never idled out")
        finally:
            busy.close()
            idle.close()
        # Counted once the relay has ended, just after the sockets closed.
        self.assertTrue(wait_for(lambda: self.metric("cutover_tcp_idle_timeouts_total", route="pg_idle") >= before + 2, 5))

    # -- PROXY protocol ------------------------------------------------------------------------

    def test_proxy_protocol_v1_and_v2_headers_byte_exact(self):
        port = self.p("pp")
        for weight, backend in ((0, self.ppv1), (100, self.ppv2)):
            self.admin.set_weight("pg_pp", weight=weight)
            n = len(backend.headers)
            s, side = open_conn(port)
            client_port = s.getsockname()[1]
            try:
                self.assertTrue(echo_ok(s))
            finally:
                s.close()
            self.assertEqual(len(backend.headers), n + 1)
            got = backend.headers[n]
            if backend.proxy == "v1":
                want = f"PROXY TCP4 127.0.0.1 127.0.0.1 {client_port} {port}\r\n".encode()
            else:
                want = (V2_SIGNATURE + bytes([0x21, 0x11, 0x00, 0x0C]) + socket.inet_aton("127.0.0.1") * 2 +
                        struct.pack("!HH", client_port, port))
            self.assertEqual(got, want, f"{backend.proxy} header")

    # -- metrics -------------------------------------------------------------------------------

    def test_metrics_count_connections_and_bytes(self):
        port = self.p("metered")
        conns = [open_conn(port)[0] for _ in range(3)]
        try:
            self.assertTrue(wait_for(lambda: self.metric("cutover_tcp_connections_active", route="pg_metered",
                                                         side="source") == 3, 5))
            self.assertEqual(self.metric("cutover_downstream_connections_active", listener="metered"), 3)
            for c in conns:
                self.assertTrue(echo_ok(c, b"z" * 1000))
                c.shutdown(socket.SHUT_WR)
                self.assertIsNotNone(closed_within(c, 5))
        finally:
            for c in conns:
                c.close()
        self.assertTrue(wait_for(lambda: self.metric("cutover_tcp_connections_active", route="pg_metered") == 0, 5))
        self.assertTrue(wait_for(lambda: self.metric("cutover_downstream_connections_active", listener="metered") == 0, 5))
        m = lambda **kw: self.metric(**kw)  # noqa: E731
        self.assertEqual(m(name="cutover_tcp_connections_total", route="pg_metered", side="source"), 3)
        self.assertEqual(m(name="cutover_tcp_connections_total", route="pg_metered", side="target"), 0)
        self.assertEqual(m(name="cutover_tcp_bytes_total", route="pg_metered", side="source", direction="upstream"),
                         3 * 1000)
        # greeting "source\n" + the echo + a 64-digit digest and "\n"
        self.assertEqual(m(name="cutover_tcp_bytes_total", route="pg_metered", side="source", direction="downstream"),
                         3 * (7 + 1000 + 65))
        # The window statistics count one success per connection (ramp gates, /v1/stats).
        st, js, text = self.admin.get("/v1/stats?window=60s")
        self.assertEqual(st, 200, text)
        self.assertIn("pg_metered", text)


class TcpLifecycleTest(unittest.TestCase):
    """Reload (SIGHUP) and drain (SIGTERM) with tcp connections open."""

    def test_reload_keeps_connections_and_drain_exits_within_drain_timeout(self):
        src = TcpBackend("source")
        tgt = TcpBackend("target")
        cfg = make_config({"src": cluster(src.addr), "tgt": cluster(tgt.addr)},
                          [{"name": "db", "address": f"{LOCALHOST}:0", "protocol": "tcp",
                            "routes": [{"name": "pg", "source": "src", "target": "tgt", "weight": 0}]}],
                          drain_timeout="2s")
        cfg["state_file"] = "state.json"
        cv = Cutover(cfg, name="tcp-lifecycle").start()
        try:
            port = cv.port("db")
            a, side = open_conn(port)
            self.assertEqual(side, "source")
            cv.admin.set_weight("pg", weight=100)
            # The state file keeps a tcp route's weight like an http route's.
            state = json.loads((cv.dir / "state.json").read_text())
            self.assertEqual(state["routes"]["pg"]["read_weight_bp"], 10000)
            self.assertEqual(state["routes"]["pg"]["write_weight_bp"], 10000)
            cfg["listeners"][0]["idle_timeout"] = "10m"
            cv.config_path.write_text(to_yaml(cfg) + "\n")
            cv.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: sum(v for _, v in metric_values(
                cv.admin.metrics(), "cutover_config_reloads_total", result="success")) == 1, 10), cv.log_tail())
            self.assertEqual(cv.admin.route("pg")["write_weight"], 100, "the reload reset the runtime weight")
            self.assertTrue(echo_ok(a), "the reload broke an open connection")
            b, side = open_conn(port)
            self.assertEqual(side, "target")
            # Drain: open connections run on until drain_timeout (2 s), then the process exits.
            t0 = time.monotonic()
            cv.proc.send_signal(signal.SIGTERM)
            rc = cv.proc.wait(10)
            took = time.monotonic() - t0
            self.assertEqual(rc, 0, cv.log_tail())
            self.assertLess(took, 2.0 + 3.0)
            a.close()
            b.close()
        finally:
            cv.stop()
            src.close()
            tgt.close()


if __name__ == "__main__":
    main()
