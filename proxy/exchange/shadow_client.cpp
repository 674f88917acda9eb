// The shadow side of a mirrored request: see shadow_client.hpp.
#include "proxy/exchange/shadow_client.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <chrono>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
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

// ---- HTTP/2 clusters -----------------------------------------------------------------------

// Gives the call's stream back however the exchange ends: a stream still open (a timeout, an
// error) is reset with CANCEL, so the upstream stops working on an answer nobody reads.
struct CallScope {
  upstream::H2Session& session;
  upstream::H2Call& call;
  ~CallScope() { session.release(call); }
};

nghttp2_nv nv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE};
}

// The header list of the copy (RFC 9113 §8.3.1): the pseudo-header fields first (the method, the
// cluster's scheme, Host as :authority, the target), then ex.request_fields(), a Content-Length
// for a body (`length` holds its digits) and "te: trailers", which a gRPC server requires of a
// call. The entries point into `ex` and `length`.
std::vector<nghttp2_nv> h2_request_fields(const MirrorExchange& ex, const runtime::Cluster& cluster,
                                          std::string& length) {
  const shadow::HeaderList& fields = ex.request_fields();
  std::vector<nghttp2_nv> out;
  out.reserve(fields.size() + 6);
  std::string_view authority;
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (fields[i].name == "host") authority = fields[i].value;
  out.push_back(nv(":method", ex.request_method_text()));
  out.push_back(nv(":scheme", cluster.tls ? "https" : "http"));
  out.push_back(nv(":authority", authority));
  out.push_back(nv(":path", ex.request_target()));
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (fields[i].name != "host") out.push_back(nv(fields[i].name, fields[i].value));
  if (ex.request_has_body()) {
    length = std::to_string(ex.request_body.kept().size());
    out.push_back(nv("content-length", length));
  }
  if (shadow::has_grpc_content_type(fields)) out.push_back(nv("te", "trailers"));
  return out;
}

// Waits for the call's next change until `deadline`; false when the deadline came first.
asio::awaitable<bool> changed_before(upstream::H2Call& call, std::chrono::steady_clock::time_point deadline) {
  const auto left = deadline - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) co_return false;
  co_return co_await call.signal.wait_for(left);
}

std::string reset_reason(const upstream::H2Call& call, std::string_view stage) {
  return fmt::format("{}: stream closed ({})", stage, nghttp2_http2_strerror(call.error));
}

// The exchange as one stream on a session of the pool (shared with the primary traffic of the
// worker; a new session when none to the endpoint takes another stream). The request body goes
// out at most kCallBuffer bytes queued at a time; the response body is taken into the capture as
// it arrives, which gives the stream's window back. All within policy().timeout from the start but
// the connect, which has the cluster's connect_timeout (as for HTTP/1.1).
asio::awaitable<std::string> run_h2(MirrorExchange& ex, MirrorExchange::Part part, upstream::ConnectionPool& pool,
                                    const runtime::Cluster& cluster, const runtime::Endpoint* endpoint) {
  const auto timeout = ex.policy().timeout;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const runtime::Endpoint& at = endpoint ? *endpoint : pool.next_endpoint(cluster);
  std::shared_ptr<upstream::H2Session> session = pool.h2_session(cluster, at);
  if (!session) {
    auto lease = co_await pool.connect(cluster, at);
    if (!lease.connection) {
      if (lease.tls_failed) co_return "connect to " + at.text + ": " + lease.reason;
      co_return describe(lease.ec, "connect to " + at.text, cluster.connect_timeout);
    }
    session = pool.start_h2_session(cluster, at, std::move(lease.connection));
    if (!session) co_return "connect to " + at.text + ": HTTP/2 session setup failed";
  }

  upstream::H2Call call(co_await asio::this_coro::executor);
  CallScope scope{*session, call};
  std::string length;
  const std::vector<nghttp2_nv> fields = h2_request_fields(ex, cluster, length);
  if (!session->open(call, fields, ex.request_has_body())) co_return std::string("send: HTTP/2 session refused the stream");

  // The body, a bounded piece queued at a time; a stream the upstream closed early may still have
  // answered, which the response part below tells.
  const std::string_view body = ex.request_body.kept();
  std::size_t queued = 0;
  while (ex.request_has_body() && !call.out_end && !call.closed) {
    if (call.out.size() - call.out_at < upstream::H2Session::kCallBuffer) {
      const std::size_t n = std::min(body.size() - queued, upstream::H2Session::kCallBuffer);
      call.out.append(body.substr(queued, n));
      queued += n;
      call.out_end = queued == body.size();
      session->resume(call);
      continue;
    }
    if (!co_await changed_before(call, deadline)) co_return describe(beast::error::timeout, "send", timeout);
  }

  CapturedResponse& response = ex.response(part);
  for (;;) {  // the final head (an interim one only replaces the head so far)
    if (call.head_done) break;
    if (call.closed) co_return reset_reason(call, "response");
    if (!co_await changed_before(call, deadline)) co_return describe(beast::error::timeout, "response", timeout);
  }
  shadow::capture_head(call.head, response);
  for (;;) {
    if (!call.in.empty()) {
      response.body.append({call.in.data(), call.in.size()});
      session->consume(call, call.in.size());
      call.in.clear();
    }
    if (call.in_end) break;
    if (call.closed) co_return reset_reason(call, "response body");
    if (!co_await changed_before(call, deadline)) co_return describe(beast::error::timeout, "response body", timeout);
  }
  if (call.has_trailers) shadow::capture_trailers(call.trailers, response);
  co_return std::string();
}

}  // namespace

asio::awaitable<void> send_shadow(std::shared_ptr<MirrorExchange> exchange, MirrorExchange::Part part,
                                  upstream::ConnectionPool& pool, const runtime::Cluster& cluster,
                                  const runtime::Endpoint* endpoint) {
  std::unique_ptr<upstream::Connection> up;
  std::string error;
  try {
    if (cluster.http2)
      error = co_await run_h2(*exchange, part, pool, cluster, endpoint);
    else
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
