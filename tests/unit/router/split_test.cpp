// The weighted split as a pure function: exact proportions over 100,000 draws, edges, monotonicity.
#include "proxy/router/split.hpp"

#include <random>

#include <gtest/gtest.h>

namespace cutover::router {
namespace {

double target_share(std::uint32_t weight_bp, std::uint64_t seed, int draws = 100000) {
  std::mt19937_64 rng(seed);
  int target = 0;
  for (int i = 0; i < draws; ++i) target += choose_side(weight_bp, bucket_of(rng())) == Side::target;
  return 100.0 * target / draws;
}

TEST(Split, ProportionsOver100kDrawsWithinHalfAPoint) {
  for (std::uint32_t bp : {1u, 100u, 1000u, 2000u, 2550u, 5000u, 7525u, 9900u, 9999u}) {
    for (std::uint64_t seed : {1ull, 42ull, 20261121ull}) {
      double share = target_share(bp, seed);
      EXPECT_NEAR(share, bp / 100.0, 0.5) << "weight " << bp / 100.0 << "% seed " << seed;
    }
  }
}

TEST(Split, ZeroNeverAndHundredAlwaysPickTarget) {
  EXPECT_EQ(target_share(0, 7), 0.0);
  EXPECT_EQ(target_share(kWeightScale, 7), 100.0);
  EXPECT_EQ(choose_side(0, 0), Side::source);
  EXPECT_EQ(choose_side(kWeightScale, kWeightScale - 1), Side::target);
}

TEST(Split, BucketCoversTheWholeRangeWithoutBias) {
  EXPECT_EQ(bucket_of(0), 0u);
  EXPECT_EQ(bucket_of(~std::uint64_t{0}), kWeightScale - 1);
  // Every bucket is reachable and equally likely: 2^32 / 10000 top-bit values map to each.
  EXPECT_EQ(bucket_of(std::uint64_t{429497} << 32), 1u);
}

TEST(Split, RaisingTheWeightOnlyMovesDrawsFromSourceToTarget) {
  for (std::uint32_t b = 0; b < kWeightScale; b += 7) {
    for (std::uint32_t w = 0; w + 100 <= kWeightScale; w += 100) {
      if (choose_side(w, b) == Side::target) {
        ASSERT_EQ(choose_side(w + 100, b), Side::target) << "bucket " << b << " weight " << w;
      }
    }
  }
}

TEST(Split, WeightsPackAndUnpackBothHalves) {
  Weights w{2500, 10000};
  EXPECT_EQ(Weights::unpack(w.pack()), w);
  EXPECT_EQ(w.for_kind(Kind::read), 2500);
  EXPECT_EQ(w.for_kind(Kind::write), 10000);
}

}  // namespace
}  // namespace cutover::router
