// One downstream connection of a tcp listener: its side is chosen once, by the route's
// weight (sticky by client IP when configured), an upstream endpoint of that side's cluster is
// connected (retrying another endpoint on failure), an optional PROXY protocol header is sent,
// then bytes are relayed both ways (net/byte_relay.hpp) until both sides closed, an error, or the
// listener's idle_timeout.
//
// Choices, documented here because they are not HTTP's:
// - The weight of a tcp route is its write weight (`weight` in the config sets read and write
//   alike; the admin API keeps them equal for tcp routes): a connection may carry writes.
// - Window statistics (ramp gates, /v1/stats) record one entry per connection when its upstream
//   connect ended: a connect failure (every attempt failed) is an error (status 502,
//   connect_error), a connected upstream a success (status 200); the latency is the connect time.
//   Bytes and the connection's lifetime are not part of them.
// - Drain (SIGTERM): a byte stream has no boundary at which to close it safely, so open tcp
//   connections keep relaying until they end or drain_timeout stops the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/exchange/worker_context.hpp"
#include "proxy/router/split.hpp"

namespace cutover::l4 {

// The side of a new connection: with `sticky_client_ip`, the bucket of the client's address text
// (router::sticky_bucket, the same bucket as an HTTP route sticky on client_ip); otherwise the
// bucket of `random_bits`. Target when bucket < weight_bp (router::choose_side).
router::Side choose_connection_side(std::uint16_t weight_bp, bool sticky_client_ip, std::string_view client_ip,
                                    std::uint64_t random_bits);

// Serves `socket`, accepted on listener `listener_index` of the worker's snapshot (a tcp listener),
// until the relay ends. Never throws for network errors.
boost::asio::awaitable<void> serve_tcp(boost::asio::ip::tcp::socket socket, exchange::WorkerContext& worker,
                                       std::size_t listener_index);

}  // namespace cutover::l4
