// ASCII text helpers shared by the config loader, the admin API, the CLI and the data plane. HTTP
// field names, methods, tokens and our own config values are ASCII by definition, so none of these
// consults a locale (std::tolower would, per character).
#pragma once

#include <string>
#include <string_view>

namespace cutover::common {

constexpr char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// `s` with A-Z turned into a-z; every other byte as it is.
inline std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// Case-insensitive ASCII comparison (RFC 9110 §5.1 field names, §7.8 upgrade tokens).
constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// RFC 9110 §5.6.3 optional whitespace: SP and HTAB.
constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }

// `s` without leading and trailing SP and HTAB.
constexpr std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Non-empty and only 0-9: no sign, no space, no exponent (what from_chars alone would let in).
constexpr bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_digit(c)) return false;
  return true;
}

// RFC 9110 §5.6.2 tchar.
constexpr bool is_tchar(char c) {
  return is_alnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// An RFC 9110 §5.6.2 token: field names, methods, upgrade protocol names; RFC 6265 cookie names
// use the same characters.
constexpr bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

}  // namespace cutover::common
