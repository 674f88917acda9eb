// Sticky and forced assignment (see sticky.hpp). The hash is the packaged xxHash library's XXH3,
// never a local copy, so the bucket of a key is exactly what any other XXH3 implementation gives.
#include "proxy/router/sticky.hpp"

#include <xxhash.h>

#include <array>

namespace cutover::router {
namespace {

// RFC 6265 §5.2 / RFC 9110 §5.6.3: optional whitespace around cookie pairs is SP and HTAB.
bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Whether the first `prefix` bits of `a` and `b` agree.
template <std::size_t N>
bool same_prefix(const std::array<unsigned char, N>& a, const std::array<unsigned char, N>& b,
                 unsigned prefix) {
  std::size_t i = 0;
  for (; prefix >= 8; prefix -= 8, ++i)
    if (a[i] != b[i]) return false;
  if (prefix == 0) return true;
  const auto mask = static_cast<unsigned char>(0xff << (8 - prefix));
  return (a[i] & mask) == (b[i] & mask);
}

bool in_any(std::span<const boost::asio::ip::network_v4> nets, const boost::asio::ip::address_v4& a) {
  const auto bytes = a.to_bytes();
  for (const auto& n : nets)
    if (same_prefix(bytes, n.address().to_bytes(), static_cast<unsigned>(n.prefix_length()))) return true;
  return false;
}

bool in_any(std::span<const boost::asio::ip::network_v6> nets, const boost::asio::ip::address_v6& a) {
  const auto bytes = a.to_bytes();  // the scope id (zone) plays no part
  for (const auto& n : nets)
    if (same_prefix(bytes, n.address().to_bytes(), static_cast<unsigned>(n.prefix_length()))) return true;
  return false;
}

}  // namespace

std::uint32_t sticky_bucket(std::string_view key) {
  // An empty string_view may carry a null data(); XXH3 reads nothing for length 0 but the
  // library documents the pointer as required, so never hand it null.
  const void* data = key.empty() ? static_cast<const void*>("") : key.data();
  const XXH64_hash_t h = XXH3_64bits_withSeed(data, key.size(), kStickySeed);
  return static_cast<std::uint32_t>(h % kWeightScale);
}

std::optional<std::uint32_t> pinned_bucket(std::string_view v) {
  // Exactly what cutover writes: 1 to 4 ASCII digits, no sign, no spaces, no leading zeros
  // (so each bucket has one spelling), at most 9999.
  if (v.empty() || v.size() > 4) return std::nullopt;
  if (v.size() > 1 && v[0] == '0') return std::nullopt;
  std::uint32_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return n;  // 4 digits at most, so n <= 9999
}

std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
  if (name.empty()) return std::nullopt;
  while (!header.empty()) {
    const auto semi = header.find(';');
    std::string_view pair = header.substr(0, semi);
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;  // RFC 6265 §5.2: a pair without '=' is ignored
    if (trim(pair.substr(0, eq)) != name) continue;  // cookie names are case-sensitive
    std::string_view value = trim(pair.substr(eq + 1));
    // cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ): one pair of quotes.
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    return value;
  }
  return std::nullopt;
}

std::optional<Side> parse_side(std::string_view value) {
  if (iequals(value, "source")) return Side::source;
  if (iequals(value, "target")) return Side::target;
  return std::nullopt;
}

bool allowed(const AllowList& allow, const boost::asio::ip::address& client) {
  if (client.is_v4()) return in_any(allow.v4, client.to_v4());
  if (!client.is_v6()) return false;
  const auto v6 = client.to_v6();
  // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d: check those against the IPv4
  // networks; an IPv6 network written to cover them (::ffff:0:0/96) still matches as well.
  if (v6.is_v4_mapped() &&
      in_any(allow.v4, boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6)))
    return true;
  return in_any(allow.v6, v6);
}

}  // namespace cutover::router
