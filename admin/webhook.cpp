// The ramp webhook client: see webhook.hpp.
#include "admin/webhook.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
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

constexpr std::size_t kMaxAnswer = 64 * 1024;  // bytes of a webhook answer read

asio::awaitable<WebhookResult> exchange(std::string url, std::string body, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) co_return WebhookResult{false, "invalid URL"};
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
  if (rec) co_return WebhookResult{false, fmt::format("cannot resolve {}: {}", host, rec.message())};

  beast::tcp_stream stream(ex);
  stream.expires_at(deadline);
  auto [cec, ep] = co_await stream.async_connect(results, as_tuple(use_awaitable));
  if (cec) {
    std::string what = cec == beast::error::timeout ? fmt::format("timeout after {} ms", timeout.count()) : cec.message();
    co_return WebhookResult{false, fmt::format("connect to {}:{}: {}", host, port, what)};
  }
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, target, 11};
  req.set(bhttp::field::host, u->encoded_host_and_port());
  req.set(bhttp::field::user_agent, "cutover-ramp");
  req.set(bhttp::field::content_type, "application/json");
  req.keep_alive(false);
  req.body() = std::move(body);
  req.prepare_payload();
  auto [wec, wn] = co_await bhttp::async_write(stream, req, as_tuple(use_awaitable));
  if (wec) co_return WebhookResult{false, "send: " + wec.message()};
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxAnswer);
  auto [rdec, rn] = co_await bhttp::async_read(stream, buffer, parser, as_tuple(use_awaitable));
  if (rdec) {
    std::string what = rdec == beast::error::timeout ? fmt::format("timeout after {} ms", timeout.count()) : rdec.message();
    co_return WebhookResult{false, "answer: " + what};
  }
  const auto& res = parser.get();
  const unsigned status = res.result_int();
  if (status >= 200 && status < 300) co_return WebhookResult{true, fmt::format("HTTP {}", status)};
  co_return WebhookResult{false, fmt::format("HTTP {}: {}", status, res.body().substr(0, 200))};
}

}  // namespace

void call_webhook(asio::io_context& io, const std::string& url, const std::string& json_body,
                  std::chrono::milliseconds timeout, std::function<void(WebhookResult)> done) {
  asio::co_spawn(io, exchange(url, json_body, timeout),
                 [done = std::move(done)](std::exception_ptr e, WebhookResult r) {
                   if (e) r = WebhookResult{false, "internal error"};
                   done(std::move(r));
                 });
}

}  // namespace cutover::admin
