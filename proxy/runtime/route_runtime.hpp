// Runtime state that outlives config snapshots: a route's current weights and generation, a
// cluster's pool epoch. Written by the control (admin) thread only; the data plane reads the
// weights with one atomic load per request and never takes a lock.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "config/model.hpp"
#include "proxy/observe/log_writer.hpp"
#include "proxy/router/split.hpp"
#include "proxy/shadow/mismatch_log.hpp"
#include "proxy/shadow/shadow_record.hpp"
#include "proxy/stats/window.hpp"
#include "proxy/runtime/endpoint_health.hpp"
#include "proxy/runtime/route_safety.hpp"

namespace cutover::runtime {

class RouteRuntime {
 public:
  // `workers`: data-plane threads, each with its own window statistics slots.
  RouteRuntime(router::Weights initial, std::size_t workers) : windows(workers), packed_(initial.pack()) {}

  // Any thread. The value the next request's split uses.
  router::Weights weights() const noexcept {
    return router::Weights::unpack(packed_.load(std::memory_order_acquire));
  }
  // Control thread only. Read and write weight change together (one store), so no request sees
  // half of an update.
  void set_weights(router::Weights w) noexcept { packed_.store(w.pack(), std::memory_order_release); }

  // Control thread only: bumped by every change, compared against "if_generation" (SPEC).
  std::uint64_t generation = 0;

  // Write hold. A write exchange announces itself in writes_in_flight *before* it looks
  // at writes_held(), and the control thread sets the hold *before* it reads writes_in_flight:
  // with sequentially consistent atomics, either the request sees the hold or the hold call
  // sees (and waits for) the request. Never both missed.
  bool writes_held() const noexcept { return held_.load(std::memory_order_seq_cst); }
  void set_writes_held(bool held) noexcept { held_.store(held, std::memory_order_seq_cst); }
  std::atomic<std::int64_t> writes_in_flight{0};  // write exchanges past the hold gate
  std::atomic<std::uint32_t> held_requests{0};    // write requests waiting in a hold now
  // Bumped by the control thread when a hold starts; a held write records it, and a release of
  // hold N frees only writes held under N or earlier (a new hold right after keeps its own).
  std::atomic<std::uint64_t> hold_seq{0};

  // Held writes in arrival order, across workers. Only held writes and the control thread take
  // this mutex, never the request fast path.
  struct HeldEntry;
  // A release forwards held writes strictly in arrival order: it wakes the first, and each passes
  // the baton on (advance()) once its request head went upstream, or when it stopped waiting.
  class ReleaseChain : public std::enable_shared_from_this<ReleaseChain> {
   public:
    explicit ReleaseChain(std::vector<HeldEntry> entries) : entries_(std::move(entries)) {}
    void advance();  // thread-safe; wakes the next write, if any (none once shutdown began)

    // Called once the workers are stopping: no release may post to a worker being destroyed.
    static void stop_all() { stopped().store(true, std::memory_order_release); }
    static std::atomic<bool>& stopped() {
      static std::atomic<bool> flag{false};
      return flag;
    }

   private:
    std::vector<HeldEntry> entries_;
    std::atomic<std::size_t> next_{0};
  };
  struct HeldEntry {
    std::uint64_t id = 0;        // unique in the process (next_held_write_id)
    std::uint64_t hold_seq = 0;  // the hold it waits in
    // Thread-safe: hands the baton to the write (posting to its worker); when the write no longer
    // waits, passes the baton on itself.
    std::function<void(std::shared_ptr<ReleaseChain>)> wake;
  };
  // Ids of held writes, unique across routes and workers (workers key their waiting writes by it).
  static std::uint64_t next_held_write_id() {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }
  void enqueue_held(HeldEntry e) {
    std::lock_guard lock(held_mutex_);
    held_queue_.push_back(std::move(e));
  }
  // Removes a write that stopped waiting; false when a release already took it (a wake is coming).
  bool forget_held(std::uint64_t id) {
    std::lock_guard lock(held_mutex_);
    return std::erase_if(held_queue_, [id](const HeldEntry& e) { return e.id == id; }) > 0;
  }
  // Control thread: starts releasing, oldest first, the writes held under `up_to_seq` or earlier.
  void release_held(std::uint64_t up_to_seq) {
    std::vector<HeldEntry> out;
    {
      std::lock_guard lock(held_mutex_);
      std::deque<HeldEntry> keep;
      for (auto& e : held_queue_) (e.hold_seq <= up_to_seq ? out.emplace_back(std::move(e)) : keep.emplace_back(std::move(e)));
      held_queue_ = std::move(keep);
    }
    if (!out.empty()) std::make_shared<ReleaseChain>(std::move(out))->advance();
  }

  // Upgrade tunnels open now per side (router::Side index): the hold and route answers report them.
  std::array<std::atomic<std::int64_t>, 2> tunnels_open{};

  // Control thread only: when the current hold began.
  std::chrono::steady_clock::time_point hold_since{};

  // Shadow comparison findings and the in-flight mirror count.
  shadow::ShadowRecord shadow;

  // Per-second request statistics of the last 15 min per side, per worker.
  stats::RouteWindows windows;

  // Tenant segments, maintenance, the read-your-writes table.
  RouteSafety safety;

 private:
  std::atomic<std::uint32_t> packed_;
  std::atomic<bool> held_{false};
  std::mutex held_mutex_;
  std::deque<HeldEntry> held_queue_;
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

// Owned by the control thread. Entries are created on first use and kept while their name is in
// the published config, so a reloaded config keeps the runtime state of routes that still exist.
class RuntimeRegistry {
 public:
  // `workers`: the data-plane thread count, fixed for the process (window statistics slots).
  explicit RuntimeRegistry(std::size_t workers = 1) : workers_(workers) {}
  std::size_t workers() const { return workers_; }

  // The route's runtime; `initial` applies only when it is created here.
  std::shared_ptr<RouteRuntime> route(const std::string& name, router::Weights initial) {
    auto& slot = routes_[name];
    if (!slot) slot = std::make_shared<RouteRuntime>(initial, workers_);
    return slot;
  }
  std::shared_ptr<RouteRuntime> find_route(const std::string& name) const {
    auto it = routes_.find(name);
    return it == routes_.end() ? nullptr : it->second;
  }
  // Forgets a route's runtime (snapshots that still point at it keep it alive), so a route of that
  // name added later starts from its config weights. For routes a compile created and never
  // published, and for routes a published config no longer has.
  void forget_route(const std::string& name) { routes_.erase(name); }
  // Forgets every route whose name `keep(name)` rejects. Returns how many were forgotten.
  template <class Keep>
  std::size_t retain_routes(Keep&& keep) {
    return std::erase_if(routes_, [&](const auto& kv) { return !keep(kv.first); });
  }
  std::size_t route_count() const { return routes_.size(); }

  // The mismatch log for `config` (null without a path). A writer still open for the same path
  // (held by a snapshot in use) is shared, with the rotation settings it was opened with, so
  // two writers never rotate one file; another path opens a new writer, and the old one closes
  // with the last snapshot that uses it. Throws std::runtime_error when the file cannot be opened.
  std::shared_ptr<shadow::MismatchLog> mismatch_log(const config::MirrorLogConfig& config) {
    std::erase_if(mismatch_logs_, [](const auto& kv) { return kv.second.expired(); });
    if (config.path.empty()) return nullptr;
    if (auto open = find_mismatch_log(config.path)) return open;
    auto log = std::make_shared<shadow::MismatchLog>(config);
    mismatch_logs_[config.path] = log;
    return log;
  }
  // The writer open for `path`, if a snapshot still uses one.
  std::shared_ptr<shadow::MismatchLog> find_mismatch_log(const std::string& path) const {
    auto it = mismatch_logs_.find(path);
    return it == mismatch_logs_.end() ? nullptr : it->second.lock();
  }

  // The access log writer for `path` ("stdout" or a file): one per path, shared by the listeners
  // and snapshots that name it, closed with the last snapshot that uses it. Throws
  // std::runtime_error when the file cannot be opened. `write_errors` counts its lost lines.
  std::shared_ptr<observe::LogWriter> access_log(const std::string& path, std::size_t queue_bytes,
                                                 prometheus::Counter* write_errors) {
    std::lock_guard lock(access_logs_mutex_);
    std::erase_if(access_logs_, [](const auto& kv) { return kv.second.expired(); });
    if (auto it = access_logs_.find(path); it != access_logs_.end())
      if (auto open = it->second.lock()) return open;
    auto log = std::make_shared<observe::LogWriter>(path, queue_bytes, write_errors);
    access_logs_[path] = log;
    return log;
  }
  // Any thread (SIGUSR1, POST /v1/logs/reopen): every open access log reopens its file before its
  // next write. Returns the paths.
  std::vector<std::string> reopen_access_logs() {
    std::lock_guard lock(access_logs_mutex_);
    std::vector<std::string> paths;
    for (const auto& [path, weak] : access_logs_)
      if (auto log = weak.lock()) {
        log->reopen();
        if (path != "stdout") paths.push_back(path);
      }
    return paths;
  }

  // The health of endpoint `endpoint` (as configured) of cluster `cluster`: kept for the process,
  // so a reload keeps what checks and outlier detection found.
  std::shared_ptr<EndpointHealth> endpoint_health(const std::string& cluster, const std::string& endpoint) {
    auto& slot = endpoints_[cluster + '\n' + endpoint];
    if (!slot) slot = std::make_shared<EndpointHealth>();
    return slot;
  }

  // The position of listener `name` in every snapshot's listeners, assigned at its first compile
  // and never changed or reused: connections know their listener by this index, which must stay
  // right across reloads that add and remove other listeners.
  std::size_t listener_slot(const std::string& name) {
    for (std::size_t i = 0; i < listener_slots_.size(); ++i)
      if (listener_slots_[i] == name) return i;
    listener_slots_.push_back(name);
    return listener_slots_.size() - 1;
  }
  // Every listener name ever compiled, by slot.
  const std::vector<std::string>& listener_slots() const { return listener_slots_; }

  // Never forgotten: pooled upstream connections point at their cluster's runtime.
  std::shared_ptr<ClusterRuntime> cluster(const std::string& name) {
    auto& slot = clusters_[name];
    if (!slot) slot = std::make_shared<ClusterRuntime>();
    return slot;
  }

 private:
  std::size_t workers_;
  std::map<std::string, std::shared_ptr<RouteRuntime>> routes_;
  std::map<std::string, std::shared_ptr<ClusterRuntime>> clusters_;
  std::vector<std::string> listener_slots_;
  std::map<std::string, std::shared_ptr<EndpointHealth>> endpoints_;
  std::map<std::string, std::weak_ptr<shadow::MismatchLog>> mismatch_logs_;  // by path
  std::mutex access_logs_mutex_;  // reopen_access_logs() comes from the signal and admin threads
  std::map<std::string, std::weak_ptr<observe::LogWriter>> access_logs_;  // by path
};

inline void RouteRuntime::ReleaseChain::advance() {
  if (stopped().load(std::memory_order_acquire)) return;
  auto i = next_.fetch_add(1);
  if (i < entries_.size()) entries_[i].wake(shared_from_this());
}

}  // namespace cutover::runtime
