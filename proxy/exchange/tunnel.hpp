// An upgrade tunnel (RFC 9110 §7.8, a WebSocket after its 101): once the switch is answered, the
// client's connection and the upstream's carry bytes both ways on the byte relay of tcp routes
// (net/byte_relay.hpp: two bounded buffers, half-close, idle timeout). A tunnel is write traffic
// of its route and side: it is counted (cutover_tunnels_*, RouteRuntime::tunnels_open), and a
// rollback or release may close it (runtime::ConnectionSet::close_side).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "proxy/exchange/downstream.hpp"
#include "proxy/exchange/worker_context.hpp"
#include "proxy/net/byte_relay.hpp"
#include "proxy/net/stream.hpp"

namespace cutover::exchange {

struct TunnelResult {
  net::RelayEnd end = net::RelayEnd::error;
  net::RelayBytes bytes;  // every byte written each way, the buffered ones included
};

// Relays between `down` and `up` until the tunnel ends. Bytes already read past the heads go
// first: `down_buffered` (the client's, sent after its upgrade request) upstream and
// `up_buffered` (the upstream's, sent after its 101) to the client. Both streams are closed when
// it returns. Never throws for network errors.
boost::asio::awaitable<TunnelResult> run_tunnel(WorkerContext& worker, const TunnelSpec& spec, net::Stream& down,
                                                 boost::beast::flat_buffer& down_buffered, net::Stream& up,
                                                 boost::beast::flat_buffer& up_buffered);

}  // namespace cutover::exchange
