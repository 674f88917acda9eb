// The admin API handlers: see api.hpp.
#include "admin/api.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include "admin/console.hpp"
#include "admin/json_text.hpp"
#include "admin/openapi.hpp"
#include "admin/ramp.hpp"
#include "admin/routes.hpp"
#include "admin/safety_api.hpp"
#include "admin/shadow_json.hpp"
#include "common/json_number.hpp"
#include "config/segments.hpp"
#include "config/units.hpp"
#include "fleet/node.hpp"
#include "proxy/router/sticky.hpp"

namespace cutover::admin {

namespace {

namespace json = boost::json;
namespace bhttp = boost::beast::http;

// The longest grace a rollback or release gives the connections it closes.
constexpr std::chrono::milliseconds kMaxCloseGrace{3600 * 1000};

AdminResponse json_response(bhttp::status status, const json::value& body) {
  AdminResponse res{status, 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = to_json_text(body) + "\n";
  return res;
}

AdminResponse error(bhttp::status status, std::string message) {
  return json_response(status, json::object{{"error", std::move(message)}});
}

// A route's segments for the listings: per segment its side and what it matches, with counts in
// place of the value lists (up to 1,000,000 values each: GET /v1/routes/{route}/segments has them).
json::array segments_summary(const std::vector<config::SegmentConfig>& segments) {
  json::array out;
  for (const auto& s : segments) {
    json::object o{{"side", s.to_target ? "target" : "source"}};
    if (s.kind == config::SegmentConfig::Kind::client_cidrs) {
      o["client_cidrs_count"] = s.client_cidrs.size();
    } else {
      o[s.kind == config::SegmentConfig::Kind::header ? "header" : "cookie"] = s.name;
      if (s.prefix.empty())
        o["values_count"] = s.values.size();
      else
        o["prefix"] = s.prefix;
    }
    out.push_back(std::move(o));
  }
  return out;
}

json::object route_state(const runtime::Route& route, Control& control) {
  auto w = route.runtime->weights();
  json::object o{{"name", route.name},
                 {"listener", route.listener},
                 {"match", {{"host", route.match.host}, {"path_prefix", route.match.path_prefix}}},
                 {"source", route.cluster(router::Side::source).name},
                 {"target", route.cluster(router::Side::target).name}};
  for (auto& kv : weights_json(w)) o[kv.key()] = kv.value();
  o["generation"] = static_cast<std::int64_t>(route.runtime->generation);
  o["writes"] = {{"held", route.runtime->writes_held()},
                 {"held_requests", route.runtime->held_requests.load()},
                 {"in_flight", route.runtime->writes_in_flight.load()}};
  if (auto ramp = control.ramps().view(route.name))
    o["ramp"] = std::move(*ramp);
  else
    o["ramp"] = nullptr;
  if (route.mirror)
    o["mirror"] = {{"percent", route.mirror->percent_bp / 100.0}, {"in_flight", route.mirror->record->in_flight()}};
  else
    o["mirror"] = nullptr;
  o["maintenance"] = maintenance_json(route.runtime->safety);
  o["segments"] = segments_summary(route.runtime->safety.segment_configs());
  if (route.tunnel_metrics)
    o["tunnels"] = {{"source", route.runtime->tunnels_open[static_cast<int>(router::Side::source)].load()},
                    {"target", route.runtime->tunnels_open[static_cast<int>(router::Side::target)].load()}};
  return o;
}

// An optional "grace" (a duration string, at most kMaxCloseGrace) that only goes with `allowed`
// (`needs` names what it needs in the error). 0 when absent.
std::optional<std::chrono::milliseconds> grace_value(const json::object& body, bool allowed, std::string_view needs,
                                                     std::optional<AdminResponse>& fail) {
  auto* g = body.if_contains("grace");
  if (!g) return std::chrono::milliseconds{0};
  std::optional<std::chrono::milliseconds> d;
  if (g->is_string()) d = config::parse_duration(g->as_string());
  if (!d || *d > kMaxCloseGrace) {
    fail = error(bhttp::status::unprocessable_entity, "grace must be a duration string like \"2s\", at most 1h");
    return std::nullopt;
  }
  if (!allowed) {
    fail = error(bhttp::status::unprocessable_entity, fmt::format("grace needs {}", needs));
    return std::nullopt;
  }
  return d;
}

// A weight in a JSON body: a number, percent 0..100 in 0.01 steps.
std::optional<std::uint16_t> weight_value(const json::value& v) {
  auto d = common::json_number(v);
  if (!d) return std::nullopt;
  auto bp = config::percent_to_bp(*d);
  if (!bp) return std::nullopt;
  return static_cast<std::uint16_t>(*bp);
}

// Parses an optional JSON object body; an empty body is an empty object.
std::optional<json::object> body_object(const AdminRequest& req, std::optional<AdminResponse>& fail) {
  if (req.body().find_first_not_of(" \t\r\n") == std::string::npos) return json::object{};
  boost::system::error_code ec;
  auto v = json::parse(req.body(), ec);
  if (ec) {
    fail = error(bhttp::status::bad_request, "invalid JSON body: " + ec.message());
    return std::nullopt;
  }
  if (!v.is_object()) {
    fail = error(bhttp::status::bad_request, "the body must be a JSON object");
    return std::nullopt;
  }
  return std::move(v.as_object());
}

// Checks the keys of `body` and its optional "if_generation" against the route.
std::optional<AdminResponse> check_body(const json::object& body, std::initializer_list<std::string_view> allowed,
                                        const runtime::Route& route) {
  for (const auto& kv : body) {
    bool known = kv.key() == "if_generation" || kv.key() == "reason";
    for (auto a : allowed) known = known || kv.key() == a;
    if (!known) return error(bhttp::status::unprocessable_entity, fmt::format("unknown field '{}'", std::string_view(kv.key())));
  }
  if (auto* g = body.if_contains("if_generation")) {
    auto expected = common::json_int(*g, 0);
    if (!expected) return error(bhttp::status::unprocessable_entity, "if_generation must be a non-negative integer");
    if (static_cast<std::uint64_t>(*expected) != route.runtime->generation) {
      auto res = json_response(bhttp::status::conflict,
                               json::object{{"error", fmt::format("generation is {}, not {}", route.runtime->generation,
                                                                  *expected)},
                                            {"generation", static_cast<std::int64_t>(route.runtime->generation)}});
      return res;
    }
  }
  return std::nullopt;
}

// "fleet": {"revision", "applied": [node, ...], "laggards": [node, ...]} of a shared change.
json::object fleet_json(const fleet::ChangeResult& r) {
  json::array applied, laggards;
  for (const auto& n : r.applied) applied.emplace_back(n);
  for (const auto& n : r.laggards) laggards.emplace_back(n);
  return {{"revision", r.revision}, {"applied", std::move(applied)}, {"laggards", std::move(laggards)}};
}

// A fleet change etcd did not take: 503 naming etcd (nothing changed anywhere), 409 for a lost
// race or another generation, or for a release of writes etcd does not hold.
std::optional<AdminResponse> fleet_refusal(const fleet::ChangeResult& r, std::string_view shared) {
  using Outcome = fleet::ChangeResult::Outcome;
  if (r.outcome == Outcome::unavailable)
    return json_response(bhttp::status::service_unavailable,
                         json::object{{"error", fmt::format("{} shared through etcd: {}", shared, r.error)},
                                      {"etcd", "unreachable"}});
  if (r.outcome == Outcome::conflict)
    return json_response(bhttp::status::conflict,
                         json::object{{"error", r.error}, {"generation", static_cast<std::int64_t>(r.generation)}});
  if (r.outcome == Outcome::not_held) return error(bhttp::status::conflict, r.error);
  return std::nullopt;
}

// The answer to PUT weights on a fleet node once etcd and the nodes answered: 503 when etcd is
// unreachable, 409 when the stored generation is not `if_generation` or another node won the race.
// The route's runtime state changed through the node's Apply (Control::apply_fleet), as on every
// node; the operator's change is audited here, where it was made.
AdminResponse fleet_weights_answer(Control& control, const runtime::Route& route, router::Weights w,
                                   const fleet::ChangeResult& r, const Actor& actor) {
  if (auto refused = fleet_refusal(r, "weights are")) return std::move(*refused);
  control.metrics().fleet_apply_seconds.Add({}, stats::Metrics::duration_buckets()).Observe(r.waited.count());
  json::object entry{{"action", "set_weights"},
                     {"route", route.name},
                     {"after", weights_json(w)},
                     {"generation", static_cast<std::int64_t>(r.generation)},
                     {"fleet_revision", r.revision}};
  actor.stamp(entry);
  control.audit().append(std::move(entry));
  auto state = route_state(route, control);
  state["fleet"] = fleet_json(r);
  return json_response(bhttp::status::ok, state);
}

// The answer to a rollback on a fleet node (applied here already): written to etcd for the other
// nodes, or kept as a local override while etcd is unreachable.
AdminResponse fleet_rollback_answer(Control& control, const runtime::Route& route, const fleet::ChangeResult& r) {
  auto state = route_state(route, control);
  if (r.outcome == fleet::ChangeResult::Outcome::applied) {
    control.metrics().fleet_apply_seconds.Add({}, stats::Metrics::duration_buckets()).Observe(r.waited.count());
    state["fleet"] = fleet_json(r);
  } else {
    state["fleet"] = json::object{{"local_override", true}, {"error", r.error}};
  }
  return json_response(bhttp::status::ok, state);
}

// The waits of a fleet change, on the admin thread. `snap` keeps `route` alive. (The answers are
// built outside the coroutines: GCC rejects braced JSON initializer lists inside one.)
boost::asio::awaitable<AdminResponse> fleet_set_weights(Control& control, std::shared_ptr<const runtime::Snapshot> snap,
                                                        const runtime::Route* route, router::Weights w,
                                                        std::optional<std::uint64_t> if_generation, Actor actor) {
  auto r = co_await control.fleet()->change(route->name, w.read_bp, w.write_bp, if_generation,
                                            route->runtime->generation);
  co_return fleet_weights_answer(control, *route, w, r, actor);
}

boost::asio::awaitable<AdminResponse> fleet_rollback(Control& control, std::shared_ptr<const runtime::Snapshot> snap,
                                                     const runtime::Route* route) {
  auto r = co_await control.fleet()->override_weights(route->name, 0, 0, route->runtime->generation);
  co_return fleet_rollback_answer(control, *route, r);
}

AdminResponse prometheus_start_refusal(std::size_t index, const PrometheusValue& v) {
  return error(bhttp::status::unprocessable_entity, prometheus_start_error(index, v));
}

// A ramp start that waits: each Prometheus gate's query runs once first (a query that answers no
// number is a 422 naming it), and in a fleet the ramp is written to etcd.
boost::asio::awaitable<AdminResponse> checked_ramp_start(Control& control, std::shared_ptr<const runtime::Snapshot> snap,
                                                         const runtime::Route* route, RampSpec spec, Actor actor) {
  for (std::size_t i = 0; i < spec.prometheus.size(); ++i) {
    auto v = co_await query_prometheus_once(control.io(), spec.prometheus[i]);
    if (!v.value) co_return prometheus_start_refusal(i, v);
  }
  if (control.ramps().in_fleet()) {
    auto a = co_await control.ramps().fleet_start(snap, route, std::move(spec), std::move(actor));
    co_return json_response(a.status, a.body);
  }
  auto a = control.ramps().start(*route, std::move(spec), actor);
  co_return json_response(a.status, a.body);
}

// A ramp action on a fleet node: written to etcd (RampController::fleet_action).
boost::asio::awaitable<AdminResponse> fleet_ramp_action(Control& control, std::shared_ptr<const runtime::Snapshot> snap,
                                                        const runtime::Route* route, std::string action, Actor actor) {
  auto a = co_await control.ramps().fleet_action(snap, route, std::move(action), std::move(actor));
  co_return json_response(a.status, a.body);
}

// The answer to a fleet-wide hold: the route's state here, "drained" when every live node
// drained, and per node what was in flight when it raised the hold and what still is.
AdminResponse fleet_hold_answer(Control& control, const runtime::Route& route, const fleet::ChangeResult& r,
                                const std::map<std::string, fleet::DrainReport>& drains, const Actor& actor) {
  if (auto refused = fleet_refusal(r, "write holds are")) return std::move(*refused);
  control.metrics().fleet_apply_seconds.Add({}, stats::Metrics::duration_buckets()).Observe(r.waited.count());
  if (!r.already_held) {
    json::object entry{{"action", "hold"},
                       {"route", route.name},
                       {"generation", static_cast<std::int64_t>(r.generation)},
                       {"writes_held", true},
                       {"fleet_revision", r.revision}};
    actor.stamp(entry);
    control.audit().append(std::move(entry));
  }
  json::object nodes;
  bool all = true;
  std::int64_t at_hold = 0, remaining = 0;
  for (const auto& [name, d] : drains) {
    nodes[name] = {{"reported", d.reported},
                   {"in_flight_at_hold", d.in_flight_at_hold},
                   {"in_flight_remaining", d.in_flight_remaining},
                   {"drained", d.drained}};
    all = all && d.drained;
    at_hold += d.in_flight_at_hold;
    remaining += d.in_flight_remaining;
  }
  auto state = route_state(route, control);
  state["in_flight_at_hold"] = at_hold;
  state["in_flight_remaining"] = remaining;
  state["drained"] = all;
  auto fleet = fleet_json(r);
  fleet["hold_revision"] = r.hold_revision;
  fleet["nodes"] = std::move(nodes);
  state["fleet"] = std::move(fleet);
  return json_response(bhttp::status::ok, state);
}

// The answer to a fleet-wide release; "released" counts the writes this node held.
AdminResponse fleet_release_answer(Control& control, const runtime::Route& route, const fleet::ChangeResult& r,
                                   std::uint32_t released, router::Weights before, const Actor& actor) {
  if (auto refused = fleet_refusal(r, "write holds are")) return std::move(*refused);
  control.metrics().fleet_apply_seconds.Add({}, stats::Metrics::duration_buckets()).Observe(r.waited.count());
  json::object entry{{"action", "release"},
                     {"route", route.name},
                     {"before", weights_json(before)},
                     {"after", weights_json(route.runtime->weights())},
                     {"generation", static_cast<std::int64_t>(r.generation)},
                     {"writes_held", false},
                     {"released", released},
                     {"fleet_revision", r.revision}};
  actor.stamp(entry);
  control.audit().append(std::move(entry));
  auto state = route_state(route, control);
  state["released"] = released;
  state["fleet"] = fleet_json(r);
  return json_response(bhttp::status::ok, state);
}

boost::asio::awaitable<AdminResponse> fleet_hold(Control& control, std::shared_ptr<const runtime::Snapshot> snap,
                                                 const runtime::Route* route, std::optional<std::uint64_t> if_generation,
                                                 std::chrono::steady_clock::time_point drain_deadline, Actor actor) {
  auto* node = control.fleet();
  const auto w = route->runtime->weights();
  auto r = co_await node->hold(route->name, w.read_bp, w.write_bp, if_generation, route->runtime->generation);
  std::map<std::string, fleet::DrainReport> drains;
  if (r.outcome == fleet::ChangeResult::Outcome::applied)
    drains = co_await node->wait_drained(route->name, r.hold_revision, drain_deadline);
  co_return fleet_hold_answer(control, *route, r, drains, actor);
}

boost::asio::awaitable<AdminResponse> fleet_release(Control& control, std::shared_ptr<const runtime::Snapshot> snap,
                                                    const runtime::Route* route,
                                                    std::optional<std::uint16_t> write_bp,
                                                    std::optional<std::uint64_t> if_generation, Actor actor,
                                                    std::optional<router::Side> close_side,
                                                    std::chrono::milliseconds grace) {
  const auto before = route->runtime->weights();
  const auto held = route->runtime->held_requests.load();
  auto r = co_await control.fleet()->release(route->name, write_bp, if_generation, route->runtime->generation);
  if (close_side && r.outcome == fleet::ChangeResult::Outcome::applied)
    control.close_connections(*route, *close_side, grace);
  co_return fleet_release_answer(control, *route, r, held, before, actor);
}

// One route's part of a fleet segments or maintenance change: the setting's text for etcd and
// the audit entry's action and fields.
struct SafetyChange {
  const runtime::Route* route = nullptr;
  std::string value;
  std::string action;
  json::object audit;
};

std::vector<fleet::SettingChange> setting_changes(fleet::Node& node, fleet::Setting setting,
                                                  const std::vector<SafetyChange>& changes) {
  std::vector<fleet::SettingChange> out;
  for (const auto& c : changes) {
    const auto& rt = *c.route->runtime;
    const auto w = rt.weights();
    out.push_back({c.route->name, setting, c.value,
                   fleet::RouteValue{w.read_bp, w.write_bp, rt.generation, node.options().node, rt.writes_held(), 0}});
  }
  return out;
}

// The answer to a segments or maintenance change on a fleet node, once etcd and the nodes
// answered: 503 naming etcd (nothing changed), 409 for a lost race or another generation;
// else the change was applied here through the node (Control::apply_fleet_setting) and is
// audited here, once per route, as weight changes are. `all`: PUT/DELETE /v1/maintenance.
AdminResponse fleet_safety_answer(Control& control, const runtime::Snapshot& snap, fleet::Setting setting,
                                  const std::vector<SafetyChange>& changes, bool all, const fleet::ChangeResult& r,
                                  const Actor& actor) {
  if (auto refused = fleet_refusal(r, setting == fleet::Setting::segments ? "segments are" : "maintenance is"))
    return std::move(*refused);
  control.metrics().fleet_apply_seconds.Add({}, stats::Metrics::duration_buckets()).Observe(r.waited.count());
  for (const auto& c : changes) {
    json::object entry{{"action", c.action},
                       {"route", c.route->name},
                       {"generation", static_cast<std::int64_t>(c.route->runtime->generation)},
                       {"fleet_revision", r.revision}};
    actor.stamp(entry);
    for (const auto& kv : c.audit) entry[kv.key()] = kv.value();
    control.audit().append(std::move(entry));
  }
  json::object body;
  if (all) {
    json::array routes;
    for (const auto& route : snap.routes)
      if (!route.tcp_metrics) routes.push_back(maintenance_view(route));
    body["routes"] = std::move(routes);
  } else if (setting == fleet::Setting::segments) {
    body = segments_view(*changes.front().route);
  } else {
    body = maintenance_view(*changes.front().route);
  }
  body["fleet"] = fleet_json(r);
  return json_response(bhttp::status::ok, body);
}

boost::asio::awaitable<AdminResponse> fleet_set_safety(Control& control, std::shared_ptr<const runtime::Snapshot> snap,
                                                       fleet::Setting setting, std::vector<SafetyChange> changes,
                                                       bool all, std::optional<std::uint64_t> if_generation,
                                                       Actor actor) {
  auto r = co_await control.fleet()->change_settings(setting_changes(*control.fleet(), setting, changes),
                                                     if_generation);
  co_return fleet_safety_answer(control, *snap, setting, changes, all, r, actor);
}

class Router {
 public:
  Router(const AdminRequest& req, Control& control, std::string_view client) : req_(req), control_(control) {
    actor_.name = "anonymous";
    actor_.client = client;
  }

  // The admin API: each endpoint's method and path template with its handler. Handlers find the
  // request's URL in url_, and for a "{route}" template the route in route_ (from snap_).
  using Handler = AdminResponse (Router::*)();
  struct Endpoint {
    EndpointKey key;
    Handler handler;
  };
  static std::span<const Endpoint> endpoints();

  // Selects the endpoint, then answers: 400 for a target that is no origin-form URL; 404 "no
  // route named" for an unknown {route} (before anything else about the path); 404 "no such
  // endpoint"; 405 with Allow; 401 for a change without a valid token (when tokens are enabled).
  AdminResponse route() {
    auto url = boost::urls::parse_origin_form(req_.target());
    if (!url) return error(bhttp::status::bad_request, "invalid request target");
    url_ = *url;
    std::vector<std::string> seg;
    for (auto s : url->segments()) seg.push_back(s);

    for (const auto& e : endpoints()) {
      auto name = scoped_param(e.key.path, seg, "route");
      if (!name) continue;
      snap_ = control_.snapshot();
      route_ = snap_->find_route(*name);
      if (!route_) return error(bhttp::status::not_found, fmt::format("no route named '{}'", *name));
      break;
    }
    auto chosen = select_endpoint(endpoints(), req_.method(), seg);
    if (!chosen.entry && chosen.allowed.empty()) return error(bhttp::status::not_found, "no such endpoint");
    if (!chosen.entry) {
      std::string methods;
      for (std::size_t i = 0; i < chosen.allowed.size(); ++i)
        methods += fmt::format("{}{}", i == 0 ? "" : " or ", std::string_view(bhttp::to_string(chosen.allowed[i])));
      auto res = error(bhttp::status::method_not_allowed, "use " + methods);
      res.set(bhttp::field::allow, allow_value(chosen.allowed));
      return res;
    }
    if (req_.method() != bhttp::verb::get && control_.tokens().enabled()) {
      auto who = control_.tokens().authenticate(req_[bhttp::field::authorization]);
      if (!who) {
        auto res = error(bhttp::status::unauthorized, "a valid 'Authorization: Bearer <token>' is required");
        res.set(bhttp::field::www_authenticate, "Bearer");
        return res;
      }
      if (who->read_only) return error(bhttp::status::forbidden, fmt::format("token '{}' is read-only", who->name));
      actor_.name = who->name;
    }
    if (req_.method() != bhttp::verb::get && control_.frozen()) {
      // A binary upgrade: the new process serves this address in a moment and takes the change.
      auto res = error(bhttp::status::service_unavailable,
                       "this process is handing over to a new one (binary upgrade); retry in a second");
      res.set(bhttp::field::retry_after, "1");
      return res;
    }
    return (this->*chosen.entry->handler)();
  }

  AdminReply take_reply(AdminResponse res) {
    reply_.response = std::move(res);
    return std::move(reply_);
  }

 private:
  AdminResponse ok_status(std::string_view s) { return json_response(bhttp::status::ok, json::object{{"status", s}}); }

  // check_body(), then takes the optional "reason" (a string of at most Actor::kMaxReasonBytes)
  // into the actor, for the audit entry.
  std::optional<AdminResponse> check_fields(const json::object& body, std::initializer_list<std::string_view> allowed,
                                            const runtime::Route& route) {
    if (auto bad = check_body(body, allowed, route)) return bad;
    return take_reason(body);
  }
  std::optional<AdminResponse> take_reason(const json::object& body) {
    auto* r = body.if_contains("reason");
    if (!r) return std::nullopt;
    if (!r->is_string() || r->as_string().size() > Actor::kMaxReasonBytes)
      return error(bhttp::status::unprocessable_entity,
                   fmt::format("reason must be a string of at most {} bytes", Actor::kMaxReasonBytes));
    actor_.reason = r->as_string();
    return std::nullopt;
  }

  // On a fleet node if_generation is compared with the generation etcd stores, in the write: it
  // moves from `body` to `out`. Elsewhere it stays for check_body().
  std::optional<AdminResponse> take_fleet_if_generation(json::object& body, std::optional<std::uint64_t>& out) {
    if (!control_.fleet()) return std::nullopt;
    if (auto* g = body.if_contains("if_generation")) {
      auto expected = common::json_int(*g, 0);
      if (!expected) return error(bhttp::status::unprocessable_entity, "if_generation must be a non-negative integer");
      out = static_cast<std::uint64_t>(*expected);
      body.erase("if_generation");
    }
    return std::nullopt;
  }

  AdminResponse healthz() { return ok_status("ok"); }

  AdminResponse readyz() {
    return control_.ready() ? ok_status("ready")
                            : json_response(bhttp::status::service_unavailable, json::object{{"status", "starting"}});
  }

  AdminResponse metrics() {
    AdminResponse res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    if (const auto& log = control_.snapshot()->mismatch_log)  // read from its writer at scrape time
      control_.metrics().mirror_log_dropped.Add({}).Set(static_cast<double>(log->dropped()));
    res.body() = control_.metrics().serialize();
    return res;
  }

  // GET /v1/openapi.yaml: docs/admin-api.openapi.yaml as built in.
  AdminResponse openapi() {
    AdminResponse res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "application/yaml");
    res.body() = openapi_yaml();
    return res;
  }

  AdminResponse audit() {
    std::size_t limit = 100;
    auto it = url_.params().find("limit");
    if (it != url_.params().end()) {
      auto v = (*it).value;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), limit);
      if (ec != std::errc{} || p != v.data() + v.size() || limit == 0 || limit > 1000)
        return error(bhttp::status::bad_request, "limit must be an integer 1..1000");
    }
    if (auto* node = control_.fleet()) {  // fleet-wide: every node's entries, through etcd
      json::array entries;
      for (const auto& text : node->audit_entries(limit)) {
        boost::system::error_code ec;
        auto v = json::parse(text, ec);
        if (!ec && v.is_object()) entries.push_back(std::move(v));
      }
      return json_response(bhttp::status::ok, json::object{{"entries", std::move(entries)}});
    }
    return json_response(bhttp::status::ok, json::object{{"entries", control_.audit().newest(limit)}});
  }

  AdminResponse shadow() {
    auto snap = control_.snapshot();
    std::string only_route;
    auto it = url_.params().find("route");
    if (it != url_.params().end()) only_route = (*it).value;
    json::array routes;
    for (const auto& r : snap->routes)
      if (only_route.empty() || r.name == only_route) routes.push_back(shadow_state(r));
    if (!only_route.empty() && routes.empty())
      return error(bhttp::status::not_found, fmt::format("no route named '{}'", only_route));
    return json_response(bhttp::status::ok, json::object{{"routes", std::move(routes)}});
  }

  // POST /v1/logs/reopen: as SIGUSR1. 200 {"reopened": [file, ...]}.
  AdminResponse logs_reopen() {
    json::array files;
    for (const auto& p : control_.reopen_logs()) files.emplace_back(p);
    return json_response(bhttp::status::ok, json::object{{"reopened", std::move(files)}});
  }

  // GET /v1/fleet: this node, etcd's reachability, the live nodes and their applied revisions,
  // and the local overrides not yet in etcd. 404 on a node without `fleet`.
  AdminResponse fleet_status() {
    auto* node = control_.fleet();
    if (!node) return error(bhttp::status::not_found, "this node is not in a fleet (its config has no 'fleet')");
    auto s = node->status();
    json::array nodes, overrides;
    for (const auto& n : s.nodes) nodes.push_back(json::object{{"node", n.node}, {"applied_revision", n.applied_revision}});
    for (const auto& [route, v] : s.overrides) {
      json::object o{{"route", route}};
      for (auto& kv : weights_json({v.read_bp, v.write_bp})) o[kv.key()] = kv.value();
      overrides.push_back(std::move(o));
    }
    json::object etcd{{"up", s.etcd_up}};
    if (!s.etcd_up) etcd["error"] = s.etcd_error;
    return json_response(bhttp::status::ok, json::object{{"node", s.node},
                                                          {"etcd", std::move(etcd)},
                                                          {"applied_revision", s.applied_revision},
                                                          {"leader", control_.ramps().fleet_leader()},
                                                          {"nodes", std::move(nodes)},
                                                          {"local_overrides", std::move(overrides)}});
  }

  AdminResponse list_routes() {
    auto snap = control_.snapshot();
    json::array routes;
    for (const auto& r : snap->routes) routes.push_back(route_state(r, control_));
    return json_response(bhttp::status::ok, json::object{{"routes", std::move(routes)}});
  }

  AdminResponse get_route() { return json_response(bhttp::status::ok, route_state(*route_, control_)); }

  AdminResponse put_weights() {
    const auto& route = *route_;
    std::optional<AdminResponse> fail;
    auto body = body_object(req_, fail);
    if (!body) return std::move(*fail);
    std::optional<std::uint64_t> if_generation;
    if (auto bad = take_fleet_if_generation(*body, if_generation)) return std::move(*bad);
    if (auto bad = check_fields(*body, {"weight", "read_weight", "write_weight"}, route)) return std::move(*bad);
    if (control_.ramps().running(route.name))
      return error(bhttp::status::conflict,
                   fmt::format("a ramp is running on route '{}'; pause or abort it before setting weights by hand",
                               route.name));
    auto* both = body->if_contains("weight");
    auto* read = body->if_contains("read_weight");
    auto* write = body->if_contains("write_weight");
    if (both && (read || write))
      return error(bhttp::status::unprocessable_entity, "give either 'weight' or 'read_weight'/'write_weight'");
    if (route.tcp_metrics && (read || write))  // a connection has no methods: one weight (tcp_session.hpp)
      return error(bhttp::status::unprocessable_entity,
                   fmt::format("route '{}' is a tcp route: set 'weight', not 'read_weight'/'write_weight'", route.name));
    if (!both && !read && !write)
      return error(bhttp::status::unprocessable_entity, "expected 'weight' or 'read_weight'/'write_weight'");
    auto w = route.runtime->weights();
    for (auto [v, name] : {std::pair{both, "weight"}, {read, "read_weight"}, {write, "write_weight"}}) {
      if (!v) continue;
      auto bp = weight_value(*v);
      if (!bp)
        return error(bhttp::status::unprocessable_entity,
                     fmt::format("{} must be a number from 0 to 100 in steps of 0.01", name));
      if (v == both || v == read) w.read_bp = *bp;
      if (v == both || v == write) w.write_bp = *bp;
    }
    if (control_.fleet()) {
      reply_.deferred = [c = &control_, snap = snap_, r = &route, w, if_generation, actor = actor_] {
        return fleet_set_weights(*c, snap, r, w, if_generation, actor);
      };
      return error(bhttp::status::internal_server_error, "a fleet change is answered by the admin server");
    }
    control_.change_weights(route, w, "set_weights", actor_);
    return json_response(bhttp::status::ok, route_state(route, control_));
  }

  AdminResponse hold() {
    const auto& route = *route_;
    std::optional<AdminResponse> fail;
    auto body = body_object(req_, fail);
    if (!body) return std::move(*fail);
    std::optional<std::uint64_t> if_generation;
    if (auto bad = take_fleet_if_generation(*body, if_generation)) return std::move(*bad);
    if (auto bad = check_fields(*body, {"drain"}, route)) return std::move(*bad);
    // How long the answer waits for the writes in flight to finish (the documented default is
    // 10 s); the hold itself starts at once either way.
    double drain_s = 10;
    if (auto* d = body->if_contains("drain")) {
      std::optional<double> v = common::json_number(*d);
      if (d->is_string())
        if (auto ms = config::parse_duration(std::string_view(d->as_string()))) v = ms->count() / 1000.0;
      if (!v || *v < 0 || *v > 3600)
        return error(bhttp::status::unprocessable_entity, "drain must be seconds (0..3600) or a duration like \"10s\"");
      drain_s = *v;
    }
    const auto drain_deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(drain_s * 1000));
    if (control_.fleet()) {  // every node holds; the answer waits for every node's drain
      reply_.deferred = [c = &control_, snap = snap_, r = &route, if_generation, drain_deadline, actor = actor_] {
        return fleet_hold(*c, snap, r, if_generation, drain_deadline, actor);
      };
      return error(bhttp::status::internal_server_error, "a fleet change is answered by the admin server");
    }
    bool already = route.runtime->writes_held();
    if (!already) control_.commit(route, route.runtime->weights(), true, "hold", actor_);
    reply_.snapshot = snap_;
    reply_.control = &control_;
    reply_.drain_route = &route;
    reply_.drain_deadline = drain_deadline;
    reply_.in_flight_at_hold = route.runtime->writes_in_flight.load();
    return json_response(bhttp::status::ok, route_state(route, control_));
  }

  AdminResponse release() {
    const auto& route = *route_;
    std::optional<AdminResponse> fail;
    auto body = body_object(req_, fail);
    if (!body) return std::move(*fail);
    std::optional<std::uint64_t> if_generation;
    if (auto bad = take_fleet_if_generation(*body, if_generation)) return std::move(*bad);
    if (auto bad = check_fields(*body, {"write_weight", "close_tunnels", "grace"}, route)) return std::move(*bad);
    auto w = route.runtime->weights();
    std::optional<std::uint16_t> write_bp;
    if (auto* v = body->if_contains("write_weight")) {
      write_bp = weight_value(*v);
      if (!write_bp)
        return error(bhttp::status::unprocessable_entity, "write_weight must be a number from 0 to 100 in steps of 0.01");
      w.write_bp = *write_bp;
    }
    // "close_tunnels": the side that lost the writes; its upgrade tunnels still open would carry
    // writes there, so they end (after "grace") and their clients reconnect by the new weights.
    std::optional<router::Side> close_side;
    if (auto* c = body->if_contains("close_tunnels")) {
      if (c->is_string()) close_side = router::parse_side(std::string_view(c->as_string()));
      if (!close_side)
        return error(bhttp::status::unprocessable_entity, "close_tunnels must be \"source\" or \"target\"");
    }
    auto grace = grace_value(*body, close_side.has_value(), "\"close_tunnels\"", fail);
    if (!grace) return std::move(*fail);
    if (control_.fleet()) {
      // Every node releases once etcd has the release; with etcd unreachable nothing is released
      // anywhere (503): a release reaching one node would send its writes to the new primary
      // while the others may later release elsewhere. A rollback is the way out then.
      // close_tunnels closes this node's tunnels (the others' are theirs to close).
      reply_.deferred = [c = &control_, snap = snap_, r = &route, write_bp, if_generation, actor = actor_, close_side,
                         grace = *grace] {
        return fleet_release(*c, snap, r, write_bp, if_generation, actor, close_side, grace);
      };
      return error(bhttp::status::internal_server_error, "a fleet change is answered by the admin server");
    }
    if (!route.runtime->writes_held()) return error(bhttp::status::conflict, "writes are not held on this route");
    json::object extra;
    if (close_side) {
      extra["close_tunnels"] = router::name(*close_side);
      extra["grace_ms"] = static_cast<std::int64_t>(grace->count());
    }
    auto released = control_.commit(route, w, false, "release", actor_, std::move(extra));
    std::int64_t closing = 0;
    if (close_side) {
      closing = route.runtime->tunnels_open[static_cast<int>(*close_side)].load();
      control_.close_connections(route, *close_side, *grace);
    }
    auto state = route_state(route, control_);
    state["released"] = released;
    if (close_side) state["tunnels_closing"] = closing;
    return json_response(bhttp::status::ok, state);
  }

  AdminResponse rollback() {
    const auto& route = *route_;
    std::optional<AdminResponse> fail;
    auto body = body_object(req_, fail);
    if (!body) return std::move(*fail);
    if (auto bad = check_fields(*body, {"close_target_connections", "grace"}, route)) return std::move(*bad);
    bool close_target = false;
    if (auto* c = body->if_contains("close_target_connections")) {
      if (!c->is_bool()) return error(bhttp::status::unprocessable_entity, "close_target_connections must be a boolean");
      close_target = c->as_bool();
    }
    // "grace": how long open target connections (tcp routes) and tunnels may go on before they close.
    auto grace = grace_value(*body, close_target, "\"close_target_connections\": true", fail);
    if (!grace) return std::move(*fail);
    // A running ramp ends (aborted) first, so no tick moves the weights up again.
    control_.ramps().on_manual_rollback(route.name, actor_);
    // Held writes are released too, to source: the weights are 0 before any of them moves.
    json::object extra{{"close_target_connections", close_target}};
    if (close_target) extra["grace_ms"] = static_cast<std::int64_t>(grace->count());
    control_.commit(route, {0, 0}, false, "rollback", actor_, std::move(extra));
    if (close_target) {
      control_.close_pooled_connections(route.cluster(router::Side::target));
      control_.close_connections(route, router::Side::target, *grace);
    }
    if (control_.fleet())
      reply_.deferred = [c = &control_, snap = snap_, r = &route] { return fleet_rollback(*c, snap, r); };
    return json_response(bhttp::status::ok, route_state(route, control_));
  }

  // POST /v1/config/reload: as SIGHUP. 200 {"result": "success", "routes": N, "warnings": [...],
  // "routes_added", "routes_removed", "ramps_aborted"}; 422 {"result": "failure", "error": the
  // first problem, "errors": every "FILE:LINE:COL: message"} with the running config unchanged.
  AdminResponse reload() {
    std::optional<AdminResponse> fail;
    auto body = body_object(req_, fail);
    if (!body) return std::move(*fail);
    for (const auto& kv : *body)
      if (kv.key() != "reason")
        return error(bhttp::status::unprocessable_entity,
                     fmt::format("unknown field '{}'; the reload takes only a 'reason'", std::string_view(kv.key())));
    if (auto bad = take_reason(*body)) return std::move(*bad);
    auto out = control_.reload(actor_);
    auto strings = [](const std::vector<std::string>& v) {
      json::array a;
      for (const auto& s : v) a.emplace_back(s);
      return a;
    };
    if (!out.ok)
      return json_response(bhttp::status::unprocessable_entity,
                           json::object{{"result", "failure"},
                                        {"error", out.errors.empty() ? std::string("config reload failed")
                                                                     : "config reload failed: " + out.errors.front()},
                                        {"errors", strings(out.errors)},
                                        {"warnings", strings(out.warnings)}});
    return json_response(bhttp::status::ok, json::object{{"result", "success"},
                                                          {"routes", out.routes},
                                                          {"warnings", strings(out.warnings)},
                                                          {"routes_added", strings(out.routes_added)},
                                                          {"routes_removed", strings(out.routes_removed)},
                                                          {"ramps_aborted", strings(out.ramps_aborted)}});
  }

  AdminResponse ramp_view() {
    const auto& route = *route_;
    auto v = control_.ramps().view(route.name);
    if (!v) return error(bhttp::status::not_found, fmt::format("no ramp on route '{}'", route.name));
    return json_response(bhttp::status::ok, *v);
  }

  AdminResponse start_ramp() {
    const auto& route = *route_;
    std::optional<AdminResponse> fail;
    auto body = body_object(req_, fail);
    if (!body) return std::move(*fail);
    if (auto bad = check_fields(*body, {"steps", "interval", "apply_to", "gates", "max_wait", "webhook", "hooks", "dry_run"},
                                route))
      return std::move(*bad);
    std::string problem;
    auto spec = parse_ramp_spec(*body, problem);
    if (!spec) return error(bhttp::status::unprocessable_entity, problem);
    if (route.tcp_metrics && spec->apply_to != ApplyTo::both)
      return error(bhttp::status::unprocessable_entity,
                   fmt::format("route '{}' is a tcp route: a ramp applies to both weights (\"apply_to\": \"both\")",
                               route.name));
    if (control_.ramps().in_fleet() || !spec->prometheus.empty()) {
      // Answered once etcd took the ramp, or once every Prometheus query answered a number.
      reply_.deferred = [c = &control_, snap = snap_, r = &route, spec = std::move(*spec), actor = actor_] {
        return checked_ramp_start(*c, snap, r, spec, actor);
      };
      return error(bhttp::status::internal_server_error, "a deferred change is answered by the admin server");
    }
    auto answer = control_.ramps().start(route, std::move(*spec), actor_);
    return json_response(answer.status, answer.body);
  }

  AdminResponse ramp_pause() { return ramp_action("pause"); }
  AdminResponse ramp_resume() { return ramp_action("resume"); }
  AdminResponse ramp_abort() { return ramp_action("abort"); }
  AdminResponse ramp_approve() { return ramp_action("approve"); }
  AdminResponse ramp_action(std::string_view action) {
    const auto& route = *route_;
    std::optional<AdminResponse> fail;
    auto body = body_object(req_, fail);
    if (!body) return std::move(*fail);
    if (auto bad = check_fields(*body, {}, route)) return std::move(*bad);
    if (control_.ramps().in_fleet()) {
      reply_.deferred = [c = &control_, snap = snap_, r = &route, a = std::string(action), actor = actor_] {
        return fleet_ramp_action(*c, snap, r, a, actor);
      };
      return error(bhttp::status::internal_server_error, "a fleet change is answered by the admin server");
    }
    auto& ramps = control_.ramps();
    auto answer = action == "pause"     ? ramps.pause(route, actor_)
                  : action == "resume"  ? ramps.resume(route, actor_)
                  : action == "approve" ? ramps.approve(route, actor_)
                                        : ramps.abort(route, actor_);
    return json_response(answer.status, answer.body);
  }

  // Segments and maintenance (safety_api.hpp).
  AdminResponse get_segments() { return json_response(bhttp::status::ok, segments_view(*route_)); }
  AdminResponse put_segments() {
    std::optional<AdminResponse> fail;
    auto body = body_object(req_, fail);
    if (!body) return std::move(*fail);
    std::optional<std::uint64_t> if_generation;
    if (auto bad = take_fleet_if_generation(*body, if_generation)) return std::move(*bad);
    if (auto bad = check_fields(*body, {"segments"}, *route_)) return std::move(*bad);
    if (control_.fleet()) {  // written to etcd, applied on every node
      SafetyAnswer refused;
      auto parsed = segments_from_body(*route_, *body, refused);
      if (!parsed) return json_response(refused.status, refused.body);
      SafetyChange c{route_, setting_text(*parsed), "set_segments",
                     segments_audit(route_->runtime->safety.segment_configs().size(), *parsed)};
      if (auto big = over_etcd_bound("segments", c.value.size())) return std::move(*big);
      return defer_safety(fleet::Setting::segments, {std::move(c)}, false, if_generation);
    }
    auto answer = admin::put_segments(control_, *route_, *body, actor_);
    return json_response(answer.status, answer.body);
  }
  // 422 for a setting a fleet cannot store in etcd (fleet::Node::kMaxSettingBytes).
  static std::optional<AdminResponse> over_etcd_bound(std::string_view what, std::size_t bytes) {
    if (bytes <= fleet::Node::kMaxSettingBytes) return std::nullopt;
    return error(bhttp::status::unprocessable_entity,
                 fmt::format("{}: {} bytes as JSON; a fleet shares them through etcd, which takes at most {} bytes "
                             "per route (etcd's request limit)",
                             what, bytes, fleet::Node::kMaxSettingBytes));
  }
  AdminResponse defer_safety(fleet::Setting setting, std::vector<SafetyChange> changes, bool all,
                             std::optional<std::uint64_t> if_generation) {
    reply_.deferred = [c = &control_, snap = snap_ ? snap_ : control_.snapshot(), setting,
                       changes = std::move(changes), all, if_generation, actor = actor_] {
      return fleet_set_safety(*c, snap, setting, changes, all, if_generation, actor);
    };
    return error(bhttp::status::internal_server_error, "a fleet change is answered by the admin server");
  }
  AdminResponse put_maintenance() { return maintenance(route_, true); }
  AdminResponse end_maintenance() { return maintenance(route_, false); }
  AdminResponse put_maintenance_all() { return maintenance(nullptr, true); }
  AdminResponse end_maintenance_all() { return maintenance(nullptr, false); }
  AdminResponse maintenance(const runtime::Route* route, bool on) {
    std::optional<AdminResponse> fail;
    auto body = body_object(req_, fail);
    if (!body) return std::move(*fail);
    std::optional<std::uint64_t> if_generation;
    if (route)
      if (auto bad = take_fleet_if_generation(*body, if_generation)) return std::move(*bad);
    if (route) {
      auto bad = on ? check_fields(*body, {"status", "retry_after", "body", "body_file", "content_type"}, *route)
                    : check_fields(*body, {}, *route);
      if (bad) return std::move(*bad);
    } else {
      if (body->contains("if_generation"))
        return error(bhttp::status::unprocessable_entity, "if_generation: not taken for every route at once");
      if (auto bad = take_reason(*body)) return std::move(*bad);
      if (!on && !body->empty() && !(body->size() == 1 && body->contains("reason")))
        return error(bhttp::status::unprocessable_entity, "unknown field: ending maintenance takes only a 'reason'");
    }
    std::optional<runtime::Maintenance> m;
    if (on) {
      std::string problem;
      m = parse_maintenance(*body, problem);
      if (!m) return error(bhttp::status::unprocessable_entity, problem);
    }
    if (control_.fleet()) return fleet_maintenance(route, m, if_generation);
    auto answer = route ? set_maintenance(control_, *route, std::move(m), actor_)
                        : set_maintenance_all(control_, std::move(m), actor_);
    return json_response(answer.status, answer.body);
  }

  // Maintenance on a fleet node: written to etcd for `route` (null: every HTTP route; for an end,
  // those in maintenance here), applied on every node.
  AdminResponse fleet_maintenance(const runtime::Route* route, const std::optional<runtime::Maintenance>& m,
                                  std::optional<std::uint64_t> if_generation) {
    if (route && !m && !route->runtime->safety.maintenance())
      return error(bhttp::status::conflict, fmt::format("route '{}' is not in maintenance", route->name));
    auto value = setting_text(m ? &*m : nullptr);
    if (auto big = over_etcd_bound("maintenance", value.size())) return std::move(*big);
    if (!snap_) snap_ = control_.snapshot();
    std::vector<SafetyChange> changes;
    for (const auto& r : snap_->routes) {
      if (route ? &r != route : r.tcp_metrics || (!m && !r.runtime->safety.maintenance())) continue;
      changes.push_back({&r, value, m ? "maintenance_on" : "maintenance_off",
                         m ? maintenance_audit(*m) : json::object{}});
    }
    return defer_safety(fleet::Setting::maintenance, std::move(changes), route == nullptr, if_generation);
  }

  // GET /v1/stats?window=60s[&route=NAME]: per route and side over the last `window` (1s..15m).
  AdminResponse window_stats() {
    const auto& url = url_;
    const auto window = seconds_param("window", 60, 1, stats::SideWindow::kSeconds);
    if (!window) return error(bhttp::status::bad_request, "window must be whole seconds from 1s to 15m (\"60s\", \"5m\" or 60)");
    const std::int64_t window_s = *window;
    std::string only_route;
    if (auto it = url.params().find("route"); it != url.params().end()) only_route = (*it).value;
    const auto now_s = stats::steady_seconds_now();
    auto snap = control_.snapshot();
    json::array routes;
    for (const auto& r : snap->routes) {
      if (!only_route.empty() && r.name != only_route) continue;
      json::object sides;
      stats::WindowSummary target;
      for (auto side : {router::Side::source, router::Side::target}) {
        auto sum = r.runtime->windows.summarize(side, now_s, window_s);
        sides[router::name(side)] = side_stats_json(sum);
        if (side == router::Side::target) target = sum;
      }
      json::object o{{"route", r.name}};
      for (auto& kv : weights_json(r.runtime->weights())) o[kv.key()] = kv.value();
      o["sides"] = std::move(sides);
      const auto compared = target.mirror_match + target.mirror_mismatch;
      o["mirror"] = {{"match", target.mirror_match},
                     {"mismatch", target.mirror_mismatch},
                     {"mismatch_rate", compared ? static_cast<double>(target.mirror_mismatch) / compared : 0.0}};
      routes.push_back(std::move(o));
    }
    if (!only_route.empty() && routes.empty())
      return error(bhttp::status::not_found, fmt::format("no route named '{}'", only_route));
    return json_response(bhttp::status::ok, json::object{{"window_s", window_s}, {"routes", std::move(routes)}});
  }

  // GET /v1/whoami: what the request's bearer token may do (GETs need none, so this tells a
  // caller such as the console whether to offer changes), and whether this node is in a fleet
  // (whether GET /v1/fleet answers).
  AdminResponse whoami() {
    const bool tokens = control_.tokens().enabled();
    json::object o{{"tokens", tokens}, {"fleet", control_.fleet() != nullptr}};
    if (!tokens) {
      o["actor"] = "anonymous";
      o["role"] = "admin";
      o["can_change"] = true;
    } else if (auto who = control_.tokens().authenticate(req_[bhttp::field::authorization])) {
      o["actor"] = who->name;
      o["role"] = who->read_only ? "read" : "admin";
      o["can_change"] = !who->read_only;
    } else {
      o["actor"] = nullptr;
      o["role"] = nullptr;
      o["can_change"] = false;
    }
    return json_response(bhttp::status::ok, o);
  }

  // A whole number of seconds from query parameter `name` ("5s", "15m" or 5) in [lo, hi];
  // `fallback` when absent, nullopt when malformed.
  std::optional<std::int64_t> seconds_param(std::string_view name, std::int64_t fallback, std::int64_t lo,
                                            std::int64_t hi) const {
    auto it = url_.params().find(name);
    if (it == url_.params().end()) return fallback;
    const std::string text = (*it).value;
    auto ms = config::parse_duration(text);
    std::int64_t n = 0;
    if (!ms) {
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec == std::errc{} && p == text.data() + text.size()) ms = std::chrono::seconds(n);
    }
    if (!ms || ms->count() % 1000 != 0 || ms->count() / 1000 < lo || ms->count() / 1000 > hi) return std::nullopt;
    return ms->count() / 1000;
  }

  // GET /v1/stats/series?route=R&window=15m&step=5s: the window statistics of one route cut into
  // steps, oldest first, each side's requests/s, 5xx rate and p50/p99 per step (the console's
  // charts). Complete seconds only: the newest step ends with the last whole second.
  AdminResponse stats_series() {
    auto it = url_.params().find("route");
    if (it == url_.params().end() || (*it).value.empty())
      return error(bhttp::status::bad_request, "route is required (?route=NAME)");
    const std::string name = (*it).value;
    auto snap = control_.snapshot();
    const auto* route = snap->find_route(name);
    if (!route) return error(bhttp::status::not_found, fmt::format("no route named '{}'", name));
    // The ring keeps kSeconds seconds including the current one: the oldest whole step fits in
    // kSeconds - 1.
    const std::int64_t longest = stats::SideWindow::kSeconds - 1;
    auto window_s = seconds_param("window", longest, 1, stats::SideWindow::kSeconds);
    if (!window_s) return error(bhttp::status::bad_request, "window must be whole seconds from 1s to 15m (\"15m\" or 900)");
    window_s = std::min(*window_s, longest);
    auto step_s = seconds_param("step", 5, 1, *window_s);
    if (!step_s) return error(bhttp::status::bad_request, "step must be whole seconds from 1s to the window (\"5s\" or 5)");
    const std::int64_t now_s = stats::steady_seconds_now();
    const std::int64_t wall_now = std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch()).count();
    const std::int64_t points = *window_s / *step_s;
    json::array out;
    for (std::int64_t k = points - 1; k >= 0; --k) {
      const std::int64_t end = now_s - 1 - k * *step_s;  // the step's last second, inclusive
      json::object p{{"t", wall_now - (now_s - end)}};
      for (auto side : {router::Side::source, router::Side::target}) {
        const auto sum = route->runtime->windows.summarize(side, end, *step_s);
        json::object o{{"requests", sum.requests},
                       {"rps", static_cast<double>(sum.requests) / static_cast<double>(*step_s)}};
        if (sum.requests) o["error_rate"] = sum.error_rate(); else o["error_rate"] = nullptr;
        for (auto [key, q] : {std::pair{"p50_ms", 0.5}, {"p99_ms", 0.99}}) {
          if (auto v = sum.percentile_ms(q)) o[key] = *v; else o[key] = nullptr;
        }
        p[router::name(side)] = std::move(o);
      }
      out.push_back(std::move(p));
    }
    return json_response(bhttp::status::ok, json::object{{"route", name}, {"window_s", points * *step_s},
                                                          {"step_s", *step_s}, {"points", std::move(out)}});
  }

  static json::object side_stats_json(const stats::WindowSummary& s) {
    json::object o{{"requests", s.requests},
                   {"errors_5xx", s.errors_5xx},
                   {"error_rate", s.error_rate()},
                   {"connect_errors", s.connect_errors},
                   {"timeouts", s.timeouts}};
    for (auto [key, q] : {std::pair{"p50_ms", 0.5}, {"p90_ms", 0.9}, {"p99_ms", 0.99}}) {
      if (auto v = s.percentile_ms(q))
        o[key] = std::round(*v * 1000) / 1000;
      else
        o[key] = nullptr;
    }
    return o;
  }

  const AdminRequest& req_;
  Control& control_;
  Actor actor_;
  AdminReply reply_;
  boost::urls::url_view url_;
  std::shared_ptr<const runtime::Snapshot> snap_;  // keeps route_ alive
  const runtime::Route* route_ = nullptr;          // the {route} of the path, when it has one
};

std::span<const Router::Endpoint> Router::endpoints() {
  using bhttp::verb;
  static constexpr Endpoint kTable[] = {
      {{verb::get, "/healthz"}, &Router::healthz},
      {{verb::get, "/readyz"}, &Router::readyz},
      {{verb::get, "/metrics"}, &Router::metrics},
      {{verb::get, "/v1/openapi.yaml"}, &Router::openapi},
      {{verb::get, "/v1/audit"}, &Router::audit},
      {{verb::get, "/v1/shadow"}, &Router::shadow},
      {{verb::get, "/v1/stats"}, &Router::window_stats},
      {{verb::get, "/v1/stats/series"}, &Router::stats_series},
      {{verb::get, "/v1/whoami"}, &Router::whoami},
      {{verb::post, "/v1/config/reload"}, &Router::reload},
      {{verb::post, "/v1/logs/reopen"}, &Router::logs_reopen},
      {{verb::get, "/v1/fleet"}, &Router::fleet_status},
      {{verb::get, "/v1/routes"}, &Router::list_routes},
      {{verb::get, "/v1/routes/{route}"}, &Router::get_route},
      {{verb::put, "/v1/routes/{route}/weights"}, &Router::put_weights},
      {{verb::post, "/v1/routes/{route}/rollback"}, &Router::rollback},
      {{verb::post, "/v1/routes/{route}/writes/hold"}, &Router::hold},
      {{verb::post, "/v1/routes/{route}/writes/release"}, &Router::release},
      {{verb::get, "/v1/routes/{route}/ramp"}, &Router::ramp_view},
      {{verb::post, "/v1/routes/{route}/ramp"}, &Router::start_ramp},
      {{verb::post, "/v1/routes/{route}/ramp/pause"}, &Router::ramp_pause},
      {{verb::post, "/v1/routes/{route}/ramp/resume"}, &Router::ramp_resume},
      {{verb::post, "/v1/routes/{route}/ramp/abort"}, &Router::ramp_abort},
      {{verb::post, "/v1/routes/{route}/ramp/approve"}, &Router::ramp_approve},
      {{verb::get, "/v1/routes/{route}/segments"}, &Router::get_segments},
      {{verb::put, "/v1/routes/{route}/segments"}, &Router::put_segments},
      {{verb::put, "/v1/routes/{route}/maintenance"}, &Router::put_maintenance},
      {{verb::delete_, "/v1/routes/{route}/maintenance"}, &Router::end_maintenance},
      {{verb::put, "/v1/maintenance"}, &Router::put_maintenance_all},
      {{verb::delete_, "/v1/maintenance"}, &Router::end_maintenance_all},
  };
  return kTable;
}

}  // namespace

std::vector<EndpointKey> admin_endpoints() {
  std::vector<EndpointKey> out;
  for (const auto& e : Router::endpoints()) out.push_back(e.key);
  return out;
}

AdminReply route_admin_request(const AdminRequest& request, Control& control, std::string_view client) {
  if (auto page = console_response(request)) {
    AdminReply reply;
    reply.response = std::move(*page);
    return reply;
  }
  Router router(request, control, client);
  auto res = router.route();
  return router.take_reply(std::move(res));
}

AdminResponse finish_hold(const AdminReply& pending) {
  const auto& route = *pending.drain_route;
  auto remaining = route.runtime->writes_in_flight.load();
  auto state = route_state(route, *pending.control);
  state["in_flight_at_hold"] = pending.in_flight_at_hold;
  state["in_flight_remaining"] = remaining;
  state["drained"] = remaining == 0;
  return json_response(bhttp::status::ok, state);
}

AdminResponse handle_admin_request(const AdminRequest& request, Control& control, std::string_view client) {
  auto reply = route_admin_request(request, control, client);
  if (reply.drain_route && reply.response.result() == bhttp::status::ok) return finish_hold(reply);
  return std::move(reply.response);
}

}  // namespace cutover::admin
