// A node of a fleet: shares route weights, write holds and a route's other settings (tenant
// segments, maintenance answer) with the other nodes through etcd.
//
// Keys, below the configured prefix:
// - routes/<route>: {"read_bp": 2500, "write_bp": 0, "generation": 7, "by": "node-1"}, weights in
//   basis points (0..10000), the generation the change gave the route. Written by a transaction
//   guarded on the key's mod_revision, so of two racing writers one loses.
//   With "writes_held": true the route's writes are held on every node; "hold_revision" is the
//   store revision that raised the hold (absent in the value that raises it: that value's own
//   mod_revision), carried over by every later value while the hold lasts.
// - safety/<setting>/<route> (setting: "segments" or "maintenance"): the route's setting as the
//   caller encodes it (JSON text, at most kMaxSettingBytes; this module does not look inside).
//   Written in one transaction with routes/<route> (weights and hold as stored, generation + 1),
//   guarded on routes/<route>'s mod_revision, so the route keeps one generation for all its
//   changes and a setting change racing a weight change loses as two weight changes do. Its own
//   key keeps a 10,000-value list out of the weights value every node reads and writes.
// - nodes/<node>: {"applied_revision": R} under the node's lease: R is the newest store revision
//   whose route changes the node has applied. The key disappears when the node stops beating.
// - holds/<route>/<node>: {"hold_revision", "in_flight_at_hold", "in_flight_remaining",
//   "drained"} under the node's lease: how far the node drained the writes in flight when it
//   raised the hold of `hold_revision` (report_drain). The node that raised the hold answers once
//   every live node reports it drained (wait_drained).
// - audit/<microseconds since the epoch, 16 digits>-<node>-<n>: one audit entry (JSON text, with
//   "node"), written by the node where the change was made. Every node keeps the newest
//   kAuditKept of them (by create revision) for GET /v1/audit; the writer deletes older ones.
// The node reads routes/ and safety/ at start-up, then watches the whole prefix: route changes go
// to the Apply callback, settings to the ApplySetting one, node keys to the table of live nodes.
// It knows nothing of runtime state: the caller applies (admin::Control).
//
// Fail-static: with etcd unreachable nothing is applied or undone; the data plane keeps its last
// weights and settings. A local override (a rollback made while etcd was unreachable) is remembered per route:
// events for that route are not applied until the override is written to etcd, which happens as
// soon as etcd answers again. The caller keeps the overrides in its state file
// (set_override_listener, restore_override), so a restart while etcd is down keeps them too.
// Audit entries made while etcd is unreachable wait in a bounded queue (kAuditPending) and are
// written, in order, when it answers again.
// Threading: one io_context (the admin thread's); call everything from it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "fleet/etcd/client.hpp"

namespace cutover::fleet {

struct NodeOptions {
  std::string node;                     // this node's name
  std::string prefix = "/cutover/";     // ends with '/'
  std::chrono::milliseconds lease_ttl{5000};
  std::chrono::milliseconds apply_timeout{2000};
  etcd::ClientConfig etcd;
};

// A route's shared value: weights in basis points and the generation it was written with.
struct RouteValue {
  std::uint16_t read_bp = 0;
  std::uint16_t write_bp = 0;
  std::uint64_t generation = 0;
  std::string by;  // the node that wrote it
  bool writes_held = false;
  std::int64_t hold_revision = 0;  // writes_held: the store revision that raised the hold (0: this value's)
};
std::string encode_route_value(const RouteValue& v);
// std::nullopt for a value that is not such JSON (or a weight over 10000).
std::optional<RouteValue> decode_route_value(std::string_view text);

// What a shared change came to.
struct ChangeResult {
  // not_held: a release found the route's writes not held in etcd.
  enum class Outcome { applied, conflict, unavailable, not_held };
  Outcome outcome = Outcome::applied;
  std::uint64_t generation = 0;  // applied: the new one; conflict: the stored one
  std::int64_t revision = 0;     // applied: the store revision of the change
  std::string error;             // conflict, unavailable: why (names etcd)
  std::vector<std::string> applied;   // live nodes that reported the revision, by name
  std::vector<std::string> laggards;  // live nodes that had not within apply_timeout
  std::chrono::duration<double> waited{0};  // from the commit until all applied or the timeout
  std::int64_t hold_revision = 0;  // hold(): the revision that raised the hold (an earlier one when already held)
  bool already_held = false;       // hold(): etcd had the writes held already; nothing was written
};

// One node's drain of the writes in flight when it raised a hold (holds/<route>/<node>).
struct DrainReport {
  bool reported = false;  // false: the node has not reported this hold (yet)
  std::int64_t hold_revision = 0;
  std::int64_t in_flight_at_hold = 0;
  std::int64_t in_flight_remaining = 0;
  bool drained = false;
};
std::string encode_drain_report(const DrainReport& r);
std::optional<DrainReport> decode_drain_report(std::string_view text);

// A route's setting shared besides its weights (safety/<setting>/<route>).
enum class Setting { segments, maintenance };
std::string_view setting_name(Setting s);  // "segments", "maintenance"

// One setting to write with Node::change_settings().
struct SettingChange {
  std::string route;
  Setting setting = Setting::segments;
  std::string value;  // JSON text, at most Node::kMaxSettingBytes
  // This node's weights, hold and generation: they stand for routes/<route> when etcd has no
  // value for the route yet (as local_generation does for change()).
  RouteValue local;
};

// One row of Node::status().
struct PeerStatus {
  std::string node;
  std::int64_t applied_revision = 0;
};
struct NodeStatus {
  std::string node;
  bool etcd_up = false;
  std::string etcd_error;  // the last failure while etcd is down
  std::int64_t applied_revision = 0;
  std::vector<PeerStatus> nodes;                  // live nodes (this one included once it is known)
  std::map<std::string, RouteValue> overrides;    // local overrides not yet written to etcd
};

class Node {
 public:
  // Applies a route's shared value (the store revision that wrote it). Runs on the io_context.
  using Apply = std::function<void(const std::string& route, const RouteValue& value, std::int64_t revision)>;
  // etcd reachability changed (true: up).
  using Health = std::function<void(bool up)>;
  // Applies a route's shared setting: its JSON text as written (never applied twice for one
  // store revision, never an older value after a newer one). Runs on the io_context.
  using ApplySetting = std::function<void(const std::string& route, Setting setting, const std::string& value,
                                          std::int64_t revision)>;

  // ErrorKind::config for a bad endpoint or TLS file.
  static etcd::Result<std::unique_ptr<Node>> create(boost::asio::io_context& io, NodeOptions options, Apply apply,
                                                    Health health);
  ~Node();

  // Starts the session loop (lease, initial read, watch, keepalive) on the io_context.
  void start();
  // True once the initial read of routes/ has been applied (or never, while etcd is down).
  bool synced() const { return synced_; }

  // Writes `read_bp`/`write_bp` for `route`: guarded on the key's mod_revision and, with
  // `if_generation`, on the stored generation (`local_generation` stands for it when the key does
  // not exist yet). Then waits up to apply_timeout for every live node to report the revision.
  boost::asio::awaitable<ChangeResult> change(std::string route, std::uint16_t read_bp, std::uint16_t write_bp,
                                              std::optional<std::uint64_t> if_generation,
                                              std::uint64_t local_generation);
  // A rollback already applied locally: written to etcd whatever the stored generation (retried
  // on lost races); with etcd unreachable it becomes a local override, written when etcd is back.
  // Outcome unavailable means: kept as a local override.
  boost::asio::awaitable<ChangeResult> override_weights(std::string route, std::uint16_t read_bp,
                                                        std::uint16_t write_bp, std::uint64_t local_generation);

  // Raises the route's write hold in etcd (guarded as change(); the stored weights stay, or
  // `read_bp`/`write_bp`, this node's, when etcd has no value for the route yet), then waits up to
  // apply_timeout for every live node to apply it. Already held in etcd: nothing is written, the
  // result names the hold's revision (already_held).
  boost::asio::awaitable<ChangeResult> hold(std::string route, std::uint16_t read_bp, std::uint16_t write_bp,
                                            std::optional<std::uint64_t> if_generation,
                                            std::uint64_t local_generation);
  // Lifts the hold in etcd with `write_bp` (nullopt: the stored one): each node releases its held
  // writes in arrival order after the new weights are in place. Outcome not_held when etcd does
  // not have the writes held; unavailable (nothing changes anywhere) while etcd is unreachable.
  boost::asio::awaitable<ChangeResult> release(std::string route, std::optional<std::uint16_t> write_bp,
                                               std::optional<std::uint64_t> if_generation,
                                               std::uint64_t local_generation);
  // Settings (safety/): set before start(), so the initial read applies them before serving.
  void set_setting_listener(ApplySetting apply) { apply_setting_ = std::move(apply); }
  // One value's bound, and the most one transaction carries: etcd refuses requests over
  // --max-request-bytes (1.5 MiB by default, 1,572,864 bytes), and this leaves room for the
  // transaction's other keys; in base64 (the JSON gateway's form, 4/3 of the size) it stays below
  // the client's 4 MiB answer and watch message bounds as well. Every segment list the admin API
  // takes (bodies of at most 1 MiB) fits; a maintenance body JSON escapes may grow past it.
  static constexpr std::size_t kMaxSettingBytes = 1'100'000;
  // Writes each change's value at safety/<setting>/<route> with routes/<route> (generation + 1),
  // guarded on routes/<route>'s mod_revision and, with `if_generation` (one change only), on its
  // stored generation; applies them here at the commit, then waits up to apply_timeout for every
  // live node to report the revision (the last one, for several transactions). Several changes
  // go in as few transactions as kMaxSettingBytes and etcd's 128 operations allow; without
  // `if_generation` a lost race is read again and retried a few times. conflict: the generation
  // is not `if_generation`, or the race was lost; unavailable: etcd did not answer (nothing was
  // written, or, for several transactions, the error says how many routes were).
  boost::asio::awaitable<ChangeResult> change_settings(std::vector<SettingChange> changes,
                                                       std::optional<std::uint64_t> if_generation);

  // This node's drain of a hold: recorded here at once and put under holds/<route>/<node>.
  void report_drain(const std::string& route, const DrainReport& report);
  // Whether this node reported its drain of the hold of `hold_revision`.
  bool drain_reported(const std::string& route, std::int64_t hold_revision) const {
    auto it = drains_.find(route);
    if (it == drains_.end()) return false;
    auto own = it->second.find(options_.node);
    return own != it->second.end() && own->second.hold_revision == hold_revision;
  }
  // Waits until every live node reported the hold of `hold_revision` drained, or `deadline`.
  // Gives a report per live node (reported false for one that did not report this hold).
  boost::asio::awaitable<std::map<std::string, DrainReport>> wait_drained(
      std::string route, std::int64_t hold_revision, std::chrono::steady_clock::time_point deadline);

  // An audit entry (JSON text) for the fleet-wide log: queued, then put under audit/.
  void publish_audit(std::string entry);
  // The newest `limit` fleet-wide audit entries (JSON texts), oldest first: those etcd holds, then
  // this node's not yet written.
  std::vector<std::string> audit_entries(std::size_t limit) const;
  static constexpr std::size_t kAuditKept = 1000;
  static constexpr std::size_t kAuditPending = 1000;

  // A local override read back from the state file: kept (not undone by etcd's value) until it is
  // written to etcd. Call before start().
  void restore_override(const std::string& route, const RouteValue& value) { overrides_[route] = value; }
  bool has_override(const std::string& route) const { return overrides_.contains(route); }
  // Called whenever the set of local overrides changes (so the caller can persist it).
  void set_override_listener(std::function<void()> listener) { override_listener_ = std::move(listener); }

  NodeStatus status() const;
  const NodeOptions& options() const { return options_; }
  // For the fleet's other shared state (leader.hpp, ramp_store.hpp): the etcd client, and the
  // lease of this node's session (0 before the first one; keys under it go with the node).
  etcd::Client& client() { return *client_; }
  std::int64_t lease() const { return lease_; }

 private:
  Node(boost::asio::io_context& io, NodeOptions options, std::unique_ptr<etcd::Client> client, Apply apply,
       Health health);
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<bool> session_start();
  boost::asio::awaitable<void> keepalive(std::uint64_t session);
  boost::asio::awaitable<void> flush_overrides();
  boost::asio::awaitable<void> report_applied();
  boost::asio::awaitable<ChangeResult> write(const std::string& route, std::uint16_t read_bp, std::uint16_t write_bp,
                                             std::optional<std::uint64_t> if_generation,
                                             std::uint64_t local_generation, bool force,
                                             std::optional<bool> held = std::nullopt, bool require_held = false);
  boost::asio::awaitable<void> wait_applied(ChangeResult& result);
  // Outcome unavailable with `what` + `message` as the error; etcd is marked down.
  ChangeResult unreachable(std::string_view what, const std::string& message);
  void on_events(const std::vector<etcd::WatchEvent>& events, std::int64_t revision);
  void apply_route(const etcd::KeyValue& kv);
  void apply_setting_kv(const etcd::KeyValue& kv);
  boost::asio::awaitable<bool> read_settings();
  void on_audit(const etcd::WatchEvent& e);
  void on_drain(const etcd::WatchEvent& e);
  boost::asio::awaitable<void> flush_audit();
  boost::asio::awaitable<void> trim_audit();
  void overrides_changed() {
    if (override_listener_) override_listener_();
  }
  void set_up(bool up, std::string error = {});
  std::string route_key(const std::string& route) const { return options_.prefix + "routes/" + route; }
  std::string setting_key(Setting s, const std::string& route) const {
    return options_.prefix + "safety/" + std::string(setting_name(s)) + "/" + route;
  }
  std::string node_key() const { return options_.prefix + "nodes/" + options_.node; }

  boost::asio::io_context& io_;
  NodeOptions options_;
  std::unique_ptr<etcd::Client> client_;
  Apply apply_;
  Health health_;
  ApplySetting apply_setting_;
  bool synced_ = false;
  bool up_ = false;
  bool health_known_ = false;  // up_ was set by an answer (or its absence) of etcd's
  bool stopped_ = false;
  std::string error_;
  std::int64_t lease_ = 0;
  std::uint64_t session_ = 0;  // bumped by each new lease: the old keepalive loop ends
  std::int64_t applied_revision_ = 0;
  std::map<std::string, std::int64_t> peers_;  // live node -> applied revision
  std::map<std::string, RouteValue> overrides_;
  std::map<std::string, std::int64_t> route_revisions_;  // route -> mod_revision of the value applied last
  std::map<std::string, std::int64_t> setting_revisions_;  // safety/ key -> mod_revision applied last
  bool flushing_ = false;
  std::shared_ptr<etcd::Watch> watch_;
  bool reporting_ = false;       // a put of the node key is under way
  bool report_again_ = false;    // ... and a newer revision was applied meanwhile
  std::function<void()> override_listener_;
  std::map<std::string, std::map<std::string, DrainReport>> drains_;  // route -> node -> its report
  // The fleet-wide audit log as etcd holds it: create revision -> (key, entry), and key -> revision.
  std::map<std::int64_t, std::pair<std::string, std::string>> audit_;
  std::map<std::string, std::int64_t> audit_keys_;
  std::deque<std::pair<std::string, std::string>> audit_pending_;  // (key, entry) not yet in etcd
  std::uint64_t audit_seq_ = 0;
  bool audit_flushing_ = false;
};

}  // namespace cutover::fleet
