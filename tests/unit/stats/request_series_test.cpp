// Unit tests for stats::RequestSeries: per-worker shards summed into the prometheus-cpp series at
// scrape time, with the same buckets, counts and sums as prometheus-cpp's own Observe.
#include "proxy/stats/request_series.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "proxy/stats/metrics.hpp"

namespace cutover::stats {
namespace {

// The value of one exposition line, e.g. `cutover_requests_total{...} 3`; -1 when absent.
double line_value(const std::string& text, const std::string& series) {
  const auto at = text.find(series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 1));
}

const std::string kOk = R"(cutover_requests_total{code_class="2xx",kind="read",route="app",side="source"})";
const std::string kCount = R"(cutover_request_duration_seconds_count{route="app",side="source"})";
const std::string kSum = R"(cutover_request_duration_seconds_sum{route="app",side="source"})";

std::string bucket(const std::string& le) {
  return R"(cutover_request_duration_seconds_bucket{route="app",side="source",le=")" + le + R"("})";
}

TEST(RequestSeries, ScrapeShowsWhatEveryWorkerRecorded) {
  Metrics m;
  auto& series = m.request_series("app", 3);
  series.record(0, 0, 0, 1, 0.0004);
  series.record(1, 0, 0, 1, 0.002);
  series.record(2, 0, 0, 1, 40.0);    // beyond the last bound: +Inf only
  series.record(2, 1, 1, 4, 0.0001);  // target, write, 5xx
  const auto text = m.serialize();
  EXPECT_EQ(line_value(text, kOk), 3);
  EXPECT_EQ(line_value(text, R"(cutover_requests_total{code_class="5xx",kind="write",route="app",side="target"})"), 1);
  EXPECT_EQ(line_value(text, kCount), 3);
  EXPECT_EQ(line_value(text, bucket("0.0005")), 1);
  EXPECT_EQ(line_value(text, bucket("0.0025")), 2);
  EXPECT_EQ(line_value(text, bucket("30")), 2);
  EXPECT_EQ(line_value(text, bucket("+Inf")), 3);
  EXPECT_NEAR(line_value(text, kSum), 40.0024, 1e-6);
  EXPECT_EQ(series.count(0, 0, 1), 3u);
}

TEST(RequestSeries, ScrapesAddOnlyTheGrowth) {
  Metrics m;
  auto& series = m.request_series("app", 1);
  series.record(0, 0, 0, 1, 0.001);
  (void)m.serialize();
  (void)m.serialize();
  series.record(0, 0, 0, 1, 0.001);
  const auto text = m.serialize();
  EXPECT_EQ(line_value(text, kOk), 2);
  EXPECT_EQ(line_value(text, kCount), 2);
  EXPECT_NEAR(line_value(text, kSum), 0.002, 1e-9);
}

TEST(RequestSeries, SameRouteSameObjectAcrossCalls) {
  Metrics m;
  auto& a = m.request_series("app", 2);
  a.record(1, 0, 0, 1, 0.01);
  auto& b = m.request_series("app", 2);  // a reload asks again
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(b.count(0, 0, 1), 1u);
  EXPECT_NE(&a, &m.request_series("other", 2));
}

// The bucket of a value on a bound, between bounds and outside them is the one prometheus-cpp's
// Histogram::Observe picks (first bound >= value).
TEST(RequestSeries, BucketsAsPrometheusObserve) {
  const std::vector<double> values{0, 0.0005, 0.00050001, 0.001, 0.0099, 0.01, 2.5, 29.9, 30, 30.1, 1e9};
  Metrics ours;
  auto& series = ours.request_series("app", 1);
  prometheus::Histogram reference(Metrics::duration_buckets());
  for (double v : values) {
    series.record(0, 0, 0, 1, v);
    reference.Observe(v);
  }
  const auto text = ours.serialize();
  const auto expected = reference.Collect().histogram;
  ASSERT_EQ(expected.bucket.size(), Metrics::duration_buckets().size() + 1);
  for (const auto& b : expected.bucket) {
    std::string le;
    if (std::isinf(b.upper_bound)) {
      le = "+Inf";
    } else {
      std::ostringstream os;
      os << b.upper_bound;
      le = os.str();
    }
    EXPECT_EQ(line_value(text, bucket(le)), static_cast<double>(b.cumulative_count)) << "le=" << le;
  }
  EXPECT_EQ(line_value(text, kCount), static_cast<double>(expected.sample_count));
}

// Two workers recording while a third thread scrapes: the final scrape has every request (TSan
// checks the shards' single-writer protocol).
TEST(RequestSeries, ConcurrentWorkersAndScrapes) {
  Metrics m;
  auto& series = m.request_series("app", 2);
  constexpr int kPerWorker = 20000;
  std::vector<std::thread> workers;
  for (std::size_t w = 0; w < 2; ++w)
    workers.emplace_back([&series, w] {
      for (int i = 0; i < kPerWorker; ++i) series.record(w, 0, 0, 1, 0.001 * (i % 7));
    });
  std::thread scraper([&m] {
    for (int i = 0; i < 50; ++i) (void)m.serialize();
  });
  for (auto& t : workers) t.join();
  scraper.join();
  const auto text = m.serialize();
  EXPECT_EQ(line_value(text, kOk), 2.0 * kPerWorker);
  EXPECT_EQ(line_value(text, kCount), 2.0 * kPerWorker);
}

TEST(RequestSeries, StatusToCodeClass) {
  EXPECT_EQ(RequestSeries::code_class(100), 0u);
  EXPECT_EQ(RequestSeries::code_class(204), 1u);
  EXPECT_EQ(RequestSeries::code_class(399), 2u);
  EXPECT_EQ(RequestSeries::code_class(404), 3u);
  EXPECT_EQ(RequestSeries::code_class(599), 4u);
  // Outside 100..599 (nothing sent, or a status no client can read): counted as 5xx.
  EXPECT_EQ(RequestSeries::code_class(0), 4u);
  EXPECT_EQ(RequestSeries::code_class(99), 4u);
  EXPECT_EQ(RequestSeries::code_class(600), 4u);
}

TEST(RequestSeries, RefusesMoreBucketsThanItHolds) {
  Metrics m;
  auto& c = m.requests.Add({{"route", "x"}});
  auto& h = m.request_duration.Add({{"route", "x"}}, Metrics::duration_buckets());
  RequestSeries::Counters counters{};
  for (auto& side : counters)
    for (auto& kind : side)
      for (auto& cls : kind) cls = &c;
  EXPECT_THROW(RequestSeries(1, counters, {&h, &h}, std::vector<double>(RequestSeries::kMaxBuckets + 1, 1.0)),
               std::invalid_argument);
  counters[1][1][4] = nullptr;
  EXPECT_THROW(RequestSeries(1, counters, {&h, &h}, Metrics::duration_buckets()), std::invalid_argument);
}

}  // namespace
}  // namespace cutover::stats
