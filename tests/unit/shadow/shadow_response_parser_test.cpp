// The shadow response parser: Beast's framing, the fields and body straight into the capture the
// comparison reads.
#include "proxy/shadow/shadow_response_parser.hpp"

#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <gtest/gtest.h>

namespace cutover::shadow {
namespace {

namespace bhttp = boost::beast::http;

constexpr std::size_t kKeep = 1 << 20;

// Feeds `wire` to `p` in pieces of `step` bytes, as reads would, re-offering what put() did
// not consume; returns the first error (need_more is not one).
boost::system::error_code feed(ShadowResponseParser& p, std::string_view wire, std::size_t step) {
  std::string pending;
  for (std::size_t at = 0; at < wire.size() && !p.is_done();) {
    const std::size_t n = std::min(step, wire.size() - at);
    pending.append(wire.substr(at, n));
    at += n;
    for (;;) {  // as Beast's read loop: again while something was consumed
      boost::system::error_code ec;
      const std::size_t used = p.put(boost::asio::buffer(pending), ec);
      pending.erase(0, used);
      if (ec == bhttp::error::need_more) break;
      if (ec) return ec;
      if (used == 0 || pending.empty() || p.is_done()) break;
    }
  }
  return {};
}

std::array<std::uint64_t, 2> digest_of(std::string_view body) {
  BodyCapture c(0);
  c.append({body.data(), body.size()});
  c.finish();
  return c.digest();
}

TEST(ShadowResponseParser, ContentLengthResponseInAnyPieces) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Type: Application/Json; charset=utf-8\r\nX-Id: 7\r\n"
      "Content-Type: text/plain\r\nContent-Length: 11\r\n\r\n{\"a\":[1,2]}";
  for (std::size_t step : {std::size_t{1}, std::size_t{7}, wire.size()}) {
    CapturedResponse out;
    out.body = BodyCapture(kKeep);
    ShadowResponseParser p(out);
    ASSERT_FALSE(feed(p, wire, step)) << step;
    ASSERT_TRUE(p.is_done());
    EXPECT_TRUE(p.keep_alive());
    EXPECT_EQ(out.status, 200u);
    ASSERT_EQ(out.headers.size(), 4u);
    EXPECT_EQ(out.headers[0], (HeaderList::Field{"content-type", "Application/Json; charset=utf-8"}));
    EXPECT_EQ(out.headers[1], (HeaderList::Field{"x-id", "7"}));
    EXPECT_EQ(out.headers[3], (HeaderList::Field{"content-length", "11"}));
    EXPECT_TRUE(out.json) << "the first Content-Type decides";
    out.body.finish();
    EXPECT_TRUE(out.body.complete());
    EXPECT_EQ(out.body.kept(), "{\"a\":[1,2]}");
    EXPECT_EQ(out.body.digest(), digest_of("{\"a\":[1,2]}"));
  }
}

TEST(ShadowResponseParser, ChunkedBodyIsReassembledAndBoundedByTheCapture) {
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  CapturedResponse out;
  out.body = BodyCapture(4);  // keeps only a sample: the digest still covers every byte
  ShadowResponseParser p(out);
  ASSERT_FALSE(feed(p, wire, 3));
  ASSERT_TRUE(p.is_done());
  EXPECT_TRUE(p.chunked());
  EXPECT_FALSE(out.json);
  out.body.finish();
  EXPECT_FALSE(out.body.complete());
  EXPECT_EQ(out.body.size(), 11u);
  EXPECT_EQ(out.body.digest(), digest_of("hello world"));
}

TEST(ShadowResponseParser, AnInterimResponseLeavesNothingBehind) {
  CapturedResponse out;
  out.body = BodyCapture(kKeep);
  const std::string interim = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nContent-Type: application/json\r\n\r\n";
  {
    ShadowResponseParser p(out);
    ASSERT_FALSE(feed(p, interim, interim.size()));
    ASSERT_TRUE(p.is_header_done());
    EXPECT_EQ(out.status, 103u);
    EXPECT_TRUE(out.json);
  }
  ShadowResponseParser p(out);  // a fresh parser per response, on the same capture
  ASSERT_FALSE(feed(p, "HTTP/1.1 204 No Content\r\nX-Final: 1\r\n\r\n", 64));
  ASSERT_TRUE(p.is_done());
  EXPECT_EQ(out.status, 204u);
  ASSERT_EQ(out.headers.size(), 1u);
  EXPECT_EQ(out.headers[0], (HeaderList::Field{"x-final", "1"}));
  EXPECT_FALSE(out.json);
}

TEST(ShadowResponseParser, HeadResponseHasNoBodyAndEofDelimitedBodyEndsAtEof) {
  {
    CapturedResponse out;
    out.body = BodyCapture(kKeep);
    ShadowResponseParser p(out);
    p.skip(true);  // the answer to a HEAD
    ASSERT_FALSE(feed(p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 64));
    EXPECT_TRUE(p.is_done());
    EXPECT_EQ(out.body.size(), 0u);
  }
  CapturedResponse out;
  out.body = BodyCapture(kKeep);
  ShadowResponseParser p(out);
  ASSERT_FALSE(feed(p, "HTTP/1.0 200 OK\r\n\r\nuntil the end", 5));
  EXPECT_FALSE(p.is_done());
  EXPECT_FALSE(p.keep_alive());
  boost::system::error_code ec;
  p.put_eof(ec);
  ASSERT_FALSE(ec);
  EXPECT_TRUE(p.is_done());
  out.body.finish();
  EXPECT_EQ(out.body.kept(), "until the end");
}

TEST(ShadowResponseParser, BeastErrorsComeThrough) {
  CapturedResponse out;
  out.body = BodyCapture(kKeep);
  {
    ShadowResponseParser p(out);
    p.header_limit(64);
    EXPECT_EQ(feed(p, "HTTP/1.1 200 OK\r\nX-Long: " + std::string(100, 'x') + "\r\n\r\n", 256),
              bhttp::error::header_limit);
  }
  {
    ShadowResponseParser p(out);
    EXPECT_EQ(feed(p, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 256),
              bhttp::error::multiple_content_length);
  }
}

}  // namespace
}  // namespace cutover::shadow
