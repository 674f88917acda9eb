// The control plane's single owner of runtime state: every admin change to a route goes through
// here, on the admin thread, and becomes visible to workers through atomics and snapshots.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>

#include "admin/actor.hpp"
#include "admin/audit_log.hpp"
#include "admin/auth.hpp"
#include "admin/health_checker.hpp"
#include "admin/reload.hpp"
#include "admin/state_file.hpp"
#include "admin/ramp_controller.hpp"
#include "proxy/runtime/snapshot.hpp"
#include "proxy/stats/metrics.hpp"

namespace cutover::fleet {
class Node;
struct RouteValue;
enum class Setting;
}

namespace cutover::admin {

class Control {
 public:
  Control(boost::asio::io_context& io, runtime::SnapshotSource& snapshots, stats::Metrics& metrics, Tokens tokens,
          std::unique_ptr<AuditLog> audit, std::string state_file)
      : io_(io), snapshots_(snapshots), metrics_(metrics), tokens_(std::move(tokens)), audit_(std::move(audit)),
        state_file_(std::move(state_file)), ramps_(*this, io), health_(io) {}

  std::shared_ptr<const runtime::Snapshot> snapshot() const { return snapshots_.load(); }
  // The control thread's io_context (admin calls that wait run on it).
  boost::asio::io_context& io() { return io_; }
  stats::Metrics& metrics() { return metrics_; }
  const Tokens& tokens() const { return tokens_; }
  AuditLog& audit() { return *audit_; }

  // Readiness (GET /readyz): config loaded and every listener bound.
  bool ready() const { return ready_; }
  void set_ready(bool r) { ready_ = r; }

  // The one way a route's runtime state changes. Stores `weights` (one atomic store: the next
  // request uses them), then applies `held`: a new hold is raised after the weights, a lifted hold
  // releases the waiting writes only after the weights are visible, so no held write can reach the
  // side the change moved away from. Bumps the generation, updates the gauges, appends an audit
  // entry {action, actor, route, before, after, generation, ...extra} and rewrites the state file.
  // Returns the number of writes that were waiting in a hold this change lifted.
  std::uint32_t commit(const runtime::Route& route, router::Weights weights, bool held, std::string_view action,
                       const Actor& actor, boost::json::object extra = {});

  // A change that moves no weight (ramp pause, resume, abort, completion): bumps the generation,
  // appends {action, actor, route, generation, ...extra} to the audit log, rewrites the state file.
  void record_change(const runtime::Route& route, std::string_view action, const Actor& actor,
                     boost::json::object extra = {});

  RampController& ramps() { return ramps_; }
  // Active health checks of the current snapshot's clusters (started by main, moved by reload).
  HealthChecker& health() { return health_; }

  void change_weights(const runtime::Route& route, router::Weights weights, std::string_view action,
                      const Actor& actor, boost::json::object extra = {}) {
    commit(route, weights, route.runtime->writes_held(), action, actor, std::move(extra));
  }

  // Fleet mode (`fleet` in the config): the node sharing weights through etcd; null without.
  // Set by main before the admin server starts; the node outlives every admin call.
  fleet::Node* fleet() const { return fleet_; }
  // Also sends every audit entry to the fleet-wide log (with the node's name) and hands the node
  // the local overrides restore_fleet_overrides() kept; the state file follows the overrides.
  void set_fleet(fleet::Node* node);
  // Remembers the routes the state file marks as local overrides, for set_fleet() (and keeps the
  // mark in the state file until then). Call before the first persist().
  void restore_fleet_overrides(const StateMap& restored);
  // Applies a route's value from etcd (weights in basis points, write hold) with the generation
  // etcd stored, as commit() does but without an audit entry (the node where the change was made
  // wrote the one entry), and sets cutover_fleet_applied_revision. A hold it raises starts
  // report_fleet_drain(). A route this node does not have, or a value it has already, changes
  // nothing.
  void apply_fleet(const std::string& route, const fleet::RouteValue& value, std::int64_t revision);

  // Applies a route's segments or maintenance from etcd (safety_api.hpp's setting_text() form)
  // without an audit entry (the node where the change was made wrote the one entry), rewriting
  // the state file when it changed something. A route this node does not have, a value it has
  // already or one that does not parse (logged) changes nothing. The generation comes with the
  // route's weights value, written in the same transaction (apply_fleet). A frozen process
  // (binary upgrade) applies it too, without writing the state file.
  void apply_fleet_setting(const std::string& route, fleet::Setting setting, const std::string& value,
                           std::int64_t revision);

  // Closes pooled connections to `cluster` on every worker (they are not reused).
  void close_pooled_connections(const runtime::Cluster& cluster) { cluster.runtime->bump_pool_epoch(); }

  // Closes the long-lived connections of `route` to `side` (a tcp route's connections, an HTTP
  // route's upgrade tunnels) open now on every worker, after `grace` (0: at once); later ones stay.
  // Set by main: `closer` posts to each worker's io_context.
  using ConnectionCloser = std::function<void(const runtime::RouteRuntime*, router::Side, std::chrono::milliseconds)>;
  void set_connection_closer(ConnectionCloser closer) { closer_ = std::move(closer); }
  void close_connections(const runtime::Route& route, router::Side side, std::chrono::milliseconds grace) {
    if (closer_) closer_(route.runtime.get(), side, grace);
  }

  // Tells every worker that reload() published a new snapshot (connections holding settings of
  // their own may end gracefully). Set by main: it posts to each worker's io_context.
  void set_reload_listener(std::function<void()> listener) { reload_listener_ = std::move(listener); }

  // Binds the listeners a reload adds or moves, before it publishes (set by main; none: a reload
  // leaves the listening sockets alone). `prepare(next)` binds them, returning an error per
  // listener that cannot be bound (FILE:LINE:COL at its address; nothing stays bound then); after
  // a prepare() without errors, `finish(published)` runs once: with the published snapshot the
  // workers accept on the new sockets and close those of removed listeners; with null (the reload
  // failed later) the new sockets close.
  using ListenerPrepare = std::function<std::vector<config::Diagnostic>(const config::Config& next)>;
  using ListenerFinish = std::function<void(const runtime::Snapshot* published)>;
  void set_listener_binder(ListenerPrepare prepare, ListenerFinish finish) {
    listener_prepare_ = std::move(prepare);
    listener_finish_ = std::move(finish);
  }

  // Binary upgrade. From the moment a new process asks for the listening sockets this process
  // is frozen: it makes no state change of its own (the state file is written once more, then
  // never again by this process; admin calls that change something are answered 503; ramps do
  // not tick; etcd's weights are left to the new process) so that the state file the new process
  // reads is the last word. Unfrozen again when the new process goes away before it serves.
  bool frozen() const { return frozen_; }
  void set_frozen(bool f) { frozen_ = f; }
  // Called after every change of a route's weights or hold (commit(), follow()): a process that
  // took over from an older one relays it there, where writes held before the hand-over wait.
  void set_change_listener(std::function<void(const runtime::Route&)> listener) {
    change_listener_ = std::move(listener);
  }
  // A frozen process applies a route's weights and hold as relayed by its successor: the weights
  // are stored, a lifted hold releases the writes waiting here (after the weights, as commit()
  // does). Nothing is persisted or audited: the successor did that. Relayed on in turn.
  void follow(const runtime::Route& route, router::Weights weights, bool held);

  // Re-raises holds restored from the state file (their hold_max starts again now).
  void resume_holds();

  // Rewrites the state file from the current snapshot's routes; false when it could not.
  bool persist();

  // Makes reload() possible: `config_path` as given on the command line, `registry` the one the
  // running snapshot was compiled against (it must outlive this object).
  void enable_reload(std::string config_path, runtime::RuntimeRegistry& registry);

  // Reloads the config file (SIGHUP, POST /v1/config/reload; defined in reload.cpp). Validates
  // it as start-up does, refuses what only a restart can change and the removal of a route whose
  // writes are held, resolves every endpoint, re-reads the tokens file; then compiles and
  // publishes it at once. Routes that keep their name keep their runtime weights, generation,
  // hold and ramp; new routes start from their config weights; removed routes are forgotten
  // (their active ramp aborted). Counts cutover_config_reloads_total{result}, logs every error,
  // appends an audit entry (success and failure) and, on success, rewrites the state file. On
  // failure nothing changed.
  ReloadOutcome reload(const Actor& actor);

  // Reopens every access log file by its path before its next line (SIGUSR1, POST
  // /v1/logs/reopen: logrotate's postrotate). Returns the files (stdout is not one). Any thread.
  std::vector<std::string> reopen_logs();

 private:
  void arm_hold_max(const runtime::Route& route);
  // commit()'s change of runtime state alone (no generation, audit or state file); returns the
  // number of writes a lifted hold released.
  std::uint32_t store(const runtime::Route& route, router::Weights weights, bool held);
  // Reports to the fleet (holds/<route>/<node>) the writes in flight when the hold of
  // `hold_revision` was raised here, and again once they finished (or hold_max passed).
  void report_fleet_drain(const std::string& name, std::int64_t hold_revision);

  boost::asio::io_context& io_;
  runtime::SnapshotSource& snapshots_;
  stats::Metrics& metrics_;
  Tokens tokens_;
  std::unique_ptr<AuditLog> audit_;
  std::string state_file_;
  std::map<std::string, std::unique_ptr<boost::asio::steady_timer>> hold_max_timers_;  // by route name
  std::string config_path_;                        // reload(): the file to read again
  runtime::RuntimeRegistry* registry_ = nullptr;   // reload(): null until enable_reload()
  bool ready_ = false;
  bool frozen_ = false;
  std::function<void(const runtime::Route&)> change_listener_;
  ConnectionCloser closer_;
  std::function<void()> reload_listener_;
  fleet::Node* fleet_ = nullptr;
  std::set<std::string> saved_overrides_;  // restore_fleet_overrides() until set_fleet()
  ListenerPrepare listener_prepare_;
  ListenerFinish listener_finish_;
  RampController ramps_;  // after the members it refers to
  HealthChecker health_;
};

// {"read_weight": 25, "write_weight": 0} in percent (integers when whole, else 2-decimal numbers).
boost::json::object weights_json(router::Weights w);

}  // namespace cutover::admin
