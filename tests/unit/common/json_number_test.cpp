// The admin API's JSON numbers and ramp gates as the server and cutoverctl share them.
#include "common/json_number.hpp"
#include "common/ramp_gates.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <limits>

namespace cutover::common {
namespace {

namespace json = boost::json;

TEST(JsonNumber, EveryNumberKindReadsAsADouble) {
  EXPECT_EQ(json_number(json::parse("10")), 10.0);
  EXPECT_EQ(json_number(json::parse("-3")), -3.0);
  EXPECT_EQ(json_number(json::parse("12.5")), 12.5);
  EXPECT_EQ(json_number(json::parse("1e1")), 10.0);
  EXPECT_EQ(json_number(json::parse("18446744073709551615")), 18446744073709551615.0);  // uint64
}

TEST(JsonNumber, OtherKindsAndNonFiniteDoublesAreNotNumbers) {
  for (const char* text : {"\"10\"", "true", "null", "[1]", "{\"a\":1}"})
    EXPECT_EQ(json_number(json::parse(text)), std::nullopt) << text;
  EXPECT_EQ(json_number(json::value(std::numeric_limits<double>::infinity())), std::nullopt);
  EXPECT_EQ(json_number(json::value(std::numeric_limits<double>::quiet_NaN())), std::nullopt);
}

TEST(JsonNumber, IntegersOnlyWithoutFractionOrExponentAndInRange) {
  EXPECT_EQ(json_int(json::parse("5")), 5);
  EXPECT_EQ(json_int(json::parse("0"), 0, 10), 0);
  EXPECT_EQ(json_int(json::parse("10"), 0, 10), 10);
  EXPECT_EQ(json_int(json::parse("11"), 0, 10), std::nullopt);
  EXPECT_EQ(json_int(json::parse("-1"), 0), std::nullopt);
  for (const char* text : {"5.0", "5e0", "\"5\"", "18446744073709551615", "null"})
    EXPECT_EQ(json_int(json::parse(text)), std::nullopt) << text;
}

TEST(JsonNumber, WholePercentagesAreWrittenAsIntegers) {
  EXPECT_EQ(json::serialize(percent_json(10.0)), "10");
  EXPECT_TRUE(percent_json(10.0).is_int64());
  EXPECT_TRUE(percent_json(0.0).is_int64());
  EXPECT_TRUE(percent_json(12.5).is_double());
  EXPECT_EQ(percent_json(12.5).as_double(), 12.5);
  EXPECT_TRUE(percent_json_bp(10000).is_int64());
  EXPECT_EQ(percent_json_bp(10000).as_int64(), 100);
  EXPECT_EQ(percent_json_bp(1250).as_double(), 12.5);
  EXPECT_EQ(percent_json_bp(1).as_double(), 0.01);
  EXPECT_EQ(percent_json_bp(0).as_int64(), 0);
}

TEST(RampGatesJson, HasTheThresholdsGivenAndAlwaysMinRequests) {
  EXPECT_EQ(json::serialize(ramp_gates_json(RampGates{})), R"({"min_requests":10})");
  RampGates g;
  g.max_error_rate = 0.25;
  g.max_p99_ratio = 2;
  g.min_requests = 3;
  const json::object o = ramp_gates_json(g);
  EXPECT_EQ(o.size(), 3u);
  EXPECT_EQ(o.at("max_error_rate").as_double(), 0.25);
  EXPECT_EQ(o.at("max_p99_ratio").as_double(), 2.0);
  EXPECT_EQ(o.at("min_requests").as_uint64(), 3u);
  EXPECT_FALSE(o.contains("max_p99_ms"));
  EXPECT_FALSE(o.contains("max_mismatch_rate"));
}

}  // namespace
}  // namespace cutover::common
