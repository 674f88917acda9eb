// Body capture: bytes kept whole while under the limit, the sample after it, and a digest that is
// xxHash's own XXH3-128 of the whole body however it arrived.
#include "proxy/shadow/body_capture.hpp"

#include <xxhash.h>

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace cutover::shadow {
namespace {

std::span<const char> bytes(std::string_view s) { return {s.data(), s.size()}; }

std::array<std::uint64_t, 2> library_digest(std::string_view s) {
  const XXH128_hash_t h = XXH3_128bits(s.data(), s.size());
  return {h.high64, h.low64};
}

// A deterministic body of `n` bytes that is not periodic in any small step.
std::string body_of(std::size_t n) {
  std::string s(n, '\0');
  std::uint32_t x = 12345;
  for (auto& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

TEST(BodyCapture, DigestOfAbcIsTheLibrarysXxh3_128) {
  BodyCapture capture(1024);
  capture.append(bytes("abc"));
  capture.finish();
  const XXH128_hash_t h = XXH3_128bits("abc", 3);
  EXPECT_EQ(capture.digest()[0], h.high64);
  EXPECT_EQ(capture.digest()[1], h.low64);
}

TEST(BodyCapture, EmptyBodyHasTheDigestOfNoBytes) {
  BodyCapture capture(1024);
  capture.append({});
  capture.finish();
  EXPECT_TRUE(capture.complete());
  EXPECT_EQ(capture.size(), 0u);
  EXPECT_EQ(capture.kept(), "");
  EXPECT_EQ(capture.sample(), "");
  EXPECT_EQ(capture.digest(), library_digest(""));
}

TEST(BodyCapture, SmallBodyIsKeptWhole) {
  BodyCapture capture(1024);
  capture.append(bytes("hello, "));
  capture.append(bytes("world"));
  capture.finish();
  EXPECT_TRUE(capture.complete());
  EXPECT_EQ(capture.kept(), "hello, world");
  EXPECT_EQ(capture.sample(), "hello, world");
  EXPECT_EQ(capture.size(), 12u);
}

TEST(BodyCapture, DigestIsTheSameHoweverTheBodyIsSplit) {
  const std::string body = body_of(10000);
  const auto expected = library_digest(body);
  for (std::size_t step : {1u, 7u, 64u, 511u, 4096u, 10000u}) {
    // Both a limit that keeps it all and one it crosses: the digest never depends on what is kept.
    for (std::size_t limit : {std::size_t{0}, std::size_t{100}, std::size_t{1} << 20}) {
      BodyCapture capture(limit);
      for (std::size_t at = 0; at < body.size(); at += step) {
        capture.append(bytes(std::string_view(body).substr(at, step)));
      }
      capture.finish();
      EXPECT_EQ(capture.digest(), expected) << "step " << step << " limit " << limit;
      EXPECT_EQ(capture.size(), body.size());
    }
  }
}

TEST(BodyCapture, BodyExactlyAtTheLimitIsComplete) {
  const std::string body = body_of(2000);
  BodyCapture capture(2000);
  capture.append(bytes(std::string_view(body).substr(0, 1000)));
  capture.append(bytes(std::string_view(body).substr(1000)));
  capture.finish();
  EXPECT_TRUE(capture.complete());
  EXPECT_EQ(capture.kept(), body);
  EXPECT_EQ(capture.sample(), std::string_view(body).substr(0, kSampleBytes));
}

TEST(BodyCapture, CrossingTheLimitKeepsOnlyTheFirst512Bytes) {
  const std::string body = body_of(5000);
  BodyCapture capture(2000);
  capture.append(bytes(std::string_view(body).substr(0, 1500)));
  EXPECT_TRUE(capture.complete());
  EXPECT_EQ(capture.kept().size(), 1500u);
  capture.append(bytes(std::string_view(body).substr(1500, 1000)));  // now 2500 > 2000
  EXPECT_FALSE(capture.complete());
  EXPECT_EQ(capture.kept(), std::string_view(body).substr(0, kSampleBytes));
  capture.append(bytes(std::string_view(body).substr(2500)));
  capture.finish();
  EXPECT_FALSE(capture.complete());
  EXPECT_EQ(capture.kept(), std::string_view(body).substr(0, kSampleBytes));
  EXPECT_EQ(capture.sample(), capture.kept());
  EXPECT_EQ(capture.size(), 5000u);
  EXPECT_EQ(capture.digest(), library_digest(body));
}

TEST(BodyCapture, LimitBelowTheSampleStillFillsTheSample) {
  const std::string body = body_of(700);
  BodyCapture capture(100);
  for (std::size_t at = 0; at < body.size(); at += 50) capture.append(bytes(std::string_view(body).substr(at, 50)));
  capture.finish();
  EXPECT_FALSE(capture.complete());
  EXPECT_EQ(capture.sample(), std::string_view(body).substr(0, kSampleBytes));
  EXPECT_EQ(capture.kept(), capture.sample());
}

TEST(BodyCapture, SampleIsTheFirstMinOfSizeAnd512Bytes) {
  for (std::size_t n : {0u, 1u, 511u, 512u, 513u, 4000u}) {
    const std::string body = body_of(n);
    BodyCapture capture(1 << 20);
    capture.append(bytes(body));
    capture.finish();
    EXPECT_TRUE(capture.complete());
    EXPECT_EQ(capture.sample(), std::string_view(body).substr(0, std::min<std::size_t>(n, kSampleBytes))) << n;
    EXPECT_EQ(capture.kept().size(), n);
  }
}

TEST(BodyCapture, IsMovableMidStream) {
  BodyCapture first(1024);
  first.append(bytes("hello, "));
  BodyCapture second(std::move(first));
  std::vector<BodyCapture> captures;
  captures.push_back(std::move(second));
  captures.emplace_back(16);
  captures.front().append(bytes("world"));
  captures.front().finish();
  EXPECT_EQ(captures.front().kept(), "hello, world");
  EXPECT_EQ(captures.front().digest(), library_digest("hello, world"));
}

TEST(BodyCapture, FinishTwiceAndAppendAfterFinishChangeNothing) {
  BodyCapture capture(1024);
  capture.append(bytes("abc"));
  capture.finish();
  capture.append(bytes("def"));
  capture.finish();
  EXPECT_EQ(capture.kept(), "abc");
  EXPECT_EQ(capture.size(), 3u);
  EXPECT_EQ(capture.digest(), library_digest("abc"));
}

}  // namespace
}  // namespace cutover::shadow
