// The gates of a ramp (SPEC `POST /v1/routes/{route}/ramp`, "gates"): the thresholds a step must
// stay within on the target before the next step. One shape for the admin server (which parses,
// evaluates, shows and saves them) and cutoverctl (which builds them from flags).
#pragma once

#include <cstdint>
#include <optional>

#include <boost/json/object.hpp>

namespace cutover::common {

// Thresholds; an absent one is not checked. Rates are fractions (0.05 = 5 %).
struct RampGates {
  std::optional<double> max_error_rate;     // target 5xx / target requests
  std::optional<double> max_p99_ms;         // target p99, ms
  std::optional<double> max_p99_ratio;      // target p99 / source p99 in the same window
  std::optional<double> max_mismatch_rate;  // shadow mismatches / comparisons of the mirror
  std::uint64_t min_requests = 10;          // target requests a step needs before any gate counts
};

// {"max_error_rate": 0.05, ..., "min_requests": 10}: the thresholds given, and always min_requests.
// The form a ramp request takes and its view shows.
inline boost::json::object ramp_gates_json(const RampGates& g) {
  boost::json::object o;
  if (g.max_error_rate) o["max_error_rate"] = *g.max_error_rate;
  if (g.max_p99_ms) o["max_p99_ms"] = *g.max_p99_ms;
  if (g.max_p99_ratio) o["max_p99_ratio"] = *g.max_p99_ratio;
  if (g.max_mismatch_rate) o["max_mismatch_rate"] = *g.max_mismatch_rate;
  o["min_requests"] = g.min_requests;
  return o;
}

}  // namespace cutover::common
