// The control plane's owner of runtime state: see control.hpp.
#include "admin/control.hpp"

#include <spdlog/spdlog.h>

#include "admin/safety_api.hpp"
#include "admin/state_file.hpp"
#include "common/json_number.hpp"

namespace cutover::admin {

namespace json = boost::json;

json::object weights_json(router::Weights w) {
  return {{"read_weight", common::percent_json_bp(w.read_bp)}, {"write_weight", common::percent_json_bp(w.write_bp)}};
}

std::uint32_t Control::commit(const runtime::Route& route, router::Weights weights, bool held,
                              std::string_view action, const Actor& actor, json::object extra) {
  auto& rt = *route.runtime;
  const auto before = rt.weights();
  const bool was_held = rt.writes_held();
  rt.set_weights(weights);
  std::uint32_t released = 0;
  if (held && !was_held) {
    rt.hold_seq.fetch_add(1, std::memory_order_seq_cst);  // before the flag: waiters record the new hold
    rt.set_writes_held(true);
    rt.hold_since = std::chrono::steady_clock::now();
    arm_hold_max(route);
  } else if (!held && was_held) {
    released = rt.held_requests.load();
    rt.set_writes_held(false);  // after the weights: released writes see the new ones
    hold_max_timers_.erase(route.name);
    rt.release_held(rt.hold_seq.load());  // in arrival order, one after another
  }
  ++rt.generation;
  runtime::publish_weight_gauges(route);

  json::object entry{{"action", action},
                     {"route", route.name},
                     {"before", weights_json(before)},
                     {"after", weights_json(weights)},
                     {"generation", static_cast<std::int64_t>(rt.generation)}};
  actor.stamp(entry);
  if (held != was_held) {
    entry["writes_held"] = held;
    if (!held) entry["released"] = released;
  }
  for (auto& kv : extra) entry[kv.key()] = kv.value();
  audit_->append(std::move(entry));
  persist();
  return released;
}

void Control::record_change(const runtime::Route& route, std::string_view action, const Actor& actor,
                            json::object extra) {
  auto& rt = *route.runtime;
  ++rt.generation;
  json::object entry{{"action", action},
                     {"route", route.name},
                     {"generation", static_cast<std::int64_t>(rt.generation)}};
  actor.stamp(entry);
  for (auto& kv : extra) entry[kv.key()] = kv.value();
  audit_->append(std::move(entry));
  persist();
}

void Control::apply_fleet(const std::string& name, std::uint16_t read_bp, std::uint16_t write_bp,
                          std::uint64_t generation, std::int64_t revision, const std::string& by) {
  metrics_.fleet_applied_revision.Add({}).Set(static_cast<double>(revision));
  auto snap = snapshot();
  const runtime::Route* route = snap->find_route(name);
  if (!route) return;  // a route of another node's config
  auto& rt = *route->runtime;
  const router::Weights w{read_bp, write_bp};
  const auto now = rt.weights();
  if (now.read_bp == w.read_bp && now.write_bp == w.write_bp && rt.generation == generation) return;
  // commit() bumps the generation; every node lands on the one etcd stored, so an if_generation
  // read from any node means the same change.
  rt.generation = generation - 1;
  commit(*route, w, rt.writes_held(), "fleet_apply", "fleet", {{"revision", revision}, {"by", by}});
}

void Control::arm_hold_max(const runtime::Route& route) {
  auto timer = std::make_unique<boost::asio::steady_timer>(io_, route.writes.hold_max);
  std::string name = route.name;
  std::uint64_t seq = route.runtime->hold_seq.load();
  timer->async_wait([this, name, seq](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the hold was lifted
    auto snap = snapshot();
    const runtime::Route* r = snap->find_route(name);
    if (!r || !r->runtime->writes_held() || r->runtime->hold_seq.load() != seq) return;
    spdlog::warn("route {}: write hold reached hold_max ({} ms); releasing to the current weights", name,
                 r->writes.hold_max.count());
    commit(*r, r->runtime->weights(), false, "hold_expired", "cutover",
           {{"hold_max_ms", static_cast<std::int64_t>(r->writes.hold_max.count())}});
  });
  hold_max_timers_[route.name] = std::move(timer);
}

void Control::resume_holds() {
  for (const auto& r : snapshot()->routes) {
    if (!r.runtime->writes_held()) continue;
    r.runtime->hold_since = std::chrono::steady_clock::now();
    arm_hold_max(r);
    spdlog::warn("route {}: writes are held (restored from the state file); hold_max {} ms from now", r.name,
                 r.writes.hold_max.count());
  }
}

bool Control::persist() {
  if (state_file_.empty()) return true;
  StateMap state;
  for (const auto& r : snapshot()->routes) {
    state[r.name] = {r.runtime->weights(), r.runtime->generation, r.runtime->writes_held(), ramps_.saved(r.name)};
    save_safety(*r.runtime, state[r.name]);
  }
  return write_state_file(state_file_, state);
}

std::vector<std::string> Control::reopen_logs() {
  auto paths = registry_ ? registry_->reopen_access_logs() : std::vector<std::string>{};
  std::string list;
  for (const auto& p : paths) list += (list.empty() ? "" : ", ") + p;
  spdlog::info("access logs reopened: {}", list.empty() ? std::string("none open") : list);
  return paths;
}

}  // namespace cutover::admin
