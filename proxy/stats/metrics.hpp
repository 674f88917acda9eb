// The Prometheus metrics of ../shared/SPEC.md "Metrics", registered once per process in one
// registry and exposed by the admin listener with prometheus-cpp's TextSerializer.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include "proxy/stats/request_series.hpp"

namespace cutover::stats {

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Prometheus text exposition format 0.0.4 of every metric. Flushes the request series first,
  // so every request recorded before the call is in the text.
  std::string serialize() const;

  // The per-worker request series of `route` (cutover_requests_total and
  // cutover_request_duration_seconds with its labels), made on the first call with `workers`
  // shards and the same object on every later call (a reload keeps the counts). Any thread; the
  // object lives as long as this Metrics.
  RequestSeries& request_series(const std::string& route, std::size_t workers);

  // Histogram buckets of cutover_request_duration_seconds, in seconds.
  static prometheus::Histogram::BucketBoundaries duration_buckets();

  // Every family registered (name, help and type, no series), in registration order. The
  // exposition leaves out a family until it has a series, so this is the complete list
  // (docs/metrics.md is checked against it).
  const std::vector<prometheus::MetricFamily>& families() const { return families_; }

 private:
  // Registers a family in registry_ and lists it in families_: the one way a family is made.
  template <class Metric>
  prometheus::Family<Metric>& add(const std::string& name, const std::string& help) {
    families_.push_back({name, help, Metric::metric_type, {}});
    return prometheus::detail::Builder<Metric>().Name(name).Help(help).Register(*registry_);
  }

  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<prometheus::MetricFamily> families_;
  mutable std::mutex series_mutex_;  // request_series() and the flushes of serialize()
  std::map<std::string, std::unique_ptr<RequestSeries>> series_;  // by route name

 public:
  prometheus::Family<prometheus::Counter>& requests;          // cutover_requests_total{route,side,kind,code_class}
  prometheus::Family<prometheus::Histogram>& request_duration;  // cutover_request_duration_seconds{route,side}
  prometheus::Family<prometheus::Gauge>& route_weight;        // cutover_route_weight{route,kind}, percent
  prometheus::Family<prometheus::Counter>& connect_errors;    // cutover_upstream_connect_errors_total{cluster}
  prometheus::Family<prometheus::Counter>& upstream_timeouts; // cutover_upstream_timeouts_total{cluster}
  prometheus::Family<prometheus::Gauge>& downstream_active;   // cutover_downstream_connections_active{listener}
  prometheus::Family<prometheus::Counter>& config_reloads;    // cutover_config_reloads_total{result}
  prometheus::Family<prometheus::Counter>& forced_requests;   // cutover_forced_requests_total{route,side}
  prometheus::Family<prometheus::Gauge>& writes_held;         // cutover_writes_held{route}
  prometheus::Family<prometheus::Counter>& writes_released;   // cutover_writes_released_total{route}
  prometheus::Family<prometheus::Counter>& writes_expired;    // cutover_writes_expired_total{route}
  prometheus::Family<prometheus::Counter>& writes_rejected;   // cutover_writes_rejected_total{route}
  prometheus::Family<prometheus::Counter>& mirror_requests;   // cutover_mirror_requests_total{route,result}
  prometheus::Family<prometheus::Gauge>& endpoint_healthy;    // cutover_endpoint_healthy{cluster,endpoint}: 1 = in use
  prometheus::Family<prometheus::Counter>& upstream_retries;  // cutover_upstream_retries_total{cluster}
  prometheus::Family<prometheus::Counter>& outlier_ejections; // cutover_outlier_ejections_total{cluster}
  prometheus::Family<prometheus::Counter>& failovers;         // cutover_failovers_total{route}: target share sent to source
  prometheus::Family<prometheus::Counter>& downstream_rejected;  // cutover_downstream_rejected_total{listener,code}
  prometheus::Family<prometheus::Counter>& accept_errors;     // cutover_accept_errors_total{listener,reason}
  prometheus::Family<prometheus::Gauge>& mirror_log_dropped;      // cutover_mirror_log_dropped: lines lost to a full queue
  prometheus::Family<prometheus::Gauge>& ramp_step;           // cutover_ramp_step{route}: 1-based, 0 = no active ramp
  // TCP routes. direction = upstream (client to backend) | downstream (backend to client).
  prometheus::Family<prometheus::Counter>& tcp_connections;   // cutover_tcp_connections_total{route,side}
  prometheus::Family<prometheus::Gauge>& tcp_active;          // cutover_tcp_connections_active{route,side}
  prometheus::Family<prometheus::Counter>& tcp_bytes;         // cutover_tcp_bytes_total{route,side,direction}
  prometheus::Family<prometheus::Counter>& tcp_idle_timeouts; // cutover_tcp_idle_timeouts_total{route}
  prometheus::Family<prometheus::Counter>& tcp_target_closed; // cutover_tcp_target_closed_total{route}: by a rollback
  prometheus::Family<prometheus::Counter>& downstream_tls_errors;  // cutover_downstream_tls_handshake_errors_total{listener}
  prometheus::Family<prometheus::Counter>& upstream_tls_errors;    // cutover_upstream_tls_handshake_errors_total{cluster}
  prometheus::Family<prometheus::Counter>& upstream_tls_resumed;   // cutover_upstream_tls_sessions_resumed_total{cluster}
  prometheus::Family<prometheus::Gauge>& worker_connections;       // cutover_worker_connections_active{worker}
  prometheus::Family<prometheus::Counter>& upstream_stale_resends; // cutover_upstream_stale_resends_total{cluster}
  // Upgrade tunnels (WebSocket). direction as for tcp routes.
  prometheus::Family<prometheus::Gauge>& tunnels_active;           // cutover_tunnels_active{route,side}
  prometheus::Family<prometheus::Counter>& tunnels_total;          // cutover_tunnels_total{route,side}
  prometheus::Family<prometheus::Counter>& tunnel_bytes;           // cutover_tunnel_bytes_total{route,side,direction}
  // Access logs: lines refused by a full queue, and lines lost to write errors (by file).
  prometheus::Family<prometheus::Counter>& access_log_dropped;     // cutover_access_log_dropped_total{listener}
  prometheus::Family<prometheus::Counter>& access_log_errors;      // cutover_access_log_write_errors_total{path}
  // HTTP/2 downstream connections: streams opened, and connections ended for a client's fault
  // (reason = rapid_reset | protocol_error | flood).
  prometheus::Family<prometheus::Counter>& http2_streams;          // cutover_http2_streams_total{listener}
  prometheus::Family<prometheus::Counter>& http2_streams_refused;  // cutover_http2_streams_refused_total{listener}
  prometheus::Family<prometheus::Counter>& http2_connection_errors;  // cutover_http2_connection_errors_total{listener,reason}
  // Fleet (fleet: in the config): etcd reachability, the newest store revision applied, and how
  // long a weight change waited for every live node (seconds).
  prometheus::Family<prometheus::Gauge>& fleet_etcd_up;            // cutover_fleet_etcd_up: 1 reachable, 0 not
  prometheus::Family<prometheus::Gauge>& fleet_applied_revision;   // cutover_fleet_applied_revision
  prometheus::Family<prometheus::Histogram>& fleet_apply_seconds;  // cutover_fleet_apply_seconds
  prometheus::Family<prometheus::Gauge>& fleet_leader;             // cutover_fleet_leader: 1 runs the ramps
  // Migration safety: reads pinned by read-your-writes, answers of a route in maintenance.
  prometheus::Family<prometheus::Counter>& ryw_reads;               // cutover_ryw_reads_total{route,side}
  prometheus::Family<prometheus::Counter>& maintenance_responses;   // cutover_maintenance_responses_total{route}
};

}  // namespace cutover::stats
