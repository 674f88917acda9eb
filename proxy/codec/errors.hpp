// What the error of a read or write on an HTTP connection says about the peer, in one place for
// the downstream connection and the exchange.
#pragma once

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include "proxy/net/stream.hpp"

namespace cutover::codec {

// The peer closed, reset or went away (or the operation was cancelled because it did): nobody is
// left to answer.
inline bool peer_gone(const boost::system::error_code& ec) {
  namespace asio = boost::asio;
  return ec == boost::beast::http::error::end_of_stream || net::closed_by_peer(ec) ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe || ec == asio::error::operation_aborted;
}

// The operation outlived the stream's deadline (net::TimedSocket).
inline bool is_timeout(const boost::system::error_code& ec) { return ec == boost::beast::error::timeout; }

}  // namespace cutover::codec
