// The control plane's owner of runtime state: see control.hpp.
#include "admin/control.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "admin/json_text.hpp"
#include "admin/safety_api.hpp"
#include "admin/state_file.hpp"
#include "common/json_number.hpp"
#include "fleet/node.hpp"

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
  const auto released = store(route, weights, held);
  ++rt.generation;

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
  if (change_listener_) change_listener_(route);
  return released;
}

std::uint32_t Control::store(const runtime::Route& route, router::Weights weights, bool held) {
  auto& rt = *route.runtime;
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
  runtime::publish_weight_gauges(route);
  return released;
}

void Control::follow(const runtime::Route& route, router::Weights weights, bool held) {
  if (!held && route.runtime->writes_held())
    spdlog::info("route {}: the new process lifted the write hold; releasing {} write(s) held here", route.name,
                 route.runtime->held_requests.load());
  store(route, weights, held);
  if (change_listener_) change_listener_(route);
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

void Control::apply_fleet(const std::string& name, const fleet::RouteValue& v, std::int64_t revision) {
  metrics_.fleet_applied_revision.Add({}).Set(static_cast<double>(revision));
  auto snap = snapshot();
  const runtime::Route* route = snap->find_route(name);
  if (!route) return;  // a route of another node's config
  if (frozen_) {
    // Handed over: the successor applies etcd's values, persists and audits them. This process
    // only follows them, so that the writes it still holds go where the fleet's release sends
    // them (the successor's relay carries no fleet change).
    follow(*route, router::Weights{v.read_bp, v.write_bp}, v.writes_held);
    return;
  }
  auto& rt = *route->runtime;
  const router::Weights w{v.read_bp, v.write_bp};
  const auto now = rt.weights();
  const bool was_held = rt.writes_held();
  if (now.read_bp != w.read_bp || now.write_bp != w.write_bp || rt.generation != v.generation ||
      was_held != v.writes_held) {
    // Every node lands on the generation etcd stored, so an if_generation read from any node means
    // the same change. Not audited here: the node where the change was made audits it, once, in
    // the fleet-wide log.
    store(*route, w, v.writes_held);
    rt.generation = v.generation;
    persist();
  }
  // A hold new here, or one this node held already (restored from its state file) but has not
  // reported for this hold revision: the node that raised it waits for every node's report.
  if (v.writes_held && fleet_ && (!was_held || !fleet_->drain_reported(name, v.hold_revision)))
    report_fleet_drain(name, v.hold_revision);
}

void Control::apply_fleet_setting(const std::string& name, fleet::Setting setting, const std::string& value,
                                  std::int64_t revision) {
  metrics_.fleet_applied_revision.Add({}).Set(static_cast<double>(revision));
  auto snap = snapshot();
  const runtime::Route* route = snap->find_route(name);
  if (!route) return;  // a route of another node's config
  // Applied by a frozen process too (persist() writes nothing then): the requests it still
  // serves while it drains get the fleet's segments and maintenance, as the successor's do.
  std::string problem;
  if (apply_setting(*route->runtime, setting == fleet::Setting::segments, value, problem)) {
    persist();
  } else if (!problem.empty()) {
    spdlog::error("fleet: route {}: the {} in etcd (revision {}) are not applied: {}", name,
                  fleet::setting_name(setting), revision, problem);
  }
}

void Control::set_fleet(fleet::Node* node) {
  fleet_ = node;
  if (!node) return;
  audit_->set_fleet(node->options().node, [node](const json::object& entry) { node->publish_audit(to_json_text(entry)); });
  for (const auto& name : saved_overrides_) {
    const runtime::Route* r = snapshot()->find_route(name);
    if (!r) continue;
    const auto w = r->runtime->weights();
    node->restore_override(name, {w.read_bp, w.write_bp, r->runtime->generation, node->options().node,
                                  r->runtime->writes_held(), 0});
    spdlog::warn("fleet: route {}: local override restored from the state file; written to etcd when it answers",
                 name);
  }
  saved_overrides_.clear();
  node->set_override_listener([this] { persist(); });
}

void Control::restore_fleet_overrides(const StateMap& restored) {
  for (const auto& [name, s] : restored)
    if (s.fleet_local_override) saved_overrides_.insert(name);
}

void Control::report_fleet_drain(const std::string& name, std::int64_t hold_revision) {
  const runtime::Route* route = snapshot()->find_route(name);
  if (!route || !fleet_) return;
  // Counted as the hold is raised; followed until they finished, the hold ended, or hold_max (no
  // write held by it can outlive that), whichever is first.
  const std::int64_t at_hold = route->runtime->writes_in_flight.load();
  fleet_->report_drain(name, {true, hold_revision, at_hold, at_hold, at_hold == 0});
  if (at_hold == 0) return;
  auto follow = [](Control& c, std::string name, fleet::DrainReport report,
                   std::chrono::steady_clock::time_point deadline) -> boost::asio::awaitable<void> {
    boost::asio::steady_timer poll(c.io_);
    for (;;) {
      poll.expires_after(std::chrono::milliseconds(5));
      co_await poll.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      auto snap = c.snapshot();
      const runtime::Route* r = snap->find_route(name);
      if (!r || !r->runtime->writes_held() || !c.fleet_) co_return;  // removed or released: nothing to report
      report.in_flight_remaining = r->runtime->writes_in_flight.load();
      report.drained = report.in_flight_remaining == 0;
      if (report.drained || std::chrono::steady_clock::now() >= deadline) {
        c.fleet_->report_drain(name, report);
        co_return;
      }
    }
  };
  boost::asio::co_spawn(io_,
                        follow(*this, name, {true, hold_revision, at_hold, at_hold, false},
                               std::chrono::steady_clock::now() + route->writes.hold_max),
                        boost::asio::detached);
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
    // Handed over: the writes held here are released, the record of it is the new process's.
    if (frozen_) return follow(*r, r->runtime->weights(), false);
    commit(*r, r->runtime->weights(), false, "hold_expired", "cutover",
           {{"hold_max_ms", static_cast<std::int64_t>(r->writes.hold_max.count())}});
    // In a fleet every node's hold_max ends about now: the release goes to etcd as well (the
    // first node's write wins, the others find the writes not held), so no node keeps holding
    // and all release at the stored weights.
    if (fleet_)
      boost::asio::co_spawn(io_, fleet_->release(name, std::nullopt, std::nullopt, r->runtime->generation),
                            boost::asio::detached);
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
  if (state_file_.empty() || frozen_) return true;
  StateMap state;
  for (const auto& r : snapshot()->routes) {
    state[r.name] = {r.runtime->weights(), r.runtime->generation, r.runtime->writes_held(), ramps_.saved(r.name),
                     fleet_ ? fleet_->has_override(r.name) : saved_overrides_.contains(r.name)};
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
