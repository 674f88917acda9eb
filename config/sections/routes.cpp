// A listener's routes: what they match, which clusters they split between and by what weight, and
// the per-route sticky, force and write-hold settings (the mirror is read by mirror.cpp).
#include <boost/json.hpp>

#include "common/text.hpp"
#include "config/sections/sections.hpp"
#include "config/segments.hpp"
#include "config/units.hpp"

namespace cutover::config::detail {

namespace {

// Bounds for writes.max_held: at least one (0 would turn every hold into immediate 503s, which
// is what not holding does), and a ceiling well below what a proxy can buffer.
constexpr std::uint32_t kMaxHeldLimit = 1'000'000;
// Browsers cap cookie lifetimes at 400 days (RFC 6265bis §5.5); longer is silently shortened.
constexpr Millis kCookieMaxAgeCap{400LL * 24 * 3600 * 1000};

// ---- match: {host: api.example.com, path_prefix: /v1/}

const Key<RouteConfig> kMatchKeys[] = {
    {"host",
     [](Reader& r, const Entry& e, RouteConfig& route) {
       auto v = r.scalar(e, "match.host", "a host name or \"*\"");
       if (!v) return;
       // Host headers compare case-insensitively (RFC 9110 §4.2.3), so store the lower-case form.
       std::string h = common::to_lower(*v);
       const bool ok = h == "*" || (!h.empty() && std::all_of(h.begin(), h.end(), [](char c) {
                         return common::is_alnum(c) || c == '.' || c == '-';
                       }));
       if (!ok) {
         r.error(e.value_mark(), "match.host: " + q(*v) + " is not a host name without a port, or \"*\"");
         return;
       }
       route.host = std::move(h);
     }},
    {"path_prefix",
     [](Reader& r, const Entry& e, RouteConfig& route) {
       auto v = r.scalar(e, "match.path_prefix", "a path starting with '/'");
       if (!v) return;
       if (!v->starts_with('/')) {
         r.error(e.value_mark(), "match.path_prefix: must start with '/', got " + q(*v));
         return;
       }
       route.path_prefix = *v;
     }},
    {"grpc",
     [](Reader& r, const Entry& e, RouteConfig& route) {
       if (auto v = r.read_bool(e, "match.grpc")) route.grpc = *v;
     }},
};

// ---- sticky: {header: X-User-Id, cookie: uid, client_ip: true, pin_cookie: b, pin_max_age: 30d}
// The key sources keep the order they are written in: the first one present in a request wins.

struct Sticky {
  StickyConfig& st;
  bool bad_source = false;  // a source with a bad value: already reported
  std::optional<Mark> max_age_mark{};
};

// SECTION.header or SECTION.cookie: an RFC 9110 token, named in messages for what it is.
std::optional<std::string> read_header_or_cookie(Reader& r, const Entry& e, std::string_view section) {
  return r.read_token(e, std::string(section) + "." + e.key, e.key == "header" ? "header name" : "cookie name");
}

// sticky.header or sticky.cookie, as the next key source.
void read_sticky_name(Reader& r, const Entry& e, Sticky& s) {
  auto v = read_header_or_cookie(r, e, "sticky");
  if (!v) {
    s.bad_source = true;
    return;
  }
  s.st.sources.push_back({e.key == "header" ? StickySource::Kind::header : StickySource::Kind::cookie, *v});
}

const Key<Sticky> kStickyKeys[] = {
    {"header", read_sticky_name},
    {"cookie", read_sticky_name},
    {"client_ip",
     [](Reader& r, const Entry& e, Sticky& s) {
       auto v = r.read_bool(e, "sticky.client_ip");
       if (!v) {
         s.bad_source = true;
         return;
       }
       if (*v) s.st.sources.push_back({StickySource::Kind::client_ip, {}});
     }},
    {"pin_cookie",
     [](Reader& r, const Entry& e, Sticky& s) {
       if (auto v = r.read_token(e, "sticky.pin_cookie", "cookie name")) s.st.pin_cookie = *v;
     }},
    {"pin_max_age",
     [](Reader& r, const Entry& e, Sticky& s) {
       auto d = r.read_long_duration(e, "sticky.pin_max_age", "a duration like 12h, 30d or 3600s",
                                     /*allow_zero=*/true);
       if (!d) return;
       if (d->count() < 1000) {
         // Max-Age is in whole seconds; 0 would delete the cookie as it is set.
         r.error(e.value_mark(), "sticky.pin_max_age: must be at least 1s");
         return;
       }
       s.st.pin_max_age = *d;
       s.max_age_mark = e.value_mark();
       if (*d > kCookieMaxAgeCap) r.warn(e.value_mark(), "sticky.pin_max_age: browsers cap cookie lifetimes at 400d");
     }},
};

void read_sticky(Reader& r, const Entry& section, StickyConfig& st, const std::string& route_context) {
  if (!r.expect_map(section.value, section.value_mark(), "sticky", " with 'header', 'cookie' and/or 'client_ip: true'"))
    return;
  Sticky s{st};
  r.read_keys(section.value, "sticky of " + route_context, kStickyKeys, s);
  if (st.sources.empty() && !s.bad_source)
    r.error(section.value_mark(), "sticky: needs at least one key source: 'header', 'cookie' or 'client_ip: true'");
  if (s.max_age_mark && st.pin_cookie.empty())
    r.warn(*s.max_age_mark, "sticky.pin_max_age has no effect without sticky.pin_cookie");
}

// ---- force: {header: X-Cutover-Side, cookie: cutover_force, allow_cidrs: [127.0.0.0/8, "::1/128"]}

struct Force {
  ForceConfig& f;
  bool bad_name = false, bad_cidr = false;  // already reported: no "needs"/"never honoured" on top
  std::optional<Mark> cidrs_mark{};
};

void read_force_name(Reader& r, const Entry& e, Force& s) {
  auto v = read_header_or_cookie(r, e, "force");
  if (!v) {
    s.bad_name = true;
    return;
  }
  (e.key == "header" ? s.f.header : s.f.cookie) = *v;
}

const Key<Force> kForceKeys[] = {
    {"header", read_force_name},
    {"cookie", read_force_name},
    {"allow_cidrs",
     [](Reader& r, const Entry& e, Force& s) {
       s.cidrs_mark = e.value_mark();
       s.bad_cidr = !read_cidr_list(r, e, "force.allow_cidrs", "to force a side", s.f.allow_cidrs);
     }},
};

void read_force(Reader& r, const Entry& section, ForceConfig& f, const std::string& route_context) {
  if (!r.expect_map(section.value, section.value_mark(), "force", " with 'header' and/or 'cookie', and 'allow_cidrs'"))
    return;
  Force s{f};
  r.read_keys(section.value, "force of " + route_context, kForceKeys, s);
  if (!f.enabled() && !s.bad_name)
    r.error(section.value_mark(), "force: needs 'header' and/or 'cookie' to read the side from");
  if (f.allow_cidrs.empty() && f.enabled() && !s.bad_cidr)
    r.warn(s.cidrs_mark.value_or(section.value_mark()), "force is never honoured: allow_cidrs is empty");
}

// ---- writes: {hold_timeout: 5s, hold_max: 60s, max_held: 10000}

struct Writes {
  WritesConfig& w;
  std::optional<Mark> timeout_mark{}, max_mark{};  // where each was written: the bound is reported there
  bool bad_duration = false;
};

void read_hold_duration(Reader& r, const Entry& e, Writes& s) {
  const bool is_timeout = e.key == "hold_timeout";
  auto v = r.read_duration(e, "writes." + e.key, /*allow_zero=*/false);
  if (!v) {
    s.bad_duration = true;
    return;
  }
  (is_timeout ? s.w.hold_timeout : s.w.hold_max) = *v;
  (is_timeout ? s.timeout_mark : s.max_mark) = e.value_mark();
}

const Key<Writes> kWritesKeys[] = {
    {"hold_timeout", read_hold_duration},
    {"hold_max", read_hold_duration},
    {"max_held",
     [](Reader& r, const Entry& e, Writes& s) {
       if (auto v = r.read_uint(e, "writes.max_held", 1, kMaxHeldLimit)) s.w.max_held = static_cast<std::uint32_t>(*v);
     }},
};

void read_writes(Reader& r, const Entry& section, WritesConfig& w, const std::string& route_context) {
  if (!r.expect_map(section.value, section.value_mark(), "writes",
                    " with 'hold_timeout', 'hold_max' and/or 'max_held'"))
    return;
  Writes s{w};
  r.read_keys(section.value, "writes of " + route_context, kWritesKeys, s);
  // A held request times out with 503 before the hold itself would release it; the other way
  // round, hold_timeout would never fire. Reported at whichever of the two was written.
  if (!s.bad_duration && w.hold_timeout > w.hold_max) {
    const Mark at = s.timeout_mark ? *s.timeout_mark : s.max_mark.value_or(section.value_mark());
    auto shown = [&](Millis d, bool written) { return duration_text(d) + (written ? "" : ", the default"); };
    r.error(at, "writes.hold_timeout (" + shown(w.hold_timeout, s.timeout_mark.has_value()) +
                    ") must not exceed writes.hold_max (" + shown(w.hold_max, s.max_mark.has_value()) + ")");
  }
}

// ---- upgrade: [websocket]

// RFC 9113 §3.1 deprecates the h2c upgrade; a tunnel of it would also carry whole HTTP/2
// connections past the route's per-request split, sticky and mirror.
// grpc_error_codes: [2, 4, 14]: gRPC status codes 0..16, as a bit mask.
void read_grpc_error_codes(Reader& r, const Entry& e, RouteConfig& route) {
  if (!e.value.IsSequence()) {
    r.error(e.value_mark(), "grpc_error_codes: expected a list of gRPC status codes like [2, 4, 13, 14]");
    return;
  }
  std::uint32_t mask = 0;
  bool ok = true;
  for (const YAML::Node& item : e.value) {
    const Entry code{e.key, item_mark(item, e.value_mark()), item};
    if (auto v = r.read_uint(code, "grpc_error_codes", 0, kMaxGrpcStatus))
      mask |= 1u << *v;
    else
      ok = false;
  }
  if (ok) route.grpc_error_codes = mask;
}

const char* refuse_upgrade(std::string_view protocol) {
  return protocol == "h2c" ? "h2c is not supported as an upgrade (RFC 9113 deprecates it)" : nullptr;
}

// ---- segments: [{header: X-Tenant, values: [acme, globex], side: target}, {client_cidrs: [...], side: source}]
// Read as JSON by config::parse_segments, the admin API's reader, so both accept the same lists.

boost::json::value yaml_to_json(const YAML::Node& n) {
  if (n.IsSequence()) {
    boost::json::array a;
    for (const auto& item : n) a.push_back(yaml_to_json(item));
    return a;
  }
  if (n.IsMap()) {
    boost::json::object o;
    for (const auto& kv : n) o[kv.first.IsScalar() ? kv.first.Scalar() : std::string("?")] = yaml_to_json(kv.second);
    return o;
  }
  if (n.IsScalar()) return boost::json::string(n.Scalar());
  return nullptr;
}

// The position of a problem's field ("segments[2].values[5]") inside the YAML list.
Mark segment_problem_mark(const Entry& e, const SegmentProblem& p) {
  if (!p.index || !e.value.IsSequence() || *p.index >= e.value.size()) return e.value_mark();
  const YAML::Node item = e.value[*p.index];
  Mark at = item_mark(item, e.value_mark());
  const auto dot = p.field.find("].");
  if (dot == std::string::npos || !item.IsMap()) return at;
  std::string key = p.field.substr(dot + 2);
  std::optional<std::size_t> sub;
  if (auto bracket = key.find('['); bracket != std::string::npos) {
    sub = std::stoul(key.substr(bracket + 1));
    key.resize(bracket);
  }
  const YAML::Node value = item[key];
  if (!value) return at;
  at = item_mark(value, at);
  if (sub && value.IsSequence() && *sub < value.size()) at = item_mark(value[*sub], at);
  return at;
}

void read_segments(Reader& r, const Entry& e, RouteConfig& route) {
  if (e.value.IsNull()) return;  // as an empty list
  if (auto problem = parse_segments(yaml_to_json(e.value), route.segments))
    r.error(segment_problem_mark(e, *problem), problem->message);
}

// ---- read_your_writes: {window: 5s, cookie: cutover_ryw}

// Cookies last whole seconds (Max-Age), and a window longer than this would pin users to one side
// for long after a write, which is what a ramp means to avoid.
constexpr Millis kMaxRywWindow{600 * 1000};

const Key<ReadYourWritesConfig> kRywKeys[] = {
    {"window",
     [](Reader& r, const Entry& e, ReadYourWritesConfig& ryw) {
       auto v = r.read_duration(e, "read_your_writes.window", /*allow_zero=*/false);
       if (!v) return;
       if (*v < Millis{1000} || *v > kMaxRywWindow) {
         r.error(e.value_mark(), "read_your_writes.window: must be from 1s to 10m");
         return;
       }
       ryw.window = *v;
     }},
    {"cookie",
     [](Reader& r, const Entry& e, ReadYourWritesConfig& ryw) {
       if (auto v = r.read_token(e, "read_your_writes.cookie", "cookie name")) ryw.cookie = *v;
     }},
};

// ---- the route

struct Route {
  RouteConfig& r;
  RouteMarks& marks;
  const std::string& context;  // "route 'app'"
  bool have_name = false;
  // `weight` is shorthand for both; the specific keys win wherever they appear.
  std::optional<std::uint32_t> weight{}, read_weight{}, write_weight{};
};

// A key a tcp listener's route may not have; checked once the listener's protocol is known.
void http_only(const Entry& e, Route& s) { s.marks.http_only.emplace_back(e.key, e.key_mark); }

// A bad weight is already reported; 0 keeps the later cross-checks quiet.
std::uint32_t read_weight_or_zero(Reader& r, const Entry& e) { return r.read_percent(e, e.key, "weights").value_or(0); }

void read_cluster_ref(Reader& r, const Entry& e, Route& s) {
  const bool is_source = e.key == "source";
  (is_source ? s.marks.source : s.marks.target) = e.value_mark();
  if (auto v = r.scalar(e, e.key, "a cluster name")) (is_source ? s.r.source : s.r.target) = *v;
}

const Key<Route> kRouteKeys[] = {
    {"name",
     [](Reader& r, const Entry& e, Route& s) {
       s.have_name = true;
       s.marks.name = e.value_mark();
       if (auto v = r.read_name(e, "route name")) s.r.name = *v;
     }},
    {"match",
     [](Reader& r, const Entry& e, Route& s) {
       http_only(e, s);
       if (r.expect_map(e.value, e.value_mark(), "match", " with 'host', 'path_prefix' and/or 'grpc'"))
         r.read_keys(e.value, "match of " + s.context, kMatchKeys, s.r);
       if (e.value.IsMap() && e.value["grpc"]) s.marks.grpc = item_mark(e.value["grpc"], e.value_mark());
     },
     keys_of<kMatchKeys>()},
    {"source", read_cluster_ref},
    {"target", read_cluster_ref},
    {"weight", [](Reader& r, const Entry& e, Route& s) { s.weight = read_weight_or_zero(r, e); }},
    {"read_weight",
     [](Reader& r, const Entry& e, Route& s) {
       http_only(e, s);
       s.read_weight = read_weight_or_zero(r, e);
     }},
    {"write_weight",
     [](Reader& r, const Entry& e, Route& s) {
       http_only(e, s);
       s.write_weight = read_weight_or_zero(r, e);
     }},
    {"sticky",
     [](Reader& r, const Entry& e, Route& s) {
       // A tcp route may be sticky by client IP only: every other sticky key is HTTP-only.
       if (e.value.IsMap())
         for (const auto& kv : e.value)
           if (kv.first.IsScalar() && kv.first.Scalar() != "client_ip")
             s.marks.http_only.emplace_back("sticky." + kv.first.Scalar(), item_mark(kv.first, e.key_mark));
       read_sticky(r, e, s.r.sticky, s.context);
     },
     keys_of<kStickyKeys>()},
    {"force",
     [](Reader& r, const Entry& e, Route& s) {
       http_only(e, s);
       read_force(r, e, s.r.force, s.context);
     },
     keys_of<kForceKeys>()},
    {"writes",
     [](Reader& r, const Entry& e, Route& s) {
       http_only(e, s);
       read_writes(r, e, s.r.writes, s.context);
     },
     keys_of<kWritesKeys>()},
    {"mirror",
     [](Reader& r, const Entry& e, Route& s) {
       http_only(e, s);
       read_mirror(r, e, s.r.mirror, s.marks, s.context);
     },
     {Nesting::map, list_mirror_keys}},
    {"grpc_error_codes",
     [](Reader& r, const Entry& e, Route& s) {
       http_only(e, s);
       read_grpc_error_codes(r, e, s.r);
     }},
    {"upgrade",
     [](Reader& r, const Entry& e, Route& s) {
       http_only(e, s);
       // Upgrade protocol names compare case-insensitively (RFC 9110 §7.8): stored lower-case.
       if (auto v = r.read_string_list(e, "upgrade",
                                       {.what = "protocol name",
                                        .example = " like [websocket]",
                                        .token = true,
                                        .refuse = refuse_upgrade}))
         s.r.upgrade = std::move(*v);
     }},
    {"segments",
     [](Reader& r, const Entry& e, Route& s) {
       http_only(e, s);
       read_segments(r, e, s.r);
     },
     {Nesting::list, list_segment_keys}},
    {"read_your_writes",
     [](Reader& r, const Entry& e, Route& s) {
       http_only(e, s);
       s.r.read_your_writes.enabled = true;
       if (r.expect_map(e.value, e.value_mark(), "read_your_writes", " with 'window' and/or 'cookie'"))
         r.read_keys(e.value, "read_your_writes of " + s.context, kRywKeys, s.r.read_your_writes);
     },
     keys_of<kRywKeys>()},
};

}  // namespace

void list_route_keys(std::vector<std::string>& out, const std::string& prefix) { list_keys<kRouteKeys>(out, prefix); }

void read_route(Reader& r, const YAML::Node& node, Mark at, ListenerConfig& l, ListenerMarks& lmarks) {
  RouteConfig route;
  RouteMarks marks;
  route.mark = at;
  if (!r.expect_map(node, at, "route", " with 'name', 'source' and 'target'")) return;
  const std::string peeked = Reader::peek_name(node);
  const std::string context = peeked.empty() ? "route" : "route " + q(peeked);
  Route s{route, marks, context};
  r.read_keys(node, context, kRouteKeys, s);
  if (!s.have_name) r.error(at, context + " is missing 'name'");
  if (marks.source.line == 0) r.error(at, context + " is missing 'source' (the cluster serving today)");
  if (marks.target.line == 0) r.error(at, context + " is missing 'target' (the cluster to move to)");
  route.read_weight_bp = s.read_weight.value_or(s.weight.value_or(0));
  route.write_weight_bp = s.write_weight.value_or(s.weight.value_or(0));
  l.routes.push_back(std::move(route));
  lmarks.routes.push_back(std::move(marks));
}

}  // namespace cutover::config::detail
