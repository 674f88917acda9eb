// One tcp listener connection: see tcp_session.hpp.
#include "proxy/l4/tcp_session.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <spdlog/spdlog.h>

#include "proxy/exchange/access_line.hpp"
#include "proxy/exchange/retry.hpp"
#include "proxy/l4/proxy_protocol.hpp"
#include "proxy/net/byte_relay.hpp"
#include "proxy/router/sticky.hpp"
#include "proxy/stats/window.hpp"
#include "proxy/upstream/failover.hpp"

namespace cutover::l4 {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;
using asio::as_tuple;
using asio::use_awaitable;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// Keeps a gauge one higher for as long as it lives.
class GaugeHold {
 public:
  explicit GaugeHold(prometheus::Gauge* g = nullptr) { hold(g); }
  ~GaugeHold() {
    if (gauge_) gauge_->Decrement();
  }
  void hold(prometheus::Gauge* g) {
    gauge_ = g;
    if (gauge_) gauge_->Increment();
  }
  GaugeHold(const GaugeHold&) = delete;
  GaugeHold& operator=(const GaugeHold&) = delete;

 private:
  prometheus::Gauge* gauge_ = nullptr;
};

class TcpSession final : public runtime::Drainable, public runtime::Closable {
 public:
  TcpSession(tcp::socket socket, exchange::WorkerContext& worker, std::shared_ptr<const runtime::PinnedSnapshot> pinned,
             const runtime::Listener& listener, const runtime::Route& route)
      : down_(std::move(socket)), up_(down_.get_executor()), worker_(worker), pinned_(std::move(pinned)),
        listener_(listener), route_(route) {
    worker_.connections.add(this);
  }
  ~TcpSession() {
    if (registered_) worker_.connections.remove_closable(route_.runtime.get(), side_, this);
    worker_.buffers.give_back_scratch(std::move(down_buffer_));
    worker_.buffers.give_back_scratch(std::move(up_buffer_));
    worker_.connections.remove(this);
  }
  TcpSession(const TcpSession&) = delete;
  TcpSession& operator=(const TcpSession&) = delete;

  // A byte stream has no safe point to stop at: it runs on until drain_timeout (tcp_session.hpp).
  void close_if_idle() override {}

  void close_now() override {
    if (closed_by_admin_) return;
    closed_by_admin_ = true;
    if (side_ == router::Side::target) route_.tcp_metrics->target_closed->Increment();
    net::close_stream(down_);
    net::close_stream(up_);
  }

  asio::awaitable<void> run() {
    error_code ec;
    const tcp::endpoint client = down_.socket().remote_endpoint(ec);
    if (ec) co_return;  // gone already
    const tcp::endpoint local = down_.socket().local_endpoint(ec);
    // TLS termination first: a client that cannot complete a handshake costs no upstream connect.
    if (listener_.tls && !co_await handshake(client)) co_return;
    const std::string client_ip = client.address().to_string();
    wall_started_ = std::chrono::system_clock::now();
    started_ = Clock::now();
    const bool sticky = std::any_of(route_.sticky.sources.begin(), route_.sticky.sources.end(),
                                    [](const auto& s) { return s.kind == config::StickySource::Kind::client_ip; });
    side_ = choose_connection_side(route_.runtime->weights().write_bp, sticky, client_ip, worker_.random());
    const bool chosen_target = side_ == router::Side::target;
    if (side_ == router::Side::target) side_ = upstream::fail_over_if_target_down(route_);
    side_reason_ = chosen_target && side_ != router::Side::target ? "failover" : sticky ? "sticky" : "weight";
    const int s = static_cast<int>(side_);
    const auto& metrics = *route_.tcp_metrics;
    metrics.connections[s]->Increment();
    const runtime::Cluster& cluster = route_.cluster(side_);

    const auto started = Clock::now();
    const bool connected = co_await connect(cluster);
    connect_ms_ = observe::ms_between(started, Clock::now());
    record_window(connected, Clock::now() - started);
    if (!connected) {  // the client sees its connection closed
      log_access(client, client_ip, "connect_failed", {});
      co_return;
    }

    if (cluster.proxy_protocol != config::ProxyProtocol::none) {
      const std::string header = proxy_header(cluster.proxy_protocol, client, local);
      if (!co_await send_header(header, cluster)) {
        log_access(client, client_ip, "upstream_send_failed", {});
        co_return;
      }
    }

    GaugeHold active(metrics.active[s]);
    worker_.connections.add_closable(route_.runtime.get(), side_, this);
    registered_ = true;
    down_buffer_ = worker_.buffers.take_scratch();
    up_buffer_ = worker_.buffers.take_scratch();
    net::RelayBytes bytes;
    auto* to_upstream = metrics.bytes[s][0];
    auto* to_downstream = metrics.bytes[s][1];
    const auto end = co_await net::relay(down_, up_, {down_buffer_.get(), runtime::BufferLender::kScratchBytes},
                                         {up_buffer_.get(), runtime::BufferLender::kScratchBytes}, listener_.idle_timeout, bytes,
                                    [to_upstream, to_downstream](bool up, std::size_t n) {
                                      (up ? to_upstream : to_downstream)->Increment(static_cast<double>(n));
                                    });
    if (end == net::RelayEnd::idle) metrics.idle_timeouts->Increment();
    net::close_stream(down_);
    net::close_stream(up_);
    const std::string_view result = closed_by_admin_              ? "closed_by_admin"
                                    : end == net::RelayEnd::idle   ? "idle_timeout"
                                    : end == net::RelayEnd::closed ? "closed"
                                                                   : "reset";
    log_access(client, client_ip, result, bytes);
  }

 private:
  // The TLS handshake (listener `tls`, certificate by SNI, no ALPN), within the config's
  // timeouts.request_header; failures are counted and logged at debug level, as HTTP's.
  asio::awaitable<bool> handshake(const tcp::endpoint& client) {
    down_.start_tls(listener_.tls->context());
    down_.expires_after(pinned_->snapshot->config.timeouts.request_header);
    auto [ec] = co_await down_.async_handshake(asio::ssl::stream_base::server, as_tuple(use_awaitable));
    down_.expires_never();
    if (!ec) co_return true;
    if (listener_.tls_errors) listener_.tls_errors->Increment();
    spdlog::debug("listener {}: TLS handshake with {} failed: {}", listener_.name, client.address().to_string(),
                  ec == beast::error::timeout ? std::string("timeout") : ec.message());
    co_return false;
  }

  // Connects up_ to an endpoint of `cluster`, each attempt within connect_timeout; a failure
  // counts towards outlier detection and moves on to the next endpoint.
  asio::awaitable<bool> connect(const runtime::Cluster& cluster) {
    for (int attempt = 0;; ++attempt) {
      const runtime::Endpoint& endpoint = worker_.pool.next_endpoint(cluster);
      endpoint_ = &endpoint;
      attempts_ = attempt + 1;
      beast::tcp_stream stream(down_.get_executor());
      stream.expires_after(cluster.connect_timeout);
      auto [ec] = co_await stream.async_connect(endpoint.address, as_tuple(use_awaitable));
      if (!ec) {
        stream.expires_never();
        endpoint.health->record_connect_success();
        up_ = stream.release_socket();
        up_.set_option(tcp::no_delay(true), ec);
        co_return true;
      }
      cluster.connect_errors->Increment();
      spdlog::warn("route {}: {} endpoint {}: connect failed: {}", route_.name, cluster.name, endpoint.text,
                   ec == beast::error::timeout ? std::string("connect timeout") : ec.message());
      upstream::note_outlier(cluster, endpoint, endpoint.health->record_connect_failure(cluster.outlier, runtime::steady_ms()));
      const exchange::AttemptFacts facts{exchange::Outcome::connect_failed, attempt, false, false,
                                         cluster.endpoints.size(), exchange::kTcpConnectAttempts};
      if (closed_by_admin_ || exchange::resend(facts) != exchange::Resend::next_endpoint) break;
      cluster.retries->Increment();
    }
    co_return false;
  }

  // The PROXY protocol header, first on the upstream connection, within connect_timeout.
  asio::awaitable<bool> send_header(const std::string& header, const runtime::Cluster& cluster) {
    asio::steady_timer timer(up_.get_executor(), cluster.connect_timeout);
    timer.async_wait([this](const error_code& ec) {
      if (!ec) net::close_stream(up_);
    });
    auto [ec, n] = co_await asio::async_write(up_, asio::buffer(header), as_tuple(use_awaitable));
    timer.cancel();
    if (ec)
      spdlog::warn("route {}: {}: writing the PROXY protocol header failed: {}", route_.name, cluster.name,
                   ec.message());
    co_return !ec;
  }

  // The connection's access log line (when the listener writes them).
  void log_access(const tcp::endpoint& client, std::string_view client_ip, std::string_view result,
                  const net::RelayBytes& bytes) {
    if (!listener_.access_log.writer || !exchange::access_logged(listener_, worker_.random())) return;
    observe::AccessRecord r;
    r.time = wall_started_;
    r.client_ip = client_ip;
    r.client_port = client.port();
    r.listener = listener_.name;
    r.route = route_.name;
    r.protocol = "tcp";
    r.side = router::name(side_);
    r.side_reason = side_reason_;
    if (endpoint_) r.endpoint = endpoint_->text;
    r.connect_ms = connect_ms_;
    r.duration_ms = observe::ms_between(started_, Clock::now());
    r.bytes_in = bytes.to_upstream;
    r.bytes_out = bytes.to_downstream;
    r.retries = attempts_ > 1 ? attempts_ - 1 : 0;
    r.result = result;
    exchange::write_access_line(listener_, r);
  }

  void record_window(bool connected, Clock::duration took) {
    const auto now = Clock::now();
    route_.runtime->windows.at(worker_.id, side_)
        .record(stats::steady_seconds(now), connected ? 200 : 502,
                static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()),
                connected ? stats::Outcome::response : stats::Outcome::connect_error);
  }

  net::Stream down_;  // TLS-terminated when the listener has `tls`
  tcp::socket up_;
  exchange::WorkerContext& worker_;
  std::shared_ptr<const runtime::PinnedSnapshot> pinned_;  // keeps listener_ and route_ alive
  const runtime::Listener& listener_;
  const runtime::Route& route_;
  router::Side side_ = router::Side::source;
  bool registered_ = false;
  bool closed_by_admin_ = false;
  // For the access log.
  std::chrono::system_clock::time_point wall_started_{};
  Clock::time_point started_{};
  std::string_view side_reason_;
  const runtime::Endpoint* endpoint_ = nullptr;
  int attempts_ = 0;
  double connect_ms_ = 0;
  std::unique_ptr<char[]> down_buffer_;
  std::unique_ptr<char[]> up_buffer_;
};

}  // namespace

router::Side choose_connection_side(std::uint16_t weight_bp, bool sticky_client_ip, std::string_view client_ip,
                                    std::uint64_t random_bits) {
  const std::uint32_t bucket = sticky_client_ip ? router::sticky_bucket(client_ip) : router::bucket_of(random_bits);
  return router::choose_side(weight_bp, bucket);
}

asio::awaitable<void> serve_tcp(tcp::socket socket, exchange::WorkerContext& worker, std::size_t listener_index) {
  auto pinned = worker.snapshots.current();
  const auto& listeners = pinned->snapshot->listeners;
  if (listener_index >= listeners.size() || listeners[listener_index].routes.empty()) co_return;
  const runtime::Listener& listener = listeners[listener_index];
  const runtime::Route& route = *listener.routes.front();
  if (!route.tcp_metrics) co_return;  // not a tcp route: the snapshot is not what the accept loop saw
  GaugeHold active(listener.active_connections);
  TcpSession session(std::move(socket), worker, pinned, listener, route);
  co_await session.run();
}

}  // namespace cutover::l4
