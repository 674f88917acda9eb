// Runtime state that outlives config snapshots: a route's current weights and generation, a
// cluster's pool epoch. Written by the control (admin) thread only; the data plane reads the
// weights with one atomic load per request and never takes a lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "proxy/router/split.hpp"

namespace cutover::runtime {

class RouteRuntime {
 public:
  explicit RouteRuntime(router::Weights initial) : packed_(initial.pack()) {}

  // Any thread. The value the next request's split uses.
  router::Weights weights() const noexcept {
    return router::Weights::unpack(packed_.load(std::memory_order_acquire));
  }
  // Control thread only. Read and write weight change together (one store), so no request sees
  // half of an update.
  void set_weights(router::Weights w) noexcept { packed_.store(w.pack(), std::memory_order_release); }

  // Control thread only: bumped by every change, compared against "if_generation" (SPEC).
  std::uint64_t generation = 0;

 private:
  std::atomic<std::uint32_t> packed_;
};

class ClusterRuntime {
 public:
  // Pooled connections opened under an older epoch are closed instead of reused; bumping it is
  // how "close_target_connections" reaches every worker's pool without a lock.
  std::uint64_t pool_epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }
  void bump_pool_epoch() noexcept { epoch_.fetch_add(1, std::memory_order_acq_rel); }

 private:
  std::atomic<std::uint64_t> epoch_{0};
};

// Owned by the control thread. Entries are created on first use and kept for the process, so a
// reloaded config keeps the runtime state of routes and clusters that still exist.
class RuntimeRegistry {
 public:
  // The route's runtime; `initial` applies only when it is created here.
  std::shared_ptr<RouteRuntime> route(const std::string& name, router::Weights initial) {
    auto& slot = routes_[name];
    if (!slot) slot = std::make_shared<RouteRuntime>(initial);
    return slot;
  }
  std::shared_ptr<RouteRuntime> find_route(const std::string& name) const {
    auto it = routes_.find(name);
    return it == routes_.end() ? nullptr : it->second;
  }
  std::shared_ptr<ClusterRuntime> cluster(const std::string& name) {
    auto& slot = clusters_[name];
    if (!slot) slot = std::make_shared<ClusterRuntime>();
    return slot;
  }

 private:
  std::map<std::string, std::shared_ptr<RouteRuntime>> routes_;
  std::map<std::string, std::shared_ptr<ClusterRuntime>> clusters_;
};

}  // namespace cutover::runtime
