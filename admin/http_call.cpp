// A bounded HTTP/1.1 exchange for the ramps' webhooks and queries: see http_call.hpp.
#include "admin/http_call.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

namespace cutover::admin {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::as_tuple;
using asio::use_awaitable;

HttpCallResult failed(std::string error) {
  HttpCallResult r;
  r.error = std::move(error);
  return r;
}

std::string describe(const boost::system::error_code& ec, std::chrono::milliseconds timeout) {
  return ec == beast::error::timeout ? fmt::format("timeout after {} ms", timeout.count()) : ec.message();
}

asio::awaitable<HttpCallResult> exchange(HttpCall call) {
  const auto deadline = std::chrono::steady_clock::now() + call.timeout;
  auto u = boost::urls::parse_absolute_uri(call.url);
  if (!u || u->scheme() != "http") co_return failed("invalid URL (an absolute http:// URL is expected)");
  const std::string host(u->host());
  const std::string port = u->has_port() ? std::string(u->port()) : std::string("80");
  std::string target(u->encoded_target());
  if (target.empty()) target = "/";

  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  asio::steady_timer guard(ex, deadline);  // bounds the resolve, which has no timeout of its own
  guard.async_wait([&resolver](const boost::system::error_code& ec) {
    if (!ec) resolver.cancel();
  });
  auto [rec, results] = co_await resolver.async_resolve(host, port, as_tuple(use_awaitable));
  guard.cancel();
  if (rec) co_return failed(fmt::format("cannot resolve {}: {}", host, rec.message()));

  beast::tcp_stream stream(ex);
  stream.expires_at(deadline);
  auto [cec, ep] = co_await stream.async_connect(results, as_tuple(use_awaitable));
  if (cec) co_return failed(fmt::format("connect to {}:{}: {}", host, port, describe(cec, call.timeout)));
  bhttp::request<bhttp::string_body> req{call.method, target, 11};
  req.set(bhttp::field::host, u->encoded_host_and_port());
  req.set(bhttp::field::user_agent, "cutover-ramp");
  if (!call.body.empty()) req.set(bhttp::field::content_type, "application/json");
  req.keep_alive(false);
  req.body() = std::move(call.body);
  req.prepare_payload();
  auto [wec, wn] = co_await bhttp::async_write(stream, req, as_tuple(use_awaitable));
  if (wec) co_return failed("send: " + describe(wec, call.timeout));
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(HttpCall::max_answer);
  auto [rdec, rn] = co_await bhttp::async_read(stream, buffer, parser, as_tuple(use_awaitable));
  if (rdec) co_return failed("answer: " + describe(rdec, call.timeout));
  HttpCallResult r;
  r.answered = true;
  r.status = parser.get().result_int();
  r.body = std::move(parser.get().body());
  co_return r;
}

}  // namespace

void http_call(asio::io_context& io, HttpCall call, std::function<void(HttpCallResult)> done) {
  asio::co_spawn(io, exchange(std::move(call)), [done = std::move(done)](std::exception_ptr e, HttpCallResult r) {
    if (e) r = failed("internal error");
    done(std::move(r));
  });
}

}  // namespace cutover::admin
