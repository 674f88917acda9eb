// The per-request metrics of one route, cutover_requests_total{route,side,kind,code_class} and
// cutover_request_duration_seconds{route,side} (../shared/SPEC.md "Metrics"), counted per worker.
//
// Why not prometheus-cpp's own series on the request path: its Histogram::Observe takes a mutex,
// and its Counter::Increment is a compare-and-swap loop on a value every worker writes. With two
// workers, 98 % of cutover's futex calls under load were that mutex (a worker sleeping until the
// other, preempted while holding it, ran again), and every request moved the series' cache lines
// between the CPUs. Here each worker writes a shard of its own (its own cache lines, one load
// and one store per counter, no read-modify-write), and the scrape adds what the shards grew by
// since the last scrape to the prometheus-cpp series (Counter::Increment,
// Histogram::ObserveMultiple), which stay the one exposition.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>

namespace cutover::stats {

class RequestSeries {
 public:
  static constexpr std::size_t kSides = 2;        // router::Side: source, target
  static constexpr std::size_t kKinds = 2;        // router::Kind: read, write
  static constexpr std::size_t kCodeClasses = 5;  // 1xx..5xx as 0..4
  // The code class index of an HTTP status: 1xx..5xx as 0..4, anything outside 100..599 as 5xx.
  static constexpr std::size_t code_class(unsigned status) noexcept {
    return status < 100 || status >= 600 ? 4 : status / 100 - 1;
  }
  static constexpr std::size_t kMaxBuckets = 24;  // upper bounds of the duration histogram, +Inf excluded

  // The prometheus-cpp series the scrape adds to: counters[side][kind][code class] and
  // durations[side] (whose upper bounds, in seconds, are `bounds`, at most kMaxBuckets of them,
  // increasing). `workers` shards, one per data-plane worker. Throws std::invalid_argument for
  // more bounds than kMaxBuckets or a null series.
  using Counters = std::array<std::array<std::array<prometheus::Counter*, kCodeClasses>, kKinds>, kSides>;
  RequestSeries(std::size_t workers, const Counters& counters, std::array<prometheus::Histogram*, kSides> durations,
                std::vector<double> bounds);
  RequestSeries(const RequestSeries&) = delete;
  RequestSeries& operator=(const RequestSeries&) = delete;

  // Worker `worker` (< workers) only: one answered request and its duration in seconds. The
  // bucket is the first upper bound >= seconds (prometheus-cpp's rule), else +Inf.
  void record(std::size_t worker, std::size_t side, std::size_t kind, std::size_t code_class, double seconds) noexcept;

  // Any one thread at a time (Metrics serializes the calls): adds the shards' growth since the
  // previous flush to the prometheus-cpp series. Counts recorded meanwhile go into the next one.
  void flush();

  // Any thread: the requests counted so far for (side, kind, code class), summed over the shards
  // (what the next flush brings the counter to).
  std::uint64_t count(std::size_t side, std::size_t kind, std::size_t code_class) const noexcept;

 private:
  struct Values {
    std::uint64_t requests[kSides][kKinds][kCodeClasses] = {};
    std::uint64_t buckets[kSides][kMaxBuckets + 1] = {};  // per bucket, not cumulative; last: +Inf
    std::uint64_t sum_ns[kSides] = {};                    // durations, nanoseconds
  };
  // One worker's counters, alone on its cache lines. Single writer: load + store is exact.
  struct alignas(64) Shard {
    std::atomic<std::uint64_t> requests[kSides][kKinds][kCodeClasses] = {};
    std::atomic<std::uint64_t> buckets[kSides][kMaxBuckets + 1] = {};
    std::atomic<std::uint64_t> sum_ns[kSides] = {};
  };
  static void bump(std::atomic<std::uint64_t>& a, std::uint64_t by) noexcept {
    a.store(a.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }

  std::size_t workers_;
  std::unique_ptr<Shard[]> shards_;
  Counters counters_;
  std::array<prometheus::Histogram*, kSides> durations_;
  std::vector<double> bounds_;
  Values flushed_;  // what the prometheus-cpp series hold: the flushing thread's
};

}  // namespace cutover::stats
