// The downstream connections one worker serves, for what reaches them from outside a request: a
// drain (SIGTERM) closes the idle ones, and a rollback or release closes a route's long-lived
// connections to one side (tcp route connections and upgrade tunnels), optionally after a grace.
// Owned by the worker; its thread registers and deregisters, any thread may ask for a close (it is
// posted to the worker).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/io_context.hpp>
#include <prometheus/gauge.h>

#include "proxy/router/split.hpp"

namespace cutover::runtime {

class RouteRuntime;

// What a drain needs of a downstream connection.
class Drainable {
 public:
  // Closes the connection when it is between requests; one inside an exchange finishes it first
  // (and answers with Connection: close). Byte streams (tcp routes, tunnels) have no such point
  // and run on until drain_timeout.
  virtual void close_if_idle() = 0;
  // A reload published a new snapshot. Requests read it on their own; a connection that holds
  // settings of its own for its lifetime (an HTTP/2 connection's limits and timeouts) may end
  // gracefully so that the client's next connection gets the new ones.
  virtual void on_reload() {}

 protected:
  ~Drainable() = default;
};

// A long-lived connection of a route to one side (a tcp route's connection, an upgrade tunnel)
// that a rollback or release may end.
class Closable {
 public:
  // Closes both sides now; its relay then ends on its own.
  virtual void close_now() = 0;

 protected:
  ~Closable() = default;
};

class ConnectionSet {
 public:
  // `io`: the worker's io_context, which closes are posted to (only referred to here, so the set
  // may be constructed before it and outlive it: the frames of connections destroyed with the
  // io_context deregister here).
  explicit ConnectionSet(boost::asio::io_context& io) : io_(io) {}
  ConnectionSet(const ConnectionSet&) = delete;
  ConnectionSet& operator=(const ConnectionSet&) = delete;

  // Before the worker starts: the gauge of its open downstream connections
  // (cutover_worker_connections_active{worker}); none by default.
  void set_gauge(prometheus::Gauge* gauge) { gauge_ = gauge; }

  // Worker thread: a downstream connection registers for its lifetime.
  void add(Drainable* c);
  void remove(Drainable* c);
  // Any thread: open downstream connections.
  std::size_t active() const { return active_.load(std::memory_order_acquire); }

  // Worker thread: from now on connections close after their current exchange; idle ones close now.
  void drain();
  // The first half of drain(): exchanges from now on end their connection (Connection: close),
  // idle connections stay open until drain().
  void stop_keep_alive() { draining_ = true; }
  // Exchanges end their connection (Connection: close) from now on.
  bool draining() const { return draining_; }
  // drain() itself has run: a connection that goes idle now closes at once (it was not idle when
  // drain() closed the idle ones). Before, after stop_keep_alive() alone, a connection whose
  // response still promised keep-alive waits for its next request (answered with
  // Connection: close) rather than closing under a client that may be sending it already.
  bool idle_closed() const { return idle_closed_; }
  // Worker thread: tells every connection a reload was published (Drainable::on_reload).
  void reloaded();

  // Worker thread: a connection of `route` to `side` that a close_side() may end, registered while open.
  void add_closable(const RouteRuntime* route, router::Side side, Closable* c);
  void remove_closable(const RouteRuntime* route, router::Side side, Closable* c);
  // Any thread: closes this worker's connections of `route` to `side` that are open now, after
  // `grace` (0: at once). Connections opened later are left alone. Counts nothing itself.
  void close_side(const RouteRuntime* route, router::Side side, std::chrono::milliseconds grace);

 private:
  struct Key {
    const RouteRuntime* route;
    router::Side side;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept {
      return std::hash<const void*>{}(k.route) ^ static_cast<std::size_t>(k.side);
    }
  };
  void close_registered_before(Key key, std::uint64_t cutoff);

  boost::asio::io_context& io_;
  prometheus::Gauge* gauge_ = nullptr;
  std::unordered_set<Drainable*> connections_;
  std::atomic<std::size_t> active_{0};
  bool draining_ = false;
  bool idle_closed_ = false;
  // Open closables by route and side, each with the sequence number it registered under.
  std::unordered_map<Key, std::unordered_map<Closable*, std::uint64_t>, KeyHash> closables_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace cutover::runtime
