// Registration and exposition of the SPEC metrics: see metrics.hpp.
#include "proxy/stats/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace cutover::stats {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests(BuildCounter()
                   .Name("cutover_requests_total")
                   .Help("Requests answered, by route, side (source|target), kind (read|write) and status class.")
                   .Register(*registry_)),
      request_duration(BuildHistogram()
                           .Name("cutover_request_duration_seconds")
                           .Help("Time from request header received to response fully sent, by route and side.")
                           .Register(*registry_)),
      route_weight(BuildGauge()
                       .Name("cutover_route_weight")
                       .Help("Current percent of requests sent to target, by route and kind.")
                       .Register(*registry_)),
      connect_errors(BuildCounter()
                         .Name("cutover_upstream_connect_errors_total")
                         .Help("Failed or timed-out upstream connection attempts, by cluster.")
                         .Register(*registry_)),
      upstream_timeouts(BuildCounter()
                            .Name("cutover_upstream_timeouts_total")
                            .Help("Upstream responses that did not arrive within response_timeout, by cluster.")
                            .Register(*registry_)),
      downstream_active(BuildGauge()
                            .Name("cutover_downstream_connections_active")
                            .Help("Open downstream (client) connections, by listener.")
                            .Register(*registry_)),
      config_reloads(BuildCounter()
                         .Name("cutover_config_reloads_total")
                         .Help("Configuration reloads, by result (success|failure).")
                         .Register(*registry_)),
      forced_requests(BuildCounter()
                          .Name("cutover_forced_requests_total")
                          .Help("Requests sent to a side forced by header or cookie from an allowed client.")
                          .Register(*registry_)),
      writes_held(BuildGauge()
                      .Name("cutover_writes_held")
                      .Help("Write requests waiting in a write hold now, by route.")
                      .Register(*registry_)),
      writes_released(BuildCounter()
                          .Name("cutover_writes_released_total")
                          .Help("Held write requests forwarded after a release.")
                          .Register(*registry_)),
      writes_expired(BuildCounter()
                         .Name("cutover_writes_expired_total")
                         .Help("Held write requests answered 503 after hold_timeout.")
                         .Register(*registry_)),
      writes_rejected(BuildCounter()
                          .Name("cutover_writes_rejected_total")
                          .Help("Write requests answered 503 at once because max_held were already held.")
                          .Register(*registry_)),
      mirror_requests(BuildCounter()
                          .Name("cutover_mirror_requests_total")
                          .Help("Requests picked for mirroring, by how each ended "
                                "(match|mismatch|error|dropped|skipped_body).")
                          .Register(*registry_)),
      endpoint_healthy(BuildGauge()
                           .Name("cutover_endpoint_healthy")
                           .Help("1 when requests may go to the endpoint (healthy by its check, not ejected), else 0.")
                           .Register(*registry_)),
      upstream_retries(BuildCounter()
                           .Name("cutover_upstream_retries_total")
                           .Help("Requests sent again to another endpoint after a connect failure.")
                           .Register(*registry_)),
      outlier_ejections(BuildCounter()
                            .Name("cutover_outlier_ejections_total")
                            .Help("Endpoints ejected by outlier detection (consecutive 5xx or connect failures).")
                            .Register(*registry_)),
      failovers(BuildCounter()
                    .Name("cutover_failovers_total")
                    .Help("Requests assigned to target but sent to source because no target endpoint was available.")
                    .Register(*registry_)),
      downstream_rejected(BuildCounter()
                              .Name("cutover_downstream_rejected_total")
                              .Help("Requests refused before routing (400 framing, 408 header timeout, 413, "
                                    "414, 431 limits), by listener and status code.")
                              .Register(*registry_)),
      mirror_log_dropped(BuildGauge()
                             .Name("cutover_mirror_log_dropped")
                             .Help("Mismatch log lines dropped since start because its write queue was full.")
                             .Register(*registry_)),
      ramp_step(BuildGauge()
                    .Name("cutover_ramp_step")
                    .Help("Current step (1-based) of the route's running or paused ramp; 0 when none.")
                    .Register(*registry_)),
      tcp_connections(BuildCounter()
                          .Name("cutover_tcp_connections_total")
                          .Help("Downstream connections of tcp routes, by route and the side they were sent to "
                                "(counted once the side is chosen, before the upstream connect).")
                          .Register(*registry_)),
      tcp_active(BuildGauge()
                     .Name("cutover_tcp_connections_active")
                     .Help("Relayed connections of tcp routes open now (upstream connected), by route and side.")
                     .Register(*registry_)),
      tcp_bytes(BuildCounter()
                    .Name("cutover_tcp_bytes_total")
                    .Help("Bytes relayed by tcp routes, by route, side and direction (upstream: client to "
                          "backend; downstream: backend to client).")
                    .Register(*registry_)),
      tcp_idle_timeouts(BuildCounter()
                            .Name("cutover_tcp_idle_timeouts_total")
                            .Help("Connections of tcp routes closed because nothing moved for idle_timeout.")
                            .Register(*registry_)),
      tcp_target_closed(BuildCounter()
                            .Name("cutover_tcp_target_closed_total")
                            .Help("Target connections of tcp routes closed by a rollback with close_target_connections.")
                            .Register(*registry_)),
      downstream_tls_errors(BuildCounter()
                                .Name("cutover_downstream_tls_handshake_errors_total")
                                .Help("TLS handshakes with clients that failed or timed out, by listener.")
                                .Register(*registry_)),
      upstream_tls_errors(BuildCounter()
                              .Name("cutover_upstream_tls_handshake_errors_total")
                              .Help("TLS handshakes with upstream endpoints that failed or timed out, by cluster.")
                              .Register(*registry_)),
      upstream_tls_resumed(BuildCounter()
                               .Name("cutover_upstream_tls_sessions_resumed_total")
                               .Help("Upstream TLS connections that resumed an earlier session, by cluster.")
                               .Register(*registry_)),
      worker_connections(BuildGauge()
                             .Name("cutover_worker_connections_active")
                             .Help("Open downstream connections served by each data-plane worker (connections are "
                                   "balanced between workers, see server/balance.hpp).")
                             .Register(*registry_)),
      upstream_stale_resends(BuildCounter()
                                 .Name("cutover_upstream_stale_resends_total")
                                 .Help("Requests sent again on a new connection because a pooled one turned out "
                                       "closed by the upstream before any response byte, by cluster.")
                                 .Register(*registry_)),
      tunnels_active(BuildGauge()
                         .Name("cutover_tunnels_active")
                         .Help("Open upgrade tunnels (WebSocket), by route and side.")
                         .Register(*registry_)),
      tunnels_total(BuildCounter()
                        .Name("cutover_tunnels_total")
                        .Help("Upgrade tunnels opened (a 101 relayed), by route and side.")
                        .Register(*registry_)),
      tunnel_bytes(BuildCounter()
                       .Name("cutover_tunnel_bytes_total")
                       .Help("Bytes relayed through upgrade tunnels, by route, side and direction (upstream: "
                             "client to backend, downstream: backend to client).")
                       .Register(*registry_)),
      access_log_dropped(BuildCounter()
                             .Name("cutover_access_log_dropped_total")
                             .Help("Access log lines not written because the writer's queue was full (the file or "
                                   "pipe could not keep up), by listener.")
                             .Register(*registry_)),
      access_log_errors(BuildCounter()
                            .Name("cutover_access_log_write_errors_total")
                            .Help("Access log lines lost to errors opening or writing the file, by file.")
                            .Register(*registry_)),
      http2_streams(BuildCounter()
                        .Name("cutover_http2_streams_total")
                        .Help("HTTP/2 streams (requests) opened by clients, by listener.")
                        .Register(*registry_)),
      http2_streams_refused(BuildCounter()
                                .Name("cutover_http2_streams_refused_total")
                                .Help("HTTP/2 streams refused (RST_STREAM REFUSED_STREAM) because the connection had "
                                      "limits.http2_max_concurrent_streams open, by listener.")
                                .Register(*registry_)),
      http2_connection_errors(BuildCounter()
                                  .Name("cutover_http2_connection_errors_total")
                                  .Help("HTTP/2 client connections ended for the client's fault, by listener and reason "
                                        "(rapid_reset: too many RST_STREAM per second; protocol_error: a frame the "
                                        "protocol forbids, a bad preface or flow-control violation; flood: frames "
                                        "that only make cutover queue answers).")
                                  .Register(*registry_)) {}

std::string Metrics::serialize() const {
  return prometheus::TextSerializer{}.Serialize(registry_->Collect());
}

prometheus::Histogram::BucketBoundaries Metrics::duration_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

}  // namespace cutover::stats
