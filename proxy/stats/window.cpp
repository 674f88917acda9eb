// Sliding-window statistics (see window.hpp): log-scaled latency bins with integer edges computed
// at compile time, and the per-second bucket ring with its single-writer stamp protocol.
#include "proxy/stats/window.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace cutover::stats {
namespace {

__extension__ typedef unsigned __int128 u128;

// Bin edges in "quarter-log" units: edge i is 2^(i/4) us. Regular bin k spans edges
// [k + kFirstEdge - 1, k + kFirstEdge).
constexpr unsigned kFirstEdge = 22;  // 2^5.5 = 45.25 us
constexpr unsigned kLastEdge = 108;  // 2^27 us = 134.2 s
static_assert(kLastEdge - kFirstEdge + 2 == LatencyBins::kCount);
static_assert(LatencyBins::kPerDoubling == 4, "the edge arithmetic below takes 4th powers");

// The smallest integer v with v >= 2^(i/4), i.e. v^4 >= 2^i: exact, no floating point, so a value
// and its bin never disagree at an edge.
constexpr std::uint64_t ceil_edge(unsigned i) {
  const u128 target = u128{1} << i;
  std::uint64_t lo = 1, hi = std::uint64_t{1} << (i / 4 + 1);  // hi^4 >= 2^(i+4) > 2^i
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    const u128 m = mid;
    if (m * m * m * m >= target) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

constexpr auto kEdges = [] {
  std::array<std::uint64_t, kLastEdge + 1> edges{};
  for (unsigned i = 0; i <= kLastEdge; ++i) edges[i] = ceil_edge(i);
  return edges;
}();
static_assert(kEdges[kFirstEdge] == LatencyBins::kRangeLowUs);
static_assert(kEdges[kLastEdge] == LatencyBins::kRangeHighUs);
static_assert(kEdges[4] == 2 && kEdges[5] == 3 && kEdges[100] == 33'554'432);

// 2·lo·hi/(lo+hi) for hi = lo·2^(1/4): lo · 2·2^(1/4)/(1 + 2^(1/4)).
constexpr double kRepresentativeFactor = 1.0864272337258898;

inline void bump(std::atomic<std::uint32_t>& counter) noexcept {
  // Single writer: load + store is exact and cheaper than an RMW. Release pairs with the
  // readers' acquire loads (window.hpp: the stamp protocol).
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

}  // namespace

std::size_t LatencyBins::bin_of(std::uint64_t micros) noexcept {
  if (micros < kRangeLowUs) return 0;
  if (micros >= kRangeHighUs) return kCount - 1;
  // floor(4·log2(micros)) = 4·e + the quarter-steps of [2^e, 2^(e+1)) that micros reached.
  const unsigned e = static_cast<unsigned>(std::bit_width(micros)) - 1;
  unsigned i = 4 * e;
  while (i + 1 < 4 * (e + 1) && micros >= kEdges[i + 1]) ++i;
  return i - kFirstEdge + 1;
}

double LatencyBins::value_us(std::size_t bin) noexcept {
  if (bin == 0) return std::exp2(kFirstEdge / 4.0);
  if (bin >= kCount - 1) return static_cast<double>(kRangeHighUs);
  const double lo = std::exp2(static_cast<double>(bin + kFirstEdge - 1) / 4.0);
  return lo * kRepresentativeFactor;
}

double WindowSummary::error_rate() const {
  return requests == 0 ? 0.0 : static_cast<double>(errors_5xx) / static_cast<double>(requests);
}

std::uint64_t WindowSummary::latency_samples() const {
  std::uint64_t total = 0;
  for (auto n : latency) total += n;
  return total;
}

std::optional<double> WindowSummary::percentile_ms(double q) const {
  const std::uint64_t total = latency_samples();
  if (total == 0) return std::nullopt;
  std::uint64_t rank = 1;
  if (q >= 1.0) {
    rank = total;
  } else if (q > 0.0) {  // false for NaN too
    rank = std::clamp<std::uint64_t>(static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total))), 1, total);
  }
  std::uint64_t seen = 0;
  for (std::size_t bin = 0; bin < latency.size(); ++bin) {
    seen += latency[bin];
    if (seen >= rank) return LatencyBins::value_us(bin) / 1000.0;
  }
  return LatencyBins::value_us(latency.size() - 1) / 1000.0;  // unreachable: seen ends at total
}

void WindowSummary::merge(const WindowSummary& other) {
  requests += other.requests;
  errors_5xx += other.errors_5xx;
  connect_errors += other.connect_errors;
  timeouts += other.timeouts;
  mirror_match += other.mirror_match;
  mirror_mismatch += other.mirror_mismatch;
  for (std::size_t i = 0; i < latency.size(); ++i) latency[i] += other.latency[i];
}

std::size_t SideWindow::index_of(std::int64_t second) noexcept {
  const std::int64_t r = second % kSeconds;
  return static_cast<std::size_t>(r < 0 ? r + kSeconds : r);
}

SideWindow::Bucket* SideWindow::writable(std::int64_t now_s) noexcept {
  Bucket& b = buckets_[index_of(now_s)];
  const std::int64_t stamp = b.second.load(std::memory_order_relaxed);
  if (stamp == now_s) return &b;
  if (stamp > now_s || now_s == kNoSecond) return nullptr;
  // Reuse for a newer second: invalidate the stamp before the first zero can be seen, so a reader
  // that sees any new count also sees the stamp change (its second stamp load) and drops the
  // bucket. The release stores below order the zeroes after the invalidation.
  constexpr auto release = std::memory_order_release;
  b.second.store(kNoSecond, std::memory_order_relaxed);
  b.requests.store(0, release);
  b.errors_5xx.store(0, release);
  b.connect_errors.store(0, release);
  b.timeouts.store(0, release);
  b.mirror_match.store(0, release);
  b.mirror_mismatch.store(0, release);
  for (auto& n : b.latency) n.store(0, release);
  b.second.store(now_s, release);
  return &b;
}

void SideWindow::record(std::int64_t now_s, unsigned status, std::uint64_t latency_us, Outcome outcome) noexcept {
  Bucket* b = writable(now_s);
  if (b == nullptr) return;
  bump(b->requests);
  if (status >= 500 && status <= 599) bump(b->errors_5xx);
  if (outcome == Outcome::connect_error) bump(b->connect_errors);
  if (outcome == Outcome::timeout) bump(b->timeouts);
  bump(b->latency[LatencyBins::bin_of(latency_us)]);
}

void SideWindow::record_mirror(std::int64_t now_s, bool match) noexcept {
  Bucket* b = writable(now_s);
  if (b == nullptr) return;
  bump(match ? b->mirror_match : b->mirror_mismatch);
}

void SideWindow::add_to(WindowSummary& out, std::int64_t now_s, std::int64_t window_s) const noexcept {
  constexpr auto acquire = std::memory_order_acquire;
  const std::int64_t window = std::clamp<std::int64_t>(window_s, 1, kSeconds);
  for (std::int64_t s = now_s - window + 1; s <= now_s; ++s) {
    const Bucket& b = buckets_[index_of(s)];
    if (s == kNoSecond || b.second.load(acquire) != s) continue;
    // Read into a local first: the bucket counts only if its stamp is unchanged afterwards.
    std::uint32_t requests = b.requests.load(acquire);
    std::uint32_t errors_5xx = b.errors_5xx.load(acquire);
    std::uint32_t connect_errors = b.connect_errors.load(acquire);
    std::uint32_t timeouts = b.timeouts.load(acquire);
    std::uint32_t mirror_match = b.mirror_match.load(acquire);
    std::uint32_t mirror_mismatch = b.mirror_mismatch.load(acquire);
    std::array<std::uint32_t, LatencyBins::kCount> latency{};
    bool any_latency = false;
    for (std::size_t i = 0; i < latency.size(); ++i) {
      latency[i] = b.latency[i].load(acquire);
      any_latency |= latency[i] != 0;
    }
    if (b.second.load(std::memory_order_relaxed) != s) continue;  // reused while we read
    out.requests += requests;
    out.errors_5xx += errors_5xx;
    out.connect_errors += connect_errors;
    out.timeouts += timeouts;
    out.mirror_match += mirror_match;
    out.mirror_mismatch += mirror_mismatch;
    if (any_latency) {
      for (std::size_t i = 0; i < latency.size(); ++i) out.latency[i] += latency[i];
    }
  }
}

RouteWindows::RouteWindows(std::size_t workers)
    : workers_(std::max<std::size_t>(workers, 1)), windows_(std::make_unique<SideWindow[]>(workers_ * 2)) {}

SideWindow& RouteWindows::at(std::size_t worker, router::Side side) noexcept {
  return windows_[std::min(worker, workers_ - 1) * 2 + static_cast<std::size_t>(side)];
}

const SideWindow& RouteWindows::at(std::size_t worker, router::Side side) const noexcept {
  return windows_[std::min(worker, workers_ - 1) * 2 + static_cast<std::size_t>(side)];
}

WindowSummary RouteWindows::summarize(router::Side side, std::int64_t now_s, std::int64_t window_s) const {
  WindowSummary out;
  for (std::size_t w = 0; w < workers_; ++w) at(w, side).add_to(out, now_s, window_s);
  return out;
}

std::int64_t steady_seconds(std::chrono::steady_clock::time_point t) noexcept {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::int64_t steady_seconds_now() noexcept { return steady_seconds(std::chrono::steady_clock::now()); }

}  // namespace cutover::stats
