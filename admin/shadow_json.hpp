// The `GET /v1/shadow` view of one route (SPEC "Admin API"): counts from
// cutover_mirror_requests_total, in-flight mirrors, noisy fields and the recent mismatch samples.
#pragma once

#include <boost/json/object.hpp>

#include "proxy/runtime/snapshot.hpp"

namespace cutover::admin {

// {"route", "enabled", "percent", "methods", "mirrored", "compared", "matched", "mismatched",
//  "errors", "dropped", "skipped_body", "in_flight", "mismatch_rate", "last_error",
//  "noise": {"samples", "fields": [{"field", "count"}], "other"}, "samples": [MismatchSample...]}.
// mirrored = matched + mismatched + errors (copies sent or meant to be sent); compared =
// matched + mismatched; mismatch_rate = mismatched / compared (0 when nothing was compared).
// A route without a mirror block gives {"route", "enabled": false}.
boost::json::object shadow_state(const runtime::Route& route);

}  // namespace cutover::admin
