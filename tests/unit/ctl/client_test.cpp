// cutoverctl's admin client, the parts without a network: the admin URL, request targets and the
// error text of an answer.
#include "ctl/client.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace cutover::ctl {
namespace {

TEST(CtlClient, ParsesAdminUrls) {
  std::string error;
  auto e = parse_admin_url("http://127.0.0.1:9901", error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, "9901");
  EXPECT_EQ(e->base_path, "");

  e = parse_admin_url("localhost:9000", error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->url, "http://localhost:9000");
  EXPECT_EQ(e->host, "localhost");

  e = parse_admin_url("http://[::1]/cutover/", error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->port, "80");
  EXPECT_EQ(e->base_path, "/cutover");
}

TEST(CtlClient, RejectsWhatTheAdminApiDoesNotSpeak) {
  std::string error;
  EXPECT_FALSE(parse_admin_url("https://127.0.0.1:9901", error));
  EXPECT_NE(error.find("http:// only"), std::string::npos) << error;
  EXPECT_FALSE(parse_admin_url("http://", error));
  EXPECT_FALSE(parse_admin_url("http://h:1/?x=1", error));
  EXPECT_FALSE(parse_admin_url("http://a b", error));
}

TEST(CtlClient, TargetsEncodeSegmentsAndParameters) {
  EXPECT_EQ(api_target({"v1", "routes"}), "/v1/routes");
  EXPECT_EQ(api_target({"v1", "routes", "a/b c", "ramp"}), "/v1/routes/a%2Fb%20c/ramp");
  EXPECT_EQ(api_target({"v1", "stats"}, {{"window", "60s"}, {"route", "a&b"}}), "/v1/stats?window=60s&route=a%26b");
}

TEST(CtlClient, ErrorText) {
  AdminResponse r;
  r.status = 409;
  r.body = R"({"error": "generation is 3, not 1", "generation": 3})";
  r.json = boost::json::parse(r.body);
  EXPECT_EQ(r.error_text(), "generation is 3, not 1");
  r.json = nullptr;
  r.body = "plain failure\nmore";
  EXPECT_EQ(r.error_text(), "plain failure");
  r.body.clear();
  r.status = 502;
  EXPECT_EQ(r.error_text(), "Bad Gateway");
}

}  // namespace
}  // namespace cutover::ctl
