// Binding a listener address once per worker with SO_REUSEPORT, so the kernel spreads new
// connections across workers without a shared accept queue; and the gate every worker's acceptor
// of one listener passes a connection through (max_connections, accept error counts).
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <prometheus/counter.h>

#include "proxy/runtime/connection_slot.hpp"

namespace cutover::server {

// One listening acceptor per io_context on `address`. Port 0 binds a free port on the first and
// the same port on the rest. Errors (address in use, permission) come back in `ec`, with the
// acceptors opened so far closed.
std::vector<boost::asio::ip::tcp::acceptor> bind_reuseport(
    const std::vector<boost::asio::io_context*>& contexts, boost::asio::ip::tcp::endpoint address,
    boost::system::error_code& ec);

// Counters of failed accept(2) calls of one listener (cutover_accept_errors_total{listener,reason});
// null: not counted.
struct AcceptErrorCounters {
  prometheus::Counter* emfile = nullptr;  // the process is out of descriptors
  prometheus::Counter* enfile = nullptr;  // the system is out of descriptors
  prometheus::Counter* other = nullptr;   // ENOBUFS, ENOMEM and anything unexpected
};

// What the acceptors of one listener share across workers: the count of its open connections
// against `max_connections`, and its accept error counters. The count is one atomic for the
// listener, not a share per worker: connections move between workers (balance.hpp), and a split
// limit would refuse on one worker while another has room. Thread-safe.
class ListenerGate final : public runtime::SlotGate {
 public:
  ListenerGate(std::string name, std::size_t max_connections, AcceptErrorCounters errors)
      : name_(std::move(name)), limit_(max_connections), errors_(errors) {}

  const std::string& name() const { return name_; }
  // Takes a connection slot: false when `max_connections` are open (0: never false).
  bool try_acquire() {
    const std::size_t limit = limit_.load(std::memory_order_relaxed);
    const std::size_t before = open_.fetch_add(1, std::memory_order_acq_rel);
    if (limit == 0 || before < limit) return true;
    open_.fetch_sub(1, std::memory_order_acq_rel);
    return false;
  }
  void release() override { open_.fetch_sub(1, std::memory_order_acq_rel); }
  // Open connections (slots taken), for tests and logs.
  std::size_t open() const { return open_.load(std::memory_order_acquire); }
  // A reload changed max_connections: connections open over the new limit stay, new ones wait.
  void set_limit(std::size_t max_connections) { limit_.store(max_connections, std::memory_order_relaxed); }
  // Counts a failed accept(2) by its errno.
  void count_error(int errno_value);

 private:
  std::string name_;
  std::atomic<std::size_t> limit_;
  std::atomic<std::size_t> open_{0};
  AcceptErrorCounters errors_;
};

// A slot taken from a ListenerGate, released when the connection ends (runtime/connection_slot.hpp).
using ConnectionSlot = runtime::ConnectionSlot;

}  // namespace cutover::server
