// The compiled, immutable view of the config that workers read: resolved endpoints, per-listener
// route tables, and pointers to runtime state and metrics. Replaced whole by the control thread
// and published through SnapshotSource (Envoy's "workers read an immutable snapshot" shape).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config/model.hpp"
#include "proxy/observe/access_record.hpp"
#include "proxy/observe/log_writer.hpp"
#include "proxy/net/tls_context.hpp"
#include "proxy/router/route_match.hpp"
#include "proxy/router/split.hpp"
#include "proxy/runtime/route_runtime.hpp"
#include "proxy/shadow/mirror_policy.hpp"
#include "proxy/runtime/endpoint_health.hpp"
#include "proxy/stats/metrics.hpp"
#include "proxy/stats/request_series.hpp"

namespace cutover::runtime {

using boost::asio::ip::tcp;

struct Endpoint {
  tcp::endpoint address;
  std::string text;  // as configured, for logs and error bodies
  std::string host;  // as configured, without the port: the TLS name to verify when the cluster has no sni
  std::shared_ptr<EndpointHealth> health;  // the registry's: shared by workers, kept across reloads
  prometheus::Gauge* healthy_gauge = nullptr;        // cutover_endpoint_healthy{cluster,endpoint}
};

struct Cluster {
  std::string name;
  std::vector<Endpoint> endpoints;
  config::Millis connect_timeout{};
  config::Millis response_timeout{};
  std::shared_ptr<ClusterRuntime> runtime;
  prometheus::Counter* connect_errors = nullptr;
  prometheus::Counter* timeouts = nullptr;
  config::HealthCheckConfig health_check;
  config::OutlierConfig outlier;
  prometheus::Counter* retries = nullptr;    // cutover_upstream_retries_total{cluster}
  prometheus::Counter* stale_resends = nullptr;  // cutover_upstream_stale_resends_total{cluster}
  config::ProxyProtocol proxy_protocol = config::ProxyProtocol::none;  // sent first by tcp routes
  prometheus::Counter* ejections = nullptr;  // cutover_outlier_ejections_total{cluster}
  bool http2 = false;  // `protocol: http2`: requests go out on HTTP/2 sessions (prior knowledge, or ALPN h2 over tls)
  config::Millis http2_ping_interval{};  // PING after a session was this long without streams; 0: never
  config::Millis http2_ping_timeout{};   // the PING's ACK within this, else the session ends
  std::shared_ptr<const net::ClientTls> tls;  // null: plain TCP to the endpoints
  prometheus::Counter* tls_errors = nullptr;   // cutover_upstream_tls_handshake_errors_total{cluster}
  prometheus::Counter* tls_resumed = nullptr;  // cutover_upstream_tls_sessions_resumed_total{cluster}

  // Whether any endpoint may take requests now (healthy and not ejected).
  bool any_available(std::int64_t now_ms) const {
    for (const auto& e : endpoints)
      if (e.health->available(now_ms)) return true;
    return false;
  }
};

struct RouteMetrics {
  // cutover_requests_total and cutover_request_duration_seconds of the route, sharded per worker
  // (the Metrics' object, kept across reloads).
  stats::RequestSeries* series = nullptr;

  // Worker `worker` only: one answered request, its duration in seconds.
  void record(std::size_t worker, router::Side s, router::Kind k, unsigned status, double seconds) const {
    series->record(worker, static_cast<std::size_t>(s), static_cast<std::size_t>(k), stats::RequestSeries::code_class(status), seconds);
  }
  // Requests counted so far for (side, kind, status class 1..5).
  std::uint64_t count(router::Side s, router::Kind k, unsigned code_class) const {
    return series->count(static_cast<std::size_t>(s), static_cast<std::size_t>(k), code_class - 1);
  }
};

// Sticky and forced assignment of a route, compiled from config.
struct RouteSticky {
  std::vector<config::StickySource> sources;  // in config order; empty = per-request random
  std::string pin_cookie;                     // empty = do not pin
  std::int64_t pin_max_age_s = 0;
};

struct RouteForce {
  std::string header;  // empty = none
  std::string cookie;  // empty = none
  std::vector<boost::asio::ip::network_v4> allow_v4;
  std::vector<boost::asio::ip::network_v6> allow_v6;
  bool enabled() const { return !header.empty() || !cookie.empty(); }
};

struct WriteHoldMetrics {
  prometheus::Gauge* held = nullptr;         // cutover_writes_held{route}
  prometheus::Counter* released = nullptr;   // cutover_writes_released_total{route}
  prometheus::Counter* expired = nullptr;    // cutover_writes_expired_total{route}: hold_timeout, 503
  prometheus::Counter* rejected = nullptr;   // cutover_writes_rejected_total{route}: max_held, 503
};

// The metrics of a tcp route; [side] indexes by router::Side.
struct TcpRouteMetrics {
  std::array<prometheus::Counter*, 2> connections{};  // cutover_tcp_connections_total
  std::array<prometheus::Gauge*, 2> active{};         // cutover_tcp_connections_active
  std::array<std::array<prometheus::Counter*, 2>, 2> bytes{};  // [side][0 upstream, 1 downstream]
  prometheus::Counter* idle_timeouts = nullptr;
  prometheus::Counter* target_closed = nullptr;
};

// The metrics of an HTTP route's upgrade tunnels; [side] indexes by router::Side.
struct TunnelMetrics {
  std::array<prometheus::Gauge*, 2> active{};                  // cutover_tunnels_active
  std::array<prometheus::Counter*, 2> total{};                 // cutover_tunnels_total
  std::array<std::array<prometheus::Counter*, 2>, 2> bytes{};  // [side][0 upstream, 1 downstream]
};

struct Route {
  std::string name;
  std::string listener;
  router::RouteMatch match;
  std::array<const Cluster*, 2> clusters{};  // [side]: source, target
  std::shared_ptr<RouteRuntime> runtime;
  RouteMetrics metrics;
  prometheus::Gauge* weight_gauge[2] = {nullptr, nullptr};  // [kind], percent
  RouteSticky sticky;
  RouteForce force;
  config::WritesConfig writes;
  std::array<prometheus::Counter*, 2> forced{};  // [side] cutover_forced_requests_total
  WriteHoldMetrics hold_metrics;
  prometheus::Counter* failovers = nullptr;  // cutover_failovers_total{route}
  std::optional<shadow::MirrorPolicy> mirror;  // none without a `mirror` block
  std::optional<TcpRouteMetrics> tcp_metrics;  // set exactly for the routes of tcp listeners
  std::vector<std::string> upgrades;  // lower-case protocol names tunnelled (config `upgrade`)
  std::optional<TunnelMetrics> tunnel_metrics;  // set exactly for the routes of http listeners
  // Bit N set: a call ending with grpc-status N counts as failed in the windows (config
  // grpc_error_codes).
  std::uint32_t grpc_error_codes = config::kDefaultGrpcErrorCodes;
  // read_your_writes (disabled: ryw.enabled false). The table is the runtime's, set when the
  // route has sticky sources (their key names the client); else the signed cookie does.
  config::ReadYourWritesConfig ryw;
  RywTable* ryw_table = nullptr;
  std::array<prometheus::Counter*, 2> ryw_reads{};         // [side] cutover_ryw_reads_total
  prometheus::Counter* maintenance_responses = nullptr;    // cutover_maintenance_responses_total

  const Cluster& cluster(router::Side s) const { return *clusters[static_cast<int>(s)]; }
};

// A listener's access log, compiled (observe/ writes the lines).
struct ListenerAccessLog {
  std::shared_ptr<observe::LogWriter> writer;  // null: no access log
  observe::AccessLogFormat format;
  std::uint32_t sample_bp = 10000;             // share of requests written (basis points)
  prometheus::Counter* dropped = nullptr;      // cutover_access_log_dropped_total{listener}
};

struct Listener {
  std::string name;
  // A reload removed it: a placeholder keeping the listener's slot (indexes stay right), with no
  // routes; its connections finish the exchange they are in and close.
  bool removed = false;
  tcp::endpoint address;                   // as configured (port may be 0)
  bool is_tcp = false;                     // protocol tcp: one route, bytes relayed
  config::Millis idle_timeout{};           // tcp only
  std::vector<router::RouteMatch> matches;  // parallel to routes
  std::vector<const Route*> routes;
  prometheus::Gauge* active_connections = nullptr;
  // cutover_downstream_rejected_total{listener,code} for the codes in kRejectedCodes.
  static constexpr std::array<unsigned, 5> kRejectedCodes{400, 408, 413, 414, 431};
  std::array<prometheus::Counter*, 5> rejected{};
  std::shared_ptr<const net::ServerTls> tls;  // null: plain TCP
  prometheus::Counter* tls_errors = nullptr;  // cutover_downstream_tls_handshake_errors_total{listener}
  ListenerAccessLog access_log;
  // HTTP/2 (config `http2`): ALPN h2 on TLS, the preface in cleartext. Counters: streams opened,
  // and connections ended by the client's fault, indexed by Http2Error.
  bool http2 = false;
  prometheus::Counter* http2_streams = nullptr;
  prometheus::Counter* http2_streams_refused = nullptr;  // over http2_max_concurrent_streams
  enum class Http2Error { rapid_reset, protocol_error, flood };
  static constexpr std::array<std::string_view, 3> kHttp2Errors{"rapid_reset", "protocol_error", "flood"};
  std::array<prometheus::Counter*, 3> http2_errors{};
  void count_http2_error(Http2Error e) const {
    if (auto* c = http2_errors[static_cast<std::size_t>(e)]) c->Increment();
  }
  prometheus::Counter* rejected_counter(unsigned code) const {
    for (std::size_t i = 0; i < kRejectedCodes.size(); ++i)
      if (kRejectedCodes[i] == code) return rejected[i];
    return nullptr;
  }
};

struct Snapshot {
  config::Config config;
  std::deque<Cluster> clusters;  // deque: stable addresses for the pointers in Route
  std::deque<Route> routes;
  // Indexed by slot (RuntimeRegistry::listener_slot), not config order: removed listeners stay as
  // placeholders (Listener::removed) so that an index a connection holds keeps naming its listener.
  std::vector<Listener> listeners;
  std::shared_ptr<shadow::MismatchLog> mismatch_log;  // config `mirror_log`; may be null
  // request_id.trust_cidrs: clients whose request id is kept.
  std::vector<boost::asio::ip::network_v4> request_id_trust_v4;
  std::vector<boost::asio::ip::network_v6> request_id_trust_v6;

  const Route* find_route(std::string_view name) const;
  // Whether listener `index` is in this config (not removed by a reload).
  bool serves_listener(std::size_t index) const { return index < listeners.size() && !listeners[index].removed; }
  // The slot of the listener named `name` that this config has; nullopt when it has none.
  std::optional<std::size_t> listener_index(std::string_view name) const {
    for (std::size_t i = 0; i < listeners.size(); ++i)
      if (listeners[i].name == name && !listeners[i].removed) return i;
    return std::nullopt;
  }
};

// Resolves "host:port" to one address (the first the resolver returns). Throws
// std::runtime_error naming the host when it does not resolve: startup and reload only.
tcp::endpoint resolve(const config::HostPort& hp);

// Compiles a validated config. Route runtime state is taken from `registry` (created with the
// config's weights when new, kept as it is otherwise); metric children are created in `metrics`.
// Reads the TLS certificate, key and CA files again (a reload takes changed files). Throws
// std::runtime_error for what the loader cannot check (an endpoint that does not resolve,
// a mirror_log that cannot be opened, a TLS file changed since it was checked); the route entries it created are forgotten then, so the
// registry is as it was (metric children it created stay, unused and harmless). Routes the
// registry holds that `config` lacks are left alone: the caller forgets them once it published.
std::shared_ptr<const Snapshot> compile(const config::Config& config, RuntimeRegistry& registry,
                                        stats::Metrics& metrics);

// Sets the cutover_route_weight gauges from the route's current runtime weights.
void publish_weight_gauges(const Route& route);

// The current snapshot, replaced by the control thread. Readers check version() (one atomic load)
// and take the mutex only when it changed, so the request path holds no lock.
class SnapshotSource {
 public:
  void publish(std::shared_ptr<const Snapshot> snapshot) {
    std::lock_guard lock(mutex_);
    current_ = std::move(snapshot);
    version_.fetch_add(1, std::memory_order_release);
  }
  std::shared_ptr<const Snapshot> load() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  std::uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> current_;
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace cutover::runtime
