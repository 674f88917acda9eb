// What the HTTP session and the L4 session share when an upstream side or endpoint is unwell:
// target-to-source failover and the record of an outlier ejection.
#pragma once

#include "proxy/router/split.hpp"
#include "proxy/runtime/snapshot.hpp"

namespace cutover::upstream {

// The side for a request or connection assigned to target: source instead when no target
// endpoint may take traffic and a source one may (counted in route.failovers, logged at most once
// a second per worker). Never the other way round: a sick source is not a reason to send traffic
// to the new stack.
router::Side fail_over_if_target_down(const runtime::Route& route);

// Counts and logs the ejection of `endpoint` when `ejected` (the result of an EndpointHealth
// record_* call) says one happened; sets its cutover_endpoint_healthy gauge to 0.
void note_outlier(const runtime::Cluster& cluster, const runtime::Endpoint& endpoint, bool ejected);

}  // namespace cutover::upstream
