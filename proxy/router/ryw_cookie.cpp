// The read-your-writes cookie: see ryw_cookie.hpp.
#include "proxy/router/ryw_cookie.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <charconv>
#include <cstdlib>

namespace cutover::router {

namespace {

constexpr std::size_t kMacBytes = 16;  // 128 bits of the MAC are kept (RFC 2104 §5 allows truncation)

std::string mac_hex(std::span<const unsigned char> key, std::string_view route, char side, std::string_view expiry) {
  std::string message;
  message.reserve(route.size() + expiry.size() + 4);
  message.append(route).append(1, '|').append(1, side).append(1, '|').append(expiry);
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
       message.size(), md.data(), &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(kMacBytes * 2);
  for (std::size_t i = 0; i < kMacBytes && i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0xf]);
  }
  return out;
}

}  // namespace

std::span<const unsigned char> ryw_process_key() {
  static const std::array<unsigned char, 32> key = [] {
    std::array<unsigned char, 32> k{};
    // Without a key nothing could be signed safely; OpenSSL's CSPRNG failing is not recoverable.
    if (RAND_bytes(k.data(), static_cast<int>(k.size())) != 1) std::abort();
    return k;
  }();
  return key;
}

std::string ryw_cookie_value(std::span<const unsigned char> key, std::string_view route, Side side,
                             std::int64_t expires_unix_ms) {
  const char s = side == Side::target ? 't' : 's';
  const std::string expiry = std::to_string(expires_unix_ms);
  std::string out;
  out.append(1, s).append(1, '.').append(expiry).append(1, '.').append(mac_hex(key, route, s, expiry));
  return out;
}

std::optional<Side> ryw_cookie_side(std::span<const unsigned char> key, std::string_view route,
                                    std::string_view value, std::int64_t now_unix_ms) {
  if (value.size() < 4 || (value[0] != 's' && value[0] != 't') || value[1] != '.') return std::nullopt;
  const auto dot = value.find('.', 2);
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view expiry = value.substr(2, dot - 2);
  const std::string_view mac = value.substr(dot + 1);
  std::int64_t expires = 0;
  auto [p, ec] = std::from_chars(expiry.data(), expiry.data() + expiry.size(), expires);
  if (ec != std::errc{} || p != expiry.data() + expiry.size() || mac.size() != kMacBytes * 2) return std::nullopt;
  const std::string want = mac_hex(key, route, value[0], expiry);
  // Constant time: the comparison must not tell a forger how many leading characters were right.
  if (CRYPTO_memcmp(want.data(), mac.data(), want.size()) != 0) return std::nullopt;
  if (now_unix_ms >= expires) return std::nullopt;
  return value[0] == 't' ? Side::target : Side::source;
}

}  // namespace cutover::router
