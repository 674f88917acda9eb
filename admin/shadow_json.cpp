// The /v1/shadow view: see shadow_json.hpp.
#include "admin/shadow_json.hpp"

#include <boost/json/parse.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

namespace cutover::admin {

namespace json = boost::json;

json::object shadow_state(const runtime::Route& route) {
  json::object o{{"route", route.name}, {"enabled", route.mirror.has_value()}};
  if (!route.mirror) return o;
  const auto& m = *route.mirror;
  auto count = [&](shadow::Result r) {
    return static_cast<std::uint64_t>(m.results[static_cast<std::size_t>(r)]->Value());
  };
  const auto matched = count(shadow::Result::match);
  const auto mismatched = count(shadow::Result::mismatch);
  const auto errors = count(shadow::Result::error);
  o["percent"] = m.percent_bp / 100.0;
  json::array methods;
  for (const auto& name : m.methods) methods.emplace_back(name);
  o["methods"] = std::move(methods);
  o["mirrored"] = matched + mismatched + errors;
  o["compared"] = matched + mismatched;
  o["matched"] = matched;
  o["mismatched"] = mismatched;
  o["errors"] = errors;
  o["dropped"] = count(shadow::Result::dropped);
  o["skipped_body"] = count(shadow::Result::skipped_body);
  o["in_flight"] = m.record->in_flight();
  o["mismatch_rate"] = matched + mismatched == 0 ? 0.0 : static_cast<double>(mismatched) / (matched + mismatched);

  const auto view = m.record->view();
  if (view.last_error.empty()) {
    o["last_error"] = nullptr;
  } else {
    o["last_error"] = {{"reason", view.last_error},
                       {"time", fmt::format("{:%FT%TZ}", std::chrono::floor<std::chrono::milliseconds>(view.last_error_time))}};
  }
  json::array fields;
  for (const auto& [field, n] : view.noisy_fields) fields.push_back({{"field", field}, {"count", n}});
  o["noise"] = {{"samples", view.noise_samples}, {"fields", std::move(fields)}, {"other", view.noisy_other}};
  json::array samples;
  for (const auto& s : view.samples) samples.push_back(json::parse(s.to_json()));
  o["samples"] = std::move(samples);
  return o;
}

}  // namespace cutover::admin
