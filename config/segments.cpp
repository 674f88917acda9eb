// Tenant segments as JSON: see segments.hpp.
#include "config/segments.hpp"

#include <algorithm>
#include <array>
#include <string_view>
#include <unordered_set>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "common/text.hpp"
#include "config/units.hpp"

namespace cutover::config {

namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 6> kKeys{"header", "cookie", "client_cidrs", "values", "prefix", "side"};

struct Problem {
  std::string field;
  std::string what;
};

// A list of strings at `o[key]`: non-empty, each a string of 1..kMaxSegmentValueBytes, no duplicates.
std::optional<Problem> string_list(const json::object& o, std::string_view key, std::size_t max_items,
                                   std::vector<std::string>& out) {
  const std::string field(key);
  const auto& v = o.at(key);
  if (!v.is_array()) return Problem{field, "must be a list of strings"};
  const auto& a = v.as_array();
  if (a.empty()) return Problem{field, "must not be empty"};
  if (a.size() > max_items) return Problem{field, fmt::format("has {} items; at most {}", a.size(), max_items)};
  std::unordered_set<std::string_view> seen;
  seen.reserve(a.size());
  out.reserve(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const std::string item = fmt::format("{}[{}]", key, i);
    if (!a[i].is_string()) return Problem{item, "must be a string"};
    const std::string_view s = a[i].as_string();
    if (s.empty() || s.size() > kMaxSegmentValueBytes)
      return Problem{item, fmt::format("must be 1 to {} bytes", kMaxSegmentValueBytes)};
    if (!seen.insert(s).second) return Problem{item, fmt::format("\"{}\" is listed twice", s)};
    out.emplace_back(s);
  }
  return std::nullopt;
}

std::optional<Problem> parse_one(const json::value& v, SegmentConfig& seg) {
  if (!v.is_object()) return Problem{"", "must be an object like {\"header\": \"X-Tenant\", \"values\": [...], \"side\": \"target\"}"};
  const auto& o = v.as_object();
  for (const auto& kv : o)
    if (std::find(kKeys.begin(), kKeys.end(), std::string_view(kv.key())) == kKeys.end())
      return Problem{std::string(kv.key()), "is not a segment field (header, cookie, client_cidrs, values, prefix, side)"};
  const bool header = o.contains("header"), cookie = o.contains("cookie"), cidrs = o.contains("client_cidrs");
  if (header + cookie + cidrs != 1) return Problem{"", "needs exactly one of 'header', 'cookie' or 'client_cidrs'"};

  const auto* side = o.if_contains("side");
  if (!side) return Problem{"side", "is missing (\"source\" or \"target\")"};
  if (!side->is_string() || (side->as_string() != "source" && side->as_string() != "target"))
    return Problem{"side", fmt::format("must be \"source\" or \"target\", not {}", json::serialize(*side))};
  seg.to_target = side->as_string() == "target";

  if (cidrs) {
    seg.kind = SegmentConfig::Kind::client_cidrs;
    if (o.contains("values") || o.contains("prefix"))
      return Problem{o.contains("values") ? "values" : "prefix", "does not go with 'client_cidrs'"};
    std::vector<std::string> texts;
    if (auto p = string_list(o, "client_cidrs", kMaxSegmentValues, texts)) return p;
    for (std::size_t i = 0; i < texts.size(); ++i) {
      const std::string item = fmt::format("client_cidrs[{}]", i);
      auto c = parse_cidr(texts[i]);
      if (!c) return Problem{item, fmt::format("\"{}\" is not a CIDR (an IPv4 or IPv6 address, optionally /PREFIX)", texts[i])};
      if (c->host_bits_set)
        return Problem{item, fmt::format("\"{}\" has bits set after the /{} prefix (did you mean \"{}\"?)", texts[i],
                                         c->prefix, c->canonical)};
      if (std::find(seg.client_cidrs.begin(), seg.client_cidrs.end(), c->canonical) != seg.client_cidrs.end())
        return Problem{item, fmt::format("\"{}\" is listed twice", texts[i])};
      seg.client_cidrs.push_back(c->canonical);
    }
    return std::nullopt;
  }

  seg.kind = header ? SegmentConfig::Kind::header : SegmentConfig::Kind::cookie;
  const std::string key = header ? "header" : "cookie";
  const auto& name = o.at(key);
  if (!name.is_string() || !common::is_token(name.as_string()))
    return Problem{key, fmt::format("must be a {} name (an RFC 9110 token)", key)};
  seg.name = name.as_string();
  const bool values = o.contains("values"), prefix = o.contains("prefix");
  if (values == prefix) return Problem{"", "needs exactly one of 'values' or 'prefix'"};
  if (values) return string_list(o, "values", kMaxSegmentValues, seg.values);
  const auto& p = o.at("prefix");
  if (!p.is_string() || p.as_string().empty() || p.as_string().size() > kMaxSegmentValueBytes)
    return Problem{"prefix", fmt::format("must be a string of 1 to {} bytes", kMaxSegmentValueBytes)};
  seg.prefix = p.as_string();
  return std::nullopt;
}

}  // namespace

std::optional<SegmentProblem> parse_segments(const json::value& v, std::vector<SegmentConfig>& out,
                                             const std::string& label) {
  if (!v.is_array()) return SegmentProblem{std::nullopt, label, label + " must be a list of segments"};
  const auto& a = v.as_array();
  if (a.size() > kMaxSegments)
    return SegmentProblem{std::nullopt, label, fmt::format("{} has {} segments; at most {}", label, a.size(), kMaxSegments)};
  std::vector<SegmentConfig> parsed(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (auto p = parse_one(a[i], parsed[i])) {
      std::string field = fmt::format("{}[{}]", label, i);
      if (!p->field.empty()) field += "." + p->field;
      return SegmentProblem{i, field, field + " " + p->what};
    }
  }
  out = std::move(parsed);
  return std::nullopt;
}

json::array segments_json(const std::vector<SegmentConfig>& segments) {
  json::array out;
  out.reserve(segments.size());
  auto strings = [](const std::vector<std::string>& v) {
    json::array a;
    a.reserve(v.size());
    for (const auto& s : v) a.emplace_back(s);
    return a;
  };
  for (const auto& s : segments) {
    json::object o;
    switch (s.kind) {
      case SegmentConfig::Kind::header: o["header"] = s.name; break;
      case SegmentConfig::Kind::cookie: o["cookie"] = s.name; break;
      case SegmentConfig::Kind::client_cidrs: o["client_cidrs"] = strings(s.client_cidrs); break;
    }
    if (s.kind != SegmentConfig::Kind::client_cidrs) {
      if (s.prefix.empty())
        o["values"] = strings(s.values);
      else
        o["prefix"] = s.prefix;
    }
    o["side"] = s.to_target ? "target" : "source";
    out.push_back(std::move(o));
  }
  return out;
}

void list_segment_keys(std::vector<std::string>& out, const std::string& prefix) {
  for (auto k : kKeys) out.push_back(prefix + std::string(k));
}

}  // namespace cutover::config
