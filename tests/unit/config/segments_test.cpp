// Tenant segment lists: the shapes the admin API and the config share, each bad input refused with
// the field named, and the loader reporting it at the item's FILE:LINE:COL.
#include "config/segments.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>


namespace cutover::config {
namespace {

std::optional<SegmentProblem> parse(std::string_view text, std::vector<SegmentConfig>* out = nullptr) {
  std::vector<SegmentConfig> local;
  return parse_segments(boost::json::parse(text), out ? *out : local);
}

// The field a list is refused for, and that the message starts with it.
std::string refused_field(std::string_view text) {
  auto p = parse(text);
  if (!p) return "(accepted)";
  EXPECT_TRUE(p->message.starts_with(p->field)) << p->message;
  return p->field;
}

TEST(Segments, GoodListsParseInOrder) {
  std::vector<SegmentConfig> out;
  ASSERT_FALSE(parse(R"([{"header": "X-Tenant", "values": ["acme", "globex"], "side": "target"},
                         {"cookie": "plan", "prefix": "beta-", "side": "target"},
                         {"client_cidrs": ["10.0.0.1", "::1/128"], "side": "source"}])",
                     &out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].kind, SegmentConfig::Kind::header);
  EXPECT_EQ(out[0].values, (std::vector<std::string>{"acme", "globex"}));
  EXPECT_TRUE(out[0].to_target);
  EXPECT_EQ(out[1].prefix, "beta-");
  EXPECT_EQ(out[2].client_cidrs, (std::vector<std::string>{"10.0.0.1/32", "::1/128"}));  // canonical
  EXPECT_FALSE(out[2].to_target);
  // What segments_json gives back parses to the same list.
  std::vector<SegmentConfig> again;
  ASSERT_FALSE(parse_segments(segments_json(out), again));
  EXPECT_EQ(boost::json::serialize(segments_json(again)), boost::json::serialize(segments_json(out)));
  EXPECT_FALSE(parse("[]"));  // no segments
}

TEST(Segments, EachBadInputNamesItsField) {
  EXPECT_EQ(refused_field(R"([{"header": "X-Tenant", "values": ["a"], "side": "blue"}])"), "segments[0].side");
  EXPECT_EQ(refused_field(R"([{"header": "X-Tenant", "values": ["a"]}])"), "segments[0].side");
  EXPECT_EQ(refused_field(R"([{"header": "X-Tenant", "values": [], "side": "target"}])"), "segments[0].values");
  EXPECT_EQ(refused_field(R"([{"client_cidrs": [], "side": "target"}])"), "segments[0].client_cidrs");
  EXPECT_EQ(refused_field(R"([{"header": "A", "values": ["x"], "side": "source"},
                              {"client_cidrs": ["10.0.0.0/8", "10.0.0/8"], "side": "target"}])"),
            "segments[1].client_cidrs[1]");
  EXPECT_EQ(refused_field(R"([{"client_cidrs": ["10.0.0.1/8"], "side": "target"}])"), "segments[0].client_cidrs[0]")
      << "host bits set";
  EXPECT_EQ(refused_field(R"([{"header": "X-Tenant", "values": ["acme", "globex", "acme"], "side": "target"}])"),
            "segments[0].values[2]");
  EXPECT_EQ(refused_field(R"([{"client_cidrs": ["10.0.0.0/8", "10.0.0.0/8"], "side": "target"}])"),
            "segments[0].client_cidrs[1]");
  EXPECT_EQ(refused_field(R"([{"header": "X Tenant", "values": ["a"], "side": "target"}])"), "segments[0].header");
  EXPECT_EQ(refused_field(R"([{"header": "A", "cookie": "b", "values": ["a"], "side": "target"}])"), "segments[0]");
  EXPECT_EQ(refused_field(R"([{"header": "A", "values": ["a"], "prefix": "b", "side": "target"}])"), "segments[0]");
  EXPECT_EQ(refused_field(R"([{"header": "A", "values": ["a"], "side": "target", "weight": 5}])"),
            "segments[0].weight");
  EXPECT_EQ(refused_field(R"([{"header": "A", "values": [7], "side": "target"}])"), "segments[0].values[0]");
  EXPECT_EQ(refused_field(R"({"header": "A"})"), "segments");
  EXPECT_EQ(refused_field(R"(["x"])"), "segments[0]");
}

}  // namespace
}  // namespace cutover::config
