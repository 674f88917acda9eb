// What a downstream connection and its exchanges may use of the worker that serves them, passed
// as references to the worker's parts rather than the worker itself: the connection code sees
// exactly these, and the worker (proxy/server) can include the sessions without a cycle. Every
// part is the worker thread's own (none is locked); the cross-thread entry points are documented
// on the parts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>

#include <boost/asio/any_io_executor.hpp>

#include "proxy/runtime/buffer_lender.hpp"
#include "proxy/runtime/connection_set.hpp"
#include "proxy/runtime/held_writes.hpp"
#include "proxy/runtime/pinned_snapshot.hpp"
#include "proxy/upstream/pool.hpp"

namespace cutover::exchange {

struct WorkerContext {
  std::size_t id;                        // the worker's index: its window statistics slot
  boost::asio::any_io_executor executor;  // the worker's io_context (detached shadow exchanges run here)
  runtime::SnapshotCache& snapshots;
  runtime::BufferLender& buffers;
  runtime::ConnectionSet& connections;
  runtime::HeldWrites& held_writes;
  upstream::ConnectionPool& pool;
  std::mt19937_64& rng;

  std::uint64_t random() { return rng(); }
};

}  // namespace cutover::exchange
