// Segments and maintenance over the admin API: see safety_api.hpp.
#include "admin/safety_api.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/json_number.hpp"
#include "config/segments.hpp"
#include "config/units.hpp"

namespace cutover::admin {

namespace json = boost::json;
namespace bhttp = boost::beast::http;

namespace {

constexpr std::size_t kMaxMaintenanceBody = 1024 * 1024;
constexpr std::int64_t kMaxRetryAfterS = 24 * 3600;

SafetyAnswer failure(bhttp::status status, std::string message) { return {status, {{"error", std::move(message)}}}; }

std::string now_text() {
  return fmt::format("{:%FT%TZ}", std::chrono::floor<std::chrono::milliseconds>(std::chrono::system_clock::now()));
}

// The maintenance of a state file or etcd value ({status, retry_after_s, content_type, since,
// body}), checked as a PUT body is.
std::optional<runtime::Maintenance> maintenance_from_saved(const json::object& o, std::string& problem) {
  json::object request;
  for (const char* k : {"status", "body", "content_type"})
    if (const auto* v = o.if_contains(k)) request[k] = *v;
  if (const auto* v = o.if_contains("retry_after_s")) request["retry_after"] = *v;
  auto m = parse_maintenance(request, problem);
  if (!m) return std::nullopt;
  if (const auto* since = o.if_contains("since"); since && since->is_string()) m->since = since->as_string();
  return m;
}

json::object maintenance_object(const runtime::Maintenance& m, bool with_body) {
  json::object o{{"status", m.status},
                 {"retry_after_s", m.retry_after_s},
                 {"content_type", m.content_type},
                 {"since", m.since}};
  if (with_body)
    o["body"] = m.body;
  else
    o["body_bytes"] = m.body.size();
  return o;
}

// Applies `m` to `route` (audit action maintenance_on / maintenance_off); false when it is in that
// state already (an end without a maintenance).
bool apply_maintenance(Control& control, const runtime::Route& route, const std::optional<runtime::Maintenance>& m,
                       const Actor& actor) {
  auto& safety = route.runtime->safety;
  if (!m && !safety.maintenance()) return false;
  json::object extra;
  if (m) {
    safety.set_maintenance(std::make_shared<const runtime::Maintenance>(*m));
    extra = maintenance_audit(*m);
  } else {
    safety.set_maintenance(nullptr);
  }
  control.record_change(route, m ? "maintenance_on" : "maintenance_off", actor, std::move(extra));
  return true;
}

}  // namespace

json::object segments_view(const runtime::Route& route) {
  return {{"route", route.name},
          {"generation", static_cast<std::int64_t>(route.runtime->generation)},
          {"segments", config::segments_json(route.runtime->safety.segment_configs())}};
}

std::optional<std::vector<config::SegmentConfig>> segments_from_body(const runtime::Route& route,
                                                                     const json::object& body, SafetyAnswer& fail) {
  const auto* list = body.if_contains("segments");
  if (!list) {
    fail = failure(bhttp::status::unprocessable_entity, "segments is missing (a list, [] for none)");
    return std::nullopt;
  }
  if (route.tcp_metrics) {
    fail = failure(bhttp::status::unprocessable_entity,
                   fmt::format("route '{}' is a tcp route: segments need HTTP requests", route.name));
    return std::nullopt;
  }
  std::vector<config::SegmentConfig> parsed;
  if (auto problem = config::parse_segments(*list, parsed)) {
    fail = failure(bhttp::status::unprocessable_entity, problem->message);
    return std::nullopt;
  }
  return parsed;
}

json::object segments_audit(std::size_t before, const std::vector<config::SegmentConfig>& after) {
  std::size_t values = 0;
  for (const auto& s : after) values += s.values.size() + s.client_cidrs.size();
  return {{"segments_before", before}, {"segments", after.size()}, {"values", values}};
}

SafetyAnswer put_segments(Control& control, const runtime::Route& route, const json::object& body,
                          const Actor& actor) {
  SafetyAnswer fail;
  auto parsed = segments_from_body(route, body, fail);
  if (!parsed) return fail;
  auto extra = segments_audit(route.runtime->safety.segment_configs().size(), *parsed);
  route.runtime->safety.set_segments(std::move(*parsed));
  control.record_change(route, "set_segments", actor, std::move(extra));
  return {bhttp::status::ok, segments_view(route)};
}

json::value maintenance_json(const runtime::RouteSafety& safety, bool with_body) {
  auto m = safety.maintenance();
  if (!m) return nullptr;
  return maintenance_object(*m, with_body);
}

json::object maintenance_view(const runtime::Route& route) {
  return {{"route", route.name},
          {"generation", static_cast<std::int64_t>(route.runtime->generation)},
          {"maintenance", maintenance_json(route.runtime->safety)}};
}

json::object maintenance_audit(const runtime::Maintenance& m) {
  return {{"status", m.status}, {"retry_after_s", m.retry_after_s}, {"body_bytes", m.body.size()}};
}

std::string setting_text(const std::vector<config::SegmentConfig>& segments) {
  return json::serialize(config::segments_json(segments));
}

std::string setting_text(const runtime::Maintenance* maintenance) {
  if (!maintenance) return "null";
  return json::serialize(maintenance_object(*maintenance, /*with_body=*/true));
}

bool apply_setting(runtime::RouteRuntime& rt, bool segments, std::string_view text, std::string& problem) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) {
    problem = "not JSON: " + ec.message();
    return false;
  }
  auto& safety = rt.safety;
  if (segments) {
    std::vector<config::SegmentConfig> parsed;
    if (auto p = config::parse_segments(v, parsed)) {
      problem = p->message;
      return false;
    }
    // The same list (the value this node wrote, read again at a reconnect) is not compiled again.
    if (config::segments_json(parsed) == config::segments_json(safety.segment_configs())) return false;
    safety.set_segments(std::move(parsed));
    return true;
  }
  if (v.is_null()) {
    if (!safety.maintenance()) return false;
    safety.set_maintenance(nullptr);
    return true;
  }
  if (!v.is_object()) {
    problem = "maintenance: not an object or null";
    return false;
  }
  auto m = maintenance_from_saved(v.as_object(), problem);
  if (!m) {
    problem = "maintenance: " + problem;
    return false;
  }
  if (auto now = safety.maintenance(); now && now->status == m->status && now->retry_after_s == m->retry_after_s &&
                                       now->body == m->body && now->content_type == m->content_type &&
                                       now->since == m->since)
    return false;
  safety.set_maintenance(std::make_shared<const runtime::Maintenance>(std::move(*m)));
  return true;
}

std::optional<runtime::Maintenance> parse_maintenance(const json::object& body, std::string& problem) {
  for (const auto& kv : body) {
    const std::string_view k = kv.key();
    if (k != "status" && k != "retry_after" && k != "body" && k != "body_file" && k != "content_type" &&
        k != "if_generation" && k != "reason") {
      problem = fmt::format("unknown field '{}'", k);
      return std::nullopt;
    }
  }
  runtime::Maintenance m;
  if (const auto* s = body.if_contains("status")) {
    auto v = common::json_int(*s, 200, 599);
    if (!v) {
      problem = "status must be an HTTP status code from 200 to 599";
      return std::nullopt;
    }
    m.status = static_cast<unsigned>(*v);
  }
  if (const auto* r = body.if_contains("retry_after")) {
    std::optional<std::int64_t> seconds;
    if (r->is_string()) {
      if (auto d = config::parse_duration(std::string_view(r->as_string())); d && d->count() % 1000 == 0)
        seconds = d->count() / 1000;
    } else {
      seconds = common::json_int(*r, 0, kMaxRetryAfterS);
    }
    if (!seconds || *seconds < 0 || *seconds > kMaxRetryAfterS) {
      problem = "retry_after must be whole seconds as a duration (\"120s\", \"5m\") or a number, at most 1 day";
      return std::nullopt;
    }
    m.retry_after_s = *seconds;
  }
  const auto* text = body.if_contains("body");
  const auto* file = body.if_contains("body_file");
  if (text && file) {
    problem = "body_file: give either body or body_file, not both";
    return std::nullopt;
  }
  if (text) {
    if (!text->is_string() || text->as_string().size() > kMaxMaintenanceBody) {
      problem = "body must be a string of at most 1 MiB";
      return std::nullopt;
    }
    m.body = text->as_string();
  } else if (file) {
    if (!file->is_string() || file->as_string().empty()) {
      problem = "body_file must be a file path on the cutover host";
      return std::nullopt;
    }
    const std::string path(file->as_string());
    std::ifstream in(path, std::ios::binary);
    std::ostringstream read;
    if (in) read << in.rdbuf();
    if (!in || in.bad()) {
      problem = fmt::format("body_file: cannot read '{}'", path);
      return std::nullopt;
    }
    m.body = std::move(read).str();
    if (m.body.size() > kMaxMaintenanceBody) {
      problem = fmt::format("body_file: '{}' is over 1 MiB", path);
      return std::nullopt;
    }
  } else {
    m.body = runtime::kDefaultMaintenancePage;
  }
  if (const auto* c = body.if_contains("content_type")) {
    // A field value (RFC 9110 §5.5): visible ASCII and spaces, so it cannot split the head.
    const bool ok = c->is_string() && !c->as_string().empty() && c->as_string().size() <= 256 &&
                    std::all_of(c->as_string().begin(), c->as_string().end(),
                                [](char ch) { return ch == ' ' || ch == '\t' || (ch > 0x20 && ch < 0x7f); });
    if (!ok) {
      problem = "content_type must be a media type like \"text/html; charset=utf-8\"";
      return std::nullopt;
    }
    m.content_type = c->as_string();
  } else {
    m.content_type = text || file ? "text/plain; charset=utf-8" : std::string(runtime::kDefaultMaintenanceType);
  }
  m.since = now_text();
  return m;
}

SafetyAnswer set_maintenance(Control& control, const runtime::Route& route, std::optional<runtime::Maintenance> m,
                             const Actor& actor) {
  if (!apply_maintenance(control, route, m, actor))
    return failure(bhttp::status::conflict, fmt::format("route '{}' is not in maintenance", route.name));
  return {bhttp::status::ok, maintenance_view(route)};
}

SafetyAnswer set_maintenance_all(Control& control, std::optional<runtime::Maintenance> m, const Actor& actor) {
  auto snap = control.snapshot();
  json::array routes;
  for (const auto& r : snap->routes) {
    if (r.tcp_metrics) continue;  // a connection has no HTTP answer to give
    apply_maintenance(control, r, m, actor);
    routes.push_back(maintenance_view(r));
  }
  return {bhttp::status::ok, {{"routes", std::move(routes)}}};
}

void save_safety(const runtime::RouteRuntime& rt, RouteState& state) {
  state.segments = config::segments_json(rt.safety.segment_configs());
  state.maintenance = maintenance_json(rt.safety, /*with_body=*/true);
}

std::optional<std::string> restore_safety(runtime::RouteRuntime& rt, const RouteState& state) {
  if (!state.segments.is_null()) {  // null: a file from before segments; the config's apply
    std::vector<config::SegmentConfig> parsed;
    if (auto problem = config::parse_segments(state.segments, parsed)) return problem->message;
    rt.safety.set_segments(std::move(parsed));
  }
  if (state.maintenance.is_object()) {
    std::string problem;
    auto m = maintenance_from_saved(state.maintenance.as_object(), problem);
    if (!m) return "maintenance: " + problem;
    rt.safety.set_maintenance(std::make_shared<const runtime::Maintenance>(std::move(*m)));
  }
  return std::nullopt;
}

}  // namespace cutover::admin
