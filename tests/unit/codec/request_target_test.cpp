// Absolute-form request targets (RFC 9112 §3.2.2).
#include "proxy/codec/request_target.hpp"

#include <gtest/gtest.h>

namespace cutover::codec {
namespace {

namespace bhttp = boost::beast::http;

bhttp::request_header<> request(std::string_view target, std::string_view host = "client.example") {
  bhttp::request_header<> req;
  req.method(bhttp::verb::get);
  req.target(target);
  req.version(11);
  if (!host.empty()) req.set(bhttp::field::host, host);
  return req;
}

TEST(AbsoluteForm, TheTargetsAuthorityReplacesHostAndTheTargetBecomesOriginForm) {
  auto req = request("http://App.Example:8080/a/b%20c?x=1&y=2");
  EXPECT_EQ(absolute_form_to_origin_form(req), std::nullopt);
  EXPECT_EQ(req.target(), "/a/b%20c?x=1&y=2");
  EXPECT_EQ(req[bhttp::field::host], "App.Example:8080");
  EXPECT_EQ(req.count(bhttp::field::host), 1u);

  auto bare = request("https://[::1]");
  EXPECT_EQ(absolute_form_to_origin_form(bare), std::nullopt);
  EXPECT_EQ(bare.target(), "/");
  EXPECT_EQ(bare[bhttp::field::host], "[::1]");

  auto query_only = request("HTTP://a.example?q");
  EXPECT_EQ(absolute_form_to_origin_form(query_only), std::nullopt);
  EXPECT_EQ(query_only.target(), "/?q");
}

TEST(AbsoluteForm, OtherFormsAreLeftAlone) {
  for (std::string_view t : {"/p?q=http://x", "*", "a.example:443"}) {
    auto req = request(t);
    EXPECT_EQ(absolute_form_to_origin_form(req), std::nullopt) << t;
    EXPECT_EQ(req.target(), t);
    EXPECT_EQ(req[bhttp::field::host], "client.example");
  }
}

TEST(AbsoluteForm, RefusesWhatIsNotAnHttpUriWithAHost) {
  for (std::string_view t : {"ftp://a.example/", "http://user:pw@a.example/", "http:///p", "http://a.example/#frag",
                             "http://a b/", "mailto://x"}) {
    auto req = request(t);
    EXPECT_NE(absolute_form_to_origin_form(req), std::nullopt) << t;
    EXPECT_EQ(req[bhttp::field::host], "client.example") << "nothing changes on a refusal: " << t;
  }
}

}  // namespace
}  // namespace cutover::codec
