// The shadow side of a mirrored request: see shadow_client.hpp.
#include "proxy/shadow/shadow_client.hpp"

#include <array>
#include <optional>
#include <chrono>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <fmt/format.h>

#include "proxy/http/head_writer.hpp"
#include "proxy/upstream/pool.hpp"

namespace cutover::shadow {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using boost::system::error_code;

constexpr std::size_t kHeaderLimit = 64 * 1024;  // bytes of a shadow response header section
constexpr std::size_t kReadChunk = 16 * 1024;    // bytes per body read

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
  auto lease = co_await pool.acquire(cluster, /*fresh=*/false, endpoint);
  if (!lease.connection) {
    if (lease.tls_failed) co_return "connect to " + lease.endpoint->text + ": " + lease.reason;
    co_return describe(lease.ec, "connect to " + lease.endpoint->text, cluster.connect_timeout);
  }
  up = std::move(lease.connection);

  // A pooled connection the upstream closed shows only when the write or the read fails; the
  // shadow gives up then instead of retrying: it is a sample, not a user's request.
  auto head = ex.request_head();
  const std::string_view body = ex.request_body.kept();
  if (ex.request_has_body()) head.set(bhttp::field::content_length, std::to_string(body.size()));
  std::string head_text;
  http::append_head(head, head_text);
  std::array<asio::const_buffer, 2> out{asio::buffer(head_text), asio::buffer(body.data(), body.size())};
  up->stream.expires_at(deadline);
  auto [wec, wn] = co_await asio::async_write(up->stream, out, as_tuple(use_awaitable));
  if (wec) {
    up.reset();
    co_return describe(wec, "send", timeout);
  }

  CapturedResponse& response = ex.response(part);
  const bool head_request = head.method() == bhttp::verb::head;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> p;
  for (;;) {  // interim 1xx responses are read past
    p.emplace();
    p->header_limit(kHeaderLimit);
    p->body_limit(boost::none);
    if (head_request) p->skip(true);
    auto [ec, n] = co_await bhttp::async_read_header(up->stream, up->buffer, *p, as_tuple(use_awaitable));
    if (ec) {
      up.reset();
      co_return describe(ec, "response", timeout);
    }
    const unsigned status = p->get().result_int();
    if (status == 101) {
      up.reset();
      co_return std::string("response: 101 Switching Protocols is not mirrored");
    }
    if (status >= 200) break;
  }
  auto& parser = *p;
  capture_head(parser.get().base(), response);

  std::unique_ptr<char[]> buffer(new char[kReadChunk]);  // not zero-filled: read into
  auto& b = parser.get().body();
  while (!parser.is_done()) {
    b.data = buffer.get();
    b.size = kReadChunk;
    auto [ec, n] = co_await bhttp::async_read_some(up->stream, up->buffer, parser, as_tuple(use_awaitable));
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      up.reset();
      co_return describe(ec, "response body", timeout);
    }
    const std::size_t got = kReadChunk - b.size;
    if (got > 0) response.body.append({buffer.get(), got});
  }
  up->stream.expires_never();
  const bool reusable = parser.get().keep_alive() && (parser.chunked() || parser.content_length()) &&
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

}  // namespace cutover::shadow
