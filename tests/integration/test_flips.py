#!/usr/bin/env python3
"""100 weight flips 0 <-> 100 under continuous keep-alive load: zero failed requests, zero
connection errors, both sides served, and every request sent after a flip returned (and answered
before the next flip started) went to the side that flip selected."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

THREADS = 8
FLIPS = 100
PAUSE = 0.03  # seconds between flips, so that requests land in every window


class FlipsTest(unittest.TestCase):
    def test_flips_under_load(self):
        with h.Backends() as be, h.Cutover(h.simple_config(be, weight=0), name="flips") as cv:
            gen0 = int(cv.admin.route("app")["generation"])
            flips = []  # (t_start, t_returned, weight)
            put_errors = []
            load = h.LoadGen(cv.port("public"), THREADS, path="/flip", max_seconds=120)
            with load:
                self.assertTrue(load.wait_until(lambda: load.total() >= 200, timeout=20),
                                f"load did not start: {load.errors[:5]}")
                for i in range(FLIPS):
                    w = 100 if i % 2 == 0 else 0
                    t0 = time.monotonic()
                    st, js, text = cv.admin.put("/v1/routes/app/weights", {"weight": w})
                    t1 = time.monotonic()
                    if st != 200:
                        put_errors.append((i, w, st, text))
                    flips.append((t0, t1, w))
                    time.sleep(PAUSE)
                time.sleep(0.2)
            recs = load.all_records()
            print(f"\nflips: {len(recs)} requests, backend counts {be.counts()}, "
                  f"connects {load.connects}", file=sys.stderr)

            with self.subTest("admin PUTs all succeeded"):
                self.assertEqual(put_errors, [])
                st = cv.admin.route("app")
                self.assertEqual(int(st["generation"]), gen0 + FLIPS, st)
                self.assertAlmostEqual(float(st["read_weight"]), 0.0, msg=st)

            with self.subTest("zero failed requests"):
                self.assertEqual(load.errors, [], f"{len(load.errors)} failures: {load.errors[:10]}")
                self.assertTrue(all(r[3] == 200 for r in recs))

            with self.subTest("zero connection errors (no reconnects)"):
                self.assertEqual(load.connects, [1] * THREADS)

            with self.subTest("both sides seen"):
                sides = {r[2] for r in recs}
                self.assertIn("source", sides)
                self.assertIn("target", sides)

            with self.subTest("each flip applies to the very next request"):
                expected_side = {100: "target", 0: "source"}
                wrong, checked = [], 0
                for i, (_, t_ret, w) in enumerate(flips):
                    t_next = flips[i + 1][0] if i + 1 < len(flips) else float("inf")
                    for r in recs:
                        if r[0] > t_ret and r[1] < t_next and r[2] is not None:
                            checked += 1
                            if r[2] != expected_side[w]:
                                wrong.append((i, w, r[2], round(r[0] - t_ret, 4)))
                self.assertGreater(checked, 500, "too few requests fell between flips to check")
                self.assertEqual(wrong[:10], [], f"{len(wrong)}/{checked} requests went to the wrong "
                                                 "side (flip, weight, side, s after flip returned)")

            with self.subTest("backends saw exactly what the clients saw"):
                self.assertEqual(be.counts(), h.side_counts(recs))


if __name__ == "__main__":
    h.main()
