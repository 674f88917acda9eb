// Window statistics a fleet node publishes for the ramps' gates, and their merge on the leader.
//
// Each node publishes, once a second, per route with a running ramp, what its own data plane
// counted on each side during the ramp's current step: the key stats/<node>/<route>, under the
// node's lease (a node that dies takes its counts with it), the value one compact JSON object
//   {"step": <the step's start, ms since the epoch>, "window_s": 12,
//    "source": {"n": requests, "e": 5xx, "c": connect errors, "t": timeouts, "mm": mirror matches,
//               "mx": mirror mismatches, "l": [[bin, count], ...]},
//    "target": {...}}
// with the latency histogram sparse (only bins with a count; the bins are proxy/stats'
// LatencyBins, copied here as numbers). The leader reads stats/ and adds every node's counts of
// the same step (as stats::WindowSummary::merge): the gates then see the fleet's error rate and percentiles,
// as if one node had carried all the traffic. ~100-300 bytes a route and node.
// fleet/ may not include proxy/: admin/ converts between these and stats::WindowSummary.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cutover::fleet {

// One side's counts over a window (the fields of stats::WindowSummary).
struct WindowCounts {
  std::uint64_t requests = 0, errors_5xx = 0, connect_errors = 0, timeouts = 0;
  std::uint64_t mirror_match = 0, mirror_mismatch = 0;
  std::vector<std::uint64_t> latency;  // per histogram bin, dense (index = bin)
};

// One node's statistics of one route's current ramp step.
struct StepStats {
  std::int64_t step_started_ms = 0;  // identifies the step: counts of another step are not merged
  std::int64_t window_s = 0;
  WindowCounts source, target;
};

std::string encode_step_stats(const StepStats& s);
// nullopt for a value that is not such JSON, or a latency bin past `max_bins`.
std::optional<StepStats> decode_step_stats(std::string_view text, std::size_t max_bins);

}  // namespace cutover::fleet
