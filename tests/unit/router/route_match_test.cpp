// Route selection: exact host before "*", longest path prefix, host and target parsing.
#include "proxy/router/route_match.hpp"

#include <vector>

#include <gtest/gtest.h>

namespace cutover::router {
namespace {

TEST(RouteMatch, LongestPrefixWinsWithinTheSameHostClass) {
  std::vector<RouteMatch> routes{{"*", "/"}, {"*", "/api"}, {"*", "/api/v2"}};
  EXPECT_EQ(match_route(routes, "x", "/"), 0);
  EXPECT_EQ(match_route(routes, "x", "/about"), 0);
  EXPECT_EQ(match_route(routes, "x", "/api/v1/users"), 1);
  EXPECT_EQ(match_route(routes, "x", "/api/v2/users"), 2);
}

TEST(RouteMatch, ExactHostBeatsWildcardEvenWithAShorterPrefix) {
  std::vector<RouteMatch> routes{{"*", "/api"}, {"shop.example.com", "/"}};
  EXPECT_EQ(match_route(routes, "shop.example.com", "/api/x"), 1);
  EXPECT_EQ(match_route(routes, "SHOP.Example.COM", "/api/x"), 1);  // hosts compare case-insensitively
  EXPECT_EQ(match_route(routes, "other.example.com", "/api/x"), 0);
}

TEST(RouteMatch, NoMatchIsMinusOne) {
  std::vector<RouteMatch> routes{{"a.example", "/"}, {"*", "/api"}};
  EXPECT_EQ(match_route(routes, "b.example", "/web"), -1);
  EXPECT_EQ(match_route({}, "b.example", "/"), -1);
}

TEST(RouteMatch, GrpcRoutesTakeGrpcCallsOnly) {
  std::vector<RouteMatch> routes{{"*", "/"}, {"*", "/svc.", true}, {"*", "/", true}};
  // A plain request never lands on a gRPC-only route, however specific.
  EXPECT_EQ(match_route(routes, "x", "/svc.Echo/Call", false), 0);
  // A gRPC call: the longer prefix first, then the gRPC route over the plain one of equal length.
  EXPECT_EQ(match_route(routes, "x", "/svc.Echo/Call", true), 1);
  EXPECT_EQ(match_route(routes, "x", "/other.Svc/Call", true), 2);
  // An exact host still beats "*" for gRPC calls.
  std::vector<RouteMatch> hosts{{"*", "/", true}, {"api.example", "/"}};
  EXPECT_EQ(match_route(hosts, "api.example", "/svc.Echo/Call", true), 1);
  EXPECT_EQ(match_route(hosts, "other", "/svc.Echo/Call", true), 0);
  EXPECT_EQ(match_route(hosts, "other", "/svc.Echo/Call", false), -1);
}

TEST(RouteMatch, HostWithoutPort) {
  EXPECT_EQ(host_without_port("example.com:8080"), "example.com");
  EXPECT_EQ(host_without_port("example.com"), "example.com");
  EXPECT_EQ(host_without_port("[::1]:8080"), "[::1]");
  EXPECT_EQ(host_without_port("[::1]"), "[::1]");
}

TEST(RouteMatch, PathOfTarget) {
  EXPECT_EQ(path_of_target("/a/b?x=1"), "/a/b");
  EXPECT_EQ(path_of_target("/a#frag"), "/a");
  EXPECT_EQ(path_of_target("http://h.example:80/p?q"), "/p");
  EXPECT_EQ(path_of_target("http://h.example"), "/");
  EXPECT_EQ(path_of_target("*"), "");
}

}  // namespace
}  // namespace cutover::router
