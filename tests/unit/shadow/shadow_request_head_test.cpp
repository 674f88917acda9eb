// The head of a mirrored request: the forwarded head without its body framing, marked as a shadow
// copy exactly once.
#include <string>

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

}  // namespace
}  // namespace cutover::shadow
