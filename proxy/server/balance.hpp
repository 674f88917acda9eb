// Connection balance between workers (Envoy's listener `exact_balance`, HAProxy's per-thread
// accept queues): each worker accepts on its own SO_REUSEPORT socket, and the kernel spreads new
// connections over those by a hash of the addresses, not by load. With few long-lived keep-alive
// clients one worker can end up serving many more connections than another, and the busier one's
// queue sets the latency tail. A worker that accepts a connection while it serves more than the
// least loaded one hands the connection over.
#pragma once

#include <cstddef>
#include <span>

namespace cutover::server {

// Connections a worker may serve above the least loaded worker before it hands new ones over;
// 1 lets two workers differ by one without moving a connection back and forth.
inline constexpr std::size_t kBalanceSlack = 1;

// Which worker serves a connection that worker `self` has just accepted, given every worker's
// load (open connections, counting those handed to it and not yet taken up): `self` unless its
// load exceeds the smallest by more than `slack`, else the least loaded worker (the lowest index
// among equals). `loads` non-empty, `self` < loads.size(). A pure function.
inline std::size_t pick_worker(std::span<const std::size_t> loads, std::size_t self, std::size_t slack = kBalanceSlack) {
  std::size_t least = 0;
  for (std::size_t i = 1; i < loads.size(); ++i)
    if (loads[i] < loads[least]) least = i;
  return loads[self] > loads[least] + slack ? least : self;
}

}  // namespace cutover::server
