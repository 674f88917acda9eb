// Shadow comparison as pure functions: status, headers (framing and ignored names skipped, value
// order kept), JSON bodies structurally with ignored fields and stable paths, everything else by
// digest, the noise filter and the JSON media type test.
#include "proxy/shadow/compare.hpp"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace cutover::shadow {
namespace {

using Headers = HeaderList;
using Strings = std::vector<std::string>;

constexpr std::size_t kLimit = 1 << 20;

CapturedResponse response(unsigned status, Headers headers, std::string_view body, bool json,
                          std::size_t keep_limit = kLimit) {
  CapturedResponse r;
  r.status = status;
  r.headers = std::move(headers);
  r.body = BodyCapture(keep_limit);
  // In two pieces, as a body streams past.
  r.body.append({body.data(), body.size() / 2});
  r.body.append({body.data() + body.size() / 2, body.size() - body.size() / 2});
  r.body.finish();
  r.json = json;
  return r;
}

CapturedResponse json_response(std::string_view body, std::size_t keep_limit = kLimit) {
  return response(200, {{"content-type", "application/json"}}, body, true, keep_limit);
}

CapturedResponse text_response(std::string_view body, std::size_t keep_limit = kLimit) {
  return response(200, {{"content-type", "text/plain"}}, body, false, keep_limit);
}

Strings diff(const CapturedResponse& a, const CapturedResponse& b, const CompareOptions& options = {}) {
  return compare(a, b, options).differences;
}

// ---- status and headers ------------------------------------------------------------------------

TEST(ShadowCompare, IdenticalResponsesMatch) {
  const Headers h{{"content-type", "application/json"}, {"etag", "\"1\""}, {"set-cookie", "a=1"}};
  const auto a = response(200, h, R"({"a":1,"b":[1,2,{"c":null}]})", true);
  const auto b = response(200, h, R"({"a":1,"b":[1,2,{"c":null}]})", true);
  const Comparison c = compare(a, b, {});
  EXPECT_TRUE(c.match());
  EXPECT_FALSE(c.truncated);
  EXPECT_TRUE(c.json_compared);

  const auto t1 = text_response("plain text");
  const auto t2 = text_response("plain text");
  const Comparison ct = compare(t1, t2, {});
  EXPECT_TRUE(ct.match());
  EXPECT_FALSE(ct.json_compared);
}

TEST(ShadowCompare, StatusDiffers) {
  const auto a = response(200, {}, "x", false);
  const auto b = response(503, {}, "x", false);
  EXPECT_EQ(diff(a, b), Strings{"status"});
}

TEST(ShadowCompare, HeaderValueDiffersOrIsMissing) {
  const auto a = response(200, {{"cache-control", "no-store"}, {"x-only-a", "1"}}, "", false);
  const auto b = response(200, {{"cache-control", "max-age=60"}, {"x-only-b", "1"}}, "", false);
  EXPECT_EQ(diff(a, b), (Strings{"header:cache-control", "header:x-only-a", "header:x-only-b"}));
}

TEST(ShadowCompare, HeaderDifferencesAreSortedByNameAfterStatus) {
  const auto a = response(200, {{"zeta", "1"}, {"alpha", "1"}, {"mid", "1"}}, "", false);
  const auto b = response(201, {{"mid", "2"}, {"zeta", "2"}, {"alpha", "2"}}, "", false);
  EXPECT_EQ(diff(a, b), (Strings{"status", "header:alpha", "header:mid", "header:zeta"}));
}

TEST(ShadowCompare, IgnoredHeaderIsSkipped) {
  const auto a = response(200, {{"date", "Mon"}, {"x-request-id", "a"}, {"server", "old"}}, "", false);
  const auto b = response(200, {{"date", "Tue"}, {"x-request-id", "b"}, {"server", "new"}}, "", false);
  CompareOptions options;
  options.ignore_headers = {"date", "x-request-id"};
  EXPECT_EQ(diff(a, b, options), Strings{"header:server"});
  options.ignore_headers.push_back("Server");  // names are lower-cased before use
  EXPECT_TRUE(compare(a, b, options).match());
}

TEST(ShadowCompare, FramingAndHopByHopHeadersAreNeverCompared) {
  const auto a = response(200,
                          {{"content-length", "5"}, {"connection", "keep-alive"}, {"keep-alive", "timeout=5"}},
                          "hello", false);
  const auto b = response(200,
                          {{"transfer-encoding", "chunked"}, {"connection", "close"}, {"trailer", "x-sum"},
                           {"te", "trailers"}, {"upgrade", "h2c"}, {"proxy-connection", "close"}},
                          "hello", false);
  EXPECT_TRUE(compare(a, b, {}).match());
}

TEST(ShadowCompare, RepeatedHeaderValuesCompareInOrder) {
  const auto a = response(200, {{"set-cookie", "a=1"}, {"vary", "accept"}, {"set-cookie", "b=2"}}, "", false);
  const auto same = response(200, {{"set-cookie", "a=1"}, {"set-cookie", "b=2"}, {"vary", "accept"}}, "", false);
  const auto swapped = response(200, {{"set-cookie", "b=2"}, {"vary", "accept"}, {"set-cookie", "a=1"}}, "", false);
  const auto fewer = response(200, {{"set-cookie", "a=1"}, {"vary", "accept"}}, "", false);
  EXPECT_TRUE(compare(a, same, {}).match());  // interleaving with other names does not matter
  EXPECT_EQ(diff(a, swapped), Strings{"header:set-cookie"});
  EXPECT_EQ(diff(a, fewer), Strings{"header:set-cookie"});
}

// ---- JSON bodies -------------------------------------------------------------------------------

TEST(ShadowCompare, JsonEqualWithDifferentKeyOrder) {
  const auto a = json_response(R"({"id": 7, "name": "x", "tags": ["a", "b"], "meta": {"p": 1, "q": 2}})");
  const auto b = json_response(R"({"meta":{"q":2,"p":1},"tags":["a","b"],"name":"x","id":7})");
  const Comparison c = compare(a, b, {});
  EXPECT_TRUE(c.match());
  EXPECT_TRUE(c.json_compared);
}

TEST(ShadowCompare, IgnoredJsonFieldsAreDroppedAtAnyDepthAndInsideArrays) {
  const auto a = json_response(
      R"({"a": {"b": {"updated_at": "2024-01-01", "v": 1}}, "items": [{"id": 1, "updated_at": "x"}, {"id": 2, "trace": 1}], "trace": "t1"})");
  const auto b = json_response(
      R"({"a": {"b": {"updated_at": "2025-06-30", "v": 1}}, "items": [{"id": 1, "updated_at": "y"}, {"id": 2}], "trace": "t2"})");
  CompareOptions options;
  options.ignore_json_fields = {"updated_at", "trace"};
  const Comparison c = compare(a, b, options);
  EXPECT_TRUE(c.match()) << testing::PrintToString(c.differences);
  EXPECT_TRUE(c.json_compared);
  EXPECT_EQ(diff(a, b), (Strings{"$.a.b.updated_at", "$.items[0].updated_at", "$.items[1].trace", "$.trace"}));
}

TEST(ShadowCompare, JsonDifferenceIsReportedAtItsPath) {
  const auto a = json_response(
      R"({"items": [{"price": 1}, {"price": 2}, {"price": 3, "sku": "c"}], "total": 6})");
  const auto b = json_response(
      R"({"total": 6, "items": [{"price": 1}, {"price": 2}, {"sku": "c", "price": 4}]})");
  EXPECT_EQ(diff(a, b), Strings{"$.items[2].price"});
}

TEST(ShadowCompare, NumbersCompareByValueAcrossKinds) {
  EXPECT_TRUE(compare(json_response(R"({"n": 1})"), json_response(R"({"n": 1.0})"), {}).match());
  EXPECT_TRUE(compare(json_response(R"([1e2, -3, 18446744073709551615])"),
                      json_response(R"([100, -3.0, 18446744073709551615])"), {})
                  .match());
  EXPECT_EQ(diff(json_response(R"({"n": 1})"), json_response(R"({"n": 1.5})")), Strings{"$.n"});
  EXPECT_EQ(diff(json_response(R"({"n": -1})"), json_response(R"({"n": 18446744073709551615})")), Strings{"$.n"});
  // 2^53 + 1 is an exact integer; the double 2^53 is a different number even though they round
  // to the same double.
  EXPECT_EQ(diff(json_response("[9007199254740993]"), json_response("[9007199254740992.0]")), Strings{"$[0]"});
}

TEST(ShadowCompare, KindMismatchIsOneDifferenceNotDescended) {
  EXPECT_EQ(diff(json_response(R"({"a": [1, 2], "b": "1"})"), json_response(R"({"a": {"x": 1}, "b": 1})")),
            (Strings{"$.a", "$.b"}));
  EXPECT_EQ(diff(json_response(R"({"a": null})"), json_response(R"({"a": false})")), Strings{"$.a"});
  EXPECT_EQ(diff(json_response("[]"), json_response("{}")), Strings{"$"});
  EXPECT_EQ(diff(json_response("true"), json_response("false")), Strings{"$"});
}

TEST(ShadowCompare, MissingKeyIsADifferenceAtThatKey) {
  EXPECT_EQ(diff(json_response(R"({"a": 1, "b": {"c": 1}})"), json_response(R"({"a": 1, "b": {}, "d": 0})")),
            (Strings{"$.b.c", "$.d"}));
}

TEST(ShadowCompare, OddKeysAreQuotedAndEscaped) {
  const auto a = json_response(R"({"odd key": 1, "q\"uote": 1, "1st": 1, "_ok9": 1, "nest": {"a-b": [0, {"\n": 1}]}})");
  const auto b = json_response(R"({"odd key": 2, "q\"uote": 2, "1st": 2, "_ok9": 2, "nest": {"a-b": [0, {"\n": 2}]}})");
  EXPECT_EQ(diff(a, b), (Strings{R"($["1st"])", "$._ok9", R"($.nest["a-b"][1]["\n"])", R"($["odd key"])",
                                 R"($["q\"uote"])"}));
}

TEST(ShadowCompare, ArrayLengthDifferenceIsReportedPerMissingIndex) {
  EXPECT_EQ(diff(json_response("[1, 2]"), json_response("[1, 2, 3, 4]")), (Strings{"$[2]", "$[3]"}));
  EXPECT_EQ(diff(json_response(R"({"a": [1, 2, 3]})"), json_response(R"({"a": [1, 5]})")),
            (Strings{"$.a[1]", "$.a[2]"}));
}

std::string numbers(int count, int offset) {
  std::string s = "[";
  for (int i = 0; i < count; ++i) s += (i ? "," : "") + std::to_string(i + offset);
  return s + "]";
}

TEST(ShadowCompare, DifferencesStopAtKMaxDifferences) {
  const Comparison c = compare(json_response(numbers(100, 0)), json_response(numbers(100, 1)), {});
  ASSERT_EQ(c.differences.size(), kMaxDifferences);
  EXPECT_TRUE(c.truncated);
  EXPECT_EQ(c.differences.front(), "$[0]");
  EXPECT_EQ(c.differences.back(), "$[31]");

  // Exactly kMaxDifferences is not truncated.
  const Comparison exact = compare(json_response(numbers(32, 0)), json_response(numbers(32, 1)), {});
  EXPECT_EQ(exact.differences.size(), kMaxDifferences);
  EXPECT_FALSE(exact.truncated);

  // Status and header differences count against the same bound, and come first.
  Headers ha, hb;
  for (int i = 0; i < 40; ++i) {
    ha.add("x-h" + std::to_string(100 + i), "a");
    hb.add("x-h" + std::to_string(100 + i), "b");
  }
  const Comparison h = compare(response(200, ha, "x", false), response(500, hb, "y", false), {});
  ASSERT_EQ(h.differences.size(), kMaxDifferences);
  EXPECT_TRUE(h.truncated);
  EXPECT_EQ(h.differences.front(), "status");
  EXPECT_EQ(h.differences.back(), "header:x-h130");
}

TEST(ShadowCompare, TheFirstContentTypeSaysWhetherTheBodyIsJson) {
  EXPECT_TRUE(has_json_content_type({{"ETag", "1"}, {"Content-Type", "application/problem+json"}}));
  EXPECT_FALSE(has_json_content_type({{"content-type", "text/html"}, {"content-type", "application/json"}}));
  EXPECT_TRUE(has_json_content_type({{"content-type", "Application/JSON; charset=utf-8"}, {"content-type", "text/html"}}));
  EXPECT_FALSE(has_json_content_type({{"x-content-type", "application/json"}}));
  EXPECT_FALSE(has_json_content_type({}));
}

// ---- byte-wise bodies --------------------------------------------------------------------------

TEST(ShadowCompare, NonJsonBodiesCompareByDigest) {
  EXPECT_TRUE(compare(text_response("<p>hi</p>"), text_response("<p>hi</p>"), {}).match());
  EXPECT_EQ(diff(text_response("<p>hi</p>"), text_response("<p>ho</p>")), Strings{"body"});
  EXPECT_EQ(diff(text_response("abc"), text_response("abcd")), Strings{"body"});
  // JSON text under a non-JSON content type on either side is bytes.
  const Comparison c =
      compare(response(200, {}, R"({"a":1,"b":2})", false), response(200, {}, R"({"b":2,"a":1})", true), {});
  EXPECT_EQ(c.differences, Strings{"body"});
  EXPECT_FALSE(c.json_compared);
}

TEST(ShadowCompare, BodiesPastTheKeepLimitCompareByDigestEvenWhenJson) {
  std::string items;
  for (int i = 0; i < 200; ++i) items += (i ? "," : "") + std::string(R"({"id": )") + std::to_string(i) + "}";
  // The same document with its keys in the other order, and the same length, so that only the
  // digest tells them apart.
  const std::string big = R"({"items": [)" + items + R"(], "z": 1})";
  const std::string reordered = R"({"z": 1, "items": [)" + items + "]}";
  ASSERT_EQ(reordered.size(), big.size());
  constexpr std::size_t kSmallLimit = 1024;
  ASSERT_GT(big.size(), kSmallLimit);

  const auto a = json_response(big, kSmallLimit);
  ASSERT_FALSE(a.body.complete());
  const Comparison same = compare(a, json_response(big, kSmallLimit), {});
  EXPECT_TRUE(same.match());
  EXPECT_FALSE(same.json_compared);

  // Structurally equal, but only the digest is left to compare.
  const Comparison other = compare(a, json_response(reordered, kSmallLimit), {});
  EXPECT_EQ(other.differences, Strings{"body"});
  EXPECT_FALSE(other.json_compared);

  // One side complete is not enough either.
  EXPECT_EQ(diff(a, json_response(reordered)), Strings{"body"});
  // With room for both, the same bodies match structurally.
  EXPECT_TRUE(compare(json_response(big), json_response(reordered), {}).match());
}

TEST(ShadowCompare, InvalidJsonFallsBackToDigest) {
  const Comparison same = compare(json_response("{not json"), json_response("{not json"), {});
  EXPECT_TRUE(same.match());
  EXPECT_FALSE(same.json_compared);
  EXPECT_EQ(diff(json_response("{not json"), json_response("{not json!")), Strings{"body"});
  EXPECT_EQ(diff(json_response(R"({"a": 1})"), json_response(R"({"a": 1} trailing)")), Strings{"body"});
  // An empty body is not JSON, so two empty JSON responses are equal bytes.
  const Comparison empty = compare(json_response(""), json_response(""), {});
  EXPECT_TRUE(empty.match());
  EXPECT_FALSE(empty.json_compared);
}

TEST(ShadowCompare, JsonNestedDeeperThan64FallsBackToDigest) {
  const auto nested = [](int depth, std::string_view leaf) {
    return std::string(depth, '[') + std::string(leaf) + std::string(depth, ']');
  };
  const Comparison ok = compare(json_response(nested(64, "1")), json_response(nested(64, "2")), {});
  EXPECT_TRUE(ok.json_compared);
  EXPECT_EQ(ok.differences, Strings{"$" + [] {
                              std::string p;
                              for (int i = 0; i < 64; ++i) p += "[0]";
                              return p;
                            }()});
  const Comparison deep = compare(json_response(nested(65, "1")), json_response(nested(65, "2")), {});
  EXPECT_FALSE(deep.json_compared);
  EXPECT_EQ(deep.differences, Strings{"body"});
}

// ---- noise -------------------------------------------------------------------------------------

TEST(ShadowNoise, RemovesExactMatchesAndPathsBeneathNoise) {
  const Strings primary{"status", "header:date", "header:etag", "$.a", "$.a.b", "$.a[3]", R"($.a["x y"])",
                        "$.ab", "$.b", "body"};
  EXPECT_EQ(without_noise(primary, {"header:date", "$.a", "body"}), (Strings{"status", "header:etag", "$.ab", "$.b"}));
  EXPECT_EQ(without_noise(primary, {}), primary);
  EXPECT_EQ(without_noise(primary, {"$"}), (Strings{"status", "header:date", "header:etag", "body"}));
}

TEST(ShadowNoise, NoiseBeneathAPathDoesNotRemoveItsParent) {
  EXPECT_EQ(without_noise({"$.a", "$.a.b"}, {"$.a.b.c"}), (Strings{"$.a", "$.a.b"}));
}

TEST(ShadowNoise, HeaderNoiseCoversOnlyThatHeader) {
  EXPECT_EQ(without_noise({"header:x", "header:x.y", "header:xy"}, {"header:x"}), (Strings{"header:x.y", "header:xy"}));
}

TEST(ShadowNoise, WorksOnRealComparisons) {
  // Two source responses disagree on the timestamp; the target differs there and on the price.
  const auto source1 = json_response(R"({"ts": 1, "price": 5})");
  const auto source2 = json_response(R"({"ts": 2, "price": 5})");
  const auto target = json_response(R"({"ts": 3, "price": 6})");
  EXPECT_EQ(without_noise(diff(source1, target), diff(source1, source2)), Strings{"$.price"});
}

// ---- media types and names ---------------------------------------------------------------------

TEST(ShadowMediaType, JsonMediaTypes) {
  EXPECT_TRUE(is_json_media_type("application/json"));
  EXPECT_TRUE(is_json_media_type("application/json; charset=utf-8"));
  EXPECT_TRUE(is_json_media_type("application/json;charset=utf-8"));
  EXPECT_TRUE(is_json_media_type(" application/json ; charset=utf-8"));
  EXPECT_TRUE(is_json_media_type("application/problem+json"));
  EXPECT_TRUE(is_json_media_type("application/vnd.api+json; ext=\"x\""));
  EXPECT_TRUE(is_json_media_type("APPLICATION/JSON"));
  EXPECT_TRUE(is_json_media_type("Application/Problem+JSON"));
}

TEST(ShadowMediaType, NotJsonMediaTypes) {
  EXPECT_FALSE(is_json_media_type("text/json"));
  EXPECT_FALSE(is_json_media_type("application/jsonx"));
  EXPECT_FALSE(is_json_media_type("application/json-patch"));
  EXPECT_FALSE(is_json_media_type("application/+json"));
  EXPECT_FALSE(is_json_media_type("text/plain+json"));
  EXPECT_FALSE(is_json_media_type("application/x-json5"));
  EXPECT_FALSE(is_json_media_type("text/html; profile=application/json"));
  EXPECT_FALSE(is_json_media_type(""));
}

TEST(ShadowLower, LowerCasesAsciiOnly) {
  EXPECT_EQ(lower("Content-Type"), "content-type");
  EXPECT_EQ(lower("X-ABC-123"), "x-abc-123");
  EXPECT_EQ(lower(""), "");
}

}  // namespace

// Boost.JSON 1.81 reads 0e400 (zero with an exponent beyond the double range) as NaN, and NaN
// never equals itself: a body with such a number used to differ from itself, a mismatch that
// could trip a ramp's max_mismatch_rate gate (found by the compare fuzz target).
TEST(ShadowCompare, ANumberBoostReadsAsNanEqualsItself) {
  const auto a = json_response(R"({"v": 0e400, "w": [1, -0e999]})");
  EXPECT_EQ(diff(a, a), Strings{});
  const auto b = json_response(R"({"v": 1, "w": [1, -0e999]})");
  EXPECT_EQ(diff(a, b), Strings{"$.v"});
}

}  // namespace cutover::shadow
