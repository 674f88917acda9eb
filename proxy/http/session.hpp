// One downstream HTTP/1.1 connection: reads requests in order (keep-alive and pipelining answered
// in order), picks the route and the side, forwards each request to an upstream connection from
// the worker's pool and streams the response back.
#pragma once

#include <cstddef>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace cutover::server {
class Worker;
}

namespace cutover::http {

// Serves `socket` until the client closes, a timeout, an error, or a response that ends the
// connection. Never throws for network errors. `peer` is the client's address as accept() gave it;
// `listener_index` indexes Snapshot::listeners.
boost::asio::awaitable<void> serve_downstream(boost::asio::ip::tcp::socket socket, boost::asio::ip::tcp::endpoint peer,
                                              server::Worker& worker, std::size_t listener_index);

}  // namespace cutover::http
