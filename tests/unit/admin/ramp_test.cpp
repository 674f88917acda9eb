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

TEST(RampSpec, ApprovalStepsHooksPrometheusAndDryRun) {
  std::string error;
  auto spec = parse(R"({"steps":[5,{"weight":25,"approve":true},{"weight":50},100],"interval":"1s","dry_run":true,
      "hooks":{"pre_step":"http://127.0.0.1:9/pre","on_rollback":{"url":"http://127.0.0.1:9/rb","timeout":"2s"}},
      "gates":{"prometheus":[{"url":"http://127.0.0.1:9090","query":"up","min":1}]}})",
                    error);
  ASSERT_TRUE(spec) << error;
  EXPECT_EQ(spec->steps_bp, (std::vector<std::uint16_t>{500, 2500, 5000, 10000}));
  EXPECT_EQ(spec->approve, (std::vector<bool>{false, true, false, false}));
  EXPECT_TRUE(spec->dry_run);
  ASSERT_TRUE(spec->hooks.pre_step);
  EXPECT_EQ(spec->hooks.pre_step->url, "http://127.0.0.1:9/pre");
  EXPECT_EQ(spec->hooks.pre_step->timeout.count(), 5000);
  ASSERT_TRUE(spec->hooks.on_rollback);
  EXPECT_EQ(spec->hooks.on_rollback->timeout.count(), 2000);
  EXPECT_FALSE(spec->hooks.post_step);
  ASSERT_EQ(spec->prometheus.size(), 1u);
  EXPECT_EQ(spec->prometheus[0].min, 1.0);

  // The view shows it back in the request's form, and parsing that form gives the same spec.
  auto shown = ramp_spec_json(*spec);
  EXPECT_EQ(shown.at("steps").as_array()[1], json::parse(R"({"weight":25,"approve":true})"));
  EXPECT_EQ(shown.at("steps").as_array()[2], json::value(50));
  EXPECT_EQ(shown.at("hooks").as_object().at("pre_step").at("url"), "http://127.0.0.1:9/pre");
  EXPECT_EQ(shown.at("gates").at("prometheus").as_array().size(), 1u);
  EXPECT_EQ(shown.at("dry_run"), true);

  // The request form (state file, fleet records) parses back to the same spec.
  auto again = parse_ramp_spec(ramp_spec_json(*spec, SpecForm::request), error);
  ASSERT_TRUE(again) << error;
  EXPECT_EQ(ramp_spec_json(*again), shown);
}

TEST(RampSpec, RejectsBadApprovalHookAndPrometheusEntriesNamingTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"steps":[{"approve":true}],"interval":"1s"})", "steps[0]"},
      {R"({"steps":[10,{"weight":20,"approve":"yes"}],"interval":"1s"})", "steps[1]"},
      {R"({"steps":[10,{"weight":20,"wait":true}],"interval":"1s"})", "unknown field 'wait' in steps[1]"},
      {R"({"steps":[10,{"weight":101}],"interval":"1s"})", "steps[1]"},
      {R"({"steps":[10],"interval":"1s","hooks":{"pre_step":"ftp://x/"}})", "hooks.pre_step must be"},
      {R"({"steps":[10],"interval":"1s","hooks":{"on_complete":{"url":"http://x/","timeout":0}}})",
       "hooks.on_complete.timeout"},
      {R"({"steps":[10],"interval":"1s","hooks":{"before":"http://x/"}})", "unknown field 'before' in 'hooks'"},
      {R"({"steps":[10],"interval":"1s","hooks":[]})", "'hooks'"},
      {R"({"steps":[10],"interval":"1s","dry_run":"true"})", "'dry_run'"},
      {R"({"steps":[10],"interval":"1s","gates":{"prometheus":{}}})", "gates.prometheus must be a list"},
      {R"({"steps":[10],"interval":"1s","gates":{"prometheus":[{"url":"http://p:9090","query":"up"}]}})",
       "gates.prometheus[0] must have exactly one"},
      {R"({"steps":[10],"interval":"1s","gates":{"prometheus":[{"url":"http://p:9090","query":"up","max":1},
          {"url":"http://p:9090","query":"","max":1}]}})",
       "gates.prometheus[1].query"},
  };
  for (const auto& [body, want] : cases) {
    std::string error;
    EXPECT_FALSE(parse(body, error)) << body;
    EXPECT_NE(error.find(want), std::string::npos) << body << " -> " << error;
  }
}

TEST(RampGates, PrometheusGateCrossingItsBoundFailsEvenWhileWaiting) {
  std::string error;
  auto spec = parse(R"({"steps":[10,100],"interval":"1s","gates":{"min_requests":100,"prometheus":[
      {"url":"http://p:9090","query":"errors","max":0.05},{"url":"http://p:9090","query":"up","min":3}]}})",
                    error);
  ASSERT_TRUE(spec) << error;
  // Within both bounds, with too few requests: waiting, not failed.
  auto e = evaluate_gates(*spec, side(100, 0, 1000), side(5, 0, 1000), 10,
                          {PrometheusValue{0.01, {}}, PrometheusValue{3, {}}});
  EXPECT_TRUE(e.waiting);
  EXPECT_FALSE(e.failed);
  EXPECT_FALSE(e.blocked);
  // The error query over its max fails at once: the team's metric does not wait for this step's requests.
  e = evaluate_gates(*spec, side(100, 0, 1000), side(5, 0, 1000), 10,
                     {PrometheusValue{0.2, {}}, PrometheusValue{3, {}}});
  ASSERT_TRUE(e.failed);
  EXPECT_EQ(e.failed->gate, "prometheus");
  EXPECT_EQ(e.failed->query, "errors");
  EXPECT_EQ(e.failed->value, 0.2);
  EXPECT_FALSE(e.passed);
  // A min bound: 2 < 3 fails.
  e = evaluate_gates(*spec, side(100, 0, 1000), side(500, 0, 1000), 10,
                     {PrometheusValue{0.0, {}}, PrometheusValue{2, {}}});
  ASSERT_TRUE(e.failed);
  EXPECT_EQ(e.failed->query, "up");
  EXPECT_TRUE(e.failed->at_least);
  EXPECT_EQ(e.failed->to_json().at("bound"), "min");
  // Enough requests and both within bounds: passed.
  e = evaluate_gates(*spec, side(100, 0, 1000), side(500, 0, 1000), 10,
                     {PrometheusValue{0.0, {}}, PrometheusValue{4, {}}});
  EXPECT_TRUE(e.passed);
}

TEST(RampGates, PrometheusAnswerThatIsNotANumberBlocksAndNamesWhy) {
  std::string error;
  auto spec = parse(R"({"steps":[10,100],"interval":"1s","gates":{"min_requests":1,"prometheus":[
      {"url":"http://p:9090","query":"x_total","max":1}]}})",
                    error);
  ASSERT_TRUE(spec) << error;
  const auto answer = parse_prometheus_answer(
      200, R"({"status":"success","data":{"resultType":"vector","result":[
          {"metric":{"a":"1"},"value":[1,"0.1"]},{"metric":{"a":"2"},"value":[1,"0.2"]}]}})");
  ASSERT_FALSE(answer.value);
  auto e = evaluate_gates(*spec, side(100, 0, 1000), side(500, 0, 1000), 10, {answer});
  EXPECT_FALSE(e.failed);  // no value crossed anything
  ASSERT_TRUE(e.blocked);
  EXPECT_FALSE(e.passed);  // but the step cannot pass on it
  EXPECT_NE(e.blocked->error.find("2 samples"), std::string::npos) << e.blocked->error;
  // Before the first answer the gate blocks too.
  e = evaluate_gates(*spec, side(100, 0, 1000), side(500, 0, 1000), 10, {});
  ASSERT_TRUE(e.blocked);
  EXPECT_FALSE(e.passed);
  // At start the same answer is a 422 naming the field.
  const auto message = prometheus_start_error(0, answer);
  EXPECT_EQ(message.rfind("gates.prometheus[0].query: ", 0), 0u) << message;
  EXPECT_NE(message.find("2 samples"), std::string::npos) << message;
  const auto text = parse_prometheus_answer(200, R"({"status":"success","data":{"resultType":"string","result":[1,"x"]}})");
  EXPECT_NE(prometheus_start_error(1, text).find("gates.prometheus[1].query: a string result"), std::string::npos);
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
