// The weighted split: which side (source or target) serves a request, as a pure function of the
// route's current weights and a random draw, so tests can pin the draw (cf. Envoy's
// WeightedClusterSpecifier taking its random value as a parameter).
#pragma once

#include <cstdint>
#include <string_view>

namespace cutover::router {

enum class Side : std::uint8_t { source = 0, target = 1 };
// read = safe methods (RFC 9110 §9.2.1: GET, HEAD, OPTIONS, TRACE); write = every other method.
enum class Kind : std::uint8_t { read = 0, write = 1 };

constexpr std::string_view name(Side s) { return s == Side::target ? "target" : "source"; }
constexpr std::string_view name(Kind k) { return k == Kind::write ? "write" : "read"; }
constexpr Side other(Side s) { return s == Side::target ? Side::source : Side::target; }

// Weights are basis points of percent: 0..10000 = 0.00 %..100.00 % of requests to target.
inline constexpr std::uint32_t kWeightScale = 10000;

struct Weights {
  std::uint16_t read_bp = 0;
  std::uint16_t write_bp = 0;

  constexpr std::uint16_t for_kind(Kind k) const { return k == Kind::write ? write_bp : read_bp; }
  // Packed into one 32-bit word so both change together in a single atomic store.
  constexpr std::uint32_t pack() const { return std::uint32_t{read_bp} | (std::uint32_t{write_bp} << 16); }
  static constexpr Weights unpack(std::uint32_t w) {
    return {static_cast<std::uint16_t>(w & 0xffff), static_cast<std::uint16_t>(w >> 16)};
  }
  friend constexpr bool operator==(Weights, Weights) = default;
};

// Maps 64 random bits onto a bucket in [0, 10000) without modulo bias worth measuring
// (multiply-shift on the top 32 bits).
constexpr std::uint32_t bucket_of(std::uint64_t random_bits) {
  return static_cast<std::uint32_t>(((random_bits >> 32) * kWeightScale) >> 32);
}

// Target when bucket < weight_bp: weight 0 never picks target, 10000 always does, and raising a
// weight only moves buckets from source to target (the property sticky routing relies on).
constexpr Side choose_side(std::uint32_t weight_bp, std::uint32_t bucket) {
  return bucket < weight_bp ? Side::target : Side::source;
}

}  // namespace cutover::router
