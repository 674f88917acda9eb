// A data-plane worker: one thread, one io_context (unlocked socket I/O, see io_), its own acceptors on the
// shared SO_REUSEPORT listener addresses, its own upstream pool and random source. A connection is
// served by one worker from its first byte to its close (the one that accepted it, or the less
// loaded peer it handed it to before reading anything, balance.hpp), so per-connection state
// needs no synchronisation.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <prometheus/gauge.h>

#include "proxy/runtime/snapshot.hpp"
#include "proxy/upstream/pool.hpp"

namespace cutover::server {

namespace asio = boost::asio;

// A snapshot pinned by this worker. Sessions hold it through a worker-local shared_ptr, so the
// reference count they touch per request is never shared with another core.
struct PinnedSnapshot {
  std::shared_ptr<const runtime::Snapshot> snapshot;
};

// What a worker needs of a downstream connection to drain it (SIGTERM).
class Drainable {
 public:
  // Closes the connection when it is between requests; a connection inside an exchange finishes
  // it first (and answers with Connection: close).
  virtual void close_if_idle() = 0;

 protected:
  ~Drainable() = default;
};

// An open L4 connection to a target upstream (issue 7): a rollback with close_target_connections
// closes it. Registered with the worker of its connection for as long as it is open.
class TargetConnection {
 public:
  // Closes both sides now; the relay then ends on its own.
  virtual void close_target() = 0;

 protected:
  ~TargetConnection() = default;
};

// A write request waiting in a hold on this worker (issue 4): released by cancelling its timer
// after setting `released`.
struct HeldWrite {
  asio::steady_timer* timer = nullptr;
  bool released = false;
  std::shared_ptr<runtime::RouteRuntime::ReleaseChain> chain;  // set on release: pass it on
};

class Worker {
 public:
  Worker(std::size_t id, runtime::SnapshotSource& source);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  std::size_t id() const { return id_; }
  asio::io_context& io() { return io_; }
  upstream::ConnectionPool& pool() { return pool_; }
  std::uint64_t random() { return rng_(); }

  // The current snapshot (refreshed when the source's version moved; one atomic load otherwise).
  std::shared_ptr<const PinnedSnapshot> current();

  // Starts accepting on `acceptor` (already bound and listening, on this worker's io_context);
  // connections are served as listener `listener_index` of the snapshot.
  void add_acceptor(asio::ip::tcp::acceptor acceptor, std::size_t listener_index);

  // Before start(): the workers that share the listeners, this one included (in id order). A
  // connection accepted here while this worker serves more than the least loaded of them (by more
  // than kBalanceSlack, balance.hpp) is handed to that one. None set: no hand-over.
  void set_peers(std::vector<Worker*> peers) {
    peers_ = std::move(peers);
    peer_loads_.assign(peers_.size(), 0);
  }
  // Before start(): the gauge of this worker's open downstream connections
  // (cutover_worker_connections_active{worker}); none by default.
  void set_connections_gauge(prometheus::Gauge* gauge) { connections_gauge_ = gauge; }
  // Any thread: open downstream connections plus those handed over and not yet taken up.
  std::size_t load() const {
    return active_.load(std::memory_order_relaxed) + incoming_.load(std::memory_order_relaxed);
  }
  // Worker thread only: serves `socket`, accepted on listener `listener_index` from `peer`, here or
  // on a less loaded peer.
  void dispatch(asio::ip::tcp::socket socket, const asio::ip::tcp::endpoint& peer, std::size_t listener_index);

  // Worker thread only: relay buffers of kScratchBytes, lent for one exchange and given back, so
  // idle connections hold none and the steady state allocates none (at most kSpareScratch kept).
  static constexpr std::size_t kScratchBytes = 64 * 1024;
  static constexpr std::size_t kSpareScratch = 64;
  std::unique_ptr<char[]> take_scratch();
  void give_back_scratch(std::unique_ptr<char[]> buffer);
  // Worker thread only: the strings message heads are serialized into, lent the same way (a given
  // back string is cleared; one over kHeadBufferKeep bytes of capacity is dropped instead).
  static constexpr std::size_t kHeadBufferKeep = 4096;
  std::string take_head_buffer();
  void give_back_head_buffer(std::string buffer);

  // Worker thread only: the held writes waiting on this worker, by id (RouteRuntime::HeldEntry).
  void add_held_write(std::uint64_t id, HeldWrite* write) { held_writes_[id] = write; }
  void remove_held_write(std::uint64_t id) { held_writes_.erase(id); }
  // Any thread: releases held write `id` with the release's baton; when the write no longer
  // waits on this worker, passes the baton on instead.
  void release_held_write(std::uint64_t id, std::shared_ptr<runtime::RouteRuntime::ReleaseChain> chain);

  // Worker thread only: L4 target connections of route `route` register while open (issue 7).
  void add_target_connection(const runtime::RouteRuntime* route, TargetConnection* c);
  void remove_target_connection(const runtime::RouteRuntime* route, TargetConnection* c);
  // Any thread: closes this worker's target connections of `route` that are open now, after
  // `grace` (0: at once). Connections opened later are left alone. Counts nothing itself.
  void close_target_connections(const runtime::RouteRuntime* route, std::chrono::milliseconds grace);

  // Worker thread only: sessions register for their lifetime so a drain can reach them.
  void add_session(Drainable* session);
  void remove_session(Drainable* session);
  // Worker thread only: true once drain() ran; sessions then close after the current exchange.
  bool draining() const { return draining_; }
  // Any thread: open downstream connections on this worker.
  std::size_t active_sessions() const { return active_.load(std::memory_order_acquire); }

  void start();   // runs the io_context on a new thread
  void drain();   // thread-safe: stop accepting, close idle connections, let exchanges finish
  void stop();    // thread-safe: stops the io_context; sessions end where they are
  void join();

 private:
  std::size_t id_;
  runtime::SnapshotSource& source_;
  // Declared before io_ so they outlive it: destroying io_ destroys the frames of sessions still
  // suspended in it, and their destructors deregister here.
  std::unordered_set<Drainable*> sessions_;
  std::atomic<std::size_t> active_{0};
  std::atomic<std::size_t> incoming_{0};  // handed over by a peer, not yet taken up by this thread
  std::vector<Worker*> peers_;
  std::vector<std::size_t> peer_loads_;  // dispatch()'s scratch, one per peer
  prometheus::Gauge* connections_gauge_ = nullptr;
  bool draining_ = false;
  std::unordered_map<std::uint64_t, HeldWrite*> held_writes_;
  std::vector<std::unique_ptr<char[]>> spare_scratch_;  // sessions give theirs back when destroyed
  std::vector<std::string> spare_head_buffers_;
  // Open L4 target connections by route, each with the sequence number it registered under.
  std::unordered_map<const runtime::RouteRuntime*, std::unordered_map<TargetConnection*, std::uint64_t>> targets_;
  std::uint64_t next_target_seq_ = 0;
  // Run by this worker's thread alone. Other threads only post() to it (drain, release of held
  // writes, rollback's close of target connections) and stop() it, which keep their locking; the
  // sockets and timers are touched by this thread only, so the reactor's per-socket mutexes are off.
  asio::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  upstream::ConnectionPool pool_;
  std::mt19937_64 rng_;
  std::uint64_t pinned_version_ = ~std::uint64_t{0};
  std::shared_ptr<const PinnedSnapshot> pinned_;
  std::vector<std::shared_ptr<asio::ip::tcp::acceptor>> acceptors_;
  std::list<asio::steady_timer> close_timers_;  // pending graces; after io_, so destroyed first
  std::thread thread_;
};

}  // namespace cutover::server
