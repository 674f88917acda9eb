// A node of a fleet: shares route weights with the other nodes through etcd.
//
// Keys, below the configured prefix:
// - routes/<route>: {"read_bp": 2500, "write_bp": 0, "generation": 7, "by": "node-1"}, weights in
//   basis points (0..10000), the generation the change gave the route. Written by a transaction
//   guarded on the key's mod_revision, so of two racing writers one loses.
// - nodes/<node>: {"applied_revision": R} under the node's lease: R is the newest store revision
//   whose route changes the node has applied. The key disappears when the node stops beating.
// The node reads routes/ at start-up, then watches the whole prefix: route changes go to the
// Apply callback, node keys to the table of live nodes. It knows nothing of runtime state: the
// caller applies (admin::Control).
//
// Fail-static: with etcd unreachable nothing is applied or undone; the data plane keeps its last
// weights. A local override (a rollback made while etcd was unreachable) is remembered per route:
// events for that route are not applied until the override is written to etcd, which happens as
// soon as etcd answers again.
// Threading: one io_context (the admin thread's); call everything from it.
#pragma once

#include <chrono>
#include <cstdint>
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
};
std::string encode_route_value(const RouteValue& v);
// std::nullopt for a value that is not such JSON (or a weight over 10000).
std::optional<RouteValue> decode_route_value(std::string_view text);

// What a shared change came to.
struct ChangeResult {
  enum class Outcome { applied, conflict, unavailable };
  Outcome outcome = Outcome::applied;
  std::uint64_t generation = 0;  // applied: the new one; conflict: the stored one
  std::int64_t revision = 0;     // applied: the store revision of the change
  std::string error;             // conflict, unavailable: why (names etcd)
  std::vector<std::string> applied;   // live nodes that reported the revision, by name
  std::vector<std::string> laggards;  // live nodes that had not within apply_timeout
  std::chrono::duration<double> waited{0};  // from the commit until all applied or the timeout
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
                                             std::uint64_t local_generation, bool force);
  boost::asio::awaitable<void> wait_applied(ChangeResult& result);
  void on_events(const std::vector<etcd::WatchEvent>& events, std::int64_t revision);
  void apply_route(const etcd::KeyValue& kv);
  void set_up(bool up, std::string error = {});
  std::string route_key(const std::string& route) const { return options_.prefix + "routes/" + route; }
  std::string node_key() const { return options_.prefix + "nodes/" + options_.node; }

  boost::asio::io_context& io_;
  NodeOptions options_;
  std::unique_ptr<etcd::Client> client_;
  Apply apply_;
  Health health_;
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
  bool flushing_ = false;
  std::shared_ptr<etcd::Watch> watch_;
  bool reporting_ = false;       // a put of the node key is under way
  bool report_again_ = false;    // ... and a newer revision was applied meanwhile
};

}  // namespace cutover::fleet
