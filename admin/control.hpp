// The control plane's single owner of runtime state: every admin change to a route goes through
// here, on the admin thread, and becomes visible to workers through atomics and snapshots.
#pragma once

#include <memory>
#include <string>

#include <boost/json/object.hpp>

#include "admin/audit_log.hpp"
#include "admin/auth.hpp"
#include "proxy/runtime/snapshot.hpp"
#include "proxy/stats/metrics.hpp"

namespace cutover::admin {

class Control {
 public:
  Control(runtime::SnapshotSource& snapshots, runtime::RuntimeRegistry& registry, stats::Metrics& metrics,
          Tokens tokens, std::unique_ptr<AuditLog> audit, std::string state_file)
      : snapshots_(snapshots), registry_(registry), metrics_(metrics), tokens_(std::move(tokens)),
        audit_(std::move(audit)), state_file_(std::move(state_file)) {}

  std::shared_ptr<const runtime::Snapshot> snapshot() const { return snapshots_.load(); }
  stats::Metrics& metrics() { return metrics_; }
  const Tokens& tokens() const { return tokens_; }
  AuditLog& audit() { return *audit_; }

  // Readiness (GET /readyz): config loaded and every listener bound.
  bool ready() const { return ready_; }
  void set_ready(bool r) { ready_ = r; }

  // Stores `weights` on `route` (one atomic store: the next request uses them), bumps the
  // generation, updates cutover_route_weight, appends an audit entry {action, actor, route,
  // before, after, generation, ...extra} and rewrites the state file.
  void change_weights(const runtime::Route& route, router::Weights weights, std::string_view action,
                      std::string_view actor, boost::json::object extra = {});

  // Closes pooled connections to `cluster` on every worker (they are not reused).
  void close_pooled_connections(const runtime::Cluster& cluster) { cluster.runtime->bump_pool_epoch(); }

  // Rewrites the state file from the current snapshot's routes; false when it could not.
  bool persist();

 private:
  runtime::SnapshotSource& snapshots_;
  runtime::RuntimeRegistry& registry_;
  stats::Metrics& metrics_;
  Tokens tokens_;
  std::unique_ptr<AuditLog> audit_;
  std::string state_file_;
  bool ready_ = false;
};

// {"read_weight": 25, "write_weight": 0} in percent (integers when whole, else 2-decimal numbers).
boost::json::object weights_json(router::Weights w);

}  // namespace cutover::admin
