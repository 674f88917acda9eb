// Strict framing checks (proxy/codec/framing.hpp), RFC 9112 §3, §5.2, §6.
#include "proxy/codec/framing.hpp"

#include <gtest/gtest.h>

namespace cutover::codec {
namespace {

namespace bhttp = boost::beast::http;

bhttp::request_header<> request(std::initializer_list<std::pair<const char*, const char*>> fields, unsigned version = 11) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::post);
  h.target("/");
  h.version(version);
  for (auto [n, v] : fields) h.insert(n, v);
  return h;
}

TEST(Framing, SoundRequestsPass) {
  EXPECT_FALSE(check_request_framing(request({{"Host", "a"}, {"Content-Length", "5"}})));
  EXPECT_FALSE(check_request_framing(request({{"Host", "a"}, {"Content-Length", "007"}})));
  EXPECT_FALSE(check_request_framing(request({{"Host", "a"}, {"Transfer-Encoding", "gzip, chunked"}})));
  EXPECT_FALSE(check_request_framing(request({{"Host", "a"}, {"Transfer-Encoding", "gzip"}, {"Transfer-Encoding", "Chunked"}})));
  EXPECT_FALSE(check_request_framing(request({{"Host", "a"}}, 10)));
  // HTTP/1.0 allows no Host, but it goes upstream as HTTP/1.1, which needs one; two are never fine.
  EXPECT_EQ(*check_request_framing(request({}, 10)), "missing Host header");
  EXPECT_EQ(*check_request_framing(request({{"Host", "a"}, {"Host", "b"}}, 10)), "more than one Host header");
}

TEST(Framing, ContentLengthMustBeOneNumber) {
  EXPECT_EQ(*check_request_framing(request({{"Host", "a"}, {"Content-Length", "5"}, {"Content-Length", "5"}})),
            "more than one Content-Length field");
  for (const char* bad : {"5, 5", "+5", "-1", "0x5", "", "1 2"})
    EXPECT_TRUE(check_request_framing(request({{"Host", "a"}, {"Content-Length", bad}}))) << bad;
  EXPECT_TRUE(check_request_framing(request({{"Host", "a"}, {"Content-Length", "9999999999999999999"}})));
}

TEST(Framing, TransferEncodingMustEndInChunkedOnce) {
  EXPECT_TRUE(check_request_framing(request({{"Host", "a"}, {"Transfer-Encoding", "gzip"}})));
  EXPECT_TRUE(check_request_framing(request({{"Host", "a"}, {"Transfer-Encoding", "chunked, gzip"}})));
  EXPECT_TRUE(check_request_framing(request({{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "identity"}})));
  EXPECT_TRUE(check_request_framing(request({{"Host", "a"}, {"Transfer-Encoding", "chunked, chunked"}})));
  EXPECT_TRUE(check_request_framing(request({{"Host", "a"}, {"Transfer-Encoding", "\"chunked\""}})));
  EXPECT_TRUE(check_request_framing(request({{"Host", "a"}, {"Transfer-Encoding", " , "}})));
  EXPECT_EQ(*check_request_framing(request({{"Transfer-Encoding", "chunked"}}, 10)),
            "Transfer-Encoding in an HTTP/1.0 message");
  EXPECT_EQ(*check_request_framing(request({{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "3"}})),
            "both Content-Length and Transfer-Encoding");
}

TEST(Framing, ExactlyOneHostIn11) {
  EXPECT_EQ(*check_request_framing(request({})), "missing Host header");
  EXPECT_EQ(*check_request_framing(request({{"Host", "a"}, {"Host", "b"}})), "more than one Host header");
}

TEST(Framing, ResponsesFollowTheSameRules) {
  bhttp::response_header<> r;
  r.version(11);
  r.result(200);
  r.insert("Content-Length", "5, 5");
  EXPECT_TRUE(check_response_framing(r));
  bhttp::response_header<> low;
  low.version(11);
  low.result(static_cast<unsigned>(42));
  EXPECT_EQ(*check_response_framing(low), "status code 42 is outside 100..599");
  bhttp::response_header<> ok;
  ok.version(11);
  ok.result(200);
  ok.insert("Transfer-Encoding", "chunked");
  EXPECT_FALSE(check_response_framing(ok));
}

TEST(Framing, RawHeadHelpers) {
  EXPECT_TRUE(has_obs_fold("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"));
  EXPECT_TRUE(has_obs_fold("GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n"));
  EXPECT_TRUE(has_obs_fold("GET / HTTP/1.1\r\n Host: a\r\n\r\n"));
  EXPECT_FALSE(has_obs_fold("GET / HTTP/1.1\r\nA: b c\r\n\r\n body with\r\n space"));  // after the head: body
  EXPECT_FALSE(has_obs_fold("GET / HTTP/1.1\r\nA: b\r\n"));  // incomplete, no fold yet
  EXPECT_EQ(head_end("GET / HTTP/1.1\r\nA: b\r\n\r\nxyz"), 24u);
  EXPECT_EQ(head_end("GET / HTTP/1.1\r\nA: b\r\n"), std::string_view::npos);
  EXPECT_EQ(first_line_length("GET / HTTP/1.1\r\nA"), 14u);
  EXPECT_EQ(first_line_length("GET / HTTP/1.1"), std::string_view::npos);
  EXPECT_TRUE(has_bare_lf("GET / HTTP/1.1\nA"));
  EXPECT_FALSE(has_bare_lf("GET / HTTP/1.1\r\nA"));
}

}  // namespace
}  // namespace cutover::codec

namespace cutover::codec {
namespace {

// The scanner gives the same answers however the bytes arrive (it resumes where it stopped).
TEST(Framing, ScannerGivesTheSameAnswersByteByByte) {
  struct Want {
    std::string head;
    std::size_t end, first_line;
    bool obs_fold, bare_lf;
  };
  const auto npos = std::string_view::npos;
  const std::vector<Want> cases = {
      {"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody \r\n x\n", 27, 14, false, false},  // the body is not looked at
      {"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 28, 14, true, false},
      {"GET / HTTP/1.1\nHost: a\n\n", npos, 14, false, true},
      {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 28, 14, true, false},
      {"GET /long HTTP/1.1\r\nA: b\r\n", npos, 18, false, false},
  };
  for (const auto& c : cases) {
    for (std::size_t step : {1u, 2u, 3u, 1000u}) {
      HeadScanner s;
      for (std::size_t n = 0; n < c.head.size();) {
        n = std::min(c.head.size(), n + step);
        s.scan(std::string_view(c.head).substr(0, n));
      }
      EXPECT_EQ(s.end(), c.end) << c.head << " step " << step;
      EXPECT_EQ(s.first_line(), c.first_line) << c.head << " step " << step;
      EXPECT_EQ(s.obs_fold(), c.obs_fold) << c.head << " step " << step;
      EXPECT_EQ(s.bare_lf(), c.bare_lf) << c.head << " step " << step;
    }
  }
}

}  // namespace
}  // namespace cutover::codec
