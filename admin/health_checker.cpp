// Active health checks: see health_checker.hpp.
#include "admin/health_checker.hpp"

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

// A TLS cluster's endpoints are probed over TLS with the cluster's settings (verification
// included: an endpoint whose certificate fails would fail every request too). No session is
// resumed: a probe is rare, and a full handshake is what it should test.
asio::awaitable<Probe> probe(const runtime::Cluster& cluster, const runtime::Endpoint& endpoint,
                             const config::HealthCheckConfig& h) {
  net::Stream stream(co_await asio::this_coro::executor);
  stream.expires_after(h.timeout);  // the whole probe
  auto [cec] = co_await stream.async_connect(endpoint.address, as_tuple(use_awaitable));
  auto what = [&](const boost::system::error_code& ec) {
    return ec == beast::error::timeout ? fmt::format("timeout after {} ms", h.timeout.count()) : ec.message();
  };
  if (cec) co_return Probe{false, "connect: " + what(cec)};
  if (cluster.tls) {
    stream.start_tls(cluster.tls->context());
    if (!cluster.tls->prepare(stream.native_handle(), endpoint.host, nullptr))
      co_return Probe{false, "TLS setup failed"};
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, as_tuple(use_awaitable));
    if (hec)
      co_return Probe{false, "TLS handshake: " + net::handshake_failure_reason(
                                                      cluster.tls->verify() ? stream.native_handle() : nullptr, what(hec))};
  }
  const std::string request = fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: cutover-health-check\r\nConnection: close\r\n\r\n", h.path,
      host_of(endpoint));
  auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(request), as_tuple(use_awaitable));
  if (wec) co_return Probe{false, "send: " + what(wec)};
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.header_limit(16 * 1024);
  auto [rec, rn] = co_await bhttp::async_read_header(stream, buffer, parser, as_tuple(use_awaitable));
  if (rec) co_return Probe{false, "response: " + what(rec)};
  const unsigned status = parser.get().result_int();
  co_return Probe{status >= 200 && status < 400, fmt::format("HTTP {}", status)};
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
