// Trailer fields in the shadow comparison: compared like headers (ignored names skipped, value
// order kept, "trailer:NAME" after the headers' differences), a gRPC call's status in either its
// trailers or a Trailers-Only head, the digest for the message bytes, and the mismatch sample that
// shows them.
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "proxy/shadow/compare.hpp"
#include "proxy/shadow/shadow_record.hpp"

namespace cutover::shadow {
namespace compare_trailers_test {  // named: the unity build puts the other compare tests beside these

using Strings = std::vector<std::string>;

constexpr std::size_t kLimit = 1 << 20;

// A gRPC answer: HTTP 200, the gRPC content-type, `message` as the body, `trailers` after it.
CapturedResponse grpc_answer(std::string_view message, HeaderList trailers,
                             HeaderList headers = {{"content-type", "application/grpc"}}) {
  CapturedResponse r;
  r.status = 200;
  r.headers = std::move(headers);
  r.trailers = std::move(trailers);
  r.body = BodyCapture(kLimit);
  r.body.append({message.data(), message.size()});
  r.body.finish();
  return r;
}

Strings diff(const CapturedResponse& a, const CapturedResponse& b, const CompareOptions& options = {}) {
  return compare(a, b, options).differences;
}

TEST(ShadowCompareTrailers, IdenticalCallsMatch) {
  const auto a = grpc_answer("hi", {{"grpc-status", "0"}, {"x-side", "one"}});
  const auto b = grpc_answer("hi", {{"grpc-status", "0"}, {"x-side", "one"}});
  EXPECT_TRUE(compare(a, b, {}).match());
}

TEST(ShadowCompareTrailers, AGrpcStatusThatDiffersIsAMismatch) {
  const auto ok = grpc_answer("m", {{"grpc-status", "0"}});
  const auto not_found = grpc_answer("m", {{"grpc-status", "5"}, {"grpc-message", "no such thing"}});
  EXPECT_EQ(diff(ok, not_found), (Strings{"trailer:grpc-message", "trailer:grpc-status"}));
}

TEST(ShadowCompareTrailers, AMissingOrDifferentTrailerIsNamed) {
  const auto a = grpc_answer("m", {{"grpc-status", "0"}, {"x-side", "source"}});
  EXPECT_EQ(diff(a, grpc_answer("m", {{"grpc-status", "0"}, {"x-side", "target"}})), Strings{"trailer:x-side"});
  EXPECT_EQ(diff(a, grpc_answer("m", {{"grpc-status", "0"}})), Strings{"trailer:x-side"});
  // The same values in another order: a list of values is ordered (RFC 9110 §5.3).
  EXPECT_EQ(diff(grpc_answer("m", {{"x-v", "1"}, {"x-v", "2"}}), grpc_answer("m", {{"x-v", "2"}, {"x-v", "1"}})),
            Strings{"trailer:x-v"});
}

TEST(ShadowCompareTrailers, IgnoreHeadersCoversTrailers) {
  const auto a = grpc_answer("m", {{"grpc-status", "0"}, {"x-took-ms", "3"}});
  const auto b = grpc_answer("m", {{"grpc-status", "0"}, {"X-Took-Ms", "7"}});
  CompareOptions options;
  options.ignore_headers = {"X-Took-Ms"};
  EXPECT_TRUE(compare(a, b, options).match());
  EXPECT_EQ(diff(a, b), Strings{"trailer:x-took-ms"});
}

TEST(ShadowCompareTrailers, ATrailerIsNotAHeaderOfTheSameName) {
  // The same field sent as a header by one side and as a trailer by the other.
  const auto a = grpc_answer("m", {{"x-v", "1"}}, {{"content-type", "application/grpc"}});
  const auto b = grpc_answer("m", {}, {{"content-type", "application/grpc"}, {"x-v", "1"}});
  EXPECT_EQ(diff(a, b), (Strings{"header:x-v", "trailer:x-v"}));
}

TEST(ShadowCompareTrailers, OrderIsStatusHeadersTrailersThenBody) {
  auto a = grpc_answer("one", {{"grpc-status", "0"}}, {{"content-type", "application/grpc"}, {"x-h", "1"}});
  auto b = grpc_answer("two", {{"grpc-status", "13"}}, {{"content-type", "application/grpc"}, {"x-h", "2"}});
  b.status = 503;
  EXPECT_EQ(diff(a, b), (Strings{"status", "header:x-h", "trailer:grpc-status", "body"}));
}

TEST(ShadowCompareTrailers, GrpcMessagesCompareByDigest) {
  // Length-prefixed protobuf bytes, not JSON: equal bytes match, one byte off is "body".
  const std::string m1("\0\0\0\0\3\x0a\x01\x61", 8);
  const std::string m2("\0\0\0\0\3\x0a\x01\x62", 8);
  EXPECT_TRUE(compare(grpc_answer(m1, {{"grpc-status", "0"}}), grpc_answer(m1, {{"grpc-status", "0"}}), {}).match());
  EXPECT_EQ(diff(grpc_answer(m1, {{"grpc-status", "0"}}), grpc_answer(m2, {{"grpc-status", "0"}})), Strings{"body"});
}

TEST(ShadowCompareTrailers, TrailerNoiseCoversOnlyThatTrailer) {
  EXPECT_EQ(without_noise({"trailer:x", "trailer:x.y", "header:x"}, {"trailer:x"}), (Strings{"trailer:x.y", "header:x"}));
}

// ---- gRPC Trailers-Only -------------------------------------------------------------------------

TEST(ShadowTrailersOnly, TheStatusInAHeadBecomesTrailers) {
  auto r = grpc_answer("", {}, {{"content-type", "application/grpc"}, {"grpc-status", "5"},
                                {"grpc-message", "not here"}, {"x-other", "stays"}});
  trailers_only_status_as_trailers(r);
  ASSERT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(r.headers[0].name, "content-type");
  EXPECT_EQ(r.headers[1].name, "x-other");
  ASSERT_EQ(r.trailers.size(), 2u);
  EXPECT_EQ(r.trailers[0].name, "grpc-status");
  EXPECT_EQ(r.trailers[0].value, "5");
  EXPECT_EQ(r.trailers[1].name, "grpc-message");
}

TEST(ShadowTrailersOnly, ATrailersOnlyNotFoundAgainstAnOkDiffersInItsTrailers) {
  auto ok = grpc_answer("", {{"grpc-status", "0"}});
  auto not_found = grpc_answer("", {}, {{"content-type", "application/grpc"}, {"grpc-status", "5"}});
  trailers_only_status_as_trailers(ok);
  trailers_only_status_as_trailers(not_found);
  EXPECT_EQ(diff(ok, not_found), Strings{"trailer:grpc-status"});
  // Both Trailers-Only with the same status: a match.
  auto again = grpc_answer("", {}, {{"content-type", "application/grpc"}, {"grpc-status", "5"}});
  trailers_only_status_as_trailers(again);
  EXPECT_TRUE(compare(not_found, again, {}).match());
}

TEST(ShadowTrailersOnly, OtherResponsesStayAsTheyAre) {
  // Not gRPC; a body; trailers already; no grpc-status.
  const HeaderList plain{{"content-type", "text/plain"}, {"grpc-status", "5"}};
  const HeaderList grpc{{"content-type", "application/grpc+proto"}, {"grpc-status", "5"}};
  std::vector<CapturedResponse> cases;
  cases.push_back(grpc_answer("", {}, plain));
  cases.push_back(grpc_answer("m", {}, grpc));
  cases.push_back(grpc_answer("", {{"grpc-status", "0"}}, grpc));
  cases.push_back(grpc_answer("", {}, {{"content-type", "application/grpc"}}));
  for (auto& r : cases) {
    const std::size_t headers = r.headers.size(), trailers = r.trailers.size();
    trailers_only_status_as_trailers(r);
    EXPECT_EQ(r.headers.size(), headers);
    EXPECT_EQ(r.trailers.size(), trailers);
  }
}

TEST(ShadowTrailersOnly, GrpcContentTypes) {
  EXPECT_TRUE(has_grpc_content_type({{"content-type", "application/grpc"}}));
  EXPECT_TRUE(has_grpc_content_type({{"Content-Type", "application/grpc+proto"}}));
  EXPECT_FALSE(has_grpc_content_type({{"content-type", "application/grpc-web"}}));
  EXPECT_FALSE(has_grpc_content_type({{"x-content-type", "application/grpc"}}));
  EXPECT_FALSE(has_grpc_content_type({}));
}

// ---- the sample ---------------------------------------------------------------------------------

TEST(ShadowSampleTrailers, ShownWhenASideHasThem) {
  MismatchSample s;
  s.differences = {"trailer:grpc-status"};
  s.primary_trailers = {{"grpc-status", "0"}};
  s.shadow_trailers = {{"grpc-status", "5"}, {"grpc-message", "no"}, {"grpc-message", "really"}};
  const auto j = boost::json::parse(s.to_json()).as_object();
  EXPECT_EQ(j.at("first_difference").as_string(), "trailer:grpc-status");
  EXPECT_EQ(j.at("primary_trailers").at("grpc-status").as_string(), "0");
  EXPECT_EQ(j.at("shadow_trailers").at("grpc-status").as_string(), "5");
  EXPECT_EQ(j.at("shadow_trailers").at("grpc-message").as_string(), "no, really");

  MismatchSample plain;
  plain.differences = {"body"};
  const auto p = boost::json::parse(plain.to_json()).as_object();
  EXPECT_FALSE(p.contains("primary_trailers"));
  EXPECT_FALSE(p.contains("shadow_trailers"));
}

}  // namespace compare_trailers_test
}  // namespace cutover::shadow
