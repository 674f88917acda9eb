// The control plane's owner of runtime state: see control.hpp.
#include "admin/control.hpp"

#include "admin/state_file.hpp"

namespace cutover::admin {

namespace json = boost::json;

namespace {

json::value percent_json(std::uint16_t bp) {
  if (bp % 100 == 0) return json::value(static_cast<std::int64_t>(bp / 100));
  return json::value(bp / 100.0);
}

}  // namespace

json::object weights_json(router::Weights w) {
  return {{"read_weight", percent_json(w.read_bp)}, {"write_weight", percent_json(w.write_bp)}};
}

void Control::change_weights(const runtime::Route& route, router::Weights weights, std::string_view action,
                             std::string_view actor, json::object extra) {
  auto before = route.runtime->weights();
  route.runtime->set_weights(weights);
  ++route.runtime->generation;
  runtime::publish_weight_gauges(route);

  json::object entry{{"action", action},
                     {"actor", actor},
                     {"route", route.name},
                     {"before", weights_json(before)},
                     {"after", weights_json(weights)},
                     {"generation", static_cast<std::int64_t>(route.runtime->generation)}};
  for (auto& kv : extra) entry[kv.key()] = kv.value();
  audit_->append(std::move(entry));
  persist();
}

bool Control::persist() {
  if (state_file_.empty()) return true;
  StateMap state;
  for (const auto& r : snapshot()->routes) state[r.name] = {r.runtime->weights(), r.runtime->generation};
  return write_state_file(state_file_, state);
}

}  // namespace cutover::admin
