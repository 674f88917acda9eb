// Unit tests for stats::Metrics::families(): it lists every registered family, also those the
// exposition leaves out because they have no series yet.
#include "proxy/stats/metrics.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

namespace cutover::stats {
namespace {

bool listed(const Metrics& m, const std::string& name) {
  return std::any_of(m.families().begin(), m.families().end(), [&](const auto& f) { return f.name == name; });
}

TEST(MetricFamilies, EachNameOnceWithItsHelp) {
  const Metrics m;
  std::set<std::string> names;
  for (const auto& f : m.families()) {
    EXPECT_TRUE(names.insert(f.name).second) << f.name;
    EXPECT_TRUE(f.name.starts_with("cutover_")) << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
    EXPECT_TRUE(f.metric.empty()) << f.name;  // a catalogue, not a scrape
  }
}

TEST(MetricFamilies, ListsWhatTheExpositionLeavesOutUntilASeriesExists) {
  Metrics m;
  EXPECT_EQ(m.serialize().find("cutover_writes_held"), std::string::npos);
  EXPECT_TRUE(listed(m, "cutover_writes_held"));
  m.writes_held.Add({{"route", "app"}}).Set(2);
  EXPECT_NE(m.serialize().find("cutover_writes_held{route=\"app\"} 2"), std::string::npos);
}

TEST(MetricFamilies, TypesAreTheRegisteredOnes) {
  const Metrics m;
  for (const auto& f : m.families()) {
    if (f.name == "cutover_request_duration_seconds") EXPECT_EQ(f.type, prometheus::MetricType::Histogram);
    if (f.name == "cutover_route_weight") EXPECT_EQ(f.type, prometheus::MetricType::Gauge);
    if (f.name == "cutover_requests_total") EXPECT_EQ(f.type, prometheus::MetricType::Counter);
  }
  EXPECT_TRUE(listed(m, "cutover_request_duration_seconds"));
  EXPECT_TRUE(listed(m, "cutover_route_weight"));
  EXPECT_TRUE(listed(m, "cutover_requests_total"));
}

}  // namespace
}  // namespace cutover::stats
