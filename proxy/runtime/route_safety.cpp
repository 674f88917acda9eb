// Segments, maintenance and the read-your-writes table: see route_safety.hpp.
#include "proxy/runtime/route_safety.hpp"

#include <xxhash.h>

#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

namespace cutover::runtime {

namespace {

// XXH3 seed of read-your-writes keys ("ryw" in ASCII); any fixed value other than the sticky seed.
constexpr std::uint64_t kRywSeed = 0x727977ULL;

constexpr std::uint64_t kSideBit = 1;
constexpr int kExpiryShift = 1;                 // 32 bits of centiseconds: 497 days
constexpr std::uint64_t kExpiryMask = 0xffffffffULL;
constexpr int kTagShift = 33;                   // 31 bits of the hash, never 0 (0 is an empty slot)

std::uint64_t tag_of(std::uint64_t hash) { return (hash >> kTagShift) | 1; }

}  // namespace

std::shared_ptr<const router::Segments> compile_segments(const std::vector<config::SegmentConfig>& list) {
  auto out = std::make_shared<router::Segments>();
  out->list.reserve(list.size());
  for (const auto& c : list) {
    auto& s = out->list.emplace_back();
    s.side = c.to_target ? router::Side::target : router::Side::source;
    s.name = c.name;
    s.prefix = c.prefix;
    switch (c.kind) {
      case config::SegmentConfig::Kind::header: s.kind = router::Segment::Kind::header; break;
      case config::SegmentConfig::Kind::cookie: s.kind = router::Segment::Kind::cookie; break;
      case config::SegmentConfig::Kind::client_cidrs: s.kind = router::Segment::Kind::client; break;
    }
    s.values.reserve(c.values.size());
    s.values.insert(c.values.begin(), c.values.end());
    for (const auto& cidr : c.client_cidrs) {  // canonical: make_network_* take them as they are
      if (cidr.find(':') == std::string::npos)
        s.v4.push_back(boost::asio::ip::make_network_v4(cidr));
      else
        s.v6.push_back(boost::asio::ip::make_network_v6(cidr));
    }
  }
  return out;
}

std::uint64_t RywTable::key_hash(std::string_view key) {
  const void* data = key.empty() ? static_cast<const void*>("") : key.data();
  return XXH3_64bits_withSeed(data, key.size(), kRywSeed);
}

std::uint64_t RywTable::centis(std::chrono::steady_clock::time_point t) const {
  const auto cs = std::chrono::duration_cast<std::chrono::milliseconds>(t - epoch_).count() / 10;
  return cs <= 0 ? 0 : static_cast<std::uint64_t>(cs) & kExpiryMask;
}

void RywTable::record(std::uint64_t hash, router::Side side, std::chrono::steady_clock::time_point until) {
  const std::uint64_t tag = tag_of(hash);
  const std::uint64_t entry = (tag << kTagShift) | (centis(until) << kExpiryShift) |
                              (side == router::Side::target ? kSideBit : 0);
  const std::size_t set = (hash & (kSlots / kWays - 1)) * kWays;
  // The key's own slot, else the way expiring first (an empty slot has expiry 0).
  std::size_t pick = set;
  std::uint64_t earliest = ~0ULL;
  for (std::size_t i = set; i < set + kWays; ++i) {
    const std::uint64_t v = slots_[i].load(std::memory_order_relaxed);
    if ((v >> kTagShift) == tag) {
      pick = i;
      break;
    }
    const std::uint64_t expiry = (v >> kExpiryShift) & kExpiryMask;
    if (expiry < earliest) {
      earliest = expiry;
      pick = i;
    }
  }
  slots_[pick].store(entry, std::memory_order_release);
}

std::optional<router::Side> RywTable::find(std::uint64_t hash, std::chrono::steady_clock::time_point now) const {
  const std::uint64_t tag = tag_of(hash);
  const std::size_t set = (hash & (kSlots / kWays - 1)) * kWays;
  const std::uint64_t now_cs = centis(now);
  for (std::size_t i = set; i < set + kWays; ++i) {
    const std::uint64_t v = slots_[i].load(std::memory_order_acquire);
    if ((v >> kTagShift) != tag) continue;
    if (((v >> kExpiryShift) & kExpiryMask) <= now_cs) return std::nullopt;
    return (v & kSideBit) ? router::Side::target : router::Side::source;
  }
  return std::nullopt;
}

}  // namespace cutover::runtime
