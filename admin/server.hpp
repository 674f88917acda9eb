// The admin listener: HTTP/1.1 with keep-alive on the control thread's io_context, each request
// answered by handle_admin_request.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "admin/control.hpp"

namespace cutover::admin {

// Serves connections accepted on `acceptor` (bound, listening, on `io`) until it is closed.
void start_admin_server(boost::asio::io_context& io, boost::asio::ip::tcp::acceptor& acceptor, Control& control);

}  // namespace cutover::admin
