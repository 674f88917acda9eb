#!/usr/bin/env python3
"""Bodies are streamed, not buffered: 1 GiB up (Content-Length) and 1 GiB down (chunked) through
the proxy, byte-exact, with the proxy's RSS under 64 MiB throughout; then 64 MiB the other way
round (chunked upload, Content-Length download). The bytes come from harness.gen_bytes (a 1 MiB
block, numbered per MiB), so nothing of that size is ever held in memory here."""
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

RSS_LIMIT = 64 * h.MiB
# A sanitizer build (CUTOVER_SANITIZED=1, set by CMake) starts near 100 MiB of shadow memory, so
# there the limit applies to the growth over the RSS at start, not to the RSS itself.
SANITIZED = os.environ.get("CUTOVER_SANITIZED") == "1"
BIG = h.GiB
SMALL = 64 * h.MiB


def irregular_pieces(n):
    """The deterministic stream cut into irregular chunk sizes (1 B .. 1 MiB)."""
    sizes = [1, 1000, 65535, 4096, 300000]
    k = 0
    for piece in h.gen_bytes(n):
        off = 0
        while off < len(piece):
            take = min(sizes[k % len(sizes)], len(piece) - off)
            k += 1
            yield piece[off:off + take]
            off += take


class LargeBodiesTest(h.CutoverTestCase):
    @classmethod
    def setUpClass(cls):
        for n in (BIG, SMALL):
            h.expected_sha256(n)  # precompute before the proxy is measured
        cls.be = h.Backends()
        cfg = h.make_config(
            {"src": h.cluster(cls.be.source.addr, response_timeout="300s"),
             "tgt": h.cluster(cls.be.target.addr, response_timeout="300s")},
            [{"name": "public", "address": f"{h.LOCALHOST}:0", "protocol": "http",
              "routes": [h.route("app", weight=0)]}])
        cls.start_cutover(cfg, "large-bodies")
        cls.rss_at_start = h.rss_bytes(cls.cv.pid)
        print(f"\nproxy RSS at start: {cls.rss_at_start / h.MiB:.1f} MiB", file=sys.stderr)

    def _conn(self):
        return h.CountingConnection(self.port, timeout=120)

    def _check_rss(self, rss, what):
        print(f"{what}: max proxy RSS {rss.max / h.MiB:.1f} MiB over {rss.samples} samples",
              file=sys.stderr)
        self.assertGreater(rss.samples, 0)
        base = self.rss_at_start if SANITIZED else 0
        self.assertLess(rss.max - base, RSS_LIMIT, f"{what}: proxy RSS reached {rss.max / h.MiB:.1f} MiB "
                                                   f"(limit {RSS_LIMIT // h.MiB} MiB"
                                                   f"{' over the RSS at start' if SANITIZED else ''})")

    def _follow_up_ok(self, conn, what):
        """The same keep-alive connection still works after the big message (framing intact)."""
        conn.request("GET", "/after")
        r = conn.getresponse()
        body = r.read()
        self.assertEqual((r.status, body), (200, b"source"), f"request after {what}")
        self.assertEqual(conn.connects, 1, f"connection was not kept alive after {what}")

    def _upload(self, n, chunked):
        conn = self._conn()
        t0 = time.monotonic()
        with h.RssSampler(self.cv.pid, 0.1) as rss:
            conn.putrequest("POST", "/upload")
            conn.putheader("Content-Type", "application/octet-stream")
            if chunked:
                conn.putheader("Transfer-Encoding", "chunked")
            else:
                conn.putheader("Content-Length", str(n))
            conn.endheaders()
            sent = 0
            send_error = None
            try:
                if chunked:
                    for p in irregular_pieces(n):
                        conn.send(b"%x\r\n" % len(p) + bytes(p) + b"\r\n")
                        sent += len(p)
                    conn.send(b"0\r\n\r\n")
                else:
                    for p in h.gen_bytes(n):
                        conn.send(p)
                        sent += len(p)
            except OSError as e:
                send_error = e
            resp = conn.getresponse()
            text = resp.read()
        dt = time.monotonic() - t0
        what = f"{n // h.MiB} MiB {'chunked' if chunked else 'Content-Length'} upload"
        print(f"{what}: {dt:.1f} s", file=sys.stderr)
        self.assertIsNone(send_error, f"{what}: send failed after {sent} bytes: {send_error!r}; "
                                      f"response {resp.status} {text[:300]!r}")
        self.assertEqual(resp.status, 200, f"{what}: {text[:300]!r}")
        js = json.loads(text)
        self.assertEqual(js["side"], "source")
        self.assertEqual(js["bytes"], n, f"{what}: backend received {js['bytes']} bytes")
        self.assertEqual(js["sha256"], h.expected_sha256(n), f"{what}: backend digest differs")
        self._check_rss(rss, what)
        self._follow_up_ok(conn, what)
        conn.close()

    def _download(self, n, chunked):
        conn = self._conn()
        t0 = time.monotonic()
        with h.RssSampler(self.cv.pid, 0.1) as rss:
            conn.request("GET", f"/download?bytes={n}&chunked={1 if chunked else 0}")
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            digest = hashlib.sha256()
            got = 0
            while True:
                data = resp.read(h.MiB)
                if not data:
                    break
                digest.update(data)
                got += len(data)
                if got > n + h.MiB:
                    break
        dt = time.monotonic() - t0
        what = f"{n // h.MiB} MiB {'chunked' if chunked else 'Content-Length'} download"
        print(f"{what}: {dt:.1f} s (response framing: Content-Length={resp.getheader('Content-Length')}, "
              f"Transfer-Encoding={resp.getheader('Transfer-Encoding')})", file=sys.stderr)
        self.assertEqual(got, n, f"{what}: received {got} bytes")
        self.assertEqual(digest.hexdigest(), h.expected_sha256(n), f"{what}: digest differs")
        self._check_rss(rss, what)
        self._follow_up_ok(conn, what)
        conn.close()

    def test_1_upload_1gib_content_length(self):
        self._upload(BIG, chunked=False)

    def test_2_download_1gib_chunked(self):
        self._download(BIG, chunked=True)

    def test_3_upload_64mib_chunked(self):
        self._upload(SMALL, chunked=True)

    def test_4_download_64mib_content_length(self):
        self._download(SMALL, chunked=False)


if __name__ == "__main__":
    h.main()
