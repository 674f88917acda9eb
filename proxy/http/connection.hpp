// One downstream HTTP/1.1 connection (RFC 9112): reads requests in order (keep-alive and
// pipelining answered in order, idle and header timeouts, refusals of unreadable heads) and runs
// each through the protocol-independent exchange (proxy/exchange), acting as its Downstream.
#pragma once

#include <cstddef>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "proxy/exchange/worker_context.hpp"

namespace cutover::http {

// Serves `socket` until the client closes, a timeout, an error, a response that ends the
// connection, or the end of a tunnel. Never throws for network errors. `peer` is the client's
// address as accept() gave it; `listener_index` indexes the snapshot's listeners.
boost::asio::awaitable<void> serve_http1(boost::asio::ip::tcp::socket socket, boost::asio::ip::tcp::endpoint peer,
                                         exchange::WorkerContext& worker, std::size_t listener_index);

}  // namespace cutover::http
