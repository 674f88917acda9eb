// One bounded HTTP/1.1 exchange from the control thread, for what the ramps call out to: webhooks
// (POST a JSON body, go on on a 2xx) and Prometheus queries (GET, read the JSON answer). Plain
// http:// only; the whole exchange, name resolution included, is bounded by a timeout.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/verb.hpp>

namespace cutover::admin {

struct HttpCallResult {
  bool answered = false;  // a whole answer arrived in time (any status)
  unsigned status = 0;    // its status code
  std::string body;       // its body, at most HttpCall::max_answer bytes
  std::string error;      // when not answered: "invalid URL", "connect to H:P: ...", "timeout after N ms", ...
};

struct HttpCall {
  static constexpr std::size_t max_answer = 64 * 1024;  // bytes of an answer read; a longer one is an error
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string url;   // absolute http:// URL; its path and query are sent as they are
  std::string body;  // sent with Content-Type: application/json when not empty
  std::chrono::milliseconds timeout{5000};
};

// Starts the call on `io` and calls `done` there exactly once. The connection is not kept.
void http_call(boost::asio::io_context& io, HttpCall call, std::function<void(HttpCallResult)> done);

}  // namespace cutover::admin
