// The ramp state machine: see ramp_controller.hpp.
#include "admin/ramp_controller.hpp"

#include <algorithm>
#include <cmath>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "admin/control.hpp"
#include "admin/webhook.hpp"
#include "common/json_number.hpp"
#include "proxy/stats/window.hpp"

namespace cutover::admin {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using std::chrono::milliseconds;

namespace {

std::string iso(std::chrono::system_clock::time_point t) {
  return fmt::format("{:%FT%TZ}", std::chrono::floor<milliseconds>(t));
}

std::int64_t epoch_ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

json::object error_body(std::string message) { return {{"error", std::move(message)}}; }

// A measured value for messages: rates and ratios with 4 significant digits, ms with 2 decimals.
std::string value_text(const GateResult& g) {
  if (!g.value) return "no data";
  return fmt::format("{:.4g}", *g.value);
}

}  // namespace

std::string_view name(RampState s) {
  switch (s) {
    case RampState::running: return "running";
    case RampState::paused: return "paused";
    case RampState::completed: return "completed";
    case RampState::rolled_back: return "rolled_back";
    case RampState::aborted: return "aborted";
  }
  return "unknown";
}

RampController::RampController(Control& control, boost::asio::io_context& io)
    : control_(control), io_(io), timer_(io) {}

RampController::Answer RampController::start(const runtime::Route& route, RampSpec spec, const Actor& actor) {
  if (auto it = ramps_.find(route.name);
      it != ramps_.end() && (it->second.state == RampState::running || it->second.state == RampState::paused))
    return {bhttp::status::conflict,
            error_body(fmt::format("a ramp is already {} on route '{}'; abort it first", name(it->second.state),
                                   route.name))};
  Ramp ramp;
  ramp.spec = std::move(spec);
  ramp.started = std::chrono::system_clock::now();
  auto& r = ramps_[route.name] = std::move(ramp);
  spdlog::info("route {}: ramp started by {}: {} steps, interval {} ms", route.name, actor.name, r.spec.steps_bp.size(),
               r.spec.interval.count());
  apply_step(route, r, "ramp_start", actor);
  return {bhttp::status::ok, view_of(route.name, r)};
}

RampController::Ramp* RampController::ramp_in(const runtime::Route& route, std::initializer_list<RampState> allowed,
                                              std::string_view conflict, Answer& refused) {
  auto it = ramps_.find(route.name);
  if (it == ramps_.end()) {
    refused = {bhttp::status::not_found, error_body(fmt::format("no ramp on route '{}'", route.name))};
    return nullptr;
  }
  Ramp& r = it->second;
  if (std::find(allowed.begin(), allowed.end(), r.state) == allowed.end()) {
    refused = {bhttp::status::conflict, error_body(fmt::format(fmt::runtime(conflict), name(r.state)))};
    return nullptr;
  }
  return &r;
}

RampController::Answer RampController::pause(const runtime::Route& route, const Actor& actor) {
  Answer refused;
  Ramp* ramp = ramp_in(route, {RampState::running}, "the ramp is {}, not running", refused);
  if (!ramp) return refused;
  auto& r = *ramp;
  r.state = RampState::paused;
  ++r.generation;
  r.webhook_pending = false;
  control_.record_change(route, "ramp_pause", actor, {{"ramp_step", r.step + 1}});
  set_gauge(route.name, r);
  return {bhttp::status::ok, view_of(route.name, r)};
}

RampController::Answer RampController::resume(const runtime::Route& route, const Actor& actor) {
  Answer refused;
  Ramp* ramp = ramp_in(route, {RampState::paused}, "the ramp is {}, not paused", refused);
  if (!ramp) return refused;
  auto& r = *ramp;
  r.state = RampState::running;
  apply_step(route, r, "ramp_resume", actor);
  return {bhttp::status::ok, view_of(route.name, r)};
}

RampController::Answer RampController::abort(const runtime::Route& route, const Actor& actor) {
  Answer refused;
  Ramp* ramp = ramp_in(route, {RampState::running, RampState::paused}, "the ramp has ended ({})", refused);
  if (!ramp) return refused;
  auto& r = *ramp;
  finish(route, r, RampState::aborted, fmt::format("aborted by {}", actor.name));
  control_.record_change(route, "ramp_abort", actor, {{"ramp_step", r.step + 1}});
  return {bhttp::status::ok, view_of(route.name, r)};
}

void RampController::on_manual_rollback(const std::string& route_name, const Actor& actor) {
  auto it = ramps_.find(route_name);
  if (it == ramps_.end()) return;
  auto& r = it->second;
  if (r.state != RampState::running && r.state != RampState::paused) return;
  auto snap = control_.snapshot();
  if (const auto* route = snap->find_route(route_name))
    finish(*route, r, RampState::aborted, fmt::format("rollback by {}", actor.name));
}

bool RampController::on_route_removed(const std::string& route_name) {
  auto it = ramps_.find(route_name);
  if (it == ramps_.end()) return false;
  auto& r = it->second;
  if (r.state != RampState::running && r.state != RampState::paused) return false;
  spdlog::warn("route {}: removed by a config reload; its ramp (step {}/{}) is aborted", route_name, r.step + 1,
               r.spec.steps_bp.size());
  r.state = RampState::aborted;
  r.reason = "the route was removed by a config reload";
  r.ended = std::chrono::system_clock::now();
  r.webhook_pending = false;
  ++r.generation;
  set_gauge(route_name, r);
  return true;
}

std::optional<json::object> RampController::view(const std::string& route) const {
  auto it = ramps_.find(route);
  if (it == ramps_.end()) return std::nullopt;
  return view_of(route, it->second);
}

bool RampController::running(const std::string& route) const {
  auto it = ramps_.find(route);
  return it != ramps_.end() && it->second.state == RampState::running;
}

void RampController::apply_step(const runtime::Route& route, Ramp& r, std::string_view action,
                                const Actor& actor) {
  const auto bp = r.spec.steps_bp[r.step];
  auto w = route.runtime->weights();
  if (r.spec.apply_to != ApplyTo::write) w.read_bp = bp;
  if (r.spec.apply_to != ApplyTo::read) w.write_bp = bp;
  r.step_started = std::chrono::steady_clock::now();
  r.step_started_wall = std::chrono::system_clock::now();
  r.last_evaluation.reset();
  r.webhook_pending = false;
  ++r.generation;
  control_.change_weights(route, w, action, actor,
                          {{"ramp_step", r.step + 1}, {"ramp_steps", r.spec.steps_bp.size()}, {"apply_to", name(r.spec.apply_to)}});
  set_gauge(route.name, r);
}

void RampController::advance(const runtime::Route& route, Ramp& r) {
  ++r.step;
  spdlog::info("route {}: ramp step {}/{}: weight {:.2f} %", route.name, r.step + 1, r.spec.steps_bp.size(),
               r.spec.steps_bp[r.step] / 100.0);
  apply_step(route, r, "ramp_step", "ramp");
}

void RampController::fail(const runtime::Route& route, Ramp& r, const GateResult& gate, std::string reason) {
  r.failed_gate = gate;
  spdlog::warn("route {}: ramp rolled back at step {}/{}: {}", route.name, r.step + 1, r.spec.steps_bp.size(), reason);
  finish(route, r, RampState::rolled_back, reason);
  // Weights 0 and any held writes released to source, through the same path as a manual rollback.
  control_.commit(route, {0, 0}, false, "ramp_rollback", "ramp",
                  {{"ramp_step", r.step + 1}, {"failed_gate", gate.to_json()}, {"reason", r.reason}});
}

void RampController::finish(const runtime::Route& route, Ramp& r, RampState state, std::string reason) {
  r.state = state;
  r.reason = std::move(reason);
  r.ended = std::chrono::system_clock::now();
  r.webhook_pending = false;
  ++r.generation;
  set_gauge(route.name, r);
}

void RampController::set_gauge(const std::string& route, const Ramp& r) {
  const bool active = r.state == RampState::running || r.state == RampState::paused;
  control_.metrics().ramp_step.Add({{"route", route}}).Set(active ? static_cast<double>(r.step + 1) : 0.0);
}

void RampController::start_ticking() {
  timer_.expires_after(kTick);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    tick();
    start_ticking();
  });
}

void RampController::tick() {
  if (control_.frozen()) return;  // a binary upgrade: the new process runs the ramps from the state file
  auto snap = control_.snapshot();
  for (auto& [route_name, r] : ramps_) {
    if (r.state != RampState::running) continue;
    const auto* route = snap->find_route(route_name);
    if (!route) {
      spdlog::warn("route {}: gone from the config; its ramp is aborted", route_name);
      r.state = RampState::aborted;
      r.reason = "the route was removed from the config";
      r.ended = std::chrono::system_clock::now();
      continue;
    }
    evaluate(*route, r);
  }
}

void RampController::evaluate(const runtime::Route& route, Ramp& r) {
  const auto now = std::chrono::steady_clock::now();
  const auto elapsed = now - r.step_started;
  const auto elapsed_ms = std::chrono::duration_cast<milliseconds>(elapsed);
  // The step's own traffic: whole seconds since it began (the first may hold a little of the
  // step before), at least 1, at most the 15 min the windows keep.
  const std::int64_t window_s =
      std::clamp<std::int64_t>((elapsed_ms.count() + 999) / 1000, 1, stats::SideWindow::kSeconds);
  const auto now_s = stats::steady_seconds(now);
  const auto& windows = route.runtime->windows;
  const auto source = windows.summarize(router::Side::source, now_s, window_s);
  const auto target = windows.summarize(router::Side::target, now_s, window_s);
  auto e = evaluate_gates(r.spec.gates, source, target, window_s);
  r.last_evaluation = e;
  r.last_evaluation_time = std::chrono::system_clock::now();

  if (e.failed) {
    const auto& g = *e.failed;
    fail(route, r, g,
         fmt::format("gate {}: {} > {} over the last {} s of step {}/{} ({} target requests)", g.gate, value_text(g),
                     g.threshold, window_s, r.step + 1, r.spec.steps_bp.size(), e.target_requests));
    return;
  }
  if (elapsed_ms < r.spec.interval) return;
  const bool waited_too_long = elapsed_ms >= r.spec.interval + r.spec.max_wait;
  if (e.waiting) {
    if (waited_too_long) {
      GateResult g{"min_requests", static_cast<double>(e.target_requests), static_cast<double>(r.spec.gates.min_requests),
                   false};
      fail(route, r, g,
           fmt::format("gate min_requests: only {} target requests in step {}/{} after {} s (needs {}); a step never "
                       "passes on no data",
                       e.target_requests, r.step + 1, r.spec.steps_bp.size(), elapsed_ms.count() / 1000,
                       r.spec.gates.min_requests));
    }
    return;
  }
  if (r.step + 1 == r.spec.steps_bp.size()) {
    finish(route, r, RampState::completed,
           fmt::format("all {} steps passed their gates", r.spec.steps_bp.size()));
    control_.record_change(route, "ramp_complete", "ramp", {{"ramp_steps", r.spec.steps_bp.size()}});
    spdlog::info("route {}: ramp completed", route.name);
    return;
  }
  if (!r.spec.webhook) {
    advance(route, r);
    return;
  }
  if (r.webhook_pending) return;
  if (waited_too_long) {
    GateResult g{"webhook", std::nullopt, 0, false};
    fail(route, r, g, fmt::format("gate webhook: no 2xx from {} before step {}/{} ({})", r.spec.webhook->url, r.step + 2,
                                  r.spec.steps_bp.size(), r.webhook_last));
    return;
  }
  r.webhook_pending = true;
  const std::string body = json::serialize(json::object{{"route", route.name},
                                                        {"step", r.step + 2},
                                                        {"steps", r.spec.steps_bp.size()},
                                                        {"weight", r.spec.steps_bp[r.step + 1] / 100.0}});
  const std::string route_name = route.name;
  const auto generation = r.generation;
  call_webhook(io_, r.spec.webhook->url, body, r.spec.webhook->timeout,
               [this, route_name, generation](WebhookResult result) {
                 auto it = ramps_.find(route_name);
                 if (it == ramps_.end() || it->second.generation != generation ||
                     it->second.state != RampState::running)
                   return;  // the ramp moved on (paused, aborted, failed) while the call ran
                 auto& ramp = it->second;
                 ramp.webhook_pending = false;
                 ramp.webhook_last = result.detail;
                 if (!result.ok) {
                   spdlog::warn("route {}: ramp webhook refused step {}: {}; retrying", route_name, ramp.step + 2,
                                result.detail);
                   return;
                 }
                 auto snap = control_.snapshot();
                 if (const auto* route = snap->find_route(route_name)) advance(*route, ramp);
               });
}

json::object RampController::view_of(const std::string& route, const Ramp& r) const {
  json::object o = ramp_spec_json(r.spec);
  o["route"] = route;
  o["state"] = name(r.state);
  o["step"] = r.step;
  o["step_weight"] = r.spec.steps_bp[r.step] / 100.0;
  o["steps_total"] = r.spec.steps_bp.size();
  o["started"] = iso(r.started);
  o["step_started"] = iso(r.step_started_wall);
  const bool active = r.state == RampState::running;
  o["step_elapsed_s"] =
      active ? std::chrono::duration<double>(std::chrono::steady_clock::now() - r.step_started).count() : 0.0;
  if (r.state == RampState::running || r.state == RampState::paused)
    o["ended"] = nullptr;
  else
    o["ended"] = iso(r.ended);
  o["reason"] = r.reason;
  if (r.failed_gate)
    o["failed_gate"] = r.failed_gate->to_json();
  else
    o["failed_gate"] = nullptr;
  if (r.last_evaluation) {
    auto e = r.last_evaluation->to_json();
    e["time"] = iso(r.last_evaluation_time);
    o["last_evaluation"] = std::move(e);
  } else {
    o["last_evaluation"] = nullptr;
  }
  o["webhook_pending"] = r.webhook_pending;
  o["webhook_last"] = r.webhook_last;
  return o;
}

json::value RampController::saved(const std::string& route) const {
  auto it = ramps_.find(route);
  if (it == ramps_.end()) return nullptr;
  const auto& r = it->second;
  json::array steps;
  for (auto bp : r.spec.steps_bp) steps.push_back(common::percent_json_bp(bp));
  json::object spec{{"steps", std::move(steps)},
                    {"interval", r.spec.interval.count() / 1000.0},
                    {"apply_to", name(r.spec.apply_to)},
                    {"gates", common::ramp_gates_json(r.spec.gates)},
                    {"max_wait", r.spec.max_wait.count() / 1000.0}};
  if (r.spec.webhook) spec["webhook"] = {{"url", r.spec.webhook->url}, {"timeout", r.spec.webhook->timeout.count() / 1000.0}};
  json::object o{{"spec", std::move(spec)},
                 {"state", name(r.state)},
                 {"step", r.step},
                 {"started_ms", epoch_ms(r.started)},
                 {"ended_ms", epoch_ms(r.ended)},
                 {"reason", r.reason}};
  if (r.failed_gate) o["failed_gate"] = r.failed_gate->to_json();
  return o;
}

std::optional<std::string> RampController::restore(const std::string& route, const json::value& saved) {
  if (saved.is_null()) return std::nullopt;
  const auto* o = saved.if_object();
  const auto* spec_v = o ? o->if_contains("spec") : nullptr;
  if (!spec_v || !spec_v->is_object()) return std::string("ramp: missing 'spec'");
  std::string error;
  auto spec = parse_ramp_spec(spec_v->as_object(), error);
  if (!spec) return "ramp: " + error;
  Ramp r;
  r.spec = std::move(*spec);
  const auto* state = o->if_contains("state");
  std::string_view s = state && state->is_string() ? std::string_view(state->as_string()) : std::string_view();
  if (s == "running") r.state = RampState::running;
  else if (s == "paused") r.state = RampState::paused;
  else if (s == "completed") r.state = RampState::completed;
  else if (s == "rolled_back") r.state = RampState::rolled_back;
  else if (s == "aborted") r.state = RampState::aborted;
  else return std::string("ramp: invalid 'state'");
  const auto* step_v = o->if_contains("step");
  const auto step = step_v ? common::json_int(*step_v, 0, static_cast<std::int64_t>(r.spec.steps_bp.size()) - 1)
                           : std::nullopt;
  if (!step) return std::string("ramp: invalid 'step'");
  r.step = static_cast<std::size_t>(*step);
  auto wall = [&](const char* key) {
    const auto* v = o->if_contains(key);
    return std::chrono::system_clock::time_point(milliseconds(v ? common::json_int(*v).value_or(0) : 0));
  };
  r.started = wall("started_ms");
  r.ended = wall("ended_ms");
  if (const auto* reason = o->if_contains("reason"); reason && reason->is_string()) r.reason = reason->as_string();
  if (const auto* g = o->if_contains("failed_gate"); g && g->is_object()) {
    GateResult fg;
    if (const auto* n = g->as_object().if_contains("gate"); n && n->is_string()) fg.gate = n->as_string();
    if (const auto* v = g->as_object().if_contains("value")) fg.value = common::json_number(*v);
    if (const auto* t = g->as_object().if_contains("threshold"))
      fg.threshold = common::json_number(*t).value_or(fg.threshold);
    fg.passed = false;
    r.failed_gate = fg;
  }
  // The step's interval starts again: the window statistics did not survive the restart.
  r.step_started = std::chrono::steady_clock::now();
  r.step_started_wall = std::chrono::system_clock::now();
  auto& placed = ramps_[route] = std::move(r);
  control_.metrics().ramp_step.Add({{"route", route}})
      .Set(placed.state == RampState::running || placed.state == RampState::paused ? placed.step + 1.0 : 0.0);
  if (placed.state == RampState::running)
    spdlog::warn("route {}: ramp restored from the state file; resuming at step {}/{} ({:.2f} %), its interval "
                 "starts again",
                 route, placed.step + 1, placed.spec.steps_bp.size(), placed.spec.steps_bp[placed.step] / 100.0);
  return std::nullopt;
}

}  // namespace cutover::admin
