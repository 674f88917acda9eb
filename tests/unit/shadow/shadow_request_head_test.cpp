// The head of a mirrored request: the forwarded head without its body framing, marked as a shadow
// copy exactly once.
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <gtest/gtest.h>

#include "proxy/shadow/mirror_exchange.hpp"

namespace cutover::shadow {
namespace {

namespace bhttp = boost::beast::http;

TEST(ShadowRequestHead, DropsFramingAndReplacesAClientsMarker) {
  bhttp::request<bhttp::empty_body> req{bhttp::verb::post, "/orders?id=7", 11};
  req.set(bhttp::field::host, "shop.example");
  req.insert("x-cutover-shadow", "0");  // sent by the client: must not reach the target as well
  req.set(bhttp::field::content_length, "12");
  req.set(bhttp::field::transfer_encoding, "chunked");
  req.set("X-Forwarded-For", "203.0.113.7");
  std::string out = "|";
  append_shadow_request_head(req.base(), out);
  EXPECT_EQ(out,
            "|POST /orders?id=7 HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 203.0.113.7\r\n"
            "X-Cutover-Shadow: 1\r\n\r\n");
}

TEST(ShadowRequestHead, ABareGetGetsOnlyTheMarker) {
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/", 11};
  std::string out;
  append_shadow_request_head(req.base(), out);
  EXPECT_EQ(out, "GET / HTTP/1.1\r\nX-Cutover-Shadow: 1\r\n\r\n");
}

std::vector<std::pair<std::string, std::string>> pairs(const HeaderList& fields) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 0; i < fields.size(); ++i) out.emplace_back(fields[i].name, fields[i].value);
  return out;
}

TEST(ShadowRequestFields, DropsWhatHttp2ForbidsAndMarksTheCopy) {
  bhttp::request<bhttp::empty_body> req{bhttp::verb::post, "/test.Echo/Unary", 11};
  req.set(bhttp::field::host, "svc.internal");
  req.set(bhttp::field::content_type, "application/grpc");
  req.set(bhttp::field::content_length, "7");
  req.set(bhttp::field::connection, "keep-alive");
  req.set(bhttp::field::te, "trailers");
  req.set("X-Cutover-Shadow", "0");
  req.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  HeaderList out;
  append_shadow_request_fields(req.base(), out, "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01");
  EXPECT_EQ(pairs(out), (std::vector<std::pair<std::string, std::string>>{
                            {"host", "svc.internal"},
                            {"content-type", "application/grpc"},
                            {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"},
                            {"x-cutover-shadow", "1"}}));
}

TEST(ShadowRequestFields, KeepsTheTraceparentWithoutANewOne) {
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/", 11};
  req.set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  HeaderList out;
  append_shadow_request_fields(req.base(), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "traceparent");
  EXPECT_EQ(out[1].name, "x-cutover-shadow");
}

}  // namespace
}  // namespace cutover::shadow
