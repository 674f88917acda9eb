#!/usr/bin/env python3
"""Soak: cutover under steady load for SOAK_MINUTES (default 10) while the operator's changes keep
coming, run by hand (`./bench/run.sh soak`), not in CI.

In front of the bench's two nginx backends, cutover (bench/config/cutover-mirror.yaml: every GET
mirrored to the other side and compared, plus a state file and an audit log) carries at once
  - wrk with keep-alive (SOAK_CONNS, 32 connections) and wrk with `Connection: close` (8),
    each in one-minute slices, so p99 is reported per minute;
  - a writer: one POST every 50 ms on a keep-alive connection, each answer checked;
and the control loop changes
  - the weights every second (read and write 0 <-> 50),
  - the config every 10 s (a reload alternating two mirror timeouts),
  - a write hold every minute, released after 2 s (the writer's POSTs wait, then go).
Zero failed requests is the pass mark: wrk's socket errors and non-2xx answers, the writer's
failures and any admin call answered other than 200. RSS and open descriptors of the cutover
process are printed at the start, every minute and at the end: they should stay flat.

    SOAK_MINUTES=1 python3 bench/soak.py          (CUTOVER_BIN, default build/cutover)
Exit 0 on zero failures, 1 otherwise.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MINUTES = int(os.environ.get("SOAK_MINUTES", "10"))
CONNS = int(os.environ.get("SOAK_CONNS", "32"))
CLOSE_CONNS = int(os.environ.get("SOAK_CLOSE_CONNS", "8"))
CUTOVER_BIN = os.environ.get("CUTOVER_BIN", str(REPO / "build" / "cutover"))
LOCAL = "127.0.0.1"


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind((LOCAL, 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def render(template: Path, out: Path, **values):
    text = template.read_text()
    for k, v in values.items():
        text = text.replace(f"@{k}@", str(v))
    if re.search(r"@[A-Z_]+@", text):
        raise SystemExit(f"soak: unfilled placeholder in {out}")
    out.write_text(text)


def admin(port: int, method: str, path: str, body: dict | None = None) -> int:
    conn = http.client.HTTPConnection(LOCAL, port, timeout=10)
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"} if body is not None else {})
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return 0
    finally:
        conn.close()


def proc_usage(pid: int) -> tuple[float, int]:
    """(RSS in MiB, open descriptors) of `pid`."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def wrk_slice(url: str, conns: int, close: bool) -> dict:
    """One minute of wrk; its requests/s, p99 (ms), socket errors and non-2xx/3xx answers."""
    cmd = ["wrk", "-t1", f"-c{conns}", "-d60s", "--latency", "--timeout", "10s", url]
    if close:
        cmd[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    return {"rps": rps, "p99": float(p99.group(1)) * scale, "errors": errors, "non2xx": non2xx}


class Writer(threading.Thread):
    """A POST every 50 ms on one keep-alive connection; counts answers other than 200."""

    def __init__(self, port: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.port, self.stop, self.sent, self.failed = port, stop, 0, []

    def run(self):
        conn = http.client.HTTPConnection(LOCAL, self.port, timeout=30)
        while not self.stop.is_set():
            try:
                conn.request("POST", f"/write/{self.sent}", body=b"soak")
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    self.failed.append(resp.status)
            except (OSError, http.client.HTTPException) as e:
                self.failed.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection(LOCAL, self.port, timeout=30)
            self.sent += 1
            self.stop.wait(0.05)
        conn.close()


def main() -> int:
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            raise SystemExit(f"soak: {tool} is missing (scripts/setup.sh --bench installs it)")
    work = Path(tempfile.mkdtemp(prefix="cutover-soak-"))
    (work / "tmp").mkdir()
    os.chmod(work, 0o755)
    children: list[subprocess.Popen] = []
    try:
        src, tgt = free_ports(2)
        render(REPO / "bench/config/backends.nginx.conf", work / "nginx.conf", DIR=work, SOURCE_PORT=src, TARGET_PORT=tgt)
        children.append(subprocess.Popen(["nginx", "-p", str(work), "-e", str(work / "nginx-error.log"), "-c",
                                          str(work / "nginx.conf"), "-g", "daemon off;"]))
        configs = []
        for i, timeout in enumerate(("5s", "4s")):
            path = work / f"cutover-{i}.yaml"
            render(REPO / "bench/config/cutover-mirror.yaml", path, SOURCE_PORT=src, TARGET_PORT=tgt)
            text = path.read_text().replace("timeout: 5s", f"timeout: {timeout}")
            path.write_text(text + f"state_file: {work}/state.json\naudit_log: {work}/audit.jsonl\n")
            configs.append(path.read_text())
        config = work / "cutover.yaml"
        config.write_text(configs[0])
        log = open(work / "cutover.log", "w+")
        cutover = subprocess.Popen([CUTOVER_BIN, "--config", str(config)], stderr=log, stdout=subprocess.DEVNULL)
        children.append(cutover)
        listen = admin_port = None
        for _ in range(100):
            text = (work / "cutover.log").read_text()
            m1 = re.search(r"listening listener=bench address=[\d.]+:(\d+)", text)
            m2 = re.search(r"listening admin address=[\d.]+:(\d+)", text)
            if m1 and m2:
                listen, admin_port = int(m1.group(1)), int(m2.group(1))
                break
            time.sleep(0.1)
        if not listen:
            raise SystemExit(f"soak: cutover did not start:\n{(work / 'cutover.log').read_text()[-2000:]}")
        time.sleep(0.5)  # nginx up as well

        stop = threading.Event()
        admin_failures: list[str] = []
        counts = {"flips": 0, "reloads": 0, "holds": 0}

        def control():
            t0 = time.monotonic()
            tick = 0
            while not stop.wait(max(0.0, t0 + tick + 1 - time.monotonic())):
                tick += 1
                if tick % 60 == 30:  # a hold every minute, released after 2 s
                    for method, path, body in (("POST", "/v1/routes/app/writes/hold", {}),
                                               ("POST", "/v1/routes/app/writes/release", {})):
                        st = admin(admin_port, method, path, body)
                        if st != 200:
                            admin_failures.append(f"{path}: {st}")
                        if path.endswith("hold"):
                            stop.wait(2)
                    counts["holds"] += 1
                    continue
                w = 50 if tick % 2 else 0
                st = admin(admin_port, "PUT", "/v1/routes/app/weights", {"read_weight": w, "write_weight": w})
                counts["flips"] += 1
                if st != 200:
                    admin_failures.append(f"weights: {st}")
                if tick % 10 == 0:
                    config.write_text(configs[(tick // 10) % 2])
                    st = admin(admin_port, "POST", "/v1/config/reload")
                    counts["reloads"] += 1
                    if st != 200:
                        admin_failures.append(f"reload: {st}")

        writer = Writer(listen, stop)
        ctl = threading.Thread(target=control, daemon=True)
        rss0, fds0 = proc_usage(cutover.pid)
        print(f"soak: {MINUTES} min, cutover pid {cutover.pid}: start RSS {rss0:.1f} MiB, {fds0} descriptors")
        print("| minute | keep-alive req/s | p99 ms | close req/s | p99 ms | errors | non-2xx | RSS MiB | fds |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        writer.start()
        ctl.start()
        total_errors = total_non2xx = 0
        for minute in range(1, MINUTES + 1):
            results = {}
            threads = [threading.Thread(target=lambda k=k, c=c, close=close: results.__setitem__(
                k, wrk_slice(f"http://{LOCAL}:{listen}/same/{k}", c, close)))
                for k, c, close in (("keepalive", CONNS, False), ("close", CLOSE_CONNS, True))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(150)
            ka, cl = results["keepalive"], results["close"]
            rss, fds = proc_usage(cutover.pid)
            if minute == 1:
                warm = (rss, fds)  # under load: the baseline "flat" is judged against
            errors, non2xx = ka["errors"] + cl["errors"], ka["non2xx"] + cl["non2xx"]
            total_errors += errors
            total_non2xx += non2xx
            print(f"| {minute} | {ka['rps']:.0f} | {ka['p99']:.2f} | {cl['rps']:.0f} | {cl['p99']:.2f} | {errors} | "
                  f"{non2xx} | {rss:.1f} | {fds} |", flush=True)
        stop.set()
        ctl.join(15)
        writer.join(35)
        rss1, fds1 = proc_usage(cutover.pid)
        print(f"\nsoak: under load, minute 1 -> minute {MINUTES}: RSS {warm[0]:.1f} -> {rss:.1f} MiB "
              f"({rss - warm[0]:+.1f}), descriptors {warm[1]} -> {fds} ({fds - warm[1]:+d})")
        print(f"soak: end (load stopped) RSS {rss1:.1f} MiB ({rss1 - rss0:+.1f} from the start), {fds1} descriptors "
              f"({fds1 - fds0:+d}); "
              f"{counts['flips']} weight changes, {counts['reloads']} reloads, {counts['holds']} holds; "
              f"writer {writer.sent} POSTs, {len(writer.failed)} failed")
        failed = total_errors + total_non2xx + len(writer.failed) + len(admin_failures)
        if failed:
            print(f"FAIL: {total_errors} socket errors, {total_non2xx} non-2xx, writer {writer.failed[:5]}, "
                  f"admin {admin_failures[:5]}")
            return 1
        print("PASS: zero failed requests")
        return 0
    finally:
        for c in reversed(children):
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
                try:
                    c.wait(10)
                except subprocess.TimeoutExpired:
                    c.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
