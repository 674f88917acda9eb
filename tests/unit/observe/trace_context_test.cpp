// Unit tests for request IDs and W3C Trace Context (proxy/observe/trace_context.hpp): which
// incoming request ids are kept, the shape of new ones, and traceparent parsing against
// https://www.w3.org/TR/trace-context/ §3.2 (version 00 is exactly 55 characters of lower-case
// hex and dashes; "ff" is never a version; all-zero ids are invalid; a later version may carry
// more after a '-').
#include "proxy/observe/trace_context.hpp"

#include <gtest/gtest.h>

#include <string>

namespace cutover::observe {
namespace {

// The example of W3C Trace Context §3.2.2.
constexpr std::string_view kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kParent = "00f067aa0ba902b7";
const std::string kSpecExample = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

bool lower_hex(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// ---- request ids ----------------------------------------------------------------------------

TEST(ValidRequestId, AcceptsUuidsHexBase64AndPrefixedForms) {
  for (std::string_view id : {"f47ac10b-58cc-4372-a567-0e02b2c3d479", "0123456789abcdef0123456789abcdef",
                              "F47AC10B58CC4372", "dGVzdA==", "a+b/c=", "req:abc.def_1", "svc@host:42", "x",
                              "-._:+/=@"})
    EXPECT_TRUE(valid_request_id(id)) << id;
}

TEST(ValidRequestId, LengthIsOneTo128Bytes) {
  EXPECT_FALSE(valid_request_id(""));
  EXPECT_TRUE(valid_request_id(std::string(kMaxRequestIdBytes, 'a')));
  EXPECT_FALSE(valid_request_id(std::string(kMaxRequestIdBytes + 1, 'a')));
  EXPECT_EQ(kMaxRequestIdBytes, 128u);
}

TEST(ValidRequestId, RefusesWhatCannotGoIntoAHeaderOrLogAsItIs) {
  for (std::string_view id : {"a b", "a\tb", "a\"b", "a\\b", "a,b", "a;b", "a%20b", "a\nb", "a\rb", "<id>",
                              "a\x7f", "caf\xc3\xa9", "\xff", " abc", "abc "})
    EXPECT_FALSE(valid_request_id(id)) << id;
  EXPECT_FALSE(valid_request_id(std::string_view("ab\0c", 4)));  // an embedded NUL
}

TEST(MakeRequestId, Is32LowerHexDigitsZeroPadded) {
  EXPECT_EQ(make_request_id(0, 1), "00000000000000000000000000000001");
  EXPECT_EQ(make_request_id(0x0123456789abcdefULL, 0xfedcba9876543210ULL), "0123456789abcdeffedcba9876543210");
  EXPECT_EQ(make_request_id(~0ULL, ~0ULL), std::string(32, 'f'));
  const std::string id = make_request_id(0xdeadbeefULL, 42);
  EXPECT_EQ(id.size(), 32u);
  EXPECT_TRUE(lower_hex(id)) << id;
  EXPECT_TRUE(valid_request_id(id));  // what cutover makes, a trusted hop keeps
}

// ---- traceparent ----------------------------------------------------------------------------

TEST(ParseTraceparent, SpecExampleGivesItsPartsAsViewsIntoTheValue) {
  auto t = parse_traceparent(kSpecExample);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->version, "00");
  EXPECT_EQ(t->trace_id, kTrace);
  EXPECT_EQ(t->parent_id, kParent);
  EXPECT_EQ(t->flags, "01");
  EXPECT_EQ(t->trace_id.data(), kSpecExample.data() + 3);
  EXPECT_EQ(t->parent_id.data(), kSpecExample.data() + 36);
  EXPECT_EQ(t->flags.data(), kSpecExample.data() + 53);

  // Unsampled, and flags this version does not define yet, are still valid.
  EXPECT_TRUE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"));
  EXPECT_TRUE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff"));
}

TEST(ParseTraceparent, Version00MustBeExactly55Characters) {
  ASSERT_EQ(kSpecExample.size(), 55u);
  EXPECT_FALSE(parse_traceparent(""));
  EXPECT_FALSE(parse_traceparent(kSpecExample.substr(0, 54)));
  EXPECT_FALSE(parse_traceparent(kSpecExample + "-"));
  EXPECT_FALSE(parse_traceparent(kSpecExample + "-extra"));
  EXPECT_FALSE(parse_traceparent(kSpecExample + "0"));
  EXPECT_FALSE(parse_traceparent(kSpecExample + " "));
  EXPECT_FALSE(parse_traceparent(" " + kSpecExample));
  // One digit short in the trace id and one too many in the parent id: right length, wrong dashes.
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01"));
}

TEST(ParseTraceparent, OnlyLowerCaseHexAndDashesAtTheirPlaces) {
  const std::vector<std::string> bad = {
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper-case trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",  // upper-case parent id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",  // upper-case flags
      "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // upper-case version
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  // not hex
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // separators
      "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
      "00-4bf92f3577b34da6a3ce929d0e0e47-6-00f067aa0ba902b7-01",  // a dash inside the trace id
      "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  };
  for (const auto& v : bad) {
    ASSERT_EQ(v.size(), 55u) << v;
    EXPECT_FALSE(parse_traceparent(v)) << v;
  }
}

TEST(ParseTraceparent, AllZeroIdsAndVersionFfAreInvalid) {
  EXPECT_FALSE(parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  EXPECT_FALSE(parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more"));
  // One non-zero digit is enough.
  EXPECT_TRUE(parse_traceparent("00-00000000000000000000000000000001-0000000000000001-01"));
  EXPECT_TRUE(parse_traceparent("00-10000000000000000000000000000000-1000000000000000-01"));
}

TEST(ParseTraceparent, LaterVersionsMayCarryMoreAfterADash) {
  auto exact = parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->version, "01");

  const std::string longer = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds";
  auto t = parse_traceparent(longer);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->version, "cc");
  EXPECT_EQ(t->trace_id, kTrace);
  EXPECT_EQ(t->parent_id, kParent);
  EXPECT_EQ(t->flags, "01");

  // More without the dash, and a later version's own ids still checked.
  EXPECT_FALSE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
  EXPECT_FALSE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-012-x"));
  EXPECT_FALSE(parse_traceparent("cc-00000000000000000000000000000000-00f067aa0ba902b7-01-x"));
  EXPECT_FALSE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01-x"));
  EXPECT_FALSE(parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"));
}

TEST(MakeTraceparent, KeepsTraceAndFlagsWithANewSpanId) {
  const std::string v = make_traceparent(kTrace, 0x00f067aa0ba902b8ULL, "00");
  EXPECT_EQ(v, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-00");
  auto t = parse_traceparent(v);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->trace_id, kTrace);
  EXPECT_EQ(t->flags, "00");

  // Zero span bits would make an invalid parent id: never written.
  const std::string z = make_traceparent(kTrace, 0, "01");
  EXPECT_EQ(z, "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000001-01");
  EXPECT_TRUE(parse_traceparent(z));
  EXPECT_EQ(make_traceparent(kTrace, 1, "01").substr(36, 16), "0000000000000001");  // padded
}

TEST(NewTraceparent, IsAValidSampledVersion00Trace) {
  const std::string v = new_traceparent(0x0123456789abcdefULL, 0x1ULL, 0xabcULL);
  EXPECT_EQ(v, "00-0123456789abcdef0000000000000001-0000000000000abc-01");
  auto t = parse_traceparent(v);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->flags, "01");

  // All-zero bits give ids that are still valid.
  const std::string z = new_traceparent(0, 0, 0);
  EXPECT_EQ(z, "00-00000000000000000000000000000001-0000000000000001-01");
  EXPECT_TRUE(parse_traceparent(z));
  EXPECT_TRUE(parse_traceparent(new_traceparent(~0ULL, ~0ULL, ~0ULL)));
}

}  // namespace
}  // namespace cutover::observe
