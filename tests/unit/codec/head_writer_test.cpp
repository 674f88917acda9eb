// The head writer produces exactly the bytes Beast's serializer writes for the same head.
#include "proxy/codec/head_writer.hpp"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <gtest/gtest.h>

namespace cutover::codec {
namespace {

namespace bhttp = boost::beast::http;

// What Beast writes for the head alone.
template <bool isRequest>
std::string beast_head(bhttp::message<isRequest, bhttp::empty_body>& m) {
  bhttp::serializer<isRequest, bhttp::empty_body> sr{m};
  sr.split(true);
  std::string out;
  boost::system::error_code ec;
  while (!sr.is_header_done()) {
    sr.next(ec, [&](boost::system::error_code&, const auto& buffers) {
      out += boost::beast::buffers_to_string(buffers);
      sr.consume(boost::beast::buffer_bytes(buffers));
    });
    if (ec) break;
  }
  return out;
}

TEST(HeadWriter, RequestHeadMatchesBeast) {
  bhttp::request<bhttp::empty_body> req{bhttp::verb::post, "/api/v1/orders?x=1&y=%20", 11};
  req.set(bhttp::field::host, "shop.example.com:8080");
  req.set("X-Forwarded-For", "203.0.113.7, 127.0.0.1");
  req.insert("X-Multi", "a");
  req.insert("X-Multi", "b");
  req.set(bhttp::field::content_length, "42");
  std::string mine;
  append_head(req.base(), mine);
  EXPECT_EQ(mine, beast_head(req));
  EXPECT_TRUE(mine.starts_with("POST /api/v1/orders?x=1&y=%20 HTTP/1.1\r\n"));
  EXPECT_TRUE(mine.ends_with("\r\n\r\n"));
}

TEST(HeadWriter, UnknownMethodAndHttp10) {
  bhttp::request<bhttp::empty_body> req;
  req.method_string("PURGE");
  req.target("/cache/item");
  req.version(10);
  std::string mine;
  append_head(req.base(), mine);
  EXPECT_EQ(mine, beast_head(req));
  EXPECT_EQ(mine, "PURGE /cache/item HTTP/1.0\r\n\r\n");
}

TEST(HeadWriter, ResponseHeadMatchesBeastWithAndWithoutReason) {
  for (unsigned status : {200u, 204u, 304u, 404u, 502u, 599u}) {
    bhttp::response<bhttp::empty_body> res{static_cast<bhttp::status>(status), 11};
    res.set(bhttp::field::server, "nginx");
    res.set(bhttp::field::via, "1.1 cutover");
    std::string mine;
    append_head(res.base(), mine);
    EXPECT_EQ(mine, beast_head(res)) << status;
  }
  bhttp::response<bhttp::empty_body> custom{bhttp::status::ok, 11};
  custom.reason("Fine Thanks");
  std::string mine;
  append_head(custom.base(), mine);
  EXPECT_EQ(mine, beast_head(custom));
  EXPECT_TRUE(mine.starts_with("HTTP/1.1 200 Fine Thanks\r\n"));
}

TEST(HeadWriter, AppendsWithoutClearing) {
  bhttp::response<bhttp::empty_body> res{bhttp::status::no_content, 11};
  std::string out = "prefix|";
  append_head(res.base(), out);
  EXPECT_EQ(out, "prefix|HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(HeadWriter, OpenHeadKeepsTheFieldsTheFilterAcceptsAndLeavesTheHeadOpen) {
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/a?b", 11};
  req.set(bhttp::field::host, "h");
  req.set(bhttp::field::content_length, "3");
  req.set("X-Keep", "1");
  std::string out = "|";
  append_open_head(
      req.base(), [](const bhttp::fields::value_type& f) { return f.name() != bhttp::field::content_length; }, out);
  EXPECT_EQ(out, "|GET /a?b HTTP/1.1\r\nHost: h\r\nX-Keep: 1\r\n");
  // Closed by the caller, it is what append_head writes for the head without the dropped field.
  out += "\r\n";
  req.erase(bhttp::field::content_length);
  EXPECT_EQ(out, "|" + beast_head(req));
  // No field accepted: the request line alone.
  std::string bare;
  append_open_head(req.base(), [](const bhttp::fields::value_type&) { return false; }, bare);
  EXPECT_EQ(bare, "GET /a?b HTTP/1.1\r\n");
}

}  // namespace
}  // namespace cutover::codec
