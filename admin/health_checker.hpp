// Active HTTP health checks (SPEC cluster `health_check`): on the control thread, one
// probe loop per endpoint of every cluster that has a health_check: GET path with the endpoint as
// Host (:authority), in the cluster's protocol on a connection of its own (HTTP/1.1 with
// `Connection: close`; HTTP/2 by prior knowledge, or ALPN h2 over tls, RFC 9113 §3), a 2xx or 3xx
// head within `timeout` is a pass. Verdicts go to the
// endpoint's EndpointHealth (read by every worker's pool); cutover_endpoint_healthy{cluster,
// endpoint} is refreshed every second for every endpoint (1 = requests may go there: healthy
// and not ejected by outlier detection).
#pragma once

#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/runtime/snapshot.hpp"

namespace cutover::admin {

class HealthChecker {
 public:
  explicit HealthChecker(boost::asio::io_context& io) : io_(io), gauges_(io) {}

  // Checks the clusters of `snapshot` from now on; loops of an earlier snapshot stop at their next
  // wake-up. Clusters without a health_check get their endpoints' check verdict reset to healthy.
  void apply(std::shared_ptr<const runtime::Snapshot> snapshot);

 private:
  void refresh_gauges();

  boost::asio::io_context& io_;
  boost::asio::steady_timer gauges_;
  std::shared_ptr<const runtime::Snapshot> snapshot_;
  std::uint64_t generation_ = 0;  // bumped by apply(): older loops end
};

}  // namespace cutover::admin
