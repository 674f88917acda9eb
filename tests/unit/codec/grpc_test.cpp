// cutover's own answers to gRPC calls (PROTOCOL-HTTP2.md Trailers-Only).
#include "proxy/codec/grpc.hpp"

#include <gtest/gtest.h>

#include "config/model.hpp"

namespace cutover::codec {
namespace {

TEST(Grpc, ContentTypes) {
  EXPECT_TRUE(is_grpc_content_type("application/grpc"));
  EXPECT_TRUE(is_grpc_content_type("application/grpc+proto"));
  EXPECT_TRUE(is_grpc_content_type("application/grpc;charset=utf-8"));
  EXPECT_FALSE(is_grpc_content_type("application/grpc-web"));
  EXPECT_FALSE(is_grpc_content_type("application/json"));
  EXPECT_FALSE(is_grpc_content_type(""));
}

TEST(Grpc, StatusOfCutoverAnswers) {
  EXPECT_EQ(grpc_status_for(502, ""), 14u);  // connect failed: UNAVAILABLE
  EXPECT_EQ(grpc_status_for(404, ""), 14u);  // no route
  EXPECT_EQ(grpc_status_for(503, "max_held"), 14u);
  EXPECT_EQ(grpc_status_for(503, "hold_timeout"), 4u);  // DEADLINE_EXCEEDED
  EXPECT_EQ(grpc_status_for(504, ""), 4u);
  EXPECT_EQ(grpc_status_for(408, ""), 4u);
  EXPECT_EQ(grpc_status_for(413, ""), 8u);  // RESOURCE_EXHAUSTED
  EXPECT_EQ(grpc_status_for(400, ""), 13u);  // INTERNAL
}

TEST(Grpc, ErrorStatuses) {
  constexpr auto kDefault = config::kDefaultGrpcErrorCodes;
  for (const char* s : {"2", "4", "12", "13", "14", "15"}) EXPECT_TRUE(grpc_status_in(s, kDefault)) << s;
  for (const char* s : {"0", "1", "3", "5", "7", "8", "16", "", "14 ", "017", "99", "-1", "1a"})
    EXPECT_FALSE(grpc_status_in(s, kDefault)) << s;
  // Another set: NOT_FOUND counts, UNAVAILABLE does not.
  EXPECT_TRUE(grpc_status_in("5", 1u << 5));
  EXPECT_FALSE(grpc_status_in("14", 1u << 5));
  EXPECT_TRUE(grpc_status_in("16", 1u << 16));
}

TEST(Grpc, TimeoutValuesInEveryUnit) {
  using std::chrono::microseconds;
  EXPECT_EQ(parse_grpc_timeout("1H"), microseconds(3'600'000'000));
  EXPECT_EQ(parse_grpc_timeout("2M"), microseconds(120'000'000));
  EXPECT_EQ(parse_grpc_timeout("3S"), microseconds(3'000'000));
  EXPECT_EQ(parse_grpc_timeout("250m"), microseconds(250'000));
  EXPECT_EQ(parse_grpc_timeout("1500u"), microseconds(1'500));
  EXPECT_EQ(parse_grpc_timeout("1500n"), microseconds(2));    // rounded up
  EXPECT_EQ(parse_grpc_timeout("1n"), microseconds(1));       // never zero
  EXPECT_EQ(parse_grpc_timeout("0m"), microseconds(0));       // already expired
  EXPECT_EQ(parse_grpc_timeout("99999999S"), microseconds(99'999'999'000'000));
  EXPECT_EQ(parse_grpc_timeout("99999999H"), microseconds(99'999'999LL * 3'600'000'000));
  for (const char* bad : {"", "S", "5", "5s", "5 S", "-5S", "123456789S", "5SS", "m5"})
    EXPECT_EQ(parse_grpc_timeout(bad), std::nullopt) << bad;
}

// The time left goes upstream in the finest unit that fits 8 digits, rounded down: never more
// than the caller has left, and read back as at most that.
TEST(Grpc, TimeLeftIsWrittenRoundedDown) {
  using std::chrono::microseconds;
  EXPECT_EQ(format_grpc_timeout(microseconds(499'587)), "499587u");
  EXPECT_EQ(format_grpc_timeout(microseconds(99'999'999)), "99999999u");
  EXPECT_EQ(format_grpc_timeout(microseconds(100'000'000)), "100000m");
  EXPECT_EQ(format_grpc_timeout(microseconds(100'000'999)), "100000m");  // not 100001m
  EXPECT_EQ(format_grpc_timeout(microseconds(3'600'000'000'000)), "3600000S");
  EXPECT_EQ(format_grpc_timeout(microseconds(200'000'000'000'000)), "3333333M");
  EXPECT_EQ(format_grpc_timeout(microseconds(-5)), "0u");
  for (const std::int64_t us : {1LL, 999LL, 499'587LL, 100'000'999LL, 7'654'321'012LL, 200'000'000'000'000LL}) {
    const auto text = format_grpc_timeout(microseconds(us));
    ASSERT_LE(text.size(), 9u) << text;
    const auto back = parse_grpc_timeout(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_LE(back->count(), us) << text;
  }
}

TEST(Grpc, HttpOnlyClusterIsInternal) {
  EXPECT_EQ(grpc_status_for(502, kGrpcNeedsHttp2), 13u);
}

TEST(Grpc, MessagePercentEncoding) {
  EXPECT_EQ(grpc_percent_encode("plain text: ok"), "plain text: ok");
  EXPECT_EQ(grpc_percent_encode("100%"), "100%25");
  EXPECT_EQ(grpc_percent_encode("a\nb\xc3\xa9"), "a%0Ab%C3%A9");
}

}  // namespace
}  // namespace cutover::codec
