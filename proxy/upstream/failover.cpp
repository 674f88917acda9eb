// Failover and outlier ejection records: see failover.hpp.
#include "proxy/upstream/failover.hpp"

#include <cstdint>

#include <spdlog/spdlog.h>

#include "proxy/runtime/endpoint_health.hpp"

namespace cutover::upstream {

router::Side fail_over_if_target_down(const runtime::Route& route) {
  const auto now = runtime::steady_ms();
  if (route.cluster(router::Side::target).any_available(now) || !route.cluster(router::Side::source).any_available(now))
    return router::Side::target;
  route.failovers->Increment();
  thread_local std::int64_t last_logged = 0;
  if (now - last_logged >= 1000) {
    last_logged = now;
    spdlog::warn("route {}: no endpoint of target cluster {} is available; its share goes to source", route.name,
                 route.cluster(router::Side::target).name);
  }
  return router::Side::source;
}

void note_outlier(const runtime::Cluster& cluster, const runtime::Endpoint& endpoint, bool ejected) {
  if (!ejected) return;
  cluster.ejections->Increment();
  endpoint.healthy_gauge->Set(0);
  const auto ms = endpoint.health->ejected_until_ms() - runtime::steady_ms();
  spdlog::warn("outlier detection: cluster {} endpoint {} ejected for {} ms (ejection {})", cluster.name, endpoint.text,
               ms, endpoint.health->ejections());
}

}  // namespace cutover::upstream
