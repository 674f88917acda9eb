// The ramp state machine: see ramp_controller.hpp.
#include "admin/ramp_controller.hpp"

#include <algorithm>
#include <cmath>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "admin/control.hpp"
#include "admin/http_call.hpp"
#include "admin/webhook.hpp"
#include "common/json_number.hpp"
#include "fleet/leader.hpp"
#include "fleet/ramp_store.hpp"
#include "fleet/stats.hpp"
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
    case RampState::awaiting_approval: return "awaiting_approval";
    case RampState::completed: return "completed";
    case RampState::rolled_back: return "rolled_back";
    case RampState::aborted: return "aborted";
  }
  return "unknown";
}

RampController::RampController(Control& control, boost::asio::io_context& io)
    : control_(control), io_(io), timer_(io) {}

RampController::Answer RampController::start(const runtime::Route& route, RampSpec spec, const Actor& actor) {
  if (auto it = ramps_.find(route.name); it != ramps_.end() && active(it->second.state))
    return {bhttp::status::conflict,
            error_body(fmt::format("a ramp is already {} on route '{}'; abort it first", name(it->second.state),
                                   route.name))};
  Ramp ramp;
  ramp.spec = std::move(spec);
  ramp.started = std::chrono::system_clock::now();
  auto& r = ramps_[route.name] = std::move(ramp);
  spdlog::info("route {}: {} started by {}: {} steps, interval {} ms", route.name,
               r.spec.dry_run ? "dry-run ramp" : "ramp", actor.name, r.spec.steps_bp.size(), r.spec.interval.count());
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
  Ramp* ramp = ramp_in(route, {RampState::running, RampState::awaiting_approval}, "the ramp is {}, not running",
                       refused);
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
  Ramp* ramp = ramp_in(route, {RampState::running, RampState::paused, RampState::awaiting_approval},
                       "the ramp has ended ({})", refused);
  if (!ramp) return refused;
  auto& r = *ramp;
  finish(route, r, RampState::aborted, fmt::format("aborted by {}", actor.name));
  control_.record_change(route, "ramp_abort", actor, {{"ramp_step", r.step + 1}});
  return {bhttp::status::ok, view_of(route.name, r)};
}

RampController::Answer RampController::approve(const runtime::Route& route, const Actor& actor) {
  Answer refused;
  Ramp* ramp = ramp_in(route, {RampState::awaiting_approval}, "the ramp is {}, not awaiting approval", refused);
  if (!ramp) return refused;
  auto& r = *ramp;
  r.state = RampState::running;
  // The min_requests wait counts from the approval, not from a step that waited hours for it.
  const auto now = std::chrono::steady_clock::now();
  if (now - r.step_started > r.spec.interval) r.step_started = now - r.spec.interval;
  ++r.generation;
  spdlog::info("route {}: ramp step {}/{} approved by {}", route.name, r.step + 1, r.spec.steps_bp.size(), actor.name);
  control_.record_change(route, "ramp_approve", actor, {{"ramp_step", r.step + 1}});
  set_gauge(route.name, r);
  return {bhttp::status::ok, view_of(route.name, r)};
}

void RampController::on_manual_rollback(const std::string& route_name, const Actor& actor) {
  auto it = ramps_.find(route_name);
  if (it == ramps_.end()) return;
  auto& r = it->second;
  if (!active(r.state)) return;
  auto snap = control_.snapshot();
  if (const auto* route = snap->find_route(route_name))
    finish(*route, r, RampState::aborted, fmt::format("rollback by {}", actor.name));
  if (fleet_ && fleet_aborting_.insert(route_name).second)
    boost::asio::co_spawn(io_, fleet_abort_after_rollback(route_name, actor), boost::asio::detached);
}

bool RampController::on_route_removed(const std::string& route_name) {
  auto it = ramps_.find(route_name);
  if (it == ramps_.end()) return false;
  auto& r = it->second;
  if (!active(r.state)) return false;
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
  return it != ramps_.end() && evaluated(it->second.state) && !it->second.spec.dry_run;
}

void RampController::apply_step(const runtime::Route& route, Ramp& r, std::string_view action,
                                const Actor& actor) {
  const auto w = step_weights(route, r);
  r.step_started = std::chrono::steady_clock::now();
  r.step_started_wall = std::chrono::system_clock::now();
  r.last_evaluation.reset();
  r.webhook_pending = false;
  r.webhook_passed = false;
  ++r.generation;
  const bool approve = r.step < r.spec.approve.size() && r.spec.approve[r.step];
  if (r.spec.dry_run) {
    // The step's weight is what a real ramp would set; the route keeps its own.
    rehearse(route, r, action == "ramp_start" ? "would_start" : "would_advance",
             fmt::format("step {}/{}: weight {:.2f} % ({})", r.step + 1, r.spec.steps_bp.size(),
                         r.spec.steps_bp[r.step] / 100.0, name(r.spec.apply_to)),
             actor);
    if (approve)
      rehearse(route, r, "would_await_approval",
               fmt::format("step {}/{} waits for POST .../ramp/approve (a rehearsal goes on without it)", r.step + 1,
                           r.spec.steps_bp.size()),
               actor);
  } else {
    r.state = approve ? RampState::awaiting_approval : RampState::running;
    control_.change_weights(route, w, action, actor,
                            {{"ramp_step", r.step + 1}, {"ramp_steps", r.spec.steps_bp.size()}, {"apply_to", name(r.spec.apply_to)}});
  }
  set_gauge(route.name, r);
  if (action != "ramp_resume") notify(route, r, "post_step", r.spec.hooks.post_step, r.step, {});
}

void RampController::advance(const runtime::Route& route, Ramp& r) {
  if (fleet_) {
    Ramp next = r;
    ++next.step;
    next.step_started_wall = std::chrono::floor<milliseconds>(std::chrono::system_clock::now());
    const bool approve = next.step < next.spec.approve.size() && next.spec.approve[next.step];
    next.state = approve && !next.spec.dry_run ? RampState::awaiting_approval : RampState::running;
    std::optional<router::Weights> w;
    if (!next.spec.dry_run) w = step_weights(route, next);
    const char* action = next.spec.dry_run ? "ramp_rehearsal_step" : "ramp_step";
    if (next.spec.dry_run)
      rehearsal_entry(next, "would_advance",
                      fmt::format("step {}/{}: weight {:.2f} % ({})", next.step + 1, next.spec.steps_bp.size(),
                                  next.spec.steps_bp[next.step] / 100.0, name(next.spec.apply_to)));
    fleet_transition(route, r, std::move(next), w, action,
                     {{"ramp_step", r.step + 2}, {"ramp_steps", r.spec.steps_bp.size()}, {"apply_to", name(r.spec.apply_to)}});
    return;
  }
  ++r.step;
  spdlog::info("route {}: ramp step {}/{}: weight {:.2f} %", route.name, r.step + 1, r.spec.steps_bp.size(),
               r.spec.steps_bp[r.step] / 100.0);
  apply_step(route, r, "ramp_step", "ramp");
}

void RampController::fail(const runtime::Route& route, Ramp& r, const GateResult& gate, std::string reason) {
  if (fleet_) {
    // Weights 0 on every node, in the same transaction as the ramp's end.
    Ramp next = r;
    next.failed_gate = gate;
    next.state = RampState::rolled_back;
    next.reason = r.spec.dry_run ? "would roll back: " + reason : reason;
    next.ended = std::chrono::system_clock::now();
    if (r.spec.dry_run) rehearsal_entry(next, "would_roll_back", reason);
    spdlog::warn("route {}: fleet {} at step {}/{}: {}", route.name,
                 r.spec.dry_run ? "dry-run ramp would roll back" : "ramp rolling back", r.step + 1,
                 r.spec.steps_bp.size(), reason);
    std::optional<router::Weights> w;
    if (!r.spec.dry_run) w = router::Weights{0, 0};
    fleet_transition(route, r, std::move(next), w, r.spec.dry_run ? "ramp_rehearsal_rollback" : "ramp_rollback",
                     {{"ramp_step", r.step + 1}, {"failed_gate", gate.to_json()}, {"reason", reason}});
    return;
  }
  r.failed_gate = gate;
  if (r.spec.dry_run) {
    spdlog::warn("route {}: dry-run ramp would roll back at step {}/{}: {}", route.name, r.step + 1,
                 r.spec.steps_bp.size(), reason);
    rehearse(route, r, "would_roll_back", reason, "ramp");
    finish(route, r, RampState::rolled_back, "would roll back: " + reason);
    notify(route, r, "on_rollback", r.spec.hooks.on_rollback, r.step, r.reason);
    return;
  }
  spdlog::warn("route {}: ramp rolled back at step {}/{}: {}", route.name, r.step + 1, r.spec.steps_bp.size(), reason);
  finish(route, r, RampState::rolled_back, reason);
  // Weights 0 and any held writes released to source, through the same path as a manual rollback.
  control_.commit(route, {0, 0}, false, "ramp_rollback", "ramp",
                  {{"ramp_step", r.step + 1}, {"failed_gate", gate.to_json()}, {"reason", r.reason}});
  notify(route, r, "on_rollback", r.spec.hooks.on_rollback, r.step, r.reason);
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
  // A rehearsal's step is no weight on the route.
  const bool shown = active(r.state) && !r.spec.dry_run;
  control_.metrics().ramp_step.Add({{"route", route}}).Set(shown ? static_cast<double>(r.step + 1) : 0.0);
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
  // In a fleet the leader evaluates (fleet_tick); none here before the ramps joined it either.
  if (fleet_ || control_.fleet()) return;
  auto snap = control_.snapshot();
  for (auto& [route_name, r] : ramps_) {
    if (!evaluated(r.state)) continue;
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

std::int64_t RampController::step_window_s(const Ramp& r, std::chrono::steady_clock::time_point now) {
  const auto elapsed_ms = std::chrono::duration_cast<milliseconds>(now - r.step_started);
  // The step's own traffic: whole seconds since it began (the first may hold a little of the
  // step before), at least 1, at most the 15 min the windows keep.
  return std::clamp<std::int64_t>((elapsed_ms.count() + 999) / 1000, 1, stats::SideWindow::kSeconds);
}

void RampController::evaluate(const runtime::Route& route, Ramp& r) {
  const auto now = std::chrono::steady_clock::now();
  const std::int64_t window_s = step_window_s(r, now);
  const auto now_s = stats::steady_seconds(now);
  const auto& windows = route.runtime->windows;
  judge(route, r, windows.summarize(router::Side::source, now_s, window_s),
        windows.summarize(router::Side::target, now_s, window_s), window_s);
}

void RampController::judge(const runtime::Route& route, Ramp& r, const stats::WindowSummary& source,
                           const stats::WindowSummary& target, std::int64_t window_s) {
  const auto elapsed_ms = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - r.step_started);
  if (!r.spec.prometheus.empty()) query_prometheus(route.name, r);
  auto e = evaluate_gates(r.spec, source, target, window_s, r.prometheus_answers);
  r.last_evaluation = e;
  r.last_evaluation_time = std::chrono::system_clock::now();

  if (e.failed) {
    const auto& g = *e.failed;
    const std::string what = g.gate == "prometheus" ? fmt::format("prometheus {}", g.query) : g.gate;
    fail(route, r, g,
         fmt::format("gate {}: {} {} {} over the last {} s of step {}/{} ({} target requests)", what, value_text(g),
                     g.at_least ? "<" : ">", g.threshold, window_s, r.step + 1, r.spec.steps_bp.size(),
                     e.target_requests));
    return;
  }
  // Awaiting approval: the gates above still roll back; nothing else moves until approved.
  if (r.state == RampState::awaiting_approval) return;
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
  if (e.blocked) {
    if (waited_too_long)
      fail(route, r, *e.blocked,
           fmt::format("gate prometheus {}: no number for {} s of step {}/{} ({})", e.blocked->query,
                       elapsed_ms.count() / 1000, r.step + 1, r.spec.steps_bp.size(), e.blocked->error));
    return;
  }
  if (r.step + 1 == r.spec.steps_bp.size() && fleet_) {
    Ramp next = r;
    next.state = RampState::completed;
    next.reason = fmt::format("all {} steps passed their gates", r.spec.steps_bp.size());
    if (r.spec.dry_run) {
      next.reason = "would complete: " + next.reason;
      rehearsal_entry(next, "would_complete", next.reason);
    }
    next.ended = std::chrono::system_clock::now();
    fleet_transition(route, r, std::move(next), std::nullopt,
                     r.spec.dry_run ? "ramp_rehearsal_complete" : "ramp_complete",
                     {{"ramp_steps", r.spec.steps_bp.size()}});
    return;
  }
  if (r.step + 1 == r.spec.steps_bp.size()) {
    const auto reason = fmt::format("all {} steps passed their gates", r.spec.steps_bp.size());
    if (r.spec.dry_run) {
      rehearse(route, r, "would_complete", reason, "ramp");
      finish(route, r, RampState::completed, "would complete: " + reason);
    } else {
      finish(route, r, RampState::completed, reason);
      control_.record_change(route, "ramp_complete", "ramp", {{"ramp_steps", r.spec.steps_bp.size()}});
    }
    spdlog::info("route {}: {} completed", route.name, r.spec.dry_run ? "dry-run ramp" : "ramp");
    notify(route, r, "on_complete", r.spec.hooks.on_complete, r.step, r.reason);
    return;
  }
  if (r.webhook_pending) return;
  if (r.spec.webhook && !r.webhook_passed && waited_too_long) {
    GateResult g{"webhook", std::nullopt, 0, false};
    fail(route, r, g, fmt::format("gate webhook: no 2xx from {} before step {}/{} ({})", r.spec.webhook->url, r.step + 2,
                                  r.spec.steps_bp.size(), r.webhook_last));
    return;
  }
  proceed(route, r);
}

void RampController::proceed(const runtime::Route& route, Ramp& r) {
  const bool legacy = r.spec.webhook && !r.webhook_passed;
  const auto& hook = legacy ? r.spec.webhook : r.spec.hooks.pre_step;
  if (!hook) {
    advance(route, r);
    return;
  }
  r.webhook_pending = true;
  json::object body = legacy ? json::object{{"route", route.name},
                                            {"step", r.step + 2},
                                            {"steps", r.spec.steps_bp.size()},
                                            {"weight", r.spec.steps_bp[r.step + 1] / 100.0}}
                             : hook_body(route, r, "pre_step", r.step + 1, {});
  const std::string route_name = route.name;
  const auto generation = r.generation;
  call_webhook(io_, hook->url, json::serialize(body), hook->timeout,
               [this, route_name, generation, legacy](WebhookResult result) {
                 auto it = ramps_.find(route_name);
                 if (it == ramps_.end() || it->second.generation != generation ||
                     it->second.state != RampState::running)
                   return;  // the ramp moved on (paused, aborted, failed) while the call ran
                 auto& ramp = it->second;
                 ramp.webhook_pending = false;
                 auto snap = control_.snapshot();
                 const auto* route = snap->find_route(route_name);
                 if (legacy) {
                   ramp.webhook_last = result.detail;
                   if (!result.ok) {
                     spdlog::warn("route {}: ramp webhook refused step {}: {}; retrying", route_name, ramp.step + 2,
                                  result.detail);
                     return;
                   }
                   ramp.webhook_passed = true;
                   if (route) proceed(*route, ramp);
                   return;
                 }
                 ramp.hook_last = fmt::format("pre_step {}: {}", ramp.step + 2, result.detail);
                 if (!route) return;
                 if (!result.ok) {
                   pause_for_hook(*route, ramp,
                                  fmt::format("hook pre_step refused step {}/{}: {}", ramp.step + 2,
                                              ramp.spec.steps_bp.size(), result.detail));
                   return;
                 }
                 advance(*route, ramp);
               });
}

void RampController::pause_for_hook(const runtime::Route& route, Ramp& r, std::string reason) {
  spdlog::warn("route {}: {}; the ramp is paused (resume to try again)", route.name, reason);
  if (fleet_) {
    Ramp next = r;
    next.state = RampState::paused;
    next.reason = reason;
    if (r.spec.dry_run) rehearsal_entry(next, "would_pause", reason);
    fleet_transition(route, r, std::move(next), std::nullopt, "ramp_pause", {{"ramp_step", r.step + 1}, {"reason", reason}});
    return;
  }
  r.state = RampState::paused;
  r.reason = reason;
  ++r.generation;
  if (r.spec.dry_run)
    rehearse(route, r, "would_pause", reason, "ramp");
  else
    control_.record_change(route, "ramp_pause", "ramp", {{"ramp_step", r.step + 1}, {"reason", reason}});
  set_gauge(route.name, r);
}

json::object RampController::hook_body(const runtime::Route& route, const Ramp& r, std::string_view event,
                                       std::size_t step_index, std::string reason) const {
  const auto w = route.runtime->weights();
  json::array gates;
  if (r.last_evaluation)
    for (const auto& g : r.last_evaluation->gates) {
      auto o = g.to_json();
      o["passed"] = g.passed;
      gates.push_back(std::move(o));
    }
  step_index = std::min(step_index, r.spec.steps_bp.size() - 1);
  return {{"event", event},
          {"route", route.name},
          {"step", step_index + 1},
          {"steps", r.spec.steps_bp.size()},
          {"weight", r.spec.steps_bp[step_index] / 100.0},
          {"weights", {{"read", w.read_bp / 100.0}, {"write", w.write_bp / 100.0}}},
          {"gates", std::move(gates)},
          {"reason", std::move(reason)},
          {"dry_run", r.spec.dry_run}};
}

void RampController::notify(const runtime::Route& route, const Ramp& r, std::string_view event,
                            const std::optional<RampWebhook>& hook, std::size_t step_index, std::string reason) {
  if (!hook) return;
  const std::string route_name = route.name;
  const std::string label = fmt::format("{} {}", event, step_index + 1);
  const auto generation = r.generation;
  call_webhook(io_, hook->url, json::serialize(hook_body(route, r, event, step_index, std::move(reason))), hook->timeout,
               [this, route_name, label, generation](WebhookResult result) {
                 if (!result.ok) spdlog::warn("route {}: ramp hook {}: {}", route_name, label, result.detail);
                 auto it = ramps_.find(route_name);
                 if (it != ramps_.end() && it->second.generation == generation)
                   it->second.hook_last = fmt::format("{}: {}", label, result.detail);
               });
}

void RampController::query_prometheus(const std::string& route_name, Ramp& r) {
  if (r.prometheus_pending) return;
  r.prometheus_pending = true;
  if (r.prometheus_answers.size() != r.spec.prometheus.size()) r.prometheus_answers.assign(r.spec.prometheus.size(), {});
  // One round: every query at once; the answers land together when the last one is in.
  struct Round {
    std::vector<std::optional<PrometheusValue>> answers;
    std::size_t left = 0;
  };
  auto round = std::make_shared<Round>();
  round->answers.resize(r.spec.prometheus.size());
  round->left = r.spec.prometheus.size();
  for (std::size_t i = 0; i < r.spec.prometheus.size(); ++i) {
    const auto& g = r.spec.prometheus[i];
    HttpCall call{bhttp::verb::get, prometheus_query_url(g), {}, g.timeout};
    http_call(io_, std::move(call), [this, round, i, route_name](HttpCallResult res) {
      round->answers[i] = res.answered ? parse_prometheus_answer(res.status, res.body)
                                       : PrometheusValue{std::nullopt, std::move(res.error)};
      if (--round->left != 0) return;
      auto it = ramps_.find(route_name);
      if (it == ramps_.end()) return;
      it->second.prometheus_pending = false;
      // A round started in an earlier step still describes the service now: the team's metrics
      // are not this step's window. An ended ramp keeps its last answers for the view.
      if (!evaluated(it->second.state)) return;
      it->second.prometheus_answers = std::move(round->answers);
    });
  }
}

void RampController::rehearsal_entry(Ramp& r, std::string_view would, const std::string& reason) {
  if (r.rehearsal.size() >= kRehearsalKept) r.rehearsal.erase(r.rehearsal.begin());
  r.rehearsal.push_back(json::object{{"time", iso(std::chrono::system_clock::now())},
                                     {"step", r.step + 1},
                                     {"would", would},
                                     {"reason", reason}});
}

void RampController::rehearse(const runtime::Route& route, Ramp& r, std::string_view would, std::string reason,
                              const Actor& actor) {
  rehearsal_entry(r, would, reason);
  json::object entry{{"action", "ramp_rehearsal"},
                     {"route", route.name},
                     {"generation", static_cast<std::int64_t>(route.runtime->generation)},
                     {"dry_run", true},
                     {"would", would},
                     {"ramp_step", r.step + 1},
                     {"ramp_steps", r.spec.steps_bp.size()},
                     {"reason", std::move(reason)}};
  actor.stamp(entry);
  control_.audit().append(std::move(entry));
  control_.persist();
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
  o["step_elapsed_s"] = evaluated(r.state)
                            ? std::chrono::duration<double>(std::chrono::steady_clock::now() - r.step_started).count()
                            : 0.0;
  if (active(r.state))
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
  o["hook_last"] = r.hook_last;
  if (r.spec.dry_run) o["rehearsal"] = r.rehearsal;
  return o;
}

json::object RampController::saved_of(const Ramp& r) {
  json::object o{{"spec", ramp_spec_json(r.spec, SpecForm::request)},
                 {"state", name(r.state)},
                 {"step", r.step},
                 {"started_ms", epoch_ms(r.started)},
                 {"step_started_ms", epoch_ms(r.step_started_wall)},
                 {"ended_ms", epoch_ms(r.ended)},
                 {"reason", r.reason}};
  if (r.failed_gate) o["failed_gate"] = r.failed_gate->to_json();
  if (!r.rehearsal.empty()) o["rehearsal"] = r.rehearsal;
  return o;
}

json::value RampController::saved(const std::string& route) const {
  auto it = ramps_.find(route);
  if (it == ramps_.end()) return nullptr;
  return saved_of(it->second);
}

std::optional<std::string> RampController::parse_saved(const json::value& saved, Ramp& r) {
  const auto* o = saved.if_object();
  const auto* spec_v = o ? o->if_contains("spec") : nullptr;
  if (!spec_v || !spec_v->is_object()) return std::string("ramp: missing 'spec'");
  std::string error;
  auto spec = parse_ramp_spec(spec_v->as_object(), error);
  if (!spec) return "ramp: " + error;
  r.spec = std::move(*spec);
  const auto* state = o->if_contains("state");
  std::string_view s = state && state->is_string() ? std::string_view(state->as_string()) : std::string_view();
  if (s == "running") r.state = RampState::running;
  else if (s == "paused") r.state = RampState::paused;
  else if (s == "awaiting_approval") r.state = RampState::awaiting_approval;
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
  r.step_started_wall = wall("step_started_ms");
  if (const auto* reason = o->if_contains("reason"); reason && reason->is_string()) r.reason = reason->as_string();
  if (const auto* g = o->if_contains("failed_gate"); g && g->is_object()) {
    GateResult fg;
    if (const auto* n = g->as_object().if_contains("gate"); n && n->is_string()) fg.gate = n->as_string();
    if (const auto* v = g->as_object().if_contains("value")) fg.value = common::json_number(*v);
    if (const auto* t = g->as_object().if_contains("threshold"))
      fg.threshold = common::json_number(*t).value_or(fg.threshold);
    if (const auto* q = g->as_object().if_contains("query"); q && q->is_string()) fg.query = q->as_string();
    if (const auto* b = g->as_object().if_contains("bound"); b && b->is_string()) fg.at_least = b->as_string() == "min";
    if (const auto* er = g->as_object().if_contains("error"); er && er->is_string()) fg.error = er->as_string();
    fg.passed = false;
    r.failed_gate = fg;
  }
  if (const auto* h = o->if_contains("rehearsal"); h && h->is_array()) {
    r.rehearsal = h->as_array();
    while (r.rehearsal.size() > kRehearsalKept) r.rehearsal.erase(r.rehearsal.begin());
  }
  return std::nullopt;
}

std::optional<std::string> RampController::restore(const std::string& route, const json::value& saved) {
  if (saved.is_null()) return std::nullopt;
  Ramp r;
  if (auto problem = parse_saved(saved, r)) return problem;
  // The step's interval starts again: the window statistics did not survive the restart.
  r.step_started = std::chrono::steady_clock::now();
  r.step_started_wall = std::chrono::system_clock::now();
  auto& placed = ramps_[route] = std::move(r);
  set_gauge(route, placed);
  if (evaluated(placed.state))
    spdlog::warn("route {}: ramp restored from the state file; resuming at step {}/{} ({:.2f} %), its interval "
                 "starts again",
                 route, placed.step + 1, placed.spec.steps_bp.size(), placed.spec.steps_bp[placed.step] / 100.0);
  return std::nullopt;
}

// ---- Fleet mode ----

RampController::FleetLink::~FleetLink() {
  if (owner.fleet_alive_) *owner.fleet_alive_ = false;
  owner.fleet_ = nullptr;
  owner.control_.metrics().fleet_leader.Add({}).Set(0);
}

std::unique_ptr<RampController::FleetLink> RampController::join_fleet(fleet::Node& node) {
  std::unique_ptr<FleetLink> link(new FleetLink{*this, nullptr, nullptr});
  auto& gauge = control_.metrics().fleet_leader.Add({});
  gauge.Set(0);
  link->leader = std::make_unique<fleet::Leader>(io_, node, [&gauge](bool leader) { gauge.Set(leader ? 1 : 0); });
  link->store = std::make_unique<fleet::RampStore>(
      io_, node,
      [this](const std::string& route, const std::string& value, std::int64_t revision) {
        on_fleet_record(route, value, revision);
      });
  fleet_ = link.get();
  fleet_alive_ = std::make_shared<bool>(true);
  link->store->start();
  link->leader->start();
  boost::asio::co_spawn(io_, fleet_loop(), boost::asio::detached);
  return link;
}

std::string RampController::fleet_leader() const { return fleet_ ? fleet_->leader->holder() : std::string(); }
bool RampController::is_fleet_leader() const { return fleet_ && fleet_->leader->is_leader(); }

router::Weights RampController::step_weights(const runtime::Route& route, const Ramp& r) {
  const auto bp = r.spec.steps_bp[r.step];
  auto w = route.runtime->weights();
  if (r.spec.apply_to != ApplyTo::write) w.read_bp = bp;
  if (r.spec.apply_to != ApplyTo::read) w.write_bp = bp;
  return w;
}

void RampController::on_fleet_record(const std::string& route, const std::string& value, std::int64_t mod_revision) {
  if (auto it = fleet_revisions_.find(route); it != fleet_revisions_.end() && mod_revision <= it->second) return;
  if (value.empty()) {
    fleet_revisions_.erase(route);
    return;  // a deleted record: the mirror keeps the ramp as it last was (for the view)
  }
  boost::system::error_code ec;
  auto v = json::parse(value, ec);
  Ramp r;
  if (ec) {
    spdlog::warn("fleet: the ramp record of route {} is not JSON; ignored", route);
    return;
  }
  if (auto problem = parse_saved(v, r)) {
    spdlog::warn("fleet: the ramp record of route {} is invalid ({}); ignored", route, *problem);
    return;
  }
  fleet_revisions_[route] = mod_revision;
  if (fleet_aborting_.contains(route)) {
    // A rollback here aborted the ramp: etcd's older record does not bring it back.
    if (active(r.state)) return;
    fleet_aborting_.erase(route);
  }
  // The step began at step_started_ms on the wall clock; its time on the steady clock here.
  const auto wall_now = std::chrono::system_clock::now();
  const auto since = std::max(std::chrono::system_clock::duration::zero(), wall_now - r.step_started_wall);
  r.step_started = std::chrono::steady_clock::now() - std::chrono::duration_cast<std::chrono::steady_clock::duration>(since);
  if (auto old = ramps_.find(route); old != ramps_.end()) {
    const auto& o = old->second;
    if (o.step == r.step && o.state == r.state && o.step_started_wall == r.step_started_wall) {
      r.last_evaluation = o.last_evaluation;
      r.last_evaluation_time = o.last_evaluation_time;
      r.webhook_pending = o.webhook_pending;
      r.webhook_last = o.webhook_last;
      r.generation = o.generation;
    } else {
      r.generation = o.generation + 1;
    }
  }
  if (r.state == RampState::running)
    spdlog::info("route {}: fleet ramp at step {}/{} ({:.2f} %), record revision {}", route, r.step + 1,
                 r.spec.steps_bp.size(), r.spec.steps_bp[r.step] / 100.0, mod_revision);
  auto& placed = ramps_[route] = std::move(r);
  set_gauge(route, placed);
  control_.persist();
}

void RampController::audit_fleet(const runtime::Route& route, std::string_view action, const Actor& actor,
                                 std::int64_t revision, json::object extra) {
  json::object entry{{"action", action},
                     {"route", route.name},
                     {"generation", static_cast<std::int64_t>(route.runtime->generation)},
                     {"fleet_revision", revision}};
  actor.stamp(entry);
  for (auto& kv : extra) entry[kv.key()] = kv.value();
  control_.audit().append(std::move(entry));
}

void RampController::fleet_transition(const runtime::Route& route, Ramp& r, Ramp next,
                                      std::optional<router::Weights> weights, std::string action, json::object extra) {
  if (r.fleet_pending || !is_fleet_leader()) return;
  r.fleet_pending = true;
  const auto expected = fleet_revisions_.contains(route.name) ? fleet_revisions_[route.name] : 0;
  boost::asio::co_spawn(io_,
                        fleet_write(route.name, json::serialize(saved_of(next)), expected, weights,
                                    route.runtime->generation, std::move(action), std::move(extra), r.generation),
                        boost::asio::detached);
}

boost::asio::awaitable<void> RampController::fleet_write(std::string route, std::string value, std::int64_t expected,
                                                         std::optional<router::Weights> weights,
                                                         std::uint64_t local_generation, std::string action,
                                                         json::object extra, std::uint64_t generation) {
  auto alive = fleet_alive_;
  std::optional<fleet::RampStore::Weights> w;
  if (weights) w = fleet::RampStore::Weights{weights->read_bp, weights->write_bp, local_generation,
                                             action == "ramp_rollback"};
  auto res = co_await fleet_->store->write(route, value, expected, w, fleet_->leader->guard());
  if (!*alive) co_return;
  if (res.outcome != fleet::ChangeResult::Outcome::applied) {
    spdlog::warn("route {}: the leader's {} was not written ({}); trying again at the next tick", route, action,
                 res.error);
    if (auto it = ramps_.find(route); it != ramps_.end() && it->second.generation == generation)
      it->second.fleet_pending = false;
    co_return;
  }
  on_fleet_record(route, value, res.revision);
  auto snap = control_.snapshot();
  const auto* r = snap->find_route(route);
  if (!r) co_return;
  if (action.starts_with("ramp_rehearsal_")) {
    // A rehearsal's decision: audited as on a single node, "ramp_rehearsal" with what it would do.
    const std::string_view what = std::string_view(action).substr(std::string_view("ramp_rehearsal_").size());
    extra["would"] = what == "step" ? "would_advance" : what == "rollback" ? "would_roll_back" : "would_complete";
    extra["dry_run"] = true;
    audit_fleet(*r, "ramp_rehearsal", Actor("ramp"), res.revision, std::move(extra));
  } else {
    audit_fleet(*r, action, Actor("ramp"), res.revision, std::move(extra));
  }
  if (auto it = ramps_.find(route); it != ramps_.end()) {
    const auto& ramp = it->second;
    if (action.ends_with("_step")) notify(*r, ramp, "post_step", ramp.spec.hooks.post_step, ramp.step, {});
    if (action.ends_with("_rollback")) notify(*r, ramp, "on_rollback", ramp.spec.hooks.on_rollback, ramp.step, ramp.reason);
    if (action.ends_with("_complete")) notify(*r, ramp, "on_complete", ramp.spec.hooks.on_complete, ramp.step, ramp.reason);
  }
}

boost::asio::awaitable<void> RampController::fleet_loop() {
  auto alive = fleet_alive_;
  boost::asio::steady_timer t(io_);
  for (;;) {
    t.expires_after(kTick);
    co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (!*alive) co_return;
    co_await fleet_tick();
    if (!*alive) co_return;
  }
}

namespace {

fleet::WindowCounts counts_of(const stats::WindowSummary& s) {
  fleet::WindowCounts c{s.requests, s.errors_5xx, s.connect_errors, s.timeouts, s.mirror_match, s.mirror_mismatch, {}};
  c.latency.assign(s.latency.begin(), s.latency.end());
  while (!c.latency.empty() && c.latency.back() == 0) c.latency.pop_back();
  return c;
}

stats::WindowSummary summary_of(const fleet::WindowCounts& c) {
  stats::WindowSummary s;
  s.requests = c.requests;
  s.errors_5xx = c.errors_5xx;
  s.connect_errors = c.connect_errors;
  s.timeouts = c.timeouts;
  s.mirror_match = c.mirror_match;
  s.mirror_mismatch = c.mirror_mismatch;
  std::copy_n(c.latency.begin(), std::min(c.latency.size(), s.latency.size()), s.latency.begin());
  return s;
}

}  // namespace

boost::asio::awaitable<void> RampController::fleet_tick() {
  auto alive = fleet_alive_;
  // Handing over to a new process (binary upgrade): it joins as this node and runs the ramps;
  // this one stops publishing and judging and gives up the leadership now rather than when its
  // lease expires. A failed hand-over unfreezes it and it campaigns again.
  if (control_.frozen()) {
    if (!fleet_->leader->resigned()) co_await fleet_->leader->resign();
    co_return;
  }
  if (fleet_->leader->resigned()) fleet_->leader->campaign_again();
  // Every node: its own counts of each running ramp's step, for the leader.
  std::map<std::string, fleet::StepStats> mine;
  {
    auto snap = control_.snapshot();
    const auto now = std::chrono::steady_clock::now();
    const auto now_s = stats::steady_seconds(now);
    for (const auto& [route_name, r] : ramps_) {
      if (!evaluated(r.state)) continue;
      const auto* route = snap->find_route(route_name);
      if (!route) continue;
      fleet::StepStats s;
      s.step_started_ms = epoch_ms(r.step_started_wall);
      s.window_s = step_window_s(r, now);
      s.source = counts_of(route->runtime->windows.summarize(router::Side::source, now_s, s.window_s));
      s.target = counts_of(route->runtime->windows.summarize(router::Side::target, now_s, s.window_s));
      mine[route_name] = std::move(s);
    }
  }
  const bool any = !mine.empty();
  co_await fleet_->store->publish(std::move(mine));
  if (!*alive || !any || !is_fleet_leader()) co_return;
  auto all = co_await fleet_->store->read_stats(stats::LatencyBins::kCount);
  if (!*alive || !all || !is_fleet_leader()) co_return;
  auto snap = control_.snapshot();
  const auto now = std::chrono::steady_clock::now();
  for (auto& [route_name, r] : ramps_) {
    if (!evaluated(r.state) || r.fleet_pending) continue;
    const auto* route = snap->find_route(route_name);
    if (!route) continue;
    stats::WindowSummary source, target;
    if (auto it = all->find(route_name); it != all->end())
      for (const auto& [node, s] : it->second)
        if (s.step_started_ms == epoch_ms(r.step_started_wall)) {
          source.merge(summary_of(s.source));
          target.merge(summary_of(s.target));
        }
    judge(*route, r, source, target, step_window_s(r, now));
  }
}

boost::asio::awaitable<void> RampController::fleet_abort_after_rollback(std::string route, Actor actor) {
  auto alive = fleet_alive_;
  boost::asio::steady_timer t(io_);
  // Until etcd has the abort (a rollback is never undone by reconnecting); bounded at ~10 min.
  for (int attempt = 0; attempt < 1200 && *alive && fleet_aborting_.contains(route); ++attempt) {
    auto it = ramps_.find(route);
    if (it == ramps_.end()) break;
    const auto expected = fleet_revisions_.contains(route) ? fleet_revisions_[route] : 0;
    auto res = co_await fleet_->store->write(route, json::serialize(saved_of(it->second)), expected, std::nullopt,
                                             std::nullopt);
    if (!*alive) co_return;
    if (res.outcome == fleet::ChangeResult::Outcome::applied) {
      fleet_aborting_.erase(route);
      fleet_revisions_[route] = res.revision;
      spdlog::info("route {}: the fleet ramp is aborted in etcd (rollback by {})", route, actor.name);
      co_return;
    }
    t.expires_after(milliseconds(res.outcome == fleet::ChangeResult::Outcome::conflict ? 100 : 500));
    co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
}

std::optional<RampController::Ramp> RampController::fleet_next(const runtime::Route& route, std::string_view action,
                                                                const Actor& actor, bool& moves_weights,
                                                                Answer& refused) {
  moves_weights = false;
  const auto now = std::chrono::floor<milliseconds>(std::chrono::system_clock::now());
  if (action == "pause") {
    Ramp* r = ramp_in(route, {RampState::running, RampState::awaiting_approval}, "the ramp is {}, not running", refused);
    if (!r) return std::nullopt;
    Ramp next = *r;
    next.state = RampState::paused;
    return next;
  }
  if (action == "approve") {
    Ramp* r = ramp_in(route, {RampState::awaiting_approval}, "the ramp is {}, not awaiting approval", refused);
    if (!r) return std::nullopt;
    Ramp next = *r;
    next.state = RampState::running;
    // The min_requests wait counts from the approval (see approve()).
    const auto since = now - next.step_started_wall;
    if (since > next.spec.interval)
      next.step_started_wall = now - std::chrono::duration_cast<std::chrono::system_clock::duration>(next.spec.interval);
    return next;
  }
  if (action == "resume") {
    Ramp* r = ramp_in(route, {RampState::paused}, "the ramp is {}, not paused", refused);
    if (!r) return std::nullopt;
    Ramp next = *r;
    const bool approve = next.step < next.spec.approve.size() && next.spec.approve[next.step];
    next.state = approve && !next.spec.dry_run ? RampState::awaiting_approval : RampState::running;
    next.step_started_wall = now;  // the step's interval starts again
    moves_weights = !next.spec.dry_run;
    return next;
  }
  Ramp* r = ramp_in(route, {RampState::running, RampState::paused, RampState::awaiting_approval},
                    "the ramp has ended ({})", refused);
  if (!r) return std::nullopt;
  Ramp next = *r;
  next.state = RampState::aborted;
  next.reason = fmt::format("aborted by {}", actor.name);
  next.ended = now;
  return next;
}

boost::asio::awaitable<RampController::Answer> RampController::fleet_start(std::shared_ptr<const runtime::Snapshot> snap,
                                                                           const runtime::Route* route, RampSpec spec,
                                                                           Actor actor) {
  if (auto it = ramps_.find(route->name); it != ramps_.end() && active(it->second.state))
    co_return Answer{bhttp::status::conflict,
                     error_body(fmt::format("a ramp is already {} on route '{}'; abort it first",
                                            name(it->second.state), route->name))};
  Ramp next;
  next.spec = std::move(spec);
  next.started = std::chrono::floor<milliseconds>(std::chrono::system_clock::now());
  next.step_started_wall = next.started;
  std::optional<router::Weights> w;
  if (next.spec.dry_run) {
    rehearsal_entry(next, "would_start",
                    fmt::format("step 1/{}: weight {:.2f} % ({})", next.spec.steps_bp.size(),
                                next.spec.steps_bp[0] / 100.0, name(next.spec.apply_to)));
  } else {
    w = step_weights(*route, next);
    if (!next.spec.approve.empty() && next.spec.approve[0]) next.state = RampState::awaiting_approval;
  }
  co_return co_await fleet_commit(route, std::move(next), w, "ramp_start", std::move(actor));
}

boost::asio::awaitable<RampController::Answer> RampController::fleet_action(
    std::shared_ptr<const runtime::Snapshot> snap, const runtime::Route* route, std::string action, Actor actor) {
  Answer refused;
  bool moves_weights = false;
  auto next = fleet_next(*route, action, actor, moves_weights, refused);
  if (!next) co_return refused;
  std::optional<router::Weights> w;
  if (moves_weights) w = step_weights(*route, *next);
  co_return co_await fleet_commit(route, std::move(*next), w, "ramp_" + action, std::move(actor));
}

boost::asio::awaitable<RampController::Answer> RampController::fleet_commit(const runtime::Route* route, Ramp next,
                                                                            std::optional<router::Weights> weights,
                                                                            std::string action, Actor actor) {
  const auto expected = fleet_revisions_.contains(route->name) ? fleet_revisions_[route->name] : 0;
  std::optional<fleet::RampStore::Weights> w;
  if (weights) w = fleet::RampStore::Weights{weights->read_bp, weights->write_bp, route->runtime->generation};
  std::string value = json::serialize(saved_of(next));
  auto res = co_await fleet_->store->write(route->name, value, expected, w, std::nullopt);
  co_return fleet_answer(*route, static_cast<int>(res.outcome), res.revision, res.error, value, action, actor);
}

RampController::Answer RampController::fleet_answer(const runtime::Route& route, int outcome, std::int64_t revision,
                                                    const std::string& error, const std::string& value,
                                                    std::string_view action, const Actor& actor) {
  using Outcome = fleet::ChangeResult::Outcome;
  if (outcome == static_cast<int>(Outcome::unavailable))
    return {bhttp::status::service_unavailable,
            json::object{{"error", "ramps are shared through etcd: " + error}, {"etcd", "unreachable"}}};
  if (outcome == static_cast<int>(Outcome::conflict))
    return {bhttp::status::conflict, error_body(error)};
  on_fleet_record(route.name, value, revision);
  auto it = ramps_.find(route.name);
  if (it == ramps_.end())
    return {bhttp::status::internal_server_error, error_body("the ramp was written to etcd but could not be read back")};
  const auto& r = it->second;
  audit_fleet(route, action, actor, revision,
              {{"ramp_step", r.step + 1}, {"ramp_steps", r.spec.steps_bp.size()}, {"apply_to", name(r.spec.apply_to)}});
  spdlog::info("route {}: fleet {} by {} (record revision {})", route.name, action, actor.name, revision);
  if (action == "ramp_start") notify(route, r, "post_step", r.spec.hooks.post_step, r.step, {});
  return {bhttp::status::ok, view_of(route.name, r)};
}

}  // namespace cutover::admin
