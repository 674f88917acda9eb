// Active health checks: see health_checker.hpp.
#include "admin/health_checker.hpp"

#include <nghttp2/nghttp2.h>

#include <array>
#include <cstdint>
#include <iterator>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "proxy/net/stream.hpp"
#include "proxy/net/tls_context.hpp"
#include "proxy/runtime/endpoint_health.hpp"

namespace cutover::admin {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::as_tuple;
using asio::use_awaitable;

struct Probe {
  bool ok = false;
  std::string detail;  // "HTTP 200", "connect: Connection refused", "timeout after 1000 ms"
};

// Host header value: the endpoint as configured ("app.internal:8080", "[::1]:80").
std::string host_of(const runtime::Endpoint& e) { return e.text; }

constexpr std::string_view kUserAgent = "cutover-health-check";

std::string what_failed(const boost::system::error_code& ec, const config::HealthCheckConfig& h) {
  return ec == beast::error::timeout ? fmt::format("timeout after {} ms", h.timeout.count()) : ec.message();
}

bool passes(unsigned status) { return status >= 200 && status < 400; }

// HTTP/1.1: the request with `Connection: close`, the response head read.
asio::awaitable<Probe> probe_http1(net::Stream& stream, const runtime::Endpoint& endpoint,
                                   const config::HealthCheckConfig& h) {
  const std::string request = fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nConnection: close\r\n\r\n", h.path, host_of(endpoint),
      kUserAgent);
  auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(request), as_tuple(use_awaitable));
  if (wec) co_return Probe{false, "send: " + what_failed(wec, h)};
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.header_limit(16 * 1024);
  auto [rec, rn] = co_await bhttp::async_read_header(stream, buffer, parser, as_tuple(use_awaitable));
  if (rec) co_return Probe{false, "response: " + what_failed(rec, h)};
  const unsigned status = parser.get().result_int();
  co_return Probe{passes(status), fmt::format("HTTP {}", status)};
}

// HTTP/2 (RFC 9113), the protocol of an http2 cluster: one stream on a connection of its own, done
// when the final response head arrived. The data plane's sessions (proxy/upstream) are out of
// admin/'s reach and multiplex what a probe never needs; nghttp2 frames this one request.
struct H2Probe {
  nghttp2_session* session = nullptr;
  std::int32_t stream_id = -1;
  unsigned status = 0;   // of the final head, once head_done
  bool head_done = false;
  bool closed = false;   // the stream ended before its head (reset, or the connection's GOAWAY)
  std::uint32_t error = 0;

  H2Probe() = default;
  H2Probe(const H2Probe&) = delete;
  H2Probe& operator=(const H2Probe&) = delete;
  ~H2Probe() {
    if (session) nghttp2_session_del(session);
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    auto& self = *static_cast<H2Probe*>(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != self.stream_id || self.head_done) return 0;
    if (std::string_view(reinterpret_cast<const char*>(name), namelen) != ":status") return 0;
    unsigned status = 0;
    for (std::size_t i = 0; i < valuelen; ++i) status = status * 10 + static_cast<unsigned>(value[i] - '0');  // nghttp2 checked: 3 digits
    self.status = status;
    return 0;
  }
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto& self = *static_cast<H2Probe*>(user);
    if (frame->hd.type == NGHTTP2_HEADERS && frame->hd.stream_id == self.stream_id && self.status >= 200)
      self.head_done = true;  // a 1xx head is interim: the final one follows
    return 0;
  }
  static int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t error_code, void* user) {
    auto& self = *static_cast<H2Probe*>(user);
    if (id != self.stream_id) return 0;
    self.closed = true;
    self.error = error_code;
    return 0;
  }

  // The session with this probe's request queued; false when nghttp2 refused.
  bool start(const runtime::Endpoint& endpoint, const config::HealthCheckConfig& h, bool tls) {
    nghttp2_session_callbacks* callbacks = nullptr;
    if (nghttp2_session_callbacks_new(&callbacks) != 0) return false;
    nghttp2_session_callbacks_set_on_header_callback(callbacks, &H2Probe::on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &H2Probe::on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &H2Probe::on_stream_close);
    const int rv = nghttp2_session_client_new(&session, callbacks, this);
    nghttp2_session_callbacks_del(callbacks);
    if (rv != 0) return false;
    const nghttp2_settings_entry no_push{NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
    if (nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, &no_push, 1) != 0) return false;
    auto nv = [](std::string_view name, std::string_view value) {
      return nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                        reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                        NGHTTP2_NV_FLAG_NONE};
    };
    const std::string authority = host_of(endpoint);
    const nghttp2_nv fields[] = {nv(":method", "GET"), nv(":scheme", tls ? "https" : "http"),
                                 nv(":authority", authority), nv(":path", h.path), nv("user-agent", kUserAgent)};
    stream_id = nghttp2_submit_request(session, nullptr, fields, std::size(fields), nullptr, nullptr);
    return stream_id > 0;
  }

  // What nghttp2 has to send, appended to `out`; false on its error.
  bool take_output(std::string& out) {
    for (;;) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session, &data);
      if (n < 0) return false;
      if (n == 0) return true;
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
  }
};

asio::awaitable<Probe> probe_http2(net::Stream& stream, const runtime::Endpoint& endpoint,
                                   const config::HealthCheckConfig& h, bool tls) {
  H2Probe p;
  if (!p.start(endpoint, h, tls)) co_return Probe{false, "HTTP/2 session setup failed"};
  std::string out;
  std::array<std::uint8_t, 16 * 1024> in;
  for (;;) {
    if (!p.take_output(out)) co_return Probe{false, "HTTP/2 session failed"};
    if (!out.empty()) {
      auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(out), as_tuple(use_awaitable));
      if (wec) co_return Probe{false, "send: " + what_failed(wec, h)};
      out.clear();
    }
    if (p.head_done) break;
    if (p.closed)
      co_return Probe{false, fmt::format("response: stream closed without a response ({})",
                                         nghttp2_http2_strerror(p.error))};
    auto [rec, n] = co_await stream.async_read_some(asio::buffer(in), as_tuple(use_awaitable));
    if (rec) co_return Probe{false, "response: " + what_failed(rec, h)};
    const ssize_t used = nghttp2_session_mem_recv(p.session, in.data(), n);
    if (used < 0)
      co_return Probe{false, std::string("response: HTTP/2 error: ") + nghttp2_strerror(static_cast<int>(used))};
  }
  // A GOAWAY before closing, so the endpoint logs a clean end rather than a dropped connection.
  nghttp2_session_terminate_session(p.session, NGHTTP2_NO_ERROR);
  if (p.take_output(out) && !out.empty())
    co_await asio::async_write(stream, asio::buffer(out), as_tuple(use_awaitable));
  co_return Probe{passes(p.status), fmt::format("HTTP/2 {}", p.status)};
}

// A TLS cluster's endpoints are probed over TLS with the cluster's settings (verification and
// ALPN included: an endpoint whose certificate fails, or that does not select h2 for an http2
// cluster, would fail every request too). No session is resumed: a probe is rare, and a full
// handshake is what it should test. The request is in the cluster's protocol.
asio::awaitable<Probe> probe(const runtime::Cluster& cluster, const runtime::Endpoint& endpoint,
                             const config::HealthCheckConfig& h) {
  net::Stream stream(co_await asio::this_coro::executor);
  stream.expires_after(h.timeout);  // the whole probe
  auto [cec] = co_await stream.async_connect(endpoint.address, as_tuple(use_awaitable));
  if (cec) co_return Probe{false, "connect: " + what_failed(cec, h)};
  if (cluster.tls) {
    stream.start_tls(cluster.tls->context());
    if (!cluster.tls->prepare(stream.native_handle(), endpoint.host, nullptr))
      co_return Probe{false, "TLS setup failed"};
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, as_tuple(use_awaitable));
    if (hec)
      co_return Probe{false, "TLS handshake: " + net::handshake_failure_reason(
                                                      cluster.tls->verify() ? stream.native_handle() : nullptr,
                                                      what_failed(hec, h))};
    if (auto problem = cluster.tls->alpn_problem(stream.native_handle()); !problem.empty())
      co_return Probe{false, "TLS " + problem};
  }
  if (cluster.http2) co_return co_await probe_http2(stream, endpoint, h, cluster.tls != nullptr);
  co_return co_await probe_http1(stream, endpoint, h);
}

// One endpoint's loop: probe, record, wait `interval`, until the checker moved to a newer snapshot.
asio::awaitable<void> check_loop(std::shared_ptr<const runtime::Snapshot> snapshot, const runtime::Cluster* cluster,
                                 const runtime::Endpoint* endpoint, const std::uint64_t* generation,
                                 std::uint64_t mine) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto& h = cluster->health_check;
  while (*generation == mine) {
    const auto started = std::chrono::steady_clock::now();
    Probe p;
    try {
      p = co_await probe(*cluster, *endpoint, h);
    } catch (const std::exception& e) {
      p = Probe{false, std::string("internal error: ") + e.what()};
    }
    if (*generation != mine) break;
    if (endpoint->health->record_check(p.ok, h)) {
      if (p.ok)
        spdlog::info("health: cluster {} endpoint {} is healthy again ({})", cluster->name, endpoint->text, p.detail);
      else
        spdlog::warn("health: cluster {} endpoint {} is unhealthy after {} failed checks ({})", cluster->name,
                     endpoint->text, h.unhealthy_threshold, p.detail);
      endpoint->healthy_gauge->Set(endpoint->health->available(runtime::steady_ms()) ? 1 : 0);
    }
    timer.expires_at(started + h.interval);
    co_await timer.async_wait(as_tuple(use_awaitable));
  }
}

}  // namespace

void HealthChecker::apply(std::shared_ptr<const runtime::Snapshot> snapshot) {
  ++generation_;
  snapshot_ = std::move(snapshot);
  for (const auto& c : snapshot_->clusters) {
    for (const auto& e : c.endpoints) {
      if (!c.health_check.enabled) {
        e.health->reset_check();
        continue;
      }
      asio::co_spawn(io_, check_loop(snapshot_, &c, &e, &generation_, generation_), asio::detached);
    }
  }
  if (generation_ == 1) refresh_gauges();
}

void HealthChecker::refresh_gauges() {
  const auto now = runtime::steady_ms();
  for (const auto& c : snapshot_->clusters)
    for (const auto& e : c.endpoints) e.healthy_gauge->Set(e.health->available(now) ? 1 : 0);
  gauges_.expires_after(std::chrono::seconds(1));
  gauges_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) refresh_gauges();
  });
}

}  // namespace cutover::admin
