// Published window statistics: see stats.hpp.
#include "fleet/stats.hpp"

#include <boost/json.hpp>

namespace cutover::fleet {

namespace json = boost::json;

namespace {

json::object stats_side_json(const WindowCounts& c) {
  json::array bins;
  for (std::size_t i = 0; i < c.latency.size(); ++i)
    if (c.latency[i]) bins.push_back(json::array{i, c.latency[i]});
  return {{"n", c.requests}, {"e", c.errors_5xx}, {"c", c.connect_errors}, {"t", c.timeouts},
          {"mm", c.mirror_match}, {"mx", c.mirror_mismatch}, {"l", std::move(bins)}};
}

std::optional<std::uint64_t> bin_count(const json::value& v) {
  if (v.is_uint64()) return v.as_uint64();
  if (v.is_int64() && v.as_int64() >= 0) return static_cast<std::uint64_t>(v.as_int64());
  return std::nullopt;
}

bool stats_side_from(const json::value* v, std::size_t max_bins, WindowCounts& out) {
  if (!v || !v->is_object()) return false;
  const auto& o = v->as_object();
  for (auto [key, field] : {std::pair{"n", &out.requests}, {"e", &out.errors_5xx}, {"c", &out.connect_errors},
                            {"t", &out.timeouts}, {"mm", &out.mirror_match}, {"mx", &out.mirror_mismatch}}) {
    const auto* f = o.if_contains(key);
    auto n = f ? bin_count(*f) : std::nullopt;
    if (!n) return false;
    *field = *n;
  }
  const auto* l = o.if_contains("l");
  if (!l || !l->is_array()) return false;
  for (const auto& pair : l->as_array()) {
    if (!pair.is_array() || pair.as_array().size() != 2) return false;
    auto bin = bin_count(pair.as_array()[0]), n = bin_count(pair.as_array()[1]);
    if (!bin || !n || *bin >= max_bins) return false;
    if (out.latency.size() <= *bin) out.latency.resize(*bin + 1);
    out.latency[*bin] += *n;
  }
  return true;
}

}  // namespace

std::string encode_step_stats(const StepStats& s) {
  return json::serialize(json::object{{"step", s.step_started_ms},
                                      {"window_s", s.window_s},
                                      {"source", stats_side_json(s.source)},
                                      {"target", stats_side_json(s.target)}});
}

std::optional<StepStats> decode_step_stats(std::string_view text, std::size_t max_bins) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  StepStats s;
  const auto* step = o.if_contains("step");
  const auto* window = o.if_contains("window_s");
  if (!step || !step->is_int64() || !window || !window->is_int64()) return std::nullopt;
  s.step_started_ms = step->as_int64();
  s.window_s = window->as_int64();
  if (!stats_side_from(o.if_contains("source"), max_bins, s.source) || !stats_side_from(o.if_contains("target"), max_bins, s.target))
    return std::nullopt;
  return s;
}

}  // namespace cutover::fleet
