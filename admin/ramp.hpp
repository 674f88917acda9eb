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

#include "admin/prometheus_gate.hpp"
#include "common/ramp_gates.hpp"
#include "proxy/stats/window.hpp"

namespace cutover::admin {

enum class ApplyTo { read, write, both };
std::string_view name(ApplyTo a);

// The gates' thresholds; cutoverctl builds the same struct from its flags.
using common::RampGates;

// An http:// URL that cutover POSTs a JSON body to, bounded by `timeout`.
struct RampWebhook {
  std::string url;
  std::chrono::milliseconds timeout{5000};
};

// The ramp's hooks (Flagger's webhooks, Argo's analysis hooks), each optional. Every call POSTs
// {"event", "route", "step", "steps", "weight", "weights": {"read", "write"}, "gates": [...],
// "reason", "dry_run"}; steps count from 1, weights in percent.
// - pre_step: before each step after the first; a 2xx within its timeout lets the step's
//   weight be applied, anything else pauses the ramp with the answer as its reason (resume to
//   try again).
// - post_step: after a step's weight is applied; on_rollback: after a gate rolled the ramp back;
//   on_complete: after the last step passed. These three only inform: their answers are logged
//   and shown in the view, never waited for.
struct RampHooks {
  std::optional<RampWebhook> pre_step, post_step, on_rollback, on_complete;
  bool any() const { return pre_step || post_step || on_rollback || on_complete; }
};

struct RampSpec {
  std::vector<std::uint16_t> steps_bp;   // weights in basis points (percent*100), strictly increasing
  // Per step (same size as steps_bp): true when the step waits for POST .../ramp/approve once its
  // weight is applied (state awaiting_approval; the gates still run and can still roll back).
  std::vector<bool> approve;
  std::chrono::milliseconds interval{};  // time each step runs with passing gates
  ApplyTo apply_to = ApplyTo::both;
  RampGates gates;
  // Gates on the team's own Prometheus, evaluated with the others once a second (a query still
  // running is not started again). A value beyond its bound rolls back at once; a query without
  // a number blocks the step and rolls back after max_wait, like too few requests.
  std::vector<PrometheusGate> prometheus;
  // How long past `interval` a step may wait for min_requests before the ramp rolls back
  // (gate "min_requests"); a webhook that keeps failing rolls back after the same wait.
  std::chrono::milliseconds max_wait{};
  // The older single webhook gate: called before each step after the first and retried until a
  // 2xx, rolling back after max_wait (hooks.pre_step pauses instead).
  std::optional<RampWebhook> webhook;
  RampHooks hooks;
  // A rehearsal: the ramp walks its steps on its clock, evaluates its gates and calls its hooks
  // against live statistics, and records what it would have done; it never changes a weight.
  bool dry_run = false;
};

// Parses and validates a ramp request body ({"steps", "interval", "apply_to", "gates", "max_wait",
// "webhook", "hooks", "dry_run"}; "if_generation" is the caller's). A step is a weight in percent
// or {"weight": W, "approve": true}. Returns the spec, or nullopt with `error` set to a message for
// a 422 answer that names the field.
std::optional<RampSpec> parse_ramp_spec(const boost::json::object& body, std::string& error);

// The two forms of a spec: the view's (GET .../ramp: "interval_s", "max_wait_s", hooks with
// "timeout_s", "webhook" and "hooks" always present) and the request's, which parse_ramp_spec
// takes back (the state file and the fleet's ramp records: "interval", "max_wait", "timeout").
enum class SpecForm { view, request };
// The spec in `form`: a step that waits for approval shows as {"weight", "approve": true}, the
// others as numbers.
boost::json::object ramp_spec_json(const RampSpec& spec, SpecForm form = SpecForm::view);
// The "steps" list alone, in the same form.
boost::json::array ramp_steps_json(const RampSpec& spec);

// The message of a 422 for a Prometheus gate whose query, run once when the ramp starts, gave no
// number: "gates.prometheus[I].query: <why>" (a typo in PromQL is refused before any step).
std::string prometheus_start_error(std::size_t index, const PrometheusValue& value);

struct GateResult {
  GateResult() = default;
  // A built-in gate's result (Prometheus gates fill the fields below as well).
  GateResult(std::string gate_name, std::optional<double> measured, double bound, bool pass)
      : gate(std::move(gate_name)), value(measured), threshold(bound), passed(pass) {}

  std::string gate;             // "max_error_rate", "max_p99_ms", ..., "prometheus"
  std::optional<double> value;  // measured; nullopt when it cannot be measured (no source traffic, no comparisons)
  double threshold = 0;
  bool passed = true;           // a built-in gate without a value passes; a Prometheus gate does not
  bool at_least = false;        // the value must be >= threshold (a Prometheus "min"), else <=
  std::string query;            // prometheus: the PromQL
  std::string error;            // prometheus: why there is no value

  // {"gate", "threshold", "value"} (value null when not measured), with "bound": "min" | "max",
  // "query" and "error" for Prometheus gates, as evaluations and a rolled-back ramp's failed_gate
  // show it; `passed` is the caller's to add.
  boost::json::object to_json() const;
};

struct GateEvaluation {
  std::int64_t window_s = 0;
  std::uint64_t target_requests = 0;
  std::uint64_t source_requests = 0;
  bool waiting = false;          // fewer than min_requests target requests: no gate counts yet
  bool passed = false;           // enough requests and every gate passed
  std::vector<GateResult> gates;
  std::optional<GateResult> failed;   // the first gate whose value crossed its threshold
  std::optional<GateResult> blocked;  // else the first gate that must be measured and was not

  boost::json::object to_json() const;
};

// Pure: a Prometheus gate against the query's latest answer (nullopt before any): a missing number
// is a failed gate whose reason is the answer's error.
GateResult evaluate_prometheus_gate(const PrometheusGate& gate, std::size_t index,
                                    const std::optional<PrometheusValue>& answer);

// Pure: the gates of `gates` against one window of each side. Fails only with at least
// min_requests target requests; with fewer, `waiting` (never `passed`: no data never passes).
GateEvaluation evaluate_gates(const RampGates& gates, const stats::WindowSummary& source,
                              const stats::WindowSummary& target, std::int64_t window_s);
// The same with the spec's Prometheus gates added from their latest answers (`answers` holds one
// entry per gate, or is empty before the first round).
GateEvaluation evaluate_gates(const RampSpec& spec, const stats::WindowSummary& source,
                              const stats::WindowSummary& target, std::int64_t window_s,
                              const std::vector<std::optional<PrometheusValue>>& answers);

}  // namespace cutover::admin
