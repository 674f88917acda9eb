// HTTP/2 header lists to and from exchange heads (RFC 9113 §8.3).
#include "proxy/h2/fields.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace cutover::h2 {
namespace {

namespace bhttp = boost::beast::http;

std::string text(const uint8_t* p, std::size_t n) { return {reinterpret_cast<const char*>(p), n}; }

TEST(RequestHeadBuilder, PseudoFieldsCookiesAndAuthority) {
  bhttp::request_header<> head;
  RequestHeadBuilder b(head, 64 * 1024);
  b.add(":method", "POST");
  b.add(":scheme", "https");
  b.add(":authority", "app.test:8443");
  b.add(":path", "/a?b=1");
  b.add("host", "other.test");  // :authority wins (§8.3.1)
  b.add("cookie", "a=1");
  b.add("te", "trailers");
  b.add("cookie", "b=2");
  b.add("content-length", "42");
  b.add("x-custom", "v");
  EXPECT_EQ(b.finish(), 42u);
  EXPECT_FALSE(b.too_large());
  EXPECT_EQ(head.method(), bhttp::verb::post);
  EXPECT_EQ(head.target(), "/a?b=1");
  EXPECT_EQ(head.version(), kHttp2Version);
  EXPECT_EQ(head[bhttp::field::host], "app.test:8443");
  EXPECT_EQ(head[bhttp::field::cookie], "a=1; b=2");  // §8.2.3
  EXPECT_EQ(head.count(bhttp::field::te), 0u);
  EXPECT_EQ(head["x-custom"], "v");
  EXPECT_EQ(head.count(":scheme"), 0u);
}

TEST(RequestHeadBuilder, UnknownMethodAndNoLength) {
  bhttp::request_header<> head;
  RequestHeadBuilder b(head, 64 * 1024);
  b.add(":method", "PURGE");
  b.add(":path", "/");
  EXPECT_EQ(b.finish(), std::nullopt);
  EXPECT_EQ(head.method_string(), "PURGE");
  EXPECT_EQ(head.count(bhttp::field::host), 0u);
}

TEST(RequestHeadBuilder, HeaderListOverTheBoundIsTooLarge) {
  bhttp::request_header<> head;
  RequestHeadBuilder b(head, 100);  // each field counts name + value + 32
  b.add(":method", "GET");         // 42
  b.add(":path", "/");             // 80
  EXPECT_FALSE(b.too_large());
  b.add("x", "yyyyyyyy");          // 121
  EXPECT_TRUE(b.too_large());
  EXPECT_EQ(head.count("x"), 0u);
}

TEST(ResponseFields, StatusFirstNamesLowercased) {
  bhttp::response_header<> head;
  head.result(404);
  head.set("Content-Type", "text/plain");
  head.insert("Set-Cookie", "a=1");
  head.insert("Set-Cookie", "b=2");
  head.set("X-Request-Id", "abc");
  std::string storage;
  std::vector<nghttp2_nv> nv;
  response_fields(head, storage, nv);
  ASSERT_EQ(nv.size(), 5u);
  EXPECT_EQ(text(nv[0].name, nv[0].namelen), ":status");
  EXPECT_EQ(text(nv[0].value, nv[0].valuelen), "404");
  std::vector<std::string> names;
  for (std::size_t i = 1; i < nv.size(); ++i) names.push_back(text(nv[i].name, nv[i].namelen));
  EXPECT_EQ(names, (std::vector<std::string>{"content-type", "set-cookie", "set-cookie", "x-request-id"}));
  EXPECT_EQ(text(nv[3].value, nv[3].valuelen), "b=2");
}

}  // namespace
}  // namespace cutover::h2
