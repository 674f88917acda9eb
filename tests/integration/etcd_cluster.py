"""Real etcd members for tests: a 1- or 3-member cluster of Debian's `etcd` (etcd-server 3.4) on
127.0.0.1 with free ports and data in a temporary directory. Members can be killed (-9) and
restarted, the whole cluster stopped and started again on the same data; everything stops on
close(), on leaving a `with` block, and at interpreter exit (a failing test leaves nothing
running). A few gateway calls (put, get, compact) let a test change and check the store without
the client under test. Standard library only.

    with EtcdCluster(members=3) as cluster:
        cluster.endpoints            # ["http://127.0.0.1:PORT", ...]
        cluster.kill(0); cluster.restart(0); cluster.stop_all(); cluster.start_all()
"""
import atexit
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request

ETCD_BIN = os.environ.get("ETCD_BIN", "etcd")
_LIVE = set()  # clusters not closed yet, stopped at exit


def _free_ports(n):
    """n distinct ports the kernel had free a moment ago (bound together, so no repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


class EtcdCluster:
    def __init__(self, members=1, start=True, extra_args=(), tls=None):
        """tls: {"ca", "cert", "key"} PEM files: clients speak https and must present a
        certificate signed by "ca" (the cluster's own cert and key serve for the test's client)."""
        assert members in (1, 3)
        self.dir = tempfile.mkdtemp(prefix="cutover-etcd-")
        ports = _free_ports(2 * members)
        self.names = [f"m{i}" for i in range(members)]
        self.client_ports = ports[:members]
        self.peer_ports = ports[members:]
        self.procs = [None] * members
        self.token = f"cutover-test-{os.getpid()}-{ports[0]}"
        self.extra_args = list(extra_args)  # e.g. ["--auth-token-ttl", "1"]
        self.tls = tls
        self.ssl_context = None
        if tls:
            self.ssl_context = ssl.create_default_context(cafile=tls["ca"])
            self.ssl_context.load_cert_chain(tls["cert"], tls["key"])
            self.extra_args += ["--cert-file", tls["cert"], "--key-file", tls["key"],
                                "--client-cert-auth", "--trusted-ca-file", tls["ca"]]
        _LIVE.add(self)
        if start:
            self.start_all(new=True)

    # --- membership -------------------------------------------------------------------------
    @property
    def endpoints(self):
        scheme = "https" if self.tls else "http"
        return [f"{scheme}://127.0.0.1:{p}" for p in self.client_ports]

    def _args(self, i, new):
        initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, p in zip(self.names, self.peer_ports))
        return [
            ETCD_BIN,
            "--name", self.names[i],
            "--data-dir", os.path.join(self.dir, self.names[i]),
            "--listen-client-urls", self.endpoints[i],
            "--advertise-client-urls", self.endpoints[i],
            "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[i]}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[i]}",
            "--initial-cluster", initial,
            "--initial-cluster-token", self.token,
            "--initial-cluster-state", "new" if new else "existing",
            # Short raft timings: a lost leader is replaced in about a second, not ten.
            "--heartbeat-interval", "50",
            "--election-timeout", "500",
            "--log-level", "warn",
        ] + self.extra_args

    def _start(self, i, new=False):
        assert self.procs[i] is None or self.procs[i].poll() is not None, f"{self.names[i]} is running"
        log = open(os.path.join(self.dir, f"{self.names[i]}.log"), "ab")
        self.procs[i] = subprocess.Popen(self._args(i, new), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        log.close()

    def start_all(self, new=False, timeout=30):
        """Starts every member that is not running (on the data it has) and waits for health."""
        for i in range(len(self.names)):
            if self.procs[i] is None or self.procs[i].poll() is not None:
                self._start(i, new)
        self.wait_healthy(timeout=timeout)

    def kill(self, i):
        """SIGKILL member i: no goodbye to its peers or clients."""
        p = self.procs[i]
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)

    def pause(self, i):
        """SIGSTOP member i: its sockets stay open and silent, as on a hung or partitioned host."""
        self.procs[i].send_signal(signal.SIGSTOP)

    def resume(self, i):
        self.procs[i].send_signal(signal.SIGCONT)

    def restart(self, i, timeout=30):
        self.kill(i)
        self._start(i)
        self.wait_healthy(timeout=timeout)

    def stop_all(self, timeout=10):
        """SIGTERM every member (SIGKILL after `timeout` s) and waits for them."""
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGCONT)  # a paused member would not act on SIGTERM
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            if p is None:
                continue
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def close(self):
        self.stop_all()
        shutil.rmtree(self.dir, ignore_errors=True)
        _LIVE.discard(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def running(self):
        return [i for i, p in enumerate(self.procs) if p is not None and p.poll() is None]

    def log(self, i):
        try:
            with open(os.path.join(self.dir, f"{self.names[i]}.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def healthy(self, i):
        try:
            with urllib.request.urlopen(self.endpoints[i] + "/health", timeout=1, context=self.ssl_context) as r:
                return json.loads(r.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def wait_healthy(self, timeout=30):
        """Until every running member reports health (a leader and its store), else an error."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = self.running()
            if live and all(self.healthy(i) for i in live):
                return
            time.sleep(0.1)
        logs = "\n".join(f"--- {self.names[i]}\n{self.log(i)[-2000:]}" for i in range(len(self.names)))
        raise RuntimeError(f"etcd members not healthy within {timeout} s\n{logs}")

    # --- the store, through the gateway (not through the client under test) --------------------
    def call(self, path, body, member=None, timeout=5, token=None):
        """POSTs `body` (a dict) to /v3/<path> on `member` (default: the first running one)."""
        i = self.running()[0] if member is None else member
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = token
        req = urllib.request.Request(self.endpoints[i] + path, data=json.dumps(body).encode(),
                                     headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=timeout, context=self.ssl_context) as r:
            return json.loads(r.read())

    def put(self, key, value, member=None):
        """The revision of the put."""
        answer = self.call("/v3/kv/put", {"key": _b64(key), "value": _b64(value)}, member)
        return int(answer["header"]["revision"])

    def get(self, key, member=None):
        """(value or None, mod_revision or 0, header revision)."""
        answer = self.call("/v3/kv/range", {"key": _b64(key)}, member)
        kvs = answer.get("kvs", [])
        rev = int(answer["header"]["revision"])
        if not kvs:
            return None, 0, rev
        return base64.b64decode(kvs[0].get("value", "")).decode(), int(kvs[0]["mod_revision"]), rev

    def compact(self, revision, member=None):
        self.call("/v3/kv/compaction", {"revision": str(revision), "physical": True}, member)

    def enable_auth(self, password):
        """A `root` user with `password` and the root role, then authentication on: from here on
        every request needs a token."""
        self.call("/v3/auth/role/add", {"name": "root"})
        self.call("/v3/auth/user/add", {"name": "root", "password": password})
        self.call("/v3/auth/user/grant", {"user": "root", "role": "root"})
        self.call("/v3/auth/enable", {})


def make_tls_files(directory):
    """A CA and a certificate it signs for 127.0.0.1 (server and client use), with openssl; the
    {"ca", "cert", "key"} paths EtcdCluster(tls=...) takes."""
    ca_key, ca, key, csr, cert = (os.path.join(directory, n) for n in ("ca.key", "ca.pem", "etcd.key", "etcd.csr", "etcd.pem"))
    ext = os.path.join(directory, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
        "-subj", "/CN=cutover test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=etcd")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2",
        "-extfile", ext)
    return {"ca": ca, "cert": cert, "key": key}


@atexit.register
def _stop_leftovers():
    for cluster in list(_LIVE):
        cluster.close()
