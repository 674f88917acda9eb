// Binding a listener address once per worker with SO_REUSEPORT, so the kernel spreads new
// connections across workers without a shared accept queue.
#pragma once

#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace cutover::server {

// One listening acceptor per io_context on `address`. Port 0 binds a free port on the first and
// the same port on the rest. Errors (address in use, permission) come back in `ec`, with the
// acceptors opened so far closed.
std::vector<boost::asio::ip::tcp::acceptor> bind_reuseport(
    const std::vector<boost::asio::io_context*>& contexts, boost::asio::ip::tcp::endpoint address,
    boost::system::error_code& ec);

}  // namespace cutover::server
