#!/usr/bin/env python3
"""Idle keep-alive connections held open against a proxy (bench/run.sh stage "idle").

idle_conns.py HOST PORT COUNT PID [PID...]
Opens COUNT connections to HOST:PORT one after the other, each sending one GET / and reading its
whole answer (so each is a real keep-alive connection the proxy has parsed a request on), waits
1 s, then reads VmRSS of every PID from /proc/PID/status (summed) and checks every connection is
still open. Prints one line: "RSS_BEFORE_KIB RSS_AFTER_KIB OPEN FAILED". The baseline is taken
after one request on a first connection, so lazily created state (upstream pool, buffers) is in it.
Bounded: each connect/read has a 5 s timeout; the whole run stops at the first 100 failures.
"""
import re
import select
import socket
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            m = re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M)
            total += int(m.group(1)) if m else 0
    return total


def one_request(host, port):
    s = socket.create_connection((host, port), timeout=5)
    s.sendall(REQUEST)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    length = int(m.group(1)) if m else 0
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed mid-body")
        body += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    return s


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    pids = [int(p) for p in sys.argv[4:]]
    first = one_request(host, port)
    time.sleep(0.5)
    before = rss_kib(pids)
    conns, failed = [first], 0
    for _ in range(count):
        try:
            conns.append(one_request(host, port))
        except OSError as e:
            failed += 1
            if failed == 1:
                print(f"idle_conns: {e}", file=sys.stderr)
            if failed >= 100:
                break
    time.sleep(1.0)
    after = rss_kib(pids)
    # A connection the proxy closed is readable (EOF); an open idle one is not.
    poller = select.poll()  # select() stops at descriptor 1024
    for s in conns:
        poller.register(s, select.POLLIN)
    open_count = len(conns) - len(poller.poll(0))
    print(before, after, open_count - 1, failed)  # the baseline connection not counted
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
