// Request IDs and trace context: see trace_context.hpp.
#include "proxy/observe/trace_context.hpp"

#include <fmt/format.h>

namespace cutover::observe {

namespace {

bool lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool all_zero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

}  // namespace

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) return false;
  for (unsigned char c : id) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && std::string_view("-._:+/=@").find(static_cast<char>(c)) == std::string_view::npos) return false;
  }
  return true;
}

std::string make_request_id(std::uint64_t high, std::uint64_t low) { return fmt::format("{:016x}{:016x}", high, low); }

std::optional<TraceParent> parse_traceparent(std::string_view v) {
  // version "-" trace-id "-" parent-id "-" trace-flags: 2 + 1 + 32 + 1 + 16 + 1 + 2.
  constexpr std::size_t kLength = 55;
  if (v.size() < kLength || v[2] != '-' || v[35] != '-' || v[52] != '-') return std::nullopt;
  TraceParent t{v.substr(0, 2), v.substr(3, 32), v.substr(36, 16), v.substr(53, 2)};
  if (!lower_hex(t.version) || t.version == "ff") return std::nullopt;
  if (t.version == "00" ? v.size() != kLength : (v.size() > kLength && v[kLength] != '-')) return std::nullopt;
  if (!lower_hex(t.trace_id) || all_zero(t.trace_id)) return std::nullopt;
  if (!lower_hex(t.parent_id) || all_zero(t.parent_id)) return std::nullopt;
  if (!lower_hex(t.flags)) return std::nullopt;
  return t;
}

std::string make_traceparent(std::string_view trace_id, std::uint64_t span_bits, std::string_view flags) {
  return fmt::format("00-{}-{:016x}-{}", trace_id, span_bits ? span_bits : 1, flags);
}

std::string new_traceparent(std::uint64_t high, std::uint64_t low, std::uint64_t span_bits) {
  if (high == 0 && low == 0) low = 1;
  return fmt::format("00-{:016x}{:016x}-{:016x}-01", high, low, span_bits ? span_bits : 1);
}

}  // namespace cutover::observe
