// Ramp requests and gate evaluation (admin/ramp.hpp): the pure parts of automated ramps.
#include "admin/ramp.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace cutover::admin {
namespace {

namespace json = boost::json;

std::optional<RampSpec> parse(std::string_view text, std::string& error) {
  return parse_ramp_spec(json::parse(text).as_object(), error);
}

stats::WindowSummary side(std::uint64_t requests, std::uint64_t errors, std::uint64_t latency_us,
                          std::uint64_t match = 0, std::uint64_t mismatch = 0) {
  stats::WindowSummary s;
  s.requests = requests;
  s.errors_5xx = errors;
  s.mirror_match = match;
  s.mirror_mismatch = mismatch;
  if (requests) s.latency[stats::LatencyBins::bin_of(latency_us)] = requests;
  return s;
}

TEST(RampSpec, ParsesTheSpecExample) {
  std::string error;
  auto spec = parse(R"({"steps":[1,5,25,50,100],"interval":"60s","apply_to":"both",
      "gates":{"max_error_rate":0.01,"max_p99_ms":500,"max_p99_ratio":1.5,"max_mismatch_rate":0.001,"min_requests":100}})",
                    error);
  ASSERT_TRUE(spec) << error;
  EXPECT_EQ(spec->steps_bp, (std::vector<std::uint16_t>{100, 500, 2500, 5000, 10000}));
  EXPECT_EQ(spec->interval.count(), 60000);
  EXPECT_EQ(spec->apply_to, ApplyTo::both);
  EXPECT_EQ(spec->gates.max_error_rate, 0.01);
  EXPECT_EQ(spec->gates.max_p99_ms, 500);
  EXPECT_EQ(spec->gates.max_p99_ratio, 1.5);
  EXPECT_EQ(spec->gates.max_mismatch_rate, 0.001);
  EXPECT_EQ(spec->gates.min_requests, 100u);
  EXPECT_EQ(spec->max_wait.count(), 600000);  // default: ten intervals
  EXPECT_FALSE(spec->webhook);
}

TEST(RampSpec, DefaultsAndNumbersAsSeconds) {
  std::string error;
  auto spec = parse(R"({"steps":[12.5, 100],"interval":2,"max_wait":3,"webhook":{"url":"http://127.0.0.1:9/x"}})", error);
  ASSERT_TRUE(spec) << error;
  EXPECT_EQ(spec->steps_bp, (std::vector<std::uint16_t>{1250, 10000}));
  EXPECT_EQ(spec->interval.count(), 2000);
  EXPECT_EQ(spec->max_wait.count(), 3000);
  EXPECT_EQ(spec->gates.min_requests, 10u);
  ASSERT_TRUE(spec->webhook);
  EXPECT_EQ(spec->webhook->timeout.count(), 5000);
}

TEST(RampSpec, RejectsBadRequestsWithAReason) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"interval":"1s"})", "'steps'"},
      {R"({"steps":[],"interval":"1s"})", "'steps'"},
      {R"({"steps":[10,10],"interval":"1s"})", "strictly increasing"},
      {R"({"steps":[10.001],"interval":"1s"})", "0.01"},
      {R"({"steps":[10],"interval":"500ms"})", "'interval'"},
      {R"({"steps":[10],"interval":"1s","apply_to":"reads"})", "apply_to"},
      {R"({"steps":[10],"interval":"1s","gates":{"max_p99_ratio":-1}})", "max_p99_ratio"},
      {R"({"steps":[10],"interval":"1s","gates":{"min_requests":1.5}})", "min_requests"},
      {R"({"steps":[10],"interval":"1s","gates":[]})", "'gates'"},
      {R"({"steps":[10],"interval":"1s","colour":1})", "unknown field 'colour'"},
      {R"({"steps":[10],"interval":"1s","webhook":{"url":"ftp://x/"}})", "http://"},
      {R"({"steps":[10],"interval":"1s","webhook":{"url":"http://x/","timeout":"2m"}})", "timeout"},
  };
  for (const auto& [body, want] : cases) {
    std::string error;
    EXPECT_FALSE(parse(body, error)) << body;
    EXPECT_NE(error.find(want), std::string::npos) << body << " -> " << error;
  }
}

TEST(RampGates, WaitsBelowMinRequestsEvenWhenEverythingFails) {
  RampGates g;
  g.max_error_rate = 0.05;
  g.min_requests = 10;
  auto e = evaluate_gates(g, side(100, 0, 1000), side(9, 9, 1000), 5);
  EXPECT_TRUE(e.waiting);
  EXPECT_FALSE(e.passed);
  EXPECT_FALSE(e.failed);
}

TEST(RampGates, NoDataNeverPasses) {
  RampGates g;
  g.min_requests = 1;
  auto e = evaluate_gates(g, {}, {}, 3);
  EXPECT_TRUE(e.waiting);
  EXPECT_FALSE(e.passed);
}

TEST(RampGates, ErrorRateFailsAboveTheThreshold) {
  RampGates g;
  g.max_error_rate = 0.05;
  auto e = evaluate_gates(g, side(100, 0, 1000), side(100, 6, 1000), 5);
  ASSERT_TRUE(e.failed);
  EXPECT_EQ(e.failed->gate, "max_error_rate");
  EXPECT_DOUBLE_EQ(*e.failed->value, 0.06);
  e = evaluate_gates(g, side(100, 0, 1000), side(100, 5, 1000), 5);
  EXPECT_TRUE(e.passed);  // at the threshold passes
}

TEST(RampGates, LatencyAndRatio) {
  RampGates g;
  g.max_p99_ms = 100;
  g.max_p99_ratio = 2;
  auto e = evaluate_gates(g, side(100, 0, 10'000), side(100, 0, 15'000), 5);
  EXPECT_TRUE(e.passed);
  e = evaluate_gates(g, side(100, 0, 10'000), side(100, 0, 30'000), 5);
  ASSERT_TRUE(e.failed);
  EXPECT_EQ(e.failed->gate, "max_p99_ratio");
  EXPECT_NEAR(*e.failed->value, 3.0, 3.0 * 2 * stats::LatencyBins::kRelativeError);
  e = evaluate_gates(g, side(100, 0, 100'000), side(100, 0, 210'000), 5);
  ASSERT_TRUE(e.failed);
  EXPECT_EQ(e.failed->gate, "max_p99_ms");  // the first failing gate in order
}

TEST(RampGates, RatioWithoutSourceTrafficCannotFail) {
  RampGates g;
  g.max_p99_ratio = 2;
  auto e = evaluate_gates(g, {}, side(100, 0, 900'000), 5);
  EXPECT_TRUE(e.passed);
  ASSERT_EQ(e.gates.size(), 2u);
  EXPECT_FALSE(e.gates[1].value);
}

TEST(RampGates, MismatchRateFromTheShadowComparison) {
  RampGates g;
  g.max_mismatch_rate = 0.01;
  auto e = evaluate_gates(g, side(100, 0, 1000), side(100, 0, 1000, 98, 2), 5);
  ASSERT_TRUE(e.failed);
  EXPECT_EQ(e.failed->gate, "max_mismatch_rate");
  EXPECT_DOUBLE_EQ(*e.failed->value, 0.02);
  e = evaluate_gates(g, side(100, 0, 1000), side(100, 0, 1000), 5);
  EXPECT_TRUE(e.passed);  // no comparisons: nothing to judge
}

TEST(RampGates, JsonNamesEveryGate) {
  RampGates g;
  g.max_error_rate = 0.05;
  auto j = evaluate_gates(g, side(10, 0, 1000), side(20, 1, 1000), 7).to_json();
  EXPECT_EQ(j.at("window_s").as_int64(), 7);
  EXPECT_EQ(j.at("target_requests").as_uint64(), 20u);
  EXPECT_EQ(j.at("gates").as_array().size(), 2u);
  EXPECT_TRUE(j.at("passed").as_bool());
}

// One shape for a gate wherever it is shown: in evaluations (plus "passed") and as a failed gate.
TEST(RampGates, GateResultJsonHasGateThresholdAndValueOrNull) {
  GateResult measured{"max_p99_ms", 812.5, 500, false};
  auto j = measured.to_json();
  EXPECT_EQ(j.size(), 3u);
  EXPECT_EQ(j.at("gate").as_string(), "max_p99_ms");
  EXPECT_EQ(j.at("threshold").as_double(), 500.0);
  EXPECT_EQ(j.at("value").as_double(), 812.5);
  const GateResult unmeasured{"max_p99_ratio", std::nullopt, 2, true};
  EXPECT_TRUE(unmeasured.to_json().at("value").is_null());

  RampGates g;
  g.max_p99_ms = 1;
  auto e = evaluate_gates(g, side(10, 0, 1000), side(20, 0, 1000), 7).to_json();
  for (const auto& gate : e.at("gates").as_array()) {
    EXPECT_TRUE(gate.as_object().contains("value"));
    EXPECT_TRUE(gate.as_object().contains("passed"));
  }
}

}  // namespace
}  // namespace cutover::admin
