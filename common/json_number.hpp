// Numbers in the admin API's JSON, read and written the same way by the admin server and
// cutoverctl. Boost.JSON keeps a number as int64, uint64 or double depending on how it was written,
// so "10", "10.0" and "1e1" need one reading; and doubles it writes in exponent form ("1E1"), so
// whole percentages are written as integers.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

#include <boost/json/value.hpp>

namespace cutover::common {

// Any JSON number (int64, uint64 or a finite double) as a double; std::nullopt for every other
// kind (string, bool, null, object, array).
inline std::optional<double> json_number(const boost::json::value& v) {
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  if (v.is_double() && std::isfinite(v.as_double())) return v.as_double();
  return std::nullopt;
}

// A JSON integer in [min, max]: written without fraction or exponent ("5", not "5.0" or "5e0"),
// as Boost.JSON parses only those into integers. std::nullopt for anything else.
inline std::optional<std::int64_t> json_int(const boost::json::value& v,
                                            std::int64_t min = std::numeric_limits<std::int64_t>::min(),
                                            std::int64_t max = std::numeric_limits<std::int64_t>::max()) {
  // A value built in memory from an unsigned count is a uint64, one parsed from text an int64.
  std::int64_t n = 0;
  if (v.is_int64())
    n = v.as_int64();
  else if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    n = static_cast<std::int64_t>(v.as_uint64());
  else
    return std::nullopt;
  if (n < min || n > max) return std::nullopt;
  return n;
}

// A percentage (a weight, a ramp step) as JSON: a whole number as an integer (10, not 1E1), any
// other as a double (12.5).
inline boost::json::value percent_json(double percent) {
  if (percent == std::floor(percent) && std::abs(percent) < 1e15) return static_cast<std::int64_t>(percent);
  return percent;
}

// The same for a weight in basis points (percent*100, 0..10000): 1250 -> 12.5, 1000 -> 10.
inline boost::json::value percent_json_bp(std::uint32_t bp) { return percent_json(bp / 100.0); }

}  // namespace cutover::common
