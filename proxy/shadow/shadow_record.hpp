// What the shadow comparison of one route has found: the recent mismatch samples and
// the fields seen to be noisy, shared by every worker and read by `GET /v1/shadow`. The counts
// themselves are the cutover_mirror_requests_total counters. Workers take the mutex only when a
// comparison ends in a mismatch or a noise sample, never on a request's path.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cutover::shadow {

// One mismatch, as `GET /v1/shadow` and the mismatch log show it.
struct MismatchSample {
  std::chrono::system_clock::time_point time;
  std::string route;
  std::string request_id;                // the request's id: the same in both backends' logs
  std::string method;
  std::string path;                      // request target as received (path and query)
  std::string primary_side;              // "source" or "target": the side whose answer the client got
  unsigned primary_status = 0;
  unsigned shadow_status = 0;
  std::vector<std::string> differences;  // compare.hpp order; the first is the headline
  bool differences_truncated = false;
  std::string primary_body;              // first kSampleBytes of each body
  std::string shadow_body;
  // Each side's trailer fields (gRPC's grpc-status and grpc-message among them), name and value;
  // shown only when a side has some.
  using Fields = std::vector<std::pair<std::string, std::string>>;
  Fields primary_trailers;
  Fields shadow_trailers;

  // One JSON object (Boost.JSON), as a line of the mismatch log and an element of /v1/shadow.
  std::string to_json() const;
};

class ShadowRecord {
 public:
  static constexpr std::size_t kMaxSamples = 50;       // newest kept, per route
  static constexpr std::size_t kMaxNoisyFields = 100;  // distinct fields counted; later ones only in `noisy_other`

  // Any thread.
  void add_mismatch(MismatchSample sample);
  // Any thread: the places where two source endpoints disagreed on one request.
  void add_noise(const std::vector<std::string>& fields);

  // Any thread: why the latest mirror ended in `error` (shown by /v1/shadow).
  void note_error(std::string reason);

  // Any thread: current in-flight mirrors of the route (the max_in_flight bound, all workers).
  // Returns false, taking nothing, when `limit` are in flight already.
  bool try_acquire_slot(std::uint32_t limit) noexcept {
    auto n = in_flight_.load(std::memory_order_relaxed);
    do {
      if (n >= limit) return false;
    } while (!in_flight_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
    return true;
  }
  void release_slot() noexcept { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  std::uint32_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

  struct View {
    std::vector<MismatchSample> samples;  // oldest first
    std::vector<std::pair<std::string, std::uint64_t>> noisy_fields;  // most frequent first
    std::uint64_t noisy_other = 0;
    std::uint64_t noise_samples = 0;      // requests whose noise copy was compared
    std::string last_error;
    std::chrono::system_clock::time_point last_error_time{};
  };
  View view() const;

 private:
  std::atomic<std::uint32_t> in_flight_{0};
  mutable std::mutex mutex_;
  std::deque<MismatchSample> samples_;
  std::map<std::string, std::uint64_t> noisy_;
  std::uint64_t noisy_other_ = 0;
  std::uint64_t noise_samples_ = 0;
  std::string last_error_;
  std::chrono::system_clock::time_point last_error_time_{};
};

}  // namespace cutover::shadow
