// Sliding-window statistics: latency bins and their error bound, percentiles against brute force,
// window boundaries and bucket reuse, counters, and one writer racing one reader (run under TSan).
#include "proxy/stats/window.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace cutover::stats {
namespace {

using router::Side;

double relative_error(std::uint64_t micros) {
  const double reported = LatencyBins::value_us(LatencyBins::bin_of(micros));
  return std::abs(reported - static_cast<double>(micros)) / static_cast<double>(micros);
}

TEST(LatencyBins, EdgesOfTheRange) {
  EXPECT_EQ(LatencyBins::bin_of(0), 0u);
  EXPECT_EQ(LatencyBins::bin_of(LatencyBins::kRangeLowUs - 1), 0u);
  EXPECT_EQ(LatencyBins::bin_of(LatencyBins::kRangeLowUs), 1u);
  EXPECT_EQ(LatencyBins::bin_of(LatencyBins::kRangeHighUs - 1), LatencyBins::kCount - 2);
  EXPECT_EQ(LatencyBins::bin_of(LatencyBins::kRangeHighUs), LatencyBins::kCount - 1);
  EXPECT_EQ(LatencyBins::bin_of(~std::uint64_t{0}), LatencyBins::kCount - 1);
  // The documented coverage: at least 50 us .. 120 s inside regular bins.
  EXPECT_LE(LatencyBins::kRangeLowUs, 50u);
  EXPECT_GT(LatencyBins::kRangeHighUs, 120'000'000u);
  // Powers of two start a bin (4 bins per doubling).
  for (unsigned e = 6; e < 27; ++e) {
    const std::uint64_t p = std::uint64_t{1} << e;
    EXPECT_EQ(LatencyBins::bin_of(p), LatencyBins::bin_of(p - 1) + 1) << p;
    EXPECT_EQ(LatencyBins::bin_of(2 * p), LatencyBins::bin_of(p) + LatencyBins::kPerDoubling) << p;
  }
  // Underflow and overflow report bounds: the top of the underflow, the bottom of the overflow.
  EXPECT_LT(LatencyBins::value_us(0), static_cast<double>(LatencyBins::kRangeLowUs));
  EXPECT_EQ(LatencyBins::value_us(LatencyBins::kCount - 1), static_cast<double>(LatencyBins::kRangeHighUs));
  EXPECT_EQ(LatencyBins::value_us(LatencyBins::kCount + 5), LatencyBins::value_us(LatencyBins::kCount - 1));
}

TEST(LatencyBins, MonotonicAndEveryBinReached) {
  std::vector<bool> reached(LatencyBins::kCount, false);
  std::size_t previous = 0;
  auto visit = [&](std::uint64_t v) {
    const std::size_t bin = LatencyBins::bin_of(v);
    ASSERT_LT(bin, LatencyBins::kCount) << v;
    ASSERT_GE(bin, previous) << v;
    ASSERT_LE(bin, previous + 1) << v;  // no bin skipped
    previous = bin;
    reached[bin] = true;
  };
  for (std::uint64_t v = 0; v < 4'000'000; ++v) visit(v);
  for (std::uint64_t v = 4'000'000; v < 200'000'000; v += 97) visit(v);
  EXPECT_TRUE(std::all_of(reached.begin(), reached.end(), [](bool r) { return r; }));
  for (std::size_t bin = 1; bin < LatencyBins::kCount; ++bin) {
    EXPECT_GT(LatencyBins::value_us(bin), LatencyBins::value_us(bin - 1)) << bin;
  }
}

TEST(LatencyBins, EveryValueInRangeWithinTheErrorBound) {
  double worst = 0;
  auto check = [&](std::uint64_t v) {
    const double err = relative_error(v);
    worst = std::max(worst, err);
    ASSERT_LE(err, LatencyBins::kRelativeError) << v << " us reported as " << LatencyBins::value_us(LatencyBins::bin_of(v));
  };
  // Every integer up to 4 s, then a dense sweep, then both sides of every bin edge up to 134 s.
  for (std::uint64_t v = LatencyBins::kRangeLowUs; v < 4'000'000; ++v) check(v);
  for (std::uint64_t v = 4'000'000; v < LatencyBins::kRangeHighUs; v += 101) check(v);
  for (std::size_t bin = 2; bin < LatencyBins::kCount - 1; ++bin) {
    std::uint64_t lo = LatencyBins::kRangeLowUs, hi = LatencyBins::kRangeHighUs;  // first v in `bin`
    while (lo < hi) {
      const std::uint64_t mid = lo + (hi - lo) / 2;
      if (LatencyBins::bin_of(mid) >= bin) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    ASSERT_EQ(LatencyBins::bin_of(lo), bin);
    ASSERT_EQ(LatencyBins::bin_of(lo - 1), bin - 1);
    check(lo - 1);
    check(lo);
  }
  check(LatencyBins::kRangeHighUs - 1);
  // The bound is tight, not just safe: integer values at the edges come close to (2^.25-1)/(2^.25+1).
  EXPECT_GT(worst, 0.085);
}

// A window filled from samples, spread over two workers and ten seconds.
struct Filled {
  RouteWindows windows{2};
  std::int64_t now = 5000;
  void record(const std::vector<std::uint64_t>& samples) {
    for (std::size_t i = 0; i < samples.size(); ++i) {
      windows.at(i % 2, Side::target).record(now - static_cast<std::int64_t>(i % 10), 200, samples[i], Outcome::response);
    }
  }
};

// Nearest rank on sorted samples, in integer arithmetic: the ceil(pct/1000 · n)-th smallest.
std::uint64_t brute_force(std::vector<std::uint64_t> sorted, std::uint64_t permille) {
  std::sort(sorted.begin(), sorted.end());
  const std::uint64_t n = sorted.size();
  const std::uint64_t rank = std::max<std::uint64_t>(1, (n * permille + 999) / 1000);
  return sorted[rank - 1];
}

TEST(WindowPercentiles, MatchBruteForceNearestRankWithinTheBound) {
  for (std::uint64_t seed : {1ull, 7ull, 20261121ull}) {
    std::mt19937_64 rng(seed);
    std::lognormal_distribution<double> fast(std::log(20'000.0), 0.8);  // median 20 ms
    std::lognormal_distribution<double> slow(std::log(900'000.0), 1.2);  // a slow tail
    std::uniform_real_distribution<double> flat(50.0, 3'000'000.0);
    std::uniform_int_distribution<int> pick(0, 99);
    std::vector<std::uint64_t> samples;
    samples.reserve(100'000);
    for (int i = 0; i < 100'000; ++i) {
      const int p = pick(rng);
      const double us = p < 80 ? fast(rng) : p < 95 ? flat(rng) : slow(rng);
      samples.push_back(static_cast<std::uint64_t>(std::clamp(us, 50.0, 120'000'000.0)));
    }
    Filled f;
    f.record(samples);
    const WindowSummary s = f.windows.summarize(Side::target, f.now, 10);
    ASSERT_EQ(s.requests, samples.size());
    ASSERT_EQ(s.latency_samples(), samples.size());
    for (std::uint64_t permille : {1ull, 100ull, 500ull, 900ull, 990ull, 999ull, 1000ull}) {
      const double exact_ms = static_cast<double>(brute_force(samples, permille)) / 1000.0;
      const auto got = s.percentile_ms(static_cast<double>(permille) / 1000.0);
      ASSERT_TRUE(got.has_value());
      EXPECT_LE(std::abs(*got - exact_ms) / exact_ms, LatencyBins::kRelativeError)
          << "seed " << seed << " p" << permille / 10.0 << ": got " << *got << " ms, exact " << exact_ms << " ms";
    }
  }
}

TEST(WindowPercentiles, NearestRankOnSmallCounts) {
  SideWindow w;
  w.record(10, 200, 1'000, Outcome::response);     // 1 ms
  w.record(10, 200, 100'000, Outcome::response);   // 100 ms
  w.record(10, 200, 10'000'000, Outcome::response);  // 10 s
  WindowSummary s;
  w.add_to(s, 10, 1);
  auto near = [](std::optional<double> got, double ms) {
    return got && std::abs(*got - ms) / ms <= LatencyBins::kRelativeError;
  };
  EXPECT_TRUE(near(s.percentile_ms(0.33), 1.0));  // rank ceil(0.99) = 1
  EXPECT_TRUE(near(s.percentile_ms(0.34), 100.0));  // rank 2
  EXPECT_TRUE(near(s.percentile_ms(0.5), 100.0));
  EXPECT_TRUE(near(s.percentile_ms(0.67), 10'000.0));
  EXPECT_TRUE(near(s.percentile_ms(1.0), 10'000.0));
  // Outside (0, 1]: clamped to the minimum and the maximum.
  EXPECT_TRUE(near(s.percentile_ms(0.0), 1.0));
  EXPECT_TRUE(near(s.percentile_ms(-1.0), 1.0));
  EXPECT_TRUE(near(s.percentile_ms(std::nan("")), 1.0));
  EXPECT_TRUE(near(s.percentile_ms(2.0), 10'000.0));
  EXPECT_FALSE(WindowSummary{}.percentile_ms(0.5).has_value());
}

TEST(WindowBoundaries, WindowCountsOnlyItsLastSeconds) {
  SideWindow w;
  const std::int64_t t = 100'000;
  for (std::int64_t i = 0; i <= 5; ++i) {  // second t-5+i gets i+1 requests
    for (std::int64_t n = 0; n <= i; ++n) w.record(t - 5 + i, 200, 1'000, Outcome::response);
  }
  auto requests = [&](std::int64_t now, std::int64_t window) {
    WindowSummary s;
    w.add_to(s, now, window);
    return s.requests;
  };
  EXPECT_EQ(requests(t, 1), 6u);
  EXPECT_EQ(requests(t, 3), 4u + 5u + 6u);
  EXPECT_EQ(requests(t, 6), 21u);
  EXPECT_EQ(requests(t, 900), 21u);
  EXPECT_EQ(requests(t - 1, 2), 5u + 4u);  // the window ends at now_s, inclusive
  EXPECT_EQ(requests(t + 3, 3), 0u);       // seconds after the traffic: nothing
  EXPECT_EQ(requests(t + 3, 4), 6u);
}

TEST(WindowBoundaries, ReusedBucketIsResetAndStaleRecordsDropped) {
  SideWindow w;
  const std::int64_t t = 7'000;
  for (int i = 0; i < 7; ++i) w.record(t, 503, 2'000, Outcome::response);
  w.record_mirror(t, false);
  // t + kSeconds lands in the same bucket: the old second's counts are gone.
  w.record(t + SideWindow::kSeconds, 200, 5'000, Outcome::response);
  w.record(t + SideWindow::kSeconds, 200, 5'000, Outcome::response);
  WindowSummary now;
  w.add_to(now, t + SideWindow::kSeconds, SideWindow::kSeconds);
  EXPECT_EQ(now.requests, 2u);
  EXPECT_EQ(now.errors_5xx, 0u);
  EXPECT_EQ(now.mirror_mismatch, 0u);
  EXPECT_EQ(now.latency_samples(), 2u);
  WindowSummary old;
  w.add_to(old, t, 1);
  EXPECT_EQ(old.requests, 0u);
  // A record for the overwritten second is too old to count, and does not disturb the new one.
  w.record(t, 500, 1'000, Outcome::response);
  w.record_mirror(t, true);
  WindowSummary after;
  w.add_to(after, t + SideWindow::kSeconds, 1);
  EXPECT_EQ(after.requests, 2u);
  EXPECT_EQ(after.errors_5xx, 0u);
  EXPECT_EQ(after.mirror_match, 0u);
}

TEST(WindowBoundaries, WindowIsClamped) {
  SideWindow w;
  const std::int64_t t = 50'000;
  w.record(t, 200, 1'000, Outcome::response);
  w.record(t - 1, 200, 1'000, Outcome::response);
  w.record(t - (SideWindow::kSeconds - 1), 200, 1'000, Outcome::response);  // oldest second of 900
  w.record(t - 1'000, 200, 1'000, Outcome::response);                       // its own bucket, too old
  auto requests = [&](std::int64_t window) {
    WindowSummary s;
    w.add_to(s, t, window);
    return s.requests;
  };
  EXPECT_EQ(requests(0), 1u);
  EXPECT_EQ(requests(-30), 1u);
  EXPECT_EQ(requests(std::numeric_limits<std::int64_t>::min()), 1u);
  EXPECT_EQ(requests(SideWindow::kSeconds), 3u);
  EXPECT_EQ(requests(10'000), 3u);
  EXPECT_EQ(requests(std::numeric_limits<std::int64_t>::max()), 3u);
}

TEST(WindowBoundaries, QuietSecondsGiveZero) {
  RouteWindows windows(3);
  windows.at(1, Side::source).record(990, 500, 1'000, Outcome::timeout);
  const WindowSummary s = windows.summarize(Side::source, 1'000, 10);
  EXPECT_EQ(s.requests, 0u);
  EXPECT_EQ(s.errors_5xx, 0u);
  EXPECT_EQ(s.timeouts, 0u);
  EXPECT_EQ(s.latency_samples(), 0u);
  EXPECT_EQ(s.error_rate(), 0.0);
  EXPECT_FALSE(s.percentile_ms(0.99).has_value());
  EXPECT_EQ(windows.summarize(Side::source, 1'000, 11).requests, 1u);
  // A fresh window has nothing in any second, including 0 and negative ones.
  SideWindow fresh;
  WindowSummary z;
  fresh.add_to(z, 0, SideWindow::kSeconds);
  fresh.add_to(z, -5, 3);
  EXPECT_EQ(z.requests, 0u);
}

TEST(WindowBoundaries, ZeroAndNegativeSeconds) {
  SideWindow w;
  w.record(-1, 200, 1'000, Outcome::response);
  w.record(0, 200, 1'000, Outcome::response);
  w.record(1, 200, 1'000, Outcome::response);
  WindowSummary s;
  w.add_to(s, 1, 3);
  EXPECT_EQ(s.requests, 3u);
  WindowSummary only_negative;
  w.add_to(only_negative, -1, 1);
  EXPECT_EQ(only_negative.requests, 1u);
}

TEST(WindowCounters, ErrorsOutcomesAndMirror) {
  SideWindow w;
  const std::int64_t t = 42;
  for (unsigned status : {200u, 404u, 499u, 500u, 503u, 599u, 600u}) w.record(t, status, 1'000, Outcome::response);
  w.record(t, 502, 300, Outcome::connect_error);
  w.record(t, 504, 30'000'000, Outcome::timeout);
  w.record(t, 0, 30'000'000, Outcome::timeout);  // nothing sent to the client: not a 5xx
  for (int i = 0; i < 3; ++i) w.record_mirror(t, true);
  w.record_mirror(t, false);
  WindowSummary s;
  w.add_to(s, t, 60);
  EXPECT_EQ(s.requests, 10u);
  EXPECT_EQ(s.errors_5xx, 5u);  // 500, 503, 599, 502, 504
  EXPECT_EQ(s.connect_errors, 1u);
  EXPECT_EQ(s.timeouts, 2u);
  EXPECT_EQ(s.mirror_match, 3u);
  EXPECT_EQ(s.mirror_mismatch, 1u);
  EXPECT_DOUBLE_EQ(s.error_rate(), 0.5);
  EXPECT_EQ(s.latency_samples(), 10u);  // every outcome has a latency
  EXPECT_EQ(s.latency[LatencyBins::bin_of(30'000'000)], 2u);
}

TEST(WindowCounters, MergeAndSummarizeAcrossWorkers) {
  RouteWindows windows(2);
  const std::int64_t t = 3'000;
  for (int i = 0; i < 10; ++i) windows.at(0, Side::target).record(t, i < 2 ? 500 : 200, 1'000, Outcome::response);
  for (int i = 0; i < 30; ++i) windows.at(1, Side::target).record(t - 1, i < 3 ? 502 : 200, 50'000, Outcome::response);
  windows.at(1, Side::target).record_mirror(t, false);
  windows.at(0, Side::source).record(t, 200, 7, Outcome::response);  // the other side stays apart

  WindowSummary a, b;
  windows.at(0, Side::target).add_to(a, t, 5);
  windows.at(1, Side::target).add_to(b, t, 5);
  EXPECT_EQ(a.requests, 10u);
  EXPECT_EQ(b.requests, 30u);
  WindowSummary merged = a;
  merged.merge(b);
  EXPECT_EQ(merged.requests, 40u);
  EXPECT_EQ(merged.errors_5xx, 5u);
  EXPECT_EQ(merged.mirror_mismatch, 1u);
  EXPECT_DOUBLE_EQ(merged.error_rate(), 5.0 / 40.0);
  EXPECT_EQ(merged.latency[LatencyBins::bin_of(1'000)], 10u);
  EXPECT_EQ(merged.latency[LatencyBins::bin_of(50'000)], 30u);
  // p50 is rank 20: past worker 0's ten 1 ms exchanges.
  EXPECT_NEAR(*merged.percentile_ms(0.5), 50.0, 50.0 * LatencyBins::kRelativeError);
  EXPECT_NEAR(*merged.percentile_ms(0.25), 1.0, LatencyBins::kRelativeError);

  const WindowSummary summed = windows.summarize(Side::target, t, 5);
  EXPECT_EQ(summed.requests, merged.requests);
  EXPECT_EQ(summed.errors_5xx, merged.errors_5xx);
  EXPECT_EQ(summed.mirror_mismatch, merged.mirror_mismatch);
  EXPECT_EQ(summed.latency, merged.latency);
  EXPECT_EQ(windows.summarize(Side::source, t, 5).requests, 1u);
  EXPECT_EQ(windows.summarize(Side::target, t, 1).requests, 10u);
}

TEST(WindowCounters, WorkersLayoutAndMemory) {
  RouteWindows windows(4);
  EXPECT_EQ(windows.workers(), 4u);
  EXPECT_EQ(&windows.at(9, Side::target), &windows.at(3, Side::target));  // past the end: the last
  EXPECT_NE(&windows.at(0, Side::source), &windows.at(0, Side::target));
  // Each window on its own cache lines.
  for (std::size_t w = 0; w < 4; ++w) {
    for (Side side : {Side::source, Side::target}) {
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(&windows.at(w, side)) % 64, 0u);
    }
  }
  EXPECT_EQ(RouteWindows(0).workers(), 1u);
  EXPECT_EQ(sizeof(SideWindow), SideWindow::kBytes);
  EXPECT_EQ(alignof(SideWindow), 64u);
}

TEST(WindowCounters, SteadySeconds) {
  using namespace std::chrono;
  EXPECT_EQ(steady_seconds(steady_clock::time_point{seconds{42}}), 42);
  EXPECT_EQ(steady_seconds(steady_clock::time_point{milliseconds{1999}}), 1);
  const auto now = steady_clock::now();
  EXPECT_EQ(steady_seconds(now + seconds{5}) - steady_seconds(now), 5);
  const std::int64_t a = steady_seconds(now);
  const std::int64_t b = steady_seconds_now();
  EXPECT_GE(b, a);
  EXPECT_LE(b - a, 1);
}

// One writer records 1M exchanges over 500 seconds while a reader summarizes in a loop; every
// partial total is plausible and the final one exact.
TEST(WindowConcurrency, WriterAndReaderFinalTotalsExact) {
  constexpr std::uint64_t kRecords = 1'000'000;
  constexpr std::int64_t kBase = 1'000'000;
  RouteWindows windows(1);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    SideWindow& w = windows.at(0, Side::target);
    for (std::uint64_t i = 0; i < kRecords; ++i) {
      const auto now = kBase + static_cast<std::int64_t>(i / 2'000);
      if (i % 1'000 == 999) {
        w.record_mirror(now, i % 2'000 == 999);
      }
      w.record(now, i % 10 == 0 ? 503 : 200, 100 + (i % 5'000) * 20, i % 100 == 1 ? Outcome::timeout : Outcome::response);
    }
    done.store(true, std::memory_order_release);
  });
  std::uint64_t last = 0, reads = 0;
  bool plausible = true;
  while (!done.load(std::memory_order_acquire) || reads == 0) {
    const WindowSummary s = windows.summarize(Side::target, kBase + 499, SideWindow::kSeconds);
    plausible &= s.requests >= last && s.requests <= kRecords;  // per-counter reads never go back
    last = s.requests;
    ++reads;
  }
  writer.join();
  EXPECT_TRUE(plausible);
  const WindowSummary s = windows.summarize(Side::target, kBase + 499, SideWindow::kSeconds);
  EXPECT_EQ(s.requests, kRecords);
  EXPECT_EQ(s.errors_5xx, kRecords / 10);
  EXPECT_EQ(s.timeouts, kRecords / 100);
  EXPECT_EQ(s.mirror_match + s.mirror_mismatch, kRecords / 1'000);
  EXPECT_EQ(s.mirror_mismatch, kRecords / 2'000);
  EXPECT_EQ(s.latency_samples(), kRecords);
  // Latencies are uniform over 100 us .. 100 ms: the median is ~50 ms.
  EXPECT_NEAR(*s.percentile_ms(0.5), 50.08, 50.08 * LatencyBins::kRelativeError);  // rank 500,000: 100 us + 2499 × 20 us
  RecordProperty("reads", static_cast<int>(reads));
}

// The writer keeps reusing buckets while the reader reads the oldest seconds of the ring, the
// ones being reused next: a reader sees a finished second whole or not at all, never an old
// second mixed with a new one.
TEST(WindowConcurrency, ReusedBucketIsNeverMixed) {
  constexpr std::int64_t kSecondsRun = 200'000;
  constexpr std::uint32_t kPerSecond = 8;
  SideWindow window;
  std::atomic<std::int64_t> finished{-1};  // the writer's last complete second
  std::thread writer([&] {
    for (std::int64_t s = 0; s < kSecondsRun; ++s) {
      for (std::uint32_t i = 0; i < kPerSecond; ++i) window.record(s, 500, 1'000 + s % 1'000, Outcome::response);
      finished.store(s, std::memory_order_release);
    }
  });
  std::uint64_t whole = 0, gone = 0, mixed = 0;
  for (;;) {
    const std::int64_t last = finished.load(std::memory_order_acquire);
    if (last == kSecondsRun - 1) break;
    // Second oldest + k is complete and its bucket is reused when the writer reaches last + 1 + k.
    const std::int64_t oldest = last - (SideWindow::kSeconds - 1);
    for (std::int64_t k = 0; k < 64 && oldest >= 0; ++k) {
      WindowSummary s;
      window.add_to(s, oldest + k, 1);
      if (s.requests == 0 && s.latency_samples() == 0 && s.errors_5xx == 0) {
        ++gone;
        continue;
      }
      const bool ok = s.requests == kPerSecond && s.errors_5xx == kPerSecond && s.latency_samples() == kPerSecond &&
                      s.latency[LatencyBins::bin_of(1'000 + (oldest + k) % 1'000)] == kPerSecond;
      (ok ? whole : mixed) += 1;
    }
  }
  writer.join();
  EXPECT_EQ(mixed, 0u);
  RecordProperty("whole_reads", static_cast<int>(whole));
  RecordProperty("gone_reads", static_cast<int>(gone));
}

}  // namespace
}  // namespace cutover::stats
