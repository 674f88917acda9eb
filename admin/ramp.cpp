// Ramp requests and gate evaluation: see ramp.hpp.
#include "admin/ramp.hpp"

#include <cmath>

#include <boost/json/array.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include "common/json_number.hpp"
#include "config/units.hpp"

namespace cutover::admin {

namespace json = boost::json;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t kMaxSteps = 100;
constexpr milliseconds kMinInterval{1000};
constexpr milliseconds kMaxInterval{24LL * 3600 * 1000};
constexpr milliseconds kMaxWebhookTimeout{60000};
constexpr std::size_t kMaxPrometheusGates = 10;

// A duration: "60s"/"500ms"/"2m", "1h" too for long steps, or a number of seconds.
std::optional<milliseconds> duration(const json::value& v) {
  if (v.is_string()) return config::parse_long_duration(std::string_view(v.as_string()));
  if (auto s = common::json_number(v); s && *s >= 0 && *s <= 1e9) return milliseconds(static_cast<std::int64_t>(std::llround(*s * 1000)));
  return std::nullopt;
}

double seconds(milliseconds d) { return static_cast<double>(d.count()) / 1000.0; }

bool unknown_keys(const json::object& o, std::initializer_list<std::string_view> known, std::string_view where,
                  std::string& error) {
  for (const auto& kv : o) {
    bool ok = false;
    for (auto k : known) ok = ok || kv.key() == k;
    if (!ok) {
      error = fmt::format("unknown field '{}'{}", std::string_view(kv.key()), where);
      return true;
    }
  }
  return false;
}

// A webhook or hook: "http://..." or {"url", "timeout"}; `at` names the field in errors.
std::optional<RampWebhook> parse_webhook(const json::value& v, const std::string& at, std::string& error) {
  RampWebhook hook;
  const json::value* url = &v;
  if (v.is_object()) {
    const auto& o = v.as_object();
    if (unknown_keys(o, {"url", "timeout"}, fmt::format(" in '{}'", at), error)) return std::nullopt;
    url = o.if_contains("url");
    if (const auto* t = o.if_contains("timeout")) {
      auto d = duration(*t);
      if (!d || d->count() <= 0 || *d > kMaxWebhookTimeout) {
        error = at + ".timeout must be a duration above 0 and up to 60s";
        return std::nullopt;
      }
      hook.timeout = *d;
    }
  } else if (!v.is_string()) {
    error = fmt::format("'{}' must be an http:// URL or {{\"url\": \"http://...\", \"timeout\": \"5s\"}}", at);
    return std::nullopt;
  }
  auto parsed = url && url->is_string() ? boost::urls::parse_absolute_uri(std::string_view(url->as_string()))
                                        : boost::system::result<boost::urls::url_view>(boost::urls::error::not_a_base);
  if (!parsed || parsed->scheme() != "http" || parsed->host().empty()) {
    error = at + (v.is_object() ? ".url" : "") +
            " must be an absolute http:// URL (https webhooks need the TLS client of a later build)";
    return std::nullopt;
  }
  hook.url = std::string(url->as_string());
  return hook;
}

}  // namespace

std::string_view name(ApplyTo a) {
  switch (a) {
    case ApplyTo::read: return "read";
    case ApplyTo::write: return "write";
    case ApplyTo::both: break;
  }
  return "both";
}

std::optional<RampSpec> parse_ramp_spec(const json::object& body, std::string& error) {
  if (unknown_keys(body,
                   {"steps", "interval", "apply_to", "gates", "max_wait", "webhook", "hooks", "dry_run", "if_generation"},
                   "", error))
    return std::nullopt;
  RampSpec spec;
  auto* steps = body.if_contains("steps");
  if (!steps || !steps->is_array() || steps->as_array().empty() || steps->as_array().size() > kMaxSteps) {
    error = fmt::format("'steps' must be a list of 1..{} weights (percent)", kMaxSteps);
    return std::nullopt;
  }
  std::size_t index = 0;
  for (const auto& s : steps->as_array()) {
    const json::value* weight = &s;
    bool approve = false;
    if (s.is_object()) {
      const auto& o = s.as_object();
      if (unknown_keys(o, {"weight", "approve"}, fmt::format(" in steps[{}]", index), error)) return std::nullopt;
      weight = o.if_contains("weight");
      const auto* a = o.if_contains("approve");
      if (!weight || (a && !a->is_bool())) {
        error = fmt::format("steps[{}] must be a weight or {{\"weight\": W, \"approve\": true}}", index);
        return std::nullopt;
      }
      approve = a && a->as_bool();
    }
    auto v = common::json_number(*weight);
    auto bp = v ? config::percent_to_bp(*v) : std::nullopt;
    if (!bp) {
      error = fmt::format("steps[{}]: a weight must be a number from 0 to 100 in steps of 0.01", index);
      return std::nullopt;
    }
    if (!spec.steps_bp.empty() && *bp <= spec.steps_bp.back()) {
      error = "'steps' must be strictly increasing (a ramp only moves traffic to target; roll back to go down)";
      return std::nullopt;
    }
    spec.steps_bp.push_back(static_cast<std::uint16_t>(*bp));
    spec.approve.push_back(approve);
    ++index;
  }
  auto* interval = body.if_contains("interval");
  auto iv = interval ? duration(*interval) : std::nullopt;
  if (!iv || *iv < kMinInterval || *iv > kMaxInterval) {
    error = "'interval' must be a duration from 1s to 24h (\"60s\", \"5m\") or seconds";
    return std::nullopt;
  }
  spec.interval = *iv;
  spec.max_wait = std::max(milliseconds(30000), spec.interval * 10);
  if (auto* mw = body.if_contains("max_wait")) {
    auto v = duration(*mw);
    if (!v || *v > kMaxInterval) {
      error = "'max_wait' must be a duration up to 24h or seconds";
      return std::nullopt;
    }
    spec.max_wait = *v;
  }
  if (auto* a = body.if_contains("apply_to")) {
    std::string_view s = a->is_string() ? std::string_view(a->as_string()) : std::string_view();
    if (s == "read") spec.apply_to = ApplyTo::read;
    else if (s == "write") spec.apply_to = ApplyTo::write;
    else if (s == "both") spec.apply_to = ApplyTo::both;
    else {
      error = "'apply_to' must be \"read\", \"write\" or \"both\"";
      return std::nullopt;
    }
  }
  if (auto* g = body.if_contains("gates")) {
    if (!g->is_object()) {
      error = "'gates' must be an object";
      return std::nullopt;
    }
    const auto& o = g->as_object();
    if (unknown_keys(o,
                     {"max_error_rate", "max_p99_ms", "max_p99_ratio", "max_mismatch_rate", "min_requests", "prometheus"},
                     " in 'gates'", error))
      return std::nullopt;
    if (const auto* list = o.if_contains("prometheus")) {
      if (!list->is_array() || list->as_array().size() > kMaxPrometheusGates) {
        error = fmt::format("gates.prometheus must be a list of at most {} queries", kMaxPrometheusGates);
        return std::nullopt;
      }
      for (std::size_t i = 0; i < list->as_array().size(); ++i) {
        auto g = parse_prometheus_gate(list->as_array()[i], i, error);
        if (!g) return std::nullopt;
        spec.prometheus.push_back(std::move(*g));
      }
    }
    struct Limit {
      const char* key;
      std::optional<double>* out;
      double lo, hi;
    };
    for (const auto& l : {Limit{"max_error_rate", &spec.gates.max_error_rate, 0, 1},
                          Limit{"max_p99_ms", &spec.gates.max_p99_ms, 0, 3600000},
                          Limit{"max_p99_ratio", &spec.gates.max_p99_ratio, 0, 1000},
                          Limit{"max_mismatch_rate", &spec.gates.max_mismatch_rate, 0, 1}}) {
      auto* v = o.if_contains(l.key);
      if (!v) continue;
      auto d = common::json_number(*v);
      if (!d || *d < l.lo || *d > l.hi) {
        error = fmt::format("gates.{} must be a number from {} to {}", l.key, l.lo, l.hi);
        return std::nullopt;
      }
      *l.out = *d;
    }
    if (auto* m = o.if_contains("min_requests")) {
      auto n = common::json_int(*m, 1, 100000000);
      if (!n) {
        error = "gates.min_requests must be an integer from 1 to 100000000 (a step never passes on no data)";
        return std::nullopt;
      }
      spec.gates.min_requests = static_cast<std::uint64_t>(*n);
    }
  }
  if (auto* w = body.if_contains("webhook")) {
    auto hook = parse_webhook(*w, "webhook", error);
    if (!hook) return std::nullopt;
    spec.webhook = std::move(*hook);
  }
  if (auto* h = body.if_contains("hooks")) {
    if (!h->is_object()) {
      error = "'hooks' must be an object {\"pre_step\", \"post_step\", \"on_rollback\", \"on_complete\"}";
      return std::nullopt;
    }
    const auto& o = h->as_object();
    if (unknown_keys(o, {"pre_step", "post_step", "on_rollback", "on_complete"}, " in 'hooks'", error))
      return std::nullopt;
    for (auto [key, out] : {std::pair{"pre_step", &spec.hooks.pre_step}, std::pair{"post_step", &spec.hooks.post_step},
                            std::pair{"on_rollback", &spec.hooks.on_rollback},
                            std::pair{"on_complete", &spec.hooks.on_complete}}) {
      const auto* v = o.if_contains(key);
      if (!v || v->is_null()) continue;
      auto hook = parse_webhook(*v, fmt::format("hooks.{}", key), error);
      if (!hook) return std::nullopt;
      *out = std::move(*hook);
    }
  }
  if (auto* d = body.if_contains("dry_run")) {
    if (!d->is_bool()) {
      error = "'dry_run' must be true or false";
      return std::nullopt;
    }
    spec.dry_run = d->as_bool();
  }
  return spec;
}

json::array ramp_steps_json(const RampSpec& spec) {
  json::array steps;
  for (std::size_t i = 0; i < spec.steps_bp.size(); ++i) {
    if (i < spec.approve.size() && spec.approve[i])
      steps.push_back(json::object{{"weight", common::percent_json_bp(spec.steps_bp[i])}, {"approve", true}});
    else
      steps.push_back(common::percent_json_bp(spec.steps_bp[i]));
  }
  return steps;
}

std::string prometheus_start_error(std::size_t index, const PrometheusValue& value) {
  return fmt::format("gates.prometheus[{}].query: {} (the query runs once when the ramp starts and must answer one "
                     "number)",
                     index, value.error.empty() ? std::string("no number") : value.error);
}

json::object ramp_spec_json(const RampSpec& spec, SpecForm form) {
  const bool view = form == SpecForm::view;
  auto hook_json = [view](const RampWebhook& h) {
    return json::object{{"url", h.url}, {view ? "timeout_s" : "timeout", seconds(h.timeout)}};
  };
  json::object gates = common::ramp_gates_json(spec.gates);
  if (!spec.prometheus.empty()) {
    json::array list;
    for (const auto& g : spec.prometheus) list.push_back(prometheus_gate_json(g));
    gates["prometheus"] = std::move(list);
  }
  json::object o{{"steps", ramp_steps_json(spec)},
                 {view ? "interval_s" : "interval", seconds(spec.interval)},
                 {"apply_to", name(spec.apply_to)},
                 {"gates", std::move(gates)},
                 {view ? "max_wait_s" : "max_wait", seconds(spec.max_wait)},
                 {"dry_run", spec.dry_run}};
  if (spec.webhook)
    o["webhook"] = hook_json(*spec.webhook);
  else if (view)
    o["webhook"] = nullptr;
  json::object hooks;
  for (auto [key, hook] : {std::pair{"pre_step", &spec.hooks.pre_step}, std::pair{"post_step", &spec.hooks.post_step},
                           std::pair{"on_rollback", &spec.hooks.on_rollback},
                           std::pair{"on_complete", &spec.hooks.on_complete}})
    if (*hook) hooks[key] = hook_json(**hook);
  if (view || !hooks.empty()) o["hooks"] = std::move(hooks);
  return o;
}

json::object GateResult::to_json() const {
  json::object o{{"gate", gate}, {"threshold", threshold}};
  if (value)
    o["value"] = *value;
  else
    o["value"] = nullptr;
  if (gate == "prometheus") {
    o["bound"] = at_least ? "min" : "max";
    o["query"] = query;
    if (!error.empty()) o["error"] = error;
  }
  return o;
}

json::object GateEvaluation::to_json() const {
  json::array list;
  for (const auto& g : gates) {
    json::object o = g.to_json();
    o["passed"] = g.passed;
    list.push_back(std::move(o));
  }
  return {{"window_s", window_s},
          {"target_requests", target_requests},
          {"source_requests", source_requests},
          {"waiting", waiting},
          {"passed", passed},
          {"gates", std::move(list)}};
}

GateEvaluation evaluate_gates(const RampGates& gates, const stats::WindowSummary& source,
                              const stats::WindowSummary& target, std::int64_t window_s) {
  GateEvaluation e;
  e.window_s = window_s;
  e.target_requests = target.requests;
  e.source_requests = source.requests;
  e.waiting = target.requests < gates.min_requests;
  e.gates.push_back({"min_requests", static_cast<double>(target.requests), static_cast<double>(gates.min_requests),
                     !e.waiting});
  auto check = [&](const char* gate, const std::optional<double>& threshold, std::optional<double> value) {
    if (!threshold) return;
    GateResult r{gate, value, *threshold, !value || *value <= *threshold};
    if (!e.waiting && !r.passed && !e.failed) e.failed = r;
    e.gates.push_back(std::move(r));
  };
  const bool any = target.requests > 0;
  check("max_error_rate", gates.max_error_rate, any ? std::optional<double>(target.error_rate()) : std::nullopt);
  const auto target_p99 = target.percentile_ms(0.99);
  check("max_p99_ms", gates.max_p99_ms, target_p99);
  const auto source_p99 = source.percentile_ms(0.99);
  std::optional<double> ratio;
  if (target_p99 && source_p99 && *source_p99 > 0) ratio = *target_p99 / *source_p99;
  check("max_p99_ratio", gates.max_p99_ratio, ratio);
  const auto compared = target.mirror_match + target.mirror_mismatch;
  check("max_mismatch_rate", gates.max_mismatch_rate,
        compared > 0 ? std::optional<double>(static_cast<double>(target.mirror_mismatch) / compared) : std::nullopt);
  e.passed = !e.waiting && !e.failed;
  return e;
}

GateResult evaluate_prometheus_gate(const PrometheusGate& gate, std::size_t index,
                                    const std::optional<PrometheusValue>& answer) {
  GateResult r;
  r.gate = "prometheus";
  r.query = gate.query;
  r.at_least = gate.min.has_value();
  r.threshold = gate.min ? *gate.min : gate.max.value_or(0);
  if (!answer) {
    r.passed = false;
    r.error = "no answer yet";
    return r;
  }
  r.value = answer->value;
  if (!r.value) {
    r.passed = false;
    r.error = answer->error.empty() ? fmt::format("gates.prometheus[{}]: no number", index) : answer->error;
    return r;
  }
  r.passed = r.at_least ? *r.value >= r.threshold : *r.value <= r.threshold;
  return r;
}

GateEvaluation evaluate_gates(const RampSpec& spec, const stats::WindowSummary& source,
                              const stats::WindowSummary& target, std::int64_t window_s,
                              const std::vector<std::optional<PrometheusValue>>& answers) {
  GateEvaluation e = evaluate_gates(spec.gates, source, target, window_s);
  for (std::size_t i = 0; i < spec.prometheus.size(); ++i) {
    auto r = evaluate_prometheus_gate(spec.prometheus[i], i, i < answers.size() ? answers[i] : std::nullopt);
    // The team's own metrics do not depend on this step's request count: a crossed bound counts
    // even while the step waits for min_requests.
    if (!r.passed && r.value && !e.failed) e.failed = r;
    if (!r.passed && !r.value && !e.blocked) e.blocked = r;
    e.gates.push_back(std::move(r));
  }
  e.passed = !e.waiting && !e.failed && !e.blocked;
  return e;
}

}  // namespace cutover::admin
