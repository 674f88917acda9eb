// Registration and exposition of the SPEC metrics: see metrics.hpp.
#include "proxy/stats/metrics.hpp"

#include <prometheus/text_serializer.h>

#include "proxy/router/split.hpp"

namespace cutover::stats {

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests(add<prometheus::Counter>("cutover_requests_total",
          "Requests answered, by route, side (source|target), kind (read|write) and status class.")),
      request_duration(add<prometheus::Histogram>("cutover_request_duration_seconds",
          "Time from request header received to response fully sent, by route and side.")),
      route_weight(add<prometheus::Gauge>("cutover_route_weight",
          "Current percent of requests sent to target, by route and kind.")),
      connect_errors(add<prometheus::Counter>("cutover_upstream_connect_errors_total",
          "Failed or timed-out upstream connection attempts, by cluster.")),
      upstream_timeouts(add<prometheus::Counter>("cutover_upstream_timeouts_total",
          "Upstream responses that did not arrive within response_timeout, by cluster.")),
      downstream_active(add<prometheus::Gauge>("cutover_downstream_connections_active",
          "Open downstream (client) connections, by listener.")),
      config_reloads(add<prometheus::Counter>("cutover_config_reloads_total",
          "Configuration reloads, by result (success|failure).")),
      forced_requests(add<prometheus::Counter>("cutover_forced_requests_total",
          "Requests sent to a side forced by header or cookie from an allowed client.")),
      writes_held(add<prometheus::Gauge>("cutover_writes_held",
          "Write requests waiting in a write hold now, by route.")),
      writes_released(add<prometheus::Counter>("cutover_writes_released_total",
          "Held write requests forwarded after a release.")),
      writes_expired(add<prometheus::Counter>("cutover_writes_expired_total",
          "Held write requests answered 503 after hold_timeout.")),
      writes_rejected(add<prometheus::Counter>("cutover_writes_rejected_total",
          "Write requests answered 503 at once because max_held were already held.")),
      mirror_requests(add<prometheus::Counter>("cutover_mirror_requests_total",
          "Requests picked for mirroring, by how each ended (match|mismatch|error|dropped|skipped_body).")),
      endpoint_healthy(add<prometheus::Gauge>("cutover_endpoint_healthy",
          "1 when requests may go to the endpoint (healthy by its check, not ejected), else 0.")),
      upstream_retries(add<prometheus::Counter>("cutover_upstream_retries_total",
          "Requests sent again to another endpoint after a connect failure.")),
      outlier_ejections(add<prometheus::Counter>("cutover_outlier_ejections_total",
          "Endpoints ejected by outlier detection (consecutive 5xx or connect failures).")),
      failovers(add<prometheus::Counter>("cutover_failovers_total",
          "Requests assigned to target but sent to source because no target endpoint was available.")),
      downstream_rejected(add<prometheus::Counter>("cutover_downstream_rejected_total",
          "Requests refused before routing (400 framing, 408 header timeout, 413, 414, 431 limits), by listener and "
          "status code.")),
      accept_errors(add<prometheus::Counter>("cutover_accept_errors_total",
          "Failed accept(2) calls by listener and reason (emfile, enfile, other); each makes the worker back off "
          "before accepting again.")),
      mirror_log_dropped(add<prometheus::Gauge>("cutover_mirror_log_dropped",
          "Mismatch log lines dropped since start because its write queue was full.")),
      ramp_step(add<prometheus::Gauge>("cutover_ramp_step",
          "Current step (1-based) of the route's running or paused ramp; 0 when none.")),
      tcp_connections(add<prometheus::Counter>("cutover_tcp_connections_total",
          "Downstream connections of tcp routes, by route and the side they were sent to (counted once the side is "
          "chosen, before the upstream connect).")),
      tcp_active(add<prometheus::Gauge>("cutover_tcp_connections_active",
          "Relayed connections of tcp routes open now (upstream connected), by route and side.")),
      tcp_bytes(add<prometheus::Counter>("cutover_tcp_bytes_total",
          "Bytes relayed by tcp routes, by route, side and direction (upstream: client to backend; downstream: backend"
          " to client).")),
      tcp_idle_timeouts(add<prometheus::Counter>("cutover_tcp_idle_timeouts_total",
          "Connections of tcp routes closed because nothing moved for idle_timeout.")),
      tcp_target_closed(add<prometheus::Counter>("cutover_tcp_target_closed_total",
          "Target connections of tcp routes closed by a rollback with close_target_connections.")),
      downstream_tls_errors(add<prometheus::Counter>("cutover_downstream_tls_handshake_errors_total",
          "TLS handshakes with clients that failed or timed out, by listener.")),
      upstream_tls_errors(add<prometheus::Counter>("cutover_upstream_tls_handshake_errors_total",
          "TLS handshakes with upstream endpoints that failed or timed out, by cluster.")),
      upstream_tls_resumed(add<prometheus::Counter>("cutover_upstream_tls_sessions_resumed_total",
          "Upstream TLS connections that resumed an earlier session, by cluster.")),
      worker_connections(add<prometheus::Gauge>("cutover_worker_connections_active",
          "Open downstream connections served by each data-plane worker (connections are balanced between workers, see"
          " server/balance.hpp).")),
      upstream_stale_resends(add<prometheus::Counter>("cutover_upstream_stale_resends_total",
          "Requests sent again on a new connection because a pooled one turned out closed by the upstream before any "
          "response byte, by cluster.")),
      tunnels_active(add<prometheus::Gauge>("cutover_tunnels_active",
          "Open upgrade tunnels (WebSocket), by route and side.")),
      tunnels_total(add<prometheus::Counter>("cutover_tunnels_total",
          "Upgrade tunnels opened (a 101 relayed), by route and side.")),
      tunnel_bytes(add<prometheus::Counter>("cutover_tunnel_bytes_total",
          "Bytes relayed through upgrade tunnels, by route, side and direction (upstream: client to backend, "
          "downstream: backend to client).")),
      access_log_dropped(add<prometheus::Counter>("cutover_access_log_dropped_total",
          "Access log lines not written because the writer's queue was full (the file or pipe could not keep up), by "
          "listener.")),
      access_log_errors(add<prometheus::Counter>("cutover_access_log_write_errors_total",
          "Access log lines lost to errors opening or writing the file, by file.")),
      http2_streams(add<prometheus::Counter>("cutover_http2_streams_total",
          "HTTP/2 streams (requests) opened by clients, by listener.")),
      http2_streams_refused(add<prometheus::Counter>("cutover_http2_streams_refused_total",
          "HTTP/2 streams refused (RST_STREAM REFUSED_STREAM) because the connection had "
          "limits.http2_max_concurrent_streams open, by listener.")),
      http2_connection_errors(add<prometheus::Counter>("cutover_http2_connection_errors_total",
          "HTTP/2 client connections ended for the client's fault, by listener and reason (rapid_reset: too many "
          "RST_STREAM per second; protocol_error: a frame the protocol forbids, a bad preface or flow-control "
          "violation; flood: frames that only make cutover queue answers).")),
      fleet_etcd_up(add<prometheus::Gauge>("cutover_fleet_etcd_up",
          "Fleet nodes: 1 while etcd answers, 0 while it does not (the node keeps its last applied weights).")),
      fleet_applied_revision(add<prometheus::Gauge>("cutover_fleet_applied_revision",
          "Fleet nodes: the newest etcd store revision whose route weights this node has applied.")),
      fleet_apply_seconds(add<prometheus::Histogram>("cutover_fleet_apply_seconds",
          "Fleet nodes: from a weight change's etcd commit until every live node reported it applied (or "
          "fleet.apply_timeout ran out).")),
      fleet_leader(add<prometheus::Gauge>("cutover_fleet_leader",
          "Fleet nodes: 1 on the node holding the fleet's leader key (it runs the ramps), 0 on the others.")),

      ryw_reads(add<prometheus::Counter>("cutover_ryw_reads_total",
          "Reads sent to the side that served the same client's write within read_your_writes.window, by route and "
          "side.")),
      maintenance_responses(add<prometheus::Counter>("cutover_maintenance_responses_total",
          "Requests answered by cutover itself because their route is in maintenance (no upstream contact), by "
          "route.")) {}

std::string Metrics::serialize() const {
  {
    std::lock_guard lock(series_mutex_);
    for (auto& [route, series] : series_) series->flush();
  }
  return prometheus::TextSerializer{}.Serialize(registry_->Collect());
}

RequestSeries& Metrics::request_series(const std::string& route, std::size_t workers) {
  std::lock_guard lock(series_mutex_);
  auto& slot = series_[route];
  if (slot) return *slot;
  RequestSeries::Counters counters{};
  std::array<prometheus::Histogram*, RequestSeries::kSides> durations{};
  for (auto side : {router::Side::source, router::Side::target}) {
    const auto s = static_cast<std::size_t>(side);
    for (auto kind : {router::Kind::read, router::Kind::write})
      for (std::size_t cls = 0; cls < RequestSeries::kCodeClasses; ++cls)
        counters[s][static_cast<std::size_t>(kind)][cls] =
            &requests.Add({{"route", route},
                           {"side", std::string(router::name(side))},
                           {"kind", std::string(router::name(kind))},
                           {"code_class", std::to_string(cls + 1) + "xx"}});
    durations[s] = &request_duration.Add({{"route", route}, {"side", std::string(router::name(side))}}, duration_buckets());
  }
  slot = std::make_unique<RequestSeries>(workers, counters, durations, duration_buckets());
  return *slot;
}

prometheus::Histogram::BucketBoundaries Metrics::duration_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

}  // namespace cutover::stats
