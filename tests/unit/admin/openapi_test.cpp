// docs/admin-api.openapi.yaml, as built into the binary, and the admin router's endpoint table
// name the same (method, path) pairs; the path templates select endpoints as the router needs.
#include "admin/openapi.hpp"

#include <algorithm>
#include <cctype>
#include <iterator>
#include <set>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "admin/routes.hpp"

namespace cutover::admin {
namespace {

namespace bhttp = boost::beast::http;
using MethodPath = std::pair<std::string, std::string>;  // ("POST", "/v1/routes/{route}/rollback")

std::string joined(const std::set<MethodPath>& s) {
  std::string out;
  for (const auto& [m, p] : s) out += "\n  " + m + " " + p;
  return out.empty() ? " none" : out;
}

std::set<MethodPath> minus(const std::set<MethodPath>& a, const std::set<MethodPath>& b) {
  std::set<MethodPath> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
  return out;
}

TEST(OpenApi, DescribesExactlyTheRoutersEndpoints) {
  const YAML::Node doc = YAML::Load(std::string(openapi_yaml()));
  ASSERT_EQ(doc["openapi"].as<std::string>(), "3.1.0");
  const std::set<std::string> methods{"get", "put", "post", "delete", "patch", "head", "options", "trace"};
  std::set<MethodPath> described;
  for (const auto& path : doc["paths"])
    for (const auto& op : path.second) {
      auto key = op.first.as<std::string>();
      if (!methods.contains(key)) continue;  // "parameters", "summary"
      std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::toupper(c); });
      described.emplace(key, path.first.as<std::string>());
    }
  std::set<MethodPath> routed;
  for (const auto& e : admin_endpoints())
    EXPECT_TRUE(routed.emplace(std::string(bhttp::to_string(e.method)), std::string(e.path)).second)
        << "twice in the table: " << e.path;

  EXPECT_EQ(minus(routed, described), std::set<MethodPath>{})
      << "routed but not in docs/admin-api.openapi.yaml:" << joined(minus(routed, described));
  EXPECT_EQ(minus(described, routed), std::set<MethodPath>{})
      << "in docs/admin-api.openapi.yaml but not routed:" << joined(minus(described, routed));
  EXPECT_TRUE(described.contains({"GET", "/v1/openapi.yaml"}));
}

TEST(OpenApi, EveryOperationHasAnIdASummaryAndResponses) {
  const YAML::Node doc = YAML::Load(std::string(openapi_yaml()));
  std::set<std::string> ids;
  for (const auto& path : doc["paths"])
    for (const auto& op : path.second) {
      if (op.first.as<std::string>() == "parameters") continue;
      const auto where = op.first.as<std::string>() + " " + path.first.as<std::string>();
      ASSERT_TRUE(op.second["operationId"]) << where;
      EXPECT_TRUE(ids.insert(op.second["operationId"].as<std::string>()).second) << where;
      EXPECT_TRUE(op.second["summary"]) << where;
      EXPECT_TRUE(op.second["responses"]["200"]) << where;
    }
}

TEST(PathTemplates, MatchWholeSegmentsAndTakeParameters) {
  PathParams params;
  EXPECT_TRUE(match_path("/v1/routes/{route}/writes/hold", {"v1", "routes", "app", "writes", "hold"}, params));
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].first, "route");
  EXPECT_EQ(params[0].second, "app");
  EXPECT_FALSE(match_path("/v1/routes/{route}", {"v1", "routes", "app", "ramp"}, params));
  EXPECT_FALSE(match_path("/v1/routes/{route}/ramp", {"v1", "routes", "app"}, params));
  EXPECT_FALSE(match_path("/v1/stats", {"v1", "stat"}, params));
  EXPECT_TRUE(match_path("/healthz", {"healthz"}, params));
  EXPECT_TRUE(params.empty());
}

TEST(PathTemplates, ScopeTheRouteNameWhateverFollowsIt) {
  EXPECT_EQ(scoped_param("/v1/routes/{route}/ramp", {"v1", "routes", "nope", "anything", "else"}, "route"), "nope");
  EXPECT_EQ(scoped_param("/v1/routes/{route}/ramp", {"v1", "routes", "app"}, "route"), "app");
  EXPECT_EQ(scoped_param("/v1/routes/{route}/ramp", {"v1", "routes"}, "route"), std::nullopt);
  EXPECT_EQ(scoped_param("/v1/routes/{route}/ramp", {"v1", "other", "app"}, "route"), std::nullopt);
  EXPECT_EQ(scoped_param("/v1/stats", {"v1", "stats"}, "route"), std::nullopt);
}

TEST(PathTemplates, SelectionListsTheMethodsAPathTakes) {
  struct Entry {
    EndpointKey key;
    int id;
  };
  const Entry table[] = {{{bhttp::verb::get, "/v1/routes/{route}/ramp"}, 1},
                         {{bhttp::verb::post, "/v1/routes/{route}/ramp"}, 2},
                         {{bhttp::verb::post, "/v1/routes/{route}/ramp/pause"}, 3}};
  const std::vector<std::string> ramp{"v1", "routes", "app", "ramp"};
  auto hit = select_endpoint<Entry>(table, bhttp::verb::post, ramp);
  ASSERT_NE(hit.entry, nullptr);
  EXPECT_EQ(hit.entry->id, 2);
  auto wrong = select_endpoint<Entry>(table, bhttp::verb::delete_, ramp);
  EXPECT_EQ(wrong.entry, nullptr);
  EXPECT_EQ(allow_value(wrong.allowed), "GET, POST");
  EXPECT_EQ(wrong.params.at(0).second, "app");
  auto none = select_endpoint<Entry>(table, bhttp::verb::get, {"v1", "routes", "app", "nope"});
  EXPECT_EQ(none.entry, nullptr);
  EXPECT_TRUE(none.allowed.empty());
}

}  // namespace
}  // namespace cutover::admin
