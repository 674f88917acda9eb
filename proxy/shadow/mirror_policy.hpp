// A route's mirror settings as the data plane reads them (compiled from config::MirrorConfig into
// the snapshot), and the pure decision of which requests are mirrored (SPEC "Routing
// semantics": a copy goes to the side that did not serve the request).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/counter.h>

#include "proxy/shadow/compare.hpp"

namespace cutover::shadow {

class ShadowRecord;
}  // namespace cutover::shadow
namespace cutover::stats {
class RouteWindows;
}
namespace cutover::shadow {
class MismatchLog;

// Each request picked for mirroring ends in exactly one of these
// (cutover_mirror_requests_total{route,result}).
enum class Result { match, mismatch, error, dropped, skipped_body };
inline constexpr std::size_t kResults = 5;
inline constexpr std::array<std::string_view, kResults> kResultNames{"match", "mismatch", "error", "dropped",
                                                                     "skipped_body"};

struct MirrorPolicy {
  std::uint32_t percent_bp = 0;        // percent*100 of requests with a listed method, 0..10000
  std::vector<std::string> methods;    // exact method names (RFC 9110 §9.1: case-sensitive)
  std::uint64_t max_body = 0;          // bytes: larger request bodies are skipped_body; larger
                                       // response bodies are compared by digest only
  std::uint32_t max_in_flight = 0;     // per route, all workers; beyond: dropped
  std::chrono::milliseconds timeout{}; // the whole shadow exchange
  std::uint32_t noise_sample_bp = 0;   // percent*100 of mirrored requests also sent to a 2nd source endpoint
  CompareOptions compare;
  std::array<prometheus::Counter*, kResults> results{};
  ShadowRecord* record = nullptr;      // the route runtime's (outlives every snapshot using it)
  MismatchLog* log = nullptr;          // the snapshot's; null without `mirror_log`
  stats::RouteWindows* windows = nullptr;  // the route runtime's: match/mismatch per second (ramp gates)

  void count(Result r) const { results[static_cast<std::size_t>(r)]->Increment(); }
};

// Whether a request with `method` is picked: the method is listed and `draw` (uniform 64-bit
// random) falls in the first percent_bp of 10,000 slots. Pure.
inline bool selects(const MirrorPolicy& p, std::string_view method, std::uint64_t draw) {
  if (p.percent_bp == 0) return false;
  bool listed = false;
  for (const auto& m : p.methods)
    if (m == method) {
      listed = true;
      break;
    }
  return listed && (p.percent_bp >= 10000 || draw % 10000 < p.percent_bp);
}

// Whether a mirrored request also gets a noise copy. Pure; `draw` as above.
inline bool samples_noise(const MirrorPolicy& p, std::size_t source_endpoints, std::uint64_t draw) {
  return p.noise_sample_bp > 0 && source_endpoints >= 2 && (draw >> 20) % 10000 < p.noise_sample_bp;
}

}  // namespace cutover::shadow
