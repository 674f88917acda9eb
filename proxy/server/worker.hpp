// A data-plane worker: one thread, one io_context (unlocked socket I/O, see io_), its own acceptors
// on the shared SO_REUSEPORT listener addresses, its own upstream pool, buffers and random source.
// A connection is served by one worker from its first byte to its close (the one that accepted it,
// or the less loaded peer it handed it to before reading anything, balance.hpp), so
// per-connection state needs no synchronisation. Connections see only the parts in
// exchange::WorkerContext, never the worker.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <prometheus/gauge.h>

#include "proxy/exchange/worker_context.hpp"
#include "proxy/runtime/buffer_lender.hpp"
#include "proxy/runtime/connection_set.hpp"
#include "proxy/runtime/held_writes.hpp"
#include "proxy/runtime/idle_sweep.hpp"
#include "proxy/runtime/pinned_snapshot.hpp"
#include "proxy/server/listener.hpp"
#include "proxy/upstream/pool.hpp"

namespace cutover::server {

namespace asio = boost::asio;

class Worker {
 public:
  Worker(std::size_t id, runtime::SnapshotSource& source);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  std::size_t id() const { return id_; }
  asio::io_context& io() { return io_; }

  // Starts accepting on `acceptor` (already bound and listening, on this worker's io_context);
  // connections are served as listener `listener_index` of the snapshot. Each takes a slot of
  // `gate` (shared by the workers' acceptors of the listener; null: no limit, errors not counted)
  // for its lifetime; with none free, this acceptor stops accepting until one is. Accept errors
  // are counted there and back off from 10 ms doubling to 1 s.
  void add_acceptor(asio::ip::tcp::acceptor acceptor, std::size_t listener_index,
                    std::shared_ptr<ListenerGate> gate = nullptr);
  // Any thread, while running (a reload added a listener): as add_acceptor() for the listening
  // socket `fd` (bound, listening, owned by no io_context; this worker owns it from now on, and
  // closes it when it has stopped or is draining).
  void adopt_acceptor(int fd, asio::ip::tcp protocol, std::size_t listener_index, std::shared_ptr<ListenerGate> gate);
  // Any thread (a reload removed listener `listener_index`, or moved it to another address): its
  // acceptors on this worker close; the connections stay (they see the removal in the snapshot).
  void close_acceptors(std::size_t listener_index);

  // Before start(): the workers that share the listeners, this one included (in id order). A
  // connection accepted here while this worker serves more than the least loaded of them (by more
  // than kBalanceSlack, balance.hpp) is handed to that one. None set: no hand-over.
  void set_peers(std::vector<Worker*> peers) {
    peers_ = std::move(peers);
    peer_loads_.assign(peers_.size(), 0);
  }
  // Before start(): the gauge of this worker's open downstream connections
  // (cutover_worker_connections_active{worker}); none by default.
  void set_connections_gauge(prometheus::Gauge* gauge) { connections_.set_gauge(gauge); }
  // Any thread: open downstream connections plus those handed over and not yet taken up.
  std::size_t load() const { return connections_.active() + incoming_.load(std::memory_order_relaxed); }
  // Any thread: open downstream connections on this worker.
  std::size_t active_connections() const { return connections_.active(); }
  // Worker thread only: serves `socket`, accepted on listener `listener_index` from `peer`, here or
  // on a less loaded peer; `slot` is given back when the connection ends.
  void dispatch(asio::ip::tcp::socket socket, const asio::ip::tcp::endpoint& peer, std::size_t listener_index,
                ConnectionSlot slot = {});

  // Any thread: closes this worker's long-lived connections (tcp route connections, upgrade
  // tunnels) of `route` to `side` that are open now, after `grace` (0: at once).
  void close_connections(const runtime::RouteRuntime* route, router::Side side, std::chrono::milliseconds grace) {
    connections_.close_side(route, side, grace);
  }

  // Runs the io_context on a new thread; with `cpu` >= 0 the thread is bound to that CPU first
  // (cpu_affinity.hpp; a refusal is logged and the thread runs unbound).
  void start(int cpu = -1);
  // Thread-safe: stop accepting, close idle connections, let exchanges finish (each answered
  // with Connection: close, or GOAWAY on HTTP/2). With `idle_grace` (a binary upgrade hands
  // over), connections idle now are closed only once it has passed: a client that sends its next
  // request meanwhile gets it answered (with Connection: close) instead of racing the close of
  // its connection, and one accepted just before the acceptors closed gets its first request read.
  void drain(std::chrono::milliseconds idle_grace = std::chrono::milliseconds(0));
  // Any thread: the drain() posted has run: the acceptors are closed, and every connection
  // accepted before is counted in load() (a drain is over when, after this, load() is 0).
  bool drain_ran() const { return drain_ran_.load(std::memory_order_acquire); }
  void reloaded();  // thread-safe: a reload published a new snapshot (ConnectionSet::reloaded)
  void stop();    // thread-safe: stops the io_context; connections end where they are
  void join();

 private:
  void serve(asio::ip::tcp::socket socket, const asio::ip::tcp::endpoint& peer, std::size_t listener_index,
             ConnectionSlot slot);

  std::size_t id_;
  // Declared before io_ so they outlive it: destroying io_ destroys the frames of connections still
  // suspended in it, and their destructors deregister here (and give their buffers back).
  runtime::SnapshotCache snapshots_;
  runtime::BufferLender buffers_;
  runtime::ConnectionSet connections_;
  runtime::HeldWrites held_writes_;
  std::atomic<std::size_t> incoming_{0};  // handed over by a peer or starting, not yet in connections_
  std::atomic<bool> drain_ran_{false};
  std::vector<Worker*> peers_;
  std::vector<std::size_t> peer_loads_;  // dispatch()'s scratch, one per peer
  // Run by this worker's thread alone. Other threads only post() to it (drain, release of held
  // writes, a rollback's close of connections) and stop() it, which keep their locking; the
  // sockets and timers are touched by this thread only, so the reactor's per-socket mutexes are off.
  asio::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  upstream::ConnectionPool pool_;
  std::mt19937_64 rng_;
  runtime::IdleSweep idle_sweep_;  // HTTP/1 connections idle for a while park (http/connection.cpp)
  exchange::WorkerContext context_;
  struct Acceptor {
    std::size_t listener_index;
    std::shared_ptr<asio::ip::tcp::acceptor> acceptor;
  };
  std::vector<Acceptor> acceptors_;  // worker thread only, once started
  asio::steady_timer idle_close_timer_{io_};  // drain()'s idle_grace
  std::thread thread_;
};

}  // namespace cutover::server
