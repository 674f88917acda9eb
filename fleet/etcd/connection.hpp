// The client's connection to one endpoint, plain or TLS, and the request head both the unary
// calls and the watch send. Internal to fleet/etcd.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "fleet/etcd/client.hpp"

namespace cutover::fleet::etcd::detail {

// The names client.cpp and watch.cpp share (with `using namespace detail`).
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
using asio::as_tuple;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

struct Connection {
  std::optional<boost::beast::tcp_stream> plain;
  std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls;

  // The TCP layer: its deadline bounds every operation of either kind.
  boost::beast::tcp_stream& lowest() { return tls ? boost::beast::get_lowest_layer(*tls) : *plain; }
  // f(stream) for whichever stream this is; f returns the same type for both.
  template <class F>
  auto visit(F&& f) {
    return tls ? f(*tls) : f(*plain);
  }
};

// POST `path` with a JSON `body` to `endpoint`, the token (when not empty) in Authorization.
inline boost::beast::http::request<boost::beast::http::string_body> post_request(const Endpoint& endpoint,
                                                                                 std::string_view path,
                                                                                 std::string body,
                                                                                 std::string_view token) {
  http::request<http::string_body> req{http::verb::post, path, 11};
  req.set(http::field::host, endpoint.host + ":" + endpoint.port);
  req.set(http::field::user_agent, "cutover-fleet");
  req.set(http::field::content_type, "application/json");
  if (!token.empty()) req.set(http::field::authorization, token);
  req.keep_alive(false);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

}  // namespace cutover::fleet::etcd::detail
