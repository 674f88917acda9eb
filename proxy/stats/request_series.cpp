// Per-worker shards of the per-request metrics: see request_series.hpp.
#include "proxy/stats/request_series.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace cutover::stats {

RequestSeries::RequestSeries(std::size_t workers, const Counters& counters,
                             std::array<prometheus::Histogram*, kSides> durations, std::vector<double> bounds)
    : workers_(std::max<std::size_t>(workers, 1)),
      shards_(std::make_unique<Shard[]>(workers_)),
      counters_(counters),
      durations_(durations),
      bounds_(std::move(bounds)) {
  if (bounds_.size() > kMaxBuckets) throw std::invalid_argument("request duration histogram: too many buckets");
  for (const auto& side : counters_)
    for (const auto& kind : side)
      for (const auto* c : kind)
        if (!c) throw std::invalid_argument("request series: a null counter");
  for (const auto* h : durations_)
    if (!h) throw std::invalid_argument("request series: a null histogram");
}

void RequestSeries::record(std::size_t worker, std::size_t side, std::size_t kind, std::size_t code_class,
                           double seconds) noexcept {
  Shard& s = shards_[worker];
  bump(s.requests[side][kind][code_class], 1);
  // A linear scan: 15 bounds, and requests mostly land in the first few.
  std::size_t b = 0;
  while (b < bounds_.size() && bounds_[b] < seconds) ++b;
  bump(s.buckets[side][b], 1);
  const double ns = seconds * 1e9;
  bump(s.sum_ns[side], ns > 0 && std::isfinite(ns) ? static_cast<std::uint64_t>(ns) : 0);
}

std::uint64_t RequestSeries::count(std::size_t side, std::size_t kind, std::size_t code_class) const noexcept {
  std::uint64_t n = 0;
  for (std::size_t w = 0; w < workers_; ++w) n += shards_[w].requests[side][kind][code_class].load(std::memory_order_relaxed);
  return n;
}

void RequestSeries::flush() {
  Values now;
  for (std::size_t w = 0; w < workers_; ++w) {
    const Shard& s = shards_[w];
    for (std::size_t i = 0; i < kSides; ++i) {
      for (std::size_t k = 0; k < kKinds; ++k)
        for (std::size_t c = 0; c < kCodeClasses; ++c) now.requests[i][k][c] += s.requests[i][k][c].load(std::memory_order_relaxed);
      for (std::size_t b = 0; b <= bounds_.size(); ++b) now.buckets[i][b] += s.buckets[i][b].load(std::memory_order_relaxed);
      now.sum_ns[i] += s.sum_ns[i].load(std::memory_order_relaxed);
    }
  }
  std::vector<double> increments(bounds_.size() + 1);
  for (std::size_t i = 0; i < kSides; ++i) {
    for (std::size_t k = 0; k < kKinds; ++k)
      for (std::size_t c = 0; c < kCodeClasses; ++c)
        if (const auto grew = now.requests[i][k][c] - flushed_.requests[i][k][c])
          counters_[i][k][c]->Increment(static_cast<double>(grew));
    bool any = false;
    for (std::size_t b = 0; b <= bounds_.size(); ++b) {
      const auto grew = now.buckets[i][b] - flushed_.buckets[i][b];
      increments[b] = static_cast<double>(grew);
      any = any || grew != 0;
    }
    if (any) durations_[i]->ObserveMultiple(increments, static_cast<double>(now.sum_ns[i] - flushed_.sum_ns[i]) / 1e9);
  }
  flushed_ = now;
}

}  // namespace cutover::stats
