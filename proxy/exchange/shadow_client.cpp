// The shadow side of a mirrored request: see shadow_client.hpp.
#include "proxy/exchange/shadow_client.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <chrono>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/read.hpp>
#include <fmt/format.h>

#include "common/methods.hpp"
#include "proxy/exchange/retry.hpp"
#include "proxy/shadow/shadow_response_parser.hpp"
#include "proxy/upstream/pool.hpp"

namespace cutover::exchange {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using boost::system::error_code;
using shadow::CapturedResponse;
using shadow::MirrorExchange;
using shadow::ShadowResponseParser;

constexpr std::size_t kHeaderLimit = 64 * 1024;  // bytes of a shadow response header section

std::string describe(const error_code& ec, std::string_view stage, std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout) return fmt::format("{}: mirror timeout after {} ms", stage, timeout.count());
  return fmt::format("{}: {}", stage, ec.message());
}

// The exchange itself; returns the error text, empty on success. `up` is left null when the
// connection must not be reused.
asio::awaitable<std::string> run(MirrorExchange& ex, MirrorExchange::Part part, upstream::ConnectionPool& pool,
                                 const runtime::Cluster& cluster, const runtime::Endpoint* endpoint,
                                 std::unique_ptr<upstream::Connection>& up) {
  const auto timeout = ex.policy().timeout;
  const auto deadline = std::chrono::steady_clock::now() + timeout;

  // The request head as the target sees it, serialized once by the exchange: written as it is
  // (one buffer, one send) or, with a body, with Content-Length put before its empty line.
  const std::string_view head = ex.request_head_text();
  const std::string_view body = ex.request_body.kept();
  std::string length_line;
  if (ex.request_has_body()) length_line = fmt::format("Content-Length: {}\r\n\r\n", body.size());
  const std::array<asio::const_buffer, 3> with_body{asio::buffer(head.data(), head.size() - 2), asio::buffer(length_line),
                                                    asio::buffer(body.data(), body.size())};
  const auto m = ex.request_method();
  const bool head_request = m == bhttp::verb::head;
  // As for primary requests (retry.hpp): a request that may be sent twice goes again on a new
  // connection when a pooled one turns out closed, so the pool need not look at it first.
  const bool resendable = !ex.request_has_body() && common::is_idempotent(m);

  CapturedResponse& response = ex.response(part);
  std::optional<ShadowResponseParser> p;
  for (int attempt = 0;; ++attempt) {
    auto lease = co_await pool.acquire(cluster, /*fresh=*/attempt > 0, endpoint,
                                       resendable ? upstream::ReuseCheck::retry_instead : upstream::ReuseCheck::peek);
    if (!lease.connection) {
      if (lease.tls_failed) co_return "connect to " + lease.endpoint->text + ": " + lease.reason;
      co_return describe(lease.ec, "connect to " + lease.endpoint->text, cluster.connect_timeout);
    }
    up = std::move(lease.connection);
    // Only the stale-connection rule applies: the mirror goes to one endpoint, never to the next.
    auto resend_after = [&](Outcome o) {
      return resend({o, attempt, up->reused, resendable, 1}) == Resend::new_connection;
    };

    up->stream.expires_at(deadline);
    error_code wec;
    if (ex.request_has_body()) {
      auto [ec, wn] = co_await asio::async_write(up->stream, with_body, as_tuple(use_awaitable));
      wec = ec;
    } else {
      auto [ec, wn] = co_await asio::async_write(up->stream, asio::buffer(head.data(), head.size()), as_tuple(use_awaitable));
      wec = ec;
    }
    if (wec) {
      const bool again = resend_after(Outcome::upstream_send_failed);
      up.reset();
      if (again) continue;
      co_return describe(wec, "send", timeout);
    }

    error_code rec;
    for (;;) {  // interim 1xx responses are read past
      p.emplace(response);
      p->header_limit(kHeaderLimit);
      p->body_limit(boost::none);
      if (head_request) p->skip(true);
      auto [ec, n] = co_await bhttp::async_read_header(up->stream, up->buffer, *p, as_tuple(use_awaitable));
      if (ec) {
        rec = ec;
        break;
      }
      if (response.status == 101) {
        up.reset();
        co_return std::string("response: 101 Switching Protocols is not mirrored");
      }
      if (response.status >= 200) break;
    }
    if (!rec) break;
    const bool closed_before_any_byte = up->buffer.size() == 0 &&
                                        (rec == bhttp::error::end_of_stream || rec == asio::error::connection_reset);
    const bool again = closed_before_any_byte && resend_after(Outcome::upstream_closed);
    up.reset();
    if (again) continue;
    co_return describe(rec, "response", timeout);
  }

  // The body goes into response.body as the parser meets it (ShadowResponseParser).
  auto& parser = *p;
  while (!parser.is_done()) {
    auto [ec, n] = co_await bhttp::async_read_some(up->stream, up->buffer, parser, as_tuple(use_awaitable));
    if (ec) {
      up.reset();
      co_return describe(ec, "response body", timeout);
    }
  }
  up->stream.expires_never();
  const bool reusable = parser.keep_alive() && (parser.chunked() || parser.content_length()) &&
                        up->buffer.size() == 0;
  if (reusable)
    pool.release(std::move(up));
  else
    up.reset();
  co_return std::string();
}

}  // namespace

asio::awaitable<void> send_shadow(std::shared_ptr<MirrorExchange> exchange, MirrorExchange::Part part,
                                  upstream::ConnectionPool& pool, const runtime::Cluster& cluster,
                                  const runtime::Endpoint* endpoint) {
  std::unique_ptr<upstream::Connection> up;
  std::string error;
  try {
    error = co_await run(*exchange, part, pool, cluster, endpoint, up);
  } catch (const std::exception& e) {
    error = std::string("internal error: ") + e.what();
  }
  if (up) {
    error_code ignored;
    up->stream.socket().close(ignored);
  }
  exchange->done(part, error);
}

}  // namespace cutover::exchange
