// Fixed-memory sliding-window request statistics per route and side: per-second buckets that the
// data-plane workers write without locks and the admin thread (API, ramp gates) sums over a window
// of 1..900 s chosen at query time. Nothing allocates after construction.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>

#include "proxy/router/split.hpp"

namespace cutover::stats {

// Latency histogram bins, log-scaled with 4 bins per doubling: regular bin k covers the
// microseconds [2^((k+21)/4), 2^((k+22)/4)) for k = 1..86, i.e. 45.25 us .. 134.2 s (2^5.5 .. 2^27),
// so every value from 46 us to 134,217,727 us lands in a regular bin. Bin 0 is the underflow
// (< 46 us) and bin 87 the overflow (>= 2^27 us = 134.2 s).
//
// A regular bin reports 2·lo·hi / (lo + hi) of its edges, the point whose relative distance to
// both edges is the same, so for any value inside the range
//   |reported - true| / true <= (2^(1/4) - 1) / (2^(1/4) + 1) = 0.08643.
// The underflow bin reports its upper edge (45.25 us) and the overflow bin its lower edge
// (134.2 s): outside the range the result is a bound, not an estimate.
struct LatencyBins {
  static constexpr unsigned kPerDoubling = 4;
  static constexpr std::size_t kCount = 88;                  // 86 regular + underflow + overflow
  static constexpr double kRelativeError = 0.0865;           // >= 0.086427..., see above
  static constexpr std::uint64_t kRangeLowUs = 46;           // smallest value in a regular bin
  static constexpr std::uint64_t kRangeHighUs = 134'217'728; // 2^27: first value of the overflow bin

  // Pure functions. bin_of is monotonic in micros; value_us is increasing in bin (a bin past the
  // last is reported as the overflow bin).
  static std::size_t bin_of(std::uint64_t micros) noexcept;
  static double value_us(std::size_t bin) noexcept;  // the representative value reported for a bin
};

enum class Outcome : std::uint8_t {
  response,       // the upstream answered (any status)
  connect_error,  // no connection to the upstream (cutover answered 502)
  timeout,        // the upstream did not answer in time (cutover answered 504)
};

// Sums over a window, across any number of SideWindows (workers). Plain values: the admin thread
// owns it.
struct WindowSummary {
  std::uint64_t requests = 0;        // exchanges recorded (every outcome)
  std::uint64_t errors_5xx = 0;      // status 500..599, including proxy-made 502/504
  std::uint64_t connect_errors = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t mirror_match = 0, mirror_mismatch = 0;
  std::array<std::uint64_t, LatencyBins::kCount> latency{};  // exchanges per LatencyBins bin

  // errors_5xx / requests in 0..1; 0 when no requests.
  double error_rate() const;
  // Exchanges with a latency recorded (the sum of `latency`).
  std::uint64_t latency_samples() const;
  // Nearest-rank percentile in milliseconds: the smallest bin whose cumulative count reaches
  // ceil(q · latency_samples()), reported as value_us(bin) / 1000, so within
  // LatencyBins::kRelativeError of the exact nearest-rank value when that lies inside the bins'
  // range. q in (0, 1] (q <= 0 gives the minimum's bin, q > 1 the maximum's); nullopt when no
  // latency was recorded.
  std::optional<double> percentile_ms(double q) const;
  // Adds every counter of `other` (windows of several workers, or of several routes).
  void merge(const WindowSummary& other);
};

// One side of one route on one worker: a ring of kSeconds per-second buckets, bucket of second s
// at index s mod kSeconds. Single writer (its worker thread), any number of readers; no lock and no
// RMW: the writer does a load and a store per counter, which is exact because it is the only
// writer.
//
// A bucket whose stamp is not the requested second is skipped by readers; the writer resets a
// bucket before reusing it for a new second, with a seqlock-style stamp protocol: it first marks
// the stamp invalid, then zeroes the counters, then stamps the new second; a reader reads the
// stamp, the counters, then the stamp again, and drops the bucket when the stamp changed. So an
// old second's counts are never mixed with a new one's. Counter stores are release and loads
// acquire for that protocol (on x86-64 these are the same plain moves as relaxed).
//
// Accuracy while writes go on: each counter is exact at the moment it is read, but a summary is
// not a snapshot: counters read a few microseconds apart can disagree by the exchanges recorded
// during the read (e.g. `requests` one ahead of the latency bins when it lands mid-record). Seconds
// in the past are exact once their worker has moved on.
//
// Memory: 900 buckets of 384 bytes (an 8-byte stamp, six 4-byte counters, 88 4-byte latency bins)
// = 345,600 bytes per SideWindow, all inline; a route needs workers × 2 of them (675 KiB per
// worker). Counters are 32-bit: per worker and second, far above any request rate.
class alignas(64) SideWindow {
 public:
  static constexpr std::int64_t kSeconds = 900;  // longest window
  static constexpr std::size_t kBytes = 345'600;  // sizeof(SideWindow), documented above

  SideWindow() = default;
  SideWindow(const SideWindow&) = delete;
  SideWindow& operator=(const SideWindow&) = delete;

  // Writer (the owning worker) only. One exchange that ended at second now_s (steady_seconds).
  // `status` is what the downstream client got (the proxy-made 502/504 for connect errors and
  // timeouts, 0 when nothing was sent); `latency_us` is the exchange's latency as the client saw
  // it, recorded for every outcome. A record older than what its bucket already holds (now_s
  // kSeconds or more behind this writer's latest) is dropped.
  void record(std::int64_t now_s, unsigned status, std::uint64_t latency_us, Outcome outcome) noexcept;
  // Writer only. One compared shadow exchange: responses matched or not. Recorded on the side the
  // shadow copy went to.
  void record_mirror(std::int64_t now_s, bool match) noexcept;

  // Any thread. Adds the buckets of seconds (now_s - window_s, now_s] to `out`. window_s is
  // clamped to 1..kSeconds.
  void add_to(WindowSummary& out, std::int64_t now_s, std::int64_t window_s) const noexcept;

 private:
  static constexpr std::int64_t kNoSecond = std::numeric_limits<std::int64_t>::min();

  struct Bucket {
    std::atomic<std::int64_t> second{kNoSecond};  // the second counted here; kNoSecond: none
    std::atomic<std::uint32_t> requests{0};
    std::atomic<std::uint32_t> errors_5xx{0};
    std::atomic<std::uint32_t> connect_errors{0};
    std::atomic<std::uint32_t> timeouts{0};
    std::atomic<std::uint32_t> mirror_match{0};
    std::atomic<std::uint32_t> mirror_mismatch{0};
    std::array<std::atomic<std::uint32_t>, LatencyBins::kCount> latency{};
  };
  static_assert(sizeof(Bucket) == 384, "6 cache lines: update the memory figures above");

  // The bucket for now_s, reset first when it held an older second; nullptr when it holds a newer
  // one (the record is too old to count).
  Bucket* writable(std::int64_t now_s) noexcept;
  static std::size_t index_of(std::int64_t second) noexcept;

  std::array<Bucket, kSeconds> buckets_;
};
static_assert(sizeof(SideWindow) == SideWindow::kBytes);

// Every worker's windows of one route: [worker][side]. Allocated once, with the worker count fixed
// at construction; lives in the route's runtime state so it survives config reloads.
class RouteWindows {
 public:
  // workers >= 1 (0 is taken as 1).
  explicit RouteWindows(std::size_t workers);
  RouteWindows(const RouteWindows&) = delete;
  RouteWindows& operator=(const RouteWindows&) = delete;

  // The window worker `worker` writes for `side`. worker < workers(); a larger index gets the last
  // worker's window, which then has two writers and may lose counts (never memory safety): a bug
  // in the caller, made harmless rather than fatal on the data plane.
  SideWindow& at(std::size_t worker, router::Side side) noexcept;
  const SideWindow& at(std::size_t worker, router::Side side) const noexcept;
  // Any thread. The sum over every worker of seconds (now_s - window_s, now_s], window_s clamped
  // to 1..SideWindow::kSeconds.
  WindowSummary summarize(router::Side side, std::int64_t now_s, std::int64_t window_s) const;
  std::size_t workers() const noexcept { return workers_; }

 private:
  std::size_t workers_;
  std::unique_ptr<SideWindow[]> windows_;  // workers_ × 2, index worker * 2 + side
};

// Seconds on the steady clock, the time base for now_s everywhere (writers and readers).
std::int64_t steady_seconds(std::chrono::steady_clock::time_point t) noexcept;
std::int64_t steady_seconds_now() noexcept;

}  // namespace cutover::stats
