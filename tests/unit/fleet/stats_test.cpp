// The step statistics a fleet node publishes for the leader's gates: written and read back,
// and what is refused; the leader's campaign interval.
#include "fleet/stats.hpp"

#include <gtest/gtest.h>

#include "fleet/leader.hpp"

namespace cutover::fleet {
namespace {

StepStats sample() {
  StepStats s;
  s.step_started_ms = 1'700'000'000'123;
  s.window_s = 12;
  s.source = {100, 1, 0, 0, 0, 0, {0, 0, 5, 95}};
  s.target = {40, 8, 2, 1, 3, 1, {}};
  s.target.latency.resize(88);
  s.target.latency[87] = 40;
  return s;
}

TEST(StepStats, RoundTripsWithASparseHistogram) {
  const auto text = encode_step_stats(sample());
  EXPECT_EQ(text.find("[0,0]"), std::string::npos) << "empty bins are left out: " << text;
  auto back = decode_step_stats(text, 88);
  ASSERT_TRUE(back) << text;
  EXPECT_EQ(back->step_started_ms, 1'700'000'000'123);
  EXPECT_EQ(back->window_s, 12);
  EXPECT_EQ(back->source.requests, 100u);
  EXPECT_EQ(back->source.errors_5xx, 1u);
  EXPECT_EQ(back->source.latency, (std::vector<std::uint64_t>{0, 0, 5, 95}));
  EXPECT_EQ(back->target.requests, 40u);
  EXPECT_EQ(back->target.errors_5xx, 8u);
  EXPECT_EQ(back->target.connect_errors, 2u);
  EXPECT_EQ(back->target.timeouts, 1u);
  EXPECT_EQ(back->target.mirror_match, 3u);
  EXPECT_EQ(back->target.mirror_mismatch, 1u);
  ASSERT_EQ(back->target.latency.size(), 88u);
  EXPECT_EQ(back->target.latency[87], 40u);
}

TEST(StepStats, RefusesWhatIsNotOne) {
  EXPECT_FALSE(decode_step_stats("not json", 88));
  EXPECT_FALSE(decode_step_stats("{}", 88));
  auto text = encode_step_stats(sample());
  EXPECT_FALSE(decode_step_stats(text, 87)) << "a bin past the histogram";
  EXPECT_FALSE(decode_step_stats(R"({"step": 1, "window_s": 1, "source": {"n": -1}, "target": {}})", 88));
}

TEST(Leader, CampaignsAQuarterOfTheLeaseTtlWithinBounds) {
  using std::chrono::milliseconds;
  EXPECT_EQ(Leader::poll_interval(milliseconds(2000)), milliseconds(500));
  EXPECT_EQ(Leader::poll_interval(milliseconds(100)), milliseconds(100));
  EXPECT_EQ(Leader::poll_interval(milliseconds(60000)), milliseconds(1000));
}

}  // namespace
}  // namespace cutover::fleet
