#!/usr/bin/env python3
"""Weighted split over keep-alive connections, a weight change mid-run and a rollback mid-run.

Acceptance: weight 20 -> target share 20 +- 2 % over 20,000 GETs on 50 keep-alive connections;
PUT weight 50 while clients run -> requests sent after the PUT returned: 50 +- 3 %;
POST rollback while clients run -> no request sent after the rollback returned reaches target.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

THREADS = 50
PHASE1 = 20000       # GETs before the weight change
PHASE2_MIN = 6000    # GETs sent after PUT weight 50 returned (acceptance: at least 4,000)
PHASE3_MIN = 3000    # GETs sent after rollback returned


class SplitTest(unittest.TestCase):
    def test_split_change_and_rollback_on_keepalive(self):
        with h.Backends() as be, h.Cutover(h.simple_config(be, weight=20), name="split") as cv:
            st = cv.admin.route("app")
            self.assertAlmostEqual(float(st["read_weight"]), 20.0, msg=st)
            self.assertAlmostEqual(float(st["write_weight"]), 20.0, msg=st)
            gen0 = int(st["generation"])

            load = h.LoadGen(cv.port("public"), THREADS, path="/split")
            active_during_run = None
            with load:
                ok = load.wait_until(lambda: load.total() >= PHASE1, timeout=150)
                self.assertTrue(ok, f"only {load.total()} requests in 150 s; errors: {load.errors[:5]}")

                t_put0 = time.monotonic()
                put = cv.admin.set_weight("app", weight=50)
                t_put1 = time.monotonic()
                ok = load.wait_until(lambda: load.count_sent_after(t_put1) >= PHASE2_MIN, timeout=90,
                                     interval=0.2)
                self.assertTrue(ok, f"only {load.count_sent_after(t_put1)} requests after the PUT; "
                                    f"errors: {load.errors[:5]}")
                mtext = cv.admin.metrics()
                active_during_run = h.metric_values(mtext, "cutover_downstream_connections_active",
                                                    listener="public")

                t_rb0 = time.monotonic()
                rb = cv.admin.rollback("app")
                t_rb1 = time.monotonic()
                ok = load.wait_until(lambda: load.count_sent_after(t_rb1) >= PHASE3_MIN, timeout=60,
                                     interval=0.2)
                self.assertTrue(ok, f"only {load.count_sent_after(t_rb1)} requests after rollback; "
                                    f"errors: {load.errors[:5]}")
            recs = load.all_records()
            total = len(recs)
            print(f"\nsplit: {total} requests, connects per thread {sorted(set(load.connects))}, "
                  f"PUT took {1000 * (t_put1 - t_put0):.1f} ms, rollback {1000 * (t_rb1 - t_rb0):.1f} ms, "
                  f"backend counts {be.counts()}, backend connections "
                  f"{be.source.snapshot()['connections']}+{be.target.snapshot()['connections']}",
                  file=sys.stderr)

            with self.subTest("no failed requests"):
                self.assertEqual(load.errors, [], f"{len(load.errors)} failures, first: {load.errors[:10]}")
                bad = [r for r in recs if r[3] != 200 or r[2] not in ("source", "target")]
                self.assertEqual(bad[:10], [])

            with self.subTest("keep-alive connections were reused"):
                self.assertEqual(load.connects, [1] * THREADS,
                                 "each client thread should have used a single TCP connection "
                                 f"(connects per thread: {load.connects})")

            with self.subTest("phase 1: weight 20"):
                p1 = [r for r in recs if r[0] < t_put0]
                share, k, n = h.side_share(p1)
                self.assertGreaterEqual(n, PHASE1)
                self.assertTrue(18.0 <= share <= 22.0, f"weight 20: target share {share:.2f}% ({k}/{n})")
                print(f"phase 1: {k}/{n} = {share:.2f}% target", file=sys.stderr)

            with self.subTest("PUT weight 50 answer"):
                self.assertAlmostEqual(float(put["read_weight"]), 50.0, msg=put)
                self.assertAlmostEqual(float(put["write_weight"]), 50.0, msg=put)
                self.assertEqual(int(put["generation"]), gen0 + 1, put)

            with self.subTest("phase 2: weight 50 from the next request on"):
                p2 = [r for r in recs if t_put1 < r[0] < t_rb0]
                share, k, n = h.side_share(p2)
                self.assertGreaterEqual(n, 4000)
                self.assertTrue(47.0 <= share <= 53.0, f"weight 50: target share {share:.2f}% ({k}/{n})")
                print(f"phase 2: {k}/{n} = {share:.2f}% target", file=sys.stderr)

            with self.subTest("phase 3: after rollback nothing reaches target"):
                p3 = [r for r in recs if r[0] > t_rb1]
                share, k, n = h.side_share(p3)
                self.assertGreaterEqual(n, PHASE3_MIN)
                late = [(round(r[0] - t_rb1, 4), r[2]) for r in p3 if r[2] != "source"][:10]
                self.assertEqual(k, 0, f"{k}/{n} requests sent after rollback returned went to target "
                                       f"(seconds after rollback, side): {late}")
                self.assertAlmostEqual(float(rb["read_weight"]), 0.0, msg=rb)
                self.assertAlmostEqual(float(rb["write_weight"]), 0.0, msg=rb)
                self.assertEqual(int(rb["generation"]), gen0 + 2, rb)
                st = cv.admin.route("app")
                self.assertEqual(int(st["generation"]), gen0 + 2, st)

            with self.subTest("backends saw exactly what the clients saw"):
                self.assertEqual(be.counts(), h.side_counts(recs))

            with self.subTest("downstream connections gauge"):
                self.assertEqual(len(active_during_run or []), 1,
                                 f"cutover_downstream_connections_active{{listener=\"public\"}}: "
                                 f"{active_during_run}")
                self.assertEqual(active_during_run[0][1], THREADS, active_during_run)


if __name__ == "__main__":
    h.main()
