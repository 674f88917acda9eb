// Per-route runtime state for migration safety, beside the weights in RouteRuntime: the tenant
// segments and the maintenance answer (both replaced whole by the control thread and read by
// workers with an atomic load), and the read-your-writes table of sticky keys.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/model.hpp"
#include "proxy/router/segments.hpp"
#include "proxy/router/split.hpp"

namespace cutover::runtime {

// A route in maintenance: cutover answers every request itself (no upstream contact), except those
// of testers allowed by the route's `force`, which go to the side they ask for.
struct Maintenance {
  unsigned status = 503;              // 200..599
  std::int64_t retry_after_s = 120;   // Retry-After (RFC 9110 §10.2.3), delay-seconds
  std::string body;                   // as sent
  std::string content_type;           // as sent
  std::string since;                  // RFC 3339 UTC, for the admin views
};

// The page a maintenance answer carries when no body is given.
inline constexpr std::string_view kDefaultMaintenancePage =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Down for maintenance</title></head>\n"
    "<body><h1>Down for maintenance</h1><p>This service is being moved. Please try again in a few minutes.</p>"
    "</body></html>\n";
inline constexpr std::string_view kDefaultMaintenanceType = "text/html; charset=utf-8";

// Compiles a validated list (config::parse_segments or the loader): values into hash sets,
// CIDRs into networks. Done once per published list.
std::shared_ptr<const router::Segments> compile_segments(const std::vector<config::SegmentConfig>& segments);

// Which side a sticky key last wrote to, until when: the read-your-writes memory of a route whose
// requests carry a sticky key. A fixed array of 64-bit atomic slots shared by every worker (a
// client's reads may come on another connection, served by another worker), 4-way set-associative
// by the key's hash; each slot packs a 31-bit tag of the hash, the expiry in centiseconds since
// the table was made, and the side. No lock and no allocation per request; bounded memory
// (kSlots x 8 bytes). When more live keys fall in one set than it has ways, the one expiring first
// is overwritten: its client's reads follow the weights again early (counted nowhere; sized so
// that this needs thousands of writes per second within one window).
class RywTable {
 public:
  static constexpr std::size_t kSlots = 1 << 16;
  static constexpr std::size_t kWays = 4;

  RywTable() : slots_(new std::atomic<std::uint64_t>[kSlots]), epoch_(std::chrono::steady_clock::now()) {
    for (std::size_t i = 0; i < kSlots; ++i) slots_[i].store(0, std::memory_order_relaxed);
  }

  // The hash of a sticky key (XXH3-64 with a seed of its own, not the bucket's).
  static std::uint64_t key_hash(std::string_view key);

  // Any worker: `key_hash` wrote to `side`; its reads go there until `until`.
  void record(std::uint64_t key_hash, router::Side side, std::chrono::steady_clock::time_point until);
  // Any worker: the side `key_hash` wrote to, while its pin lasts at `now`.
  std::optional<router::Side> find(std::uint64_t key_hash, std::chrono::steady_clock::time_point now) const;

 private:
  std::uint64_t centis(std::chrono::steady_clock::time_point t) const;

  std::unique_ptr<std::atomic<std::uint64_t>[]> slots_;
  std::chrono::steady_clock::time_point epoch_;
};

// The segments and maintenance of a route, published by the control thread. `flags` is what the
// request path reads first (one relaxed-cost atomic load): only a route that has segments or is in
// maintenance loads the shared pointers.
class RouteSafety {
 public:
  static constexpr std::uint32_t kHasSegments = 1, kInMaintenance = 2;

  std::uint32_t flags() const noexcept { return flags_.load(std::memory_order_acquire); }
  std::shared_ptr<const router::Segments> segments() const { return segments_.load(std::memory_order_acquire); }
  std::shared_ptr<const Maintenance> maintenance() const { return maintenance_.load(std::memory_order_acquire); }

  // Control thread only. The list as given (for GET and the state file) and compiled.
  void set_segments(std::vector<config::SegmentConfig> list) {
    auto compiled = compile_segments(list);
    segment_configs_ = std::move(list);
    segments_.store(std::move(compiled), std::memory_order_release);
    set_flag(kHasSegments, !segment_configs_.empty());
    segments_initialized = true;
  }
  const std::vector<config::SegmentConfig>& segment_configs() const { return segment_configs_; }
  // Set once a list was published (config, state file or API): a reload keeps runtime lists as it
  // keeps runtime weights.
  bool segments_initialized = false;

  // Control thread only; null ends maintenance.
  void set_maintenance(std::shared_ptr<const Maintenance> m) {
    const bool on = m != nullptr;
    maintenance_.store(std::move(m), std::memory_order_release);
    set_flag(kInMaintenance, on);
  }

  // The read-your-writes table: made by the control thread when a compiled route first needs one
  // (read_your_writes with a sticky key), then kept for the runtime's life.
  std::shared_ptr<RywTable> ryw_table;

 private:
  void set_flag(std::uint32_t bit, bool on) {
    if (on)
      flags_.fetch_or(bit, std::memory_order_acq_rel);
    else
      flags_.fetch_and(~bit, std::memory_order_acq_rel);
  }

  std::atomic<std::uint32_t> flags_{0};
  std::atomic<std::shared_ptr<const router::Segments>> segments_;
  std::atomic<std::shared_ptr<const Maintenance>> maintenance_;
  std::vector<config::SegmentConfig> segment_configs_;
};

}  // namespace cutover::runtime
