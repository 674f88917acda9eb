// cutover's own answers to gRPC calls (PROTOCOL-HTTP2.md Trailers-Only).
#include "proxy/codec/grpc.hpp"

#include <gtest/gtest.h>

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
  for (const char* s : {"2", "4", "12", "13", "14", "15"}) EXPECT_TRUE(grpc_status_is_error(s)) << s;
  for (const char* s : {"0", "1", "3", "5", "7", "8", "16", "", "14 "}) EXPECT_FALSE(grpc_status_is_error(s)) << s;
}

TEST(Grpc, MessagePercentEncoding) {
  EXPECT_EQ(grpc_percent_encode("plain text: ok"), "plain text: ok");
  EXPECT_EQ(grpc_percent_encode("100%"), "100%25");
  EXPECT_EQ(grpc_percent_encode("a\nb\xc3\xa9"), "a%0Ab%C3%A9");
}

}  // namespace
}  // namespace cutover::codec
