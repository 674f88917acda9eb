// Automated ramps (SPEC `POST /v1/routes/{route}/ramp`): what a ramp request asks for, and the
// pure evaluation of its gates on the window statistics of the current step. The state machine
// that applies steps and rolls back lives in ramp_controller.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/ramp_gates.hpp"
#include "proxy/stats/window.hpp"

namespace cutover::admin {

enum class ApplyTo { read, write, both };
std::string_view name(ApplyTo a);

// The gates' thresholds; cutoverctl builds the same struct from its flags.
using common::RampGates;

// Called before each step after the first; must answer 2xx within `timeout` (http:// only).
struct RampWebhook {
  std::string url;
  std::chrono::milliseconds timeout{5000};
};

struct RampSpec {
  std::vector<std::uint16_t> steps_bp;   // weights in basis points (percent*100), strictly increasing
  std::chrono::milliseconds interval{};  // time each step runs with passing gates
  ApplyTo apply_to = ApplyTo::both;
  RampGates gates;
  // How long past `interval` a step may wait for min_requests before the ramp rolls back
  // (gate "min_requests"); a webhook that keeps failing rolls back after the same wait.
  std::chrono::milliseconds max_wait{};
  std::optional<RampWebhook> webhook;
};

// Parses and validates a ramp request body ({"steps", "interval", "apply_to", "gates", "max_wait",
// "webhook"}; "if_generation" is the caller's). Returns the spec, or nullopt with `error` set to
// a message for a 422 answer.
std::optional<RampSpec> parse_ramp_spec(const boost::json::object& body, std::string& error);

// The spec as the API and the state file show it (inverse of parse_ramp_spec).
boost::json::object ramp_spec_json(const RampSpec& spec);

struct GateResult {
  std::string gate;             // "max_error_rate", "max_p99_ms", ...
  std::optional<double> value;  // measured; nullopt when it cannot be measured (no source traffic, no comparisons)
  double threshold = 0;
  bool passed = true;           // a gate without a value passes

  // {"gate", "threshold", "value"} (value null when not measured), as evaluations and a rolled-back
  // ramp's failed_gate show it; `passed` is the caller's to add.
  boost::json::object to_json() const;
};

struct GateEvaluation {
  std::int64_t window_s = 0;
  std::uint64_t target_requests = 0;
  std::uint64_t source_requests = 0;
  bool waiting = false;          // fewer than min_requests target requests: no gate counts yet
  bool passed = false;           // enough requests and every gate passed
  std::vector<GateResult> gates;
  std::optional<GateResult> failed;  // the first failing gate, when one failed

  boost::json::object to_json() const;
};

// Pure: the gates of `gates` against one window of each side. Fails only with at least
// min_requests target requests; with fewer, `waiting` (never `passed`: no data never passes).
GateEvaluation evaluate_gates(const RampGates& gates, const stats::WindowSummary& source,
                              const stats::WindowSummary& target, std::int64_t window_s);

}  // namespace cutover::admin
