// The health of one upstream endpoint as every worker sees it: the active health
// check's verdict and the passive outlier detector's ejection, in atomics so the request path
// reads it without a lock. Kept by the runtime registry per cluster and endpoint, so a reload
// keeps what it knows. Outlier detection follows Envoy's shape: consecutive 5xx or consecutive
// connect failures eject the endpoint for ejection_time x (ejections so far + 1), capped.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "config/model.hpp"

namespace cutover::runtime {

// Milliseconds on the steady clock: the time base of ejections.
inline std::int64_t steady_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class EndpointHealth {
 public:
  // Any thread: requests may go here (healthy by the active check and not ejected).
  bool available(std::int64_t now_ms) const noexcept {
    return healthy_.load(std::memory_order_relaxed) && now_ms >= ejected_until_ms_.load(std::memory_order_relaxed);
  }
  bool check_healthy() const noexcept { return healthy_.load(std::memory_order_relaxed); }
  std::int64_t ejected_until_ms() const noexcept { return ejected_until_ms_.load(std::memory_order_relaxed); }
  std::uint32_t ejections() const noexcept { return ejections_.load(std::memory_order_relaxed); }

  // Any thread, after a response head arrived. Returns true when this 5xx ejected the endpoint.
  bool record_status(unsigned status, const config::OutlierConfig& o, std::int64_t now_ms) noexcept {
    if (status < 500 || status > 599) {
      if (consecutive_5xx_.load(std::memory_order_relaxed) != 0) consecutive_5xx_.store(0, std::memory_order_relaxed);
      return false;
    }
    if (!o.enabled) return false;
    if (consecutive_5xx_.fetch_add(1, std::memory_order_relaxed) + 1 < o.consecutive_5xx) return false;
    return eject(o, now_ms);
  }
  // Any thread, after a connect attempt.
  void record_connect_success() noexcept {
    if (consecutive_connect_failures_.load(std::memory_order_relaxed) != 0)
      consecutive_connect_failures_.store(0, std::memory_order_relaxed);
  }
  // Returns true when this failure ejected the endpoint.
  bool record_connect_failure(const config::OutlierConfig& o, std::int64_t now_ms) noexcept {
    if (!o.enabled) return false;
    if (consecutive_connect_failures_.fetch_add(1, std::memory_order_relaxed) + 1 < o.consecutive_connect_failures)
      return false;
    return eject(o, now_ms);
  }

  // Control thread (the health checker): one check result. Returns true when the verdict changed.
  bool record_check(bool ok, const config::HealthCheckConfig& h) noexcept {
    if (ok) {
      fails_ = 0;
      if (!healthy_.load(std::memory_order_relaxed) && ++passes_ >= h.healthy_threshold) {
        healthy_.store(true, std::memory_order_relaxed);
        passes_ = 0;
        return true;
      }
      return false;
    }
    passes_ = 0;
    if (healthy_.load(std::memory_order_relaxed) && ++fails_ >= h.unhealthy_threshold) {
      healthy_.store(false, std::memory_order_relaxed);
      fails_ = 0;
      return true;
    }
    return false;
  }
  // Control thread: health checks were switched off for the cluster (reload): trust it again.
  void reset_check() noexcept {
    healthy_.store(true, std::memory_order_relaxed);
    passes_ = fails_ = 0;
  }

 private:
  bool eject(const config::OutlierConfig& o, std::int64_t now_ms) noexcept {
    // One ejection per streak: whoever moves the deadline forward counts it.
    auto until = ejected_until_ms_.load(std::memory_order_relaxed);
    if (now_ms < until) return false;  // already ejected
    const auto n = ejections_.load(std::memory_order_relaxed);
    const auto span = std::min<std::int64_t>(o.ejection_time.count() * (n + 1), o.max_ejection_time.count());
    if (!ejected_until_ms_.compare_exchange_strong(until, now_ms + span, std::memory_order_relaxed)) return false;
    ejections_.fetch_add(1, std::memory_order_relaxed);
    consecutive_5xx_.store(0, std::memory_order_relaxed);
    consecutive_connect_failures_.store(0, std::memory_order_relaxed);
    return true;
  }

  std::atomic<bool> healthy_{true};  // no check yet: trusted, so a start-up does not refuse traffic
  std::atomic<std::int64_t> ejected_until_ms_{0};
  std::atomic<std::uint32_t> ejections_{0};
  std::atomic<std::uint32_t> consecutive_5xx_{0};
  std::atomic<std::uint32_t> consecutive_connect_failures_{0};
  std::uint32_t passes_ = 0;  // control thread only
  std::uint32_t fails_ = 0;
};

}  // namespace cutover::runtime
