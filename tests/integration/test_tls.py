#!/usr/bin/env python3
"""TLS, against the real binary with certificates made here by the openssl CLI (a test
CA, a.test and b.test for the listener, upstream.test for a TLS backend): the listener presents
the certificate SNI asks for (wildcards included, a.test by default), refuses TLS 1.1, selects ALPN
http/1.1 and refuses a client offering only h2, tells the backend X-Forwarded-Proto: https, and
takes new certificate files on SIGHUP (a broken one fails the reload and keeps the old). Upstream:
the right CA gives 200, the wrong one 502 with OpenSSL's reason in the log, verify: false works
and `cutover --check` warns about it, the next connection to an endpoint resumes the last TLS
session (the backend closes after every response and records SSLSocket.session_reused), and
health checks run over TLS. A tcp listener terminates TLS too (TcpTlsTest): SNI certificates, no
ALPN, a byte-exact relay, a non-TLS client counted and never connected upstream."""
import hashlib
import http.client
import http.server
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def openssl(cwd: Path, *args: str):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {r.stderr.decode(errors='replace')}")


def make_ca(d: Path, name: str):
    openssl(d, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}")


def make_leaf(d: Path, ca: str, name: str, dns: list[str]):
    """name.pem / name.key: a server certificate for `dns`, signed by CA `ca`."""
    openssl(d, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={dns[0]}")
    (d / f"{name}.ext").write_text(
        "subjectAltName=" + ",".join(f"DNS:{n}" for n in dns) + "\n"
        "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
    openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-set_serial", str(random.randrange(1, 1 << 62)), "-days", "2", "-out", f"{name}.pem",
            "-extfile", f"{name}.ext")


class TlsBackend(http.server.ThreadingHTTPServer):
    """An HTTPS backend on 127.0.0.1:0 that answers one request per connection (Connection:
    close) and records, per request, the path, the Host header and whether the TLS session was
    resumed."""
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, cert: Path, key: Path):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.records: list[tuple[str, bool]] = []
        self.server_names: list[str | None] = []  # the SNI of each handshake, None when none was sent
        self.handshake_failures = 0
        self.lock = threading.Lock()
        backend = self

        def on_sni(_sock, name, _ctx):
            with backend.lock:
                backend.server_names.append(name)
        self.ctx.sni_callback = on_sni

        class Handler(h.QuickHandler):
            def do_GET(self):
                with backend.lock:
                    backend.records.append((self.path, self.connection.session_reused))
                self.close_connection = True
                self.reply(200, b"tls backend\n", [("Connection", "close"), ("X-Backend", "tls")])

        super().__init__((h.LOCALHOST, 0), Handler)
        self.addr = f"{h.LOCALHOST}:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()

    def finish_request(self, request, client_address):
        # The handshake runs in the request's thread, so a refused one never stalls accept().
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            with self.lock:
                self.handshake_failures += 1
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request, client_address):
        pass

    def take(self) -> list[tuple[str, bool]]:
        with self.lock:
            out, self.records = self.records, []
        return out

    def close(self):
        self.shutdown()
        self.server_close()


class PlainBackend(h.QuickServer):
    """A plain HTTP backend recording the X-Forwarded-Proto of every request."""

    def __init__(self):
        self.protos: list[str | None] = []
        backend = self

        class Handler(h.QuickHandler):
            def do_GET(self):
                backend.protos.append(self.headers.get("X-Forwarded-Proto"))
                self.reply(200, b"plain backend\n", [("X-Backend", "plain")])

        super().__init__(Handler)


def fingerprint(pem_path: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem_path.read_text())).hexdigest()


class TlsTest(h.CutoverTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = Path(tempfile.mkdtemp(prefix="cutover-it-tls-"))
        d = cls.dir
        make_ca(d, "ca")
        make_ca(d, "other-ca")
        make_leaf(d, "ca", "a", ["a.test"])
        make_leaf(d, "ca", "b", ["b.test", "*.b.test"])
        make_leaf(d, "ca", "upstream", ["upstream.test"])
        cls.plain = PlainBackend()
        cls.tls_backend = TlsBackend(d / "upstream.pem", d / "upstream.key")
        up = cls.tls_backend.addr
        clusters = {
            "plain": h.cluster(cls.plain.addr),
            "tls_ok": dict(h.cluster(up), tls={"sni": "upstream.test", "ca_file": str(d / "ca.pem")},
                           health_check={"path": "/healthz", "interval": "200ms", "timeout": "200ms"}),
            "tls_wrong": dict(h.cluster(up), tls={"sni": "upstream.test", "ca_file": str(d / "other-ca.pem")}),
            # The right CA, the wrong name: the certificate is for upstream.test.
            "tls_wrong_name": dict(h.cluster(up), tls={"sni": "elsewhere.test", "ca_file": str(d / "ca.pem")}),
            "tls_noverify": dict(h.cluster(up), tls={"verify": False}),
        }
        routes = [h.route("ok", source="tls_ok", target="plain", path_prefix="/ok"),
                  h.route("wrong", source="tls_wrong", target="plain", path_prefix="/wrong"),
                  h.route("noverify", source="tls_noverify", target="plain", path_prefix="/noverify"),
                  h.route("wrongname", source="tls_wrong_name", target="plain", path_prefix="/wrongname"),
                  h.route("app", source="plain", target="tls_ok")]
        tls = {"certificates": [{"cert_file": str(d / "a.pem"), "key_file": str(d / "a.key")},
                                {"cert_file": str(d / "b.pem"), "key_file": str(d / "b.key")}]}
        cls.config = h.make_config(clusters, [{"name": "public", "address": f"{h.LOCALHOST}:0", "protocol": "http",
                                               "tls": tls, "routes": routes},
                                              # HTTP/2 off: ALPN offers http/1.1 alone.
                                              {"name": "h1only", "address": f"{h.LOCALHOST}:0", "http2": False,
                                               "tls": tls, "routes": [h.route("app_h1", source="plain", target="tls_ok")]}])
        cls.config["timeouts"] = {"request_header": "1s"}  # test_slow_head_over_tls_gets_408
        cls.start_cutover(cls.config, "tls")
        cls.h1only_port = cls.cv.port("h1only")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.plain.close()
        cls.tls_backend.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    # ---- helpers ----------------------------------------------------------------------------

    def client_context(self, alpn=None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca.pem"))
        if alpn:
            ctx.set_alpn_protocols(alpn)
        return ctx

    def handshake(self, server_name: str | None, alpn=None, check_hostname=True, port=None) -> ssl.SSLSocket:
        ctx = self.client_context(alpn)
        ctx.check_hostname = check_hostname and server_name is not None
        raw = socket.create_connection((h.LOCALHOST, port or self.port), timeout=10)
        try:
            return ctx.wrap_socket(raw, server_hostname=server_name)
        except BaseException:
            raw.close()
            raise

    def presented(self, server_name: str | None) -> str:
        """SHA-256 of the certificate the listener presents for `server_name`."""
        with self.handshake(server_name, check_hostname=False) as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()

    def https_get(self, path: str, host: str = "a.test") -> tuple[int, bytes]:
        conn = http.client.HTTPSConnection(h.LOCALHOST, self.port, timeout=20, context=self.client_context())
        # SNI and the certificate check use the name, the TCP connection 127.0.0.1.
        conn._create_connection = lambda addr, timeout, src: socket.create_connection((h.LOCALHOST, self.port), timeout)
        conn.host = host
        try:
            conn.request("GET", path, headers={"Host": host})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def curl(self, name: str, path: str = "/", *extra: str, port=None) -> subprocess.CompletedProcess:
        port = port or self.port
        return subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", str(self.dir / "ca.pem"),
                               "--resolve", f"{name}:{port}:{h.LOCALHOST}", *extra,
                               f"https://{name}:{port}{path}"], capture_output=True, timeout=30)

    # ---- termination ------------------------------------------------------------------------

    def test_curl_gets_the_certificate_of_the_name_it_asks_for(self):
        for name, cert in (("a.test", "a"), ("b.test", "b")):
            r = self.curl(name, "/", "-w", "%{http_code} %{ssl_verify_result}")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.endswith(b"200 0"), r.stdout)
            self.assertIn(b"plain backend", r.stdout)
            self.assertEqual(self.presented(name), fingerprint(self.dir / f"{cert}.pem"), name)
        # A wildcard name, no SNI and an unknown name.
        self.assertEqual(self.presented("x.b.test"), fingerprint(self.dir / "b.pem"))
        self.assertEqual(self.presented("x.y.b.test"), fingerprint(self.dir / "a.pem"))  # one label only
        self.assertEqual(self.presented(None), fingerprint(self.dir / "a.pem"))
        self.assertEqual(self.presented("unknown.test"), fingerprint(self.dir / "a.pem"))
        # curl checks the name: b.test's certificate does not cover a.test and the other way round.
        r = self.curl("x.b.test")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_tls_1_1_is_refused_by_the_server(self):
        # SECLEVEL=0 lets this client speak TLS 1.1 at all; so a failure is the server's refusal,
        # which shows as the protocol_version alert it sends.
        base = ["openssl", "s_client", "-connect", f"{h.LOCALHOST}:{self.port}", "-servername", "a.test",
                "-cipher", "DEFAULT@SECLEVEL=0"]
        old = subprocess.run(base + ["-tls1_1"], stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        out = (old.stdout + old.stderr).decode(errors="replace")
        self.assertNotEqual(old.returncode, 0, out)
        self.assertIn("alert protocol version", out)
        # The same client with TLS 1.2 gets through: the refusal above is about the version.
        ok = subprocess.run(base + ["-tls1_2"], stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        self.assertEqual(ok.returncode, 0, (ok.stdout + ok.stderr).decode(errors="replace"))
        self.assertIn(b"TLSv1.2", ok.stdout)

    def test_alpn_prefers_h2_and_falls_back_to_http11(self):
        # The server's preference decides (RFC 7301 §3.2): h2 whatever order the client lists.
        for offer in (["h2", "http/1.1"], ["http/1.1", "h2"], ["h2"]):
            with self.handshake("a.test", alpn=offer) as s:
                self.assertEqual(s.selected_alpn_protocol(), "h2", offer)
        with self.handshake("a.test", alpn=["http/1.1"]) as s:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
        with self.handshake("a.test") as s:  # no ALPN at all: served as usual (HTTP/1.1)
            self.assertIsNone(s.selected_alpn_protocol())
        r = self.curl("a.test", "/", "-w", "%{http_version}")
        self.assertTrue(r.stdout.endswith(b"\n2"), r.stdout)
        r = self.curl("a.test", "/", "-w", "%{http_version}", "--http1.1")
        self.assertTrue(r.stdout.endswith(b"1.1"), r.stdout)

    def test_alpn_without_http2_selects_http11_and_refuses_h2_only(self):
        with self.handshake("a.test", alpn=["h2", "http/1.1"], port=self.h1only_port) as s:
            self.assertEqual(s.selected_alpn_protocol(), "http/1.1")
        with self.assertRaises(ssl.SSLError) as cm:
            self.handshake("a.test", alpn=["h2"], port=self.h1only_port).close()
        self.assertIn("NO APPLICATION PROTOCOL", str(cm.exception).upper().replace("_", " "))
        r = self.curl("a.test", "/", "-w", "%{http_version}", port=self.h1only_port)
        self.assertTrue(r.stdout.endswith(b"1.1"), r.stdout)

    def test_slow_head_over_tls_gets_408(self):
        # The header timeout's watchdog cancels the TLS stream's read and the 408 still goes out
        # encrypted (the socket moved into the TLS layer after the handshake).
        with self.handshake("a.test") as s:
            s.sendall(b"GET /never-finished HTTP/1.1\r\nHost: a.test\r\n")
            t0 = time.monotonic()
            got = b""
            s.settimeout(10)
            while True:
                try:
                    chunk = s.recv(65536)
                except (ssl.SSLError, ConnectionResetError, socket.timeout):
                    break
                if not chunk:
                    break
                got += chunk
            self.assertTrue(got.startswith(b"HTTP/1.1 408 "), got[:200])
            self.assertLess(time.monotonic() - t0, 6)

    def test_forwarded_proto_is_https(self):
        self.plain.protos.clear()
        r = self.curl("a.test", "/proto")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.plain.protos, ["https"])

    def test_reload_takes_new_certificate_files_and_refuses_broken_ones(self):
        d = self.dir
        before = fingerprint(d / "a.pem")
        self.assertEqual(self.presented("a.test"), before)
        # New key and certificate for a.test in the same files; SIGHUP.
        make_leaf(d, "ca", "a", ["a.test"])
        after = fingerprint(d / "a.pem")
        self.assertNotEqual(before, after)
        os.kill(self.cv.pid, signal.SIGHUP)
        self.assertTrue(h.wait_for(lambda: self.presented("a.test") == after, 10),
                        f"still presenting the old certificate; log:\n{self.cv.log_tail(20)}")
        r = self.curl("a.test")
        self.assertEqual(r.returncode, 0, r.stderr)

        # A broken certificate file: the reload fails naming it, the running certificates stay.
        good = (d / "b.pem").read_bytes()
        try:
            (d / "b.pem").write_text("not a certificate\n")
            st, js, text = self.admin.post("/v1/config/reload")
            self.assertEqual(st, 422, text)
            self.assertIn("b.pem", text)
            self.assertIn("no usable PEM certificate", text)
            self.assertEqual(self.presented("b.test"), hashlib.sha256(
                ssl.PEM_cert_to_DER_cert(good.decode())).hexdigest())
        finally:
            (d / "b.pem").write_bytes(good)
        st, js, text = self.admin.post("/v1/config/reload")
        self.assertEqual(st, 200, text)

    def test_handshake_failures_are_counted(self):
        # An ALPN offer the listener does not serve (h2 only, to the HTTP/1-only listener) fails it.
        before = sum(v for _, v in h.metric_values(self.admin.metrics(), "cutover_downstream_tls_handshake_errors_total",
                                                   listener="h1only"))
        with self.assertRaises(ssl.SSLError):
            self.handshake("a.test", alpn=["h2"], port=self.h1only_port).close()
        self.assertTrue(h.wait_for(lambda: sum(v for _, v in h.metric_values(
            self.admin.metrics(), "cutover_downstream_tls_handshake_errors_total", listener="h1only")) > before, 5))

    # ---- upstream -----------------------------------------------------------------------------

    def test_upstream_with_the_right_ca(self):
        status, body = self.https_get("/ok/1")
        self.assertEqual((status, body), (200, b"tls backend\n"))

    def test_upstream_with_the_wrong_ca_is_a_502_naming_the_reason(self):
        status, body = self.https_get("/wrong/1")
        self.assertEqual(status, 502, body)
        self.assertIn(b"certificate verify failed", body)
        self.assertTrue(h.wait_for(lambda: any(
            "tls_wrong" in line and self.tls_backend.addr in line and "certificate verify failed" in line
            for line in self.cv.log_tail(200).splitlines()), 5), self.cv.log_tail(20))
        self.assertGreater(sum(v for _, v in h.metric_values(
            self.admin.metrics(), "cutover_upstream_tls_handshake_errors_total", cluster="tls_wrong")), 0)

    def sni_of_next_handshake(self, path: str) -> tuple[int, bytes, list]:
        with self.tls_backend.lock:
            self.tls_backend.server_names.clear()
        status, body = self.https_get(path)
        with self.tls_backend.lock:
            return status, body, list(self.tls_backend.server_names)

    def test_upstream_gets_the_configured_sni(self):
        status, body, names = self.sni_of_next_handshake("/ok/sni")
        self.assertEqual((status, body), (200, b"tls backend\n"))
        self.assertEqual(set(names), {"upstream.test"}, names)

    def test_upstream_at_an_ip_literal_without_sni_gets_none(self):
        # tls_noverify names no sni and its endpoint is 127.0.0.1: an address is never sent as SNI
        # (RFC 6066 section 3).
        status, _, names = self.sni_of_next_handshake("/noverify/sni")
        self.assertEqual(status, 200)
        self.assertEqual(set(names), {None}, names)

    def test_upstream_certificate_of_the_right_ca_for_another_name_is_refused(self):
        status, body, names = self.sni_of_next_handshake("/wrongname/1")
        self.assertEqual(status, 502, body)
        self.assertIn(b"certificate verify failed", body)
        self.assertIn("elsewhere.test", names, "the handshake asked for the configured name")
        self.assertEqual([p for p, _ in self.tls_backend.take() if p.startswith("/wrongname")], [],
                         "no request reached the backend")
        self.assertGreater(sum(v for _, v in h.metric_values(
            self.admin.metrics(), "cutover_upstream_tls_handshake_errors_total", cluster="tls_wrong_name")), 0)

    def test_upstream_without_verification(self):
        status, body = self.https_get("/noverify/1")
        self.assertEqual((status, body), (200, b"tls backend\n"))
        # --check warns about it, at the line of the setting.
        code, out, _ = h.run_check(h.to_yaml(self.config) + "\n")
        self.assertEqual(code, 0, out)
        self.assertIn("tls.verify is false for cluster 'tls_noverify'", out)

    def test_next_connection_resumes_the_tls_session(self):
        self.tls_backend.take()
        # One downstream connection: one worker, so one pool and its session slot for the endpoint.
        conn = http.client.HTTPSConnection(h.LOCALHOST, self.port, timeout=20, context=self.client_context())
        conn._create_connection = lambda addr, timeout, src: socket.create_connection((h.LOCALHOST, self.port), timeout)
        conn.host = "a.test"
        try:
            for i in range(4):
                conn.request("GET", f"/ok/resume{i}", headers={"Host": "a.test"})
                r = conn.getresponse()
                self.assertEqual(r.status, 200, r.read())
                r.read()
        finally:
            conn.close()
        records = [rec for rec in self.tls_backend.take() if rec[0].startswith("/ok/resume")]
        self.assertEqual([p for p, _ in records], [f"/ok/resume{i}" for i in range(4)])
        # The backend closed after every response: four handshakes, the last three resumed.
        self.assertEqual([reused for _, reused in records[1:]], [True, True, True], records)
        self.assertGreaterEqual(sum(v for _, v in h.metric_values(
            self.admin.metrics(), "cutover_upstream_tls_sessions_resumed_total", cluster="tls_ok")), 3)

    def test_health_checks_run_over_tls(self):
        self.assertTrue(h.wait_for(lambda: any(p == "/healthz" for p, _ in self.tls_backend.records), 5))
        self.assertTrue(h.wait_for(lambda: h.metric_values(
            self.admin.metrics(), "cutover_endpoint_healthy", cluster="tls_ok")[0][1] == 1, 5))


class TcpTlsTest(h.CutoverTestCase):
    """TLS termination on a tcp listener: the certificate SNI asks for, no ALPN (the bytes are not
    HTTP), the stream relayed byte-exact through TLS both ways, a client that speaks no TLS counted
    as a handshake error and never connected upstream."""

    @classmethod
    def setUpClass(cls):
        from test_tcp import TcpBackend  # the echo backend that greets with its side
        cls.dir = Path(tempfile.mkdtemp(prefix="cutover-it-tcptls-"))
        d = cls.dir
        make_ca(d, "ca")
        make_leaf(d, "ca", "a", ["a.test"])
        make_leaf(d, "ca", "b", ["b.test"])
        cls.src = TcpBackend("source")
        cls.tgt = TcpBackend("target")
        tls = {"certificates": [{"cert_file": str(d / "a.pem"), "key_file": str(d / "a.key")},
                                {"cert_file": str(d / "b.pem"), "key_file": str(d / "b.key")}]}
        cfg = h.make_config({"src": h.cluster(cls.src.addr), "tgt": h.cluster(cls.tgt.addr)},
                            [{"name": "db", "address": f"{h.LOCALHOST}:0", "protocol": "tcp", "tls": tls,
                              "routes": [{"name": "pg", "source": "src", "target": "tgt", "weight": 0}]}])
        cls.start_cutover(cfg, "tcptls", listener="db")

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.src.close()
        cls.tgt.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def connect(self, name: str, alpn=None) -> ssl.SSLSocket:
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca.pem"))
        if alpn:
            ctx.set_alpn_protocols(alpn)
        raw = socket.create_connection((h.LOCALHOST, self.port), timeout=20)
        return ctx.wrap_socket(raw, server_hostname=name)

    def test_sni_certificate_and_byte_exact_relay_through_tls(self):
        for name in ("a.test", "b.test"):
            with self.subTest(name), self.connect(name, alpn=["h2", "http/1.1"]) as s:
                self.assertEqual(s.getpeercert()["subjectAltName"], (("DNS", name),))
                self.assertIsNone(s.selected_alpn_protocol(), "a tcp listener selects no ALPN protocol")
                greeting = b""
                while not greeting.endswith(b"\n"):
                    greeting += s.recv(1)
                self.assertEqual(greeting, b"source\n")
                # One thread: an SSL object must not be read and written from two threads at once.
                # Each 64 KiB piece is echoed back before the next goes out.
                payload = random.randbytes(3 * 1024 * 1024 + 17)
                got = bytearray()
                for at in range(0, len(payload), 65536):
                    piece = payload[at:at + 65536]
                    s.sendall(piece)
                    want = len(got) + len(piece)
                    while len(got) < want:
                        chunk = s.recv(want - len(got))
                        if not chunk:
                            break
                        got.extend(chunk)
                self.assertEqual(len(got), len(payload))
                self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(payload).hexdigest())

    def test_a_client_without_tls_is_a_handshake_error_and_reaches_no_backend(self):
        before = self.src.accepted + self.tgt.accepted
        errors_before = sum(v for _, v in h.metric_values(self.admin.metrics(),
                                                          "cutover_downstream_tls_handshake_errors_total",
                                                          listener="db"))
        with socket.create_connection((h.LOCALHOST, self.port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
            s.settimeout(10)
            try:
                while s.recv(4096):
                    pass
            except (ConnectionResetError, socket.timeout):
                pass
        counted = h.wait_for(lambda: sum(v for _, v in h.metric_values(self.admin.metrics(),
                                                                       "cutover_downstream_tls_handshake_errors_total",
                                                                       listener="db")) > errors_before, 5, 0.05)
        self.assertTrue(counted, "the failed handshake is counted")
        self.assertEqual(self.src.accepted + self.tgt.accepted, before, "no upstream connect before the handshake")


if __name__ == "__main__":
    h.main()
