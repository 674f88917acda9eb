// Tenant segments as JSON: the one reader of a segment list, used by the admin API (PUT
// /v1/routes/{r}/segments, the state file) and by the config loader (a route's `segments`, which
// it converts to JSON first), so both take exactly the same shapes and give the same messages.
// A segment is {"header"|"cookie": NAME, "values": [...] | "prefix": P, "side": "source"|"target"}
// or {"client_cidrs": [...], "side": ...} (config::SegmentConfig says what it means).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include "config/model.hpp"

namespace cutover::config {

// Bounds that keep one PUT's compiled segments within a few tens of MB.
inline constexpr std::size_t kMaxSegments = 1000;              // segments per route
inline constexpr std::size_t kMaxSegmentValues = 1'000'000;    // values of one segment
inline constexpr std::size_t kMaxSegmentValueBytes = 1024;     // one value or prefix

// What is wrong with a segment list: `field` is its path from the list's label
// ("segments[2].side"), `message` the whole message, starting with `field`; `index` the item
// (nullopt: the list itself).
struct SegmentProblem {
  std::optional<std::size_t> index;
  std::string field;
  std::string message;
};

// Reads `v` (a JSON array) into `out`. Refused: not a list or an item not an object, unknown keys,
// both or neither of header/cookie/client_cidrs, values and prefix together or neither, an unknown
// side, an empty list, a value given twice, a CIDR that does not parse or has host bits set, a name
// that is no RFC 9110 token, more than the bounds above. `label` names the list ("segments").
std::optional<SegmentProblem> parse_segments(const boost::json::value& v, std::vector<SegmentConfig>& out,
                                             const std::string& label = "segments");

// The list as parse_segments() takes it (canonical CIDRs).
boost::json::array segments_json(const std::vector<SegmentConfig>& segments);

// The keys of one segment, for config::documented_keys(): PREFIX + each.
void list_segment_keys(std::vector<std::string>& out, const std::string& prefix);

}  // namespace cutover::config
