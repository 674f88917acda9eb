// A data-plane worker: one thread, one io_context (concurrency hint 1), its own acceptors on the
// shared SO_REUSEPORT listener addresses, its own upstream pool and random source. Connections
// stay on the worker that accepted them, so per-connection state needs no synchronisation.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/runtime/snapshot.hpp"
#include "proxy/upstream/pool.hpp"

namespace cutover::server {

namespace asio = boost::asio;

// A snapshot pinned by this worker. Sessions hold it through a worker-local shared_ptr, so the
// reference count they touch per request is never shared with another core.
struct PinnedSnapshot {
  std::shared_ptr<const runtime::Snapshot> snapshot;
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

  void start();        // runs the io_context on a new thread
  void stop_accepting();  // thread-safe: closes this worker's acceptors
  void stop();         // thread-safe: stops the io_context; sessions end where they are
  void join();

 private:
  std::size_t id_;
  runtime::SnapshotSource& source_;
  asio::io_context io_{1};
  upstream::ConnectionPool pool_;
  std::mt19937_64 rng_;
  std::uint64_t pinned_version_ = ~std::uint64_t{0};
  std::shared_ptr<const PinnedSnapshot> pinned_;
  std::vector<std::shared_ptr<asio::ip::tcp::acceptor>> acceptors_;
  std::thread thread_;
};

}  // namespace cutover::server
