// The admin API's migration-safety calls: a route's tenant segments (GET/PUT
// /v1/routes/{route}/segments) and maintenance answers (PUT/DELETE /v1/routes/{route}/maintenance,
// and /v1/maintenance for every route), with their audit entries and state-file form. Changes go
// through Control::record_change (generation, audit, state file); the data plane sees them through
// RouteSafety's atomic stores. On a fleet node the API writes them to etcd instead (api.cpp,
// fleet::Node::change_settings), in the forms setting_text() gives, and every node applies them
// with apply_setting() (Control::apply_fleet_setting).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/status.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "admin/actor.hpp"
#include "admin/control.hpp"
#include "admin/state_file.hpp"
#include "proxy/runtime/snapshot.hpp"

namespace cutover::admin {

// What a call answers: a status and a JSON body ({"error": ...} when it failed).
struct SafetyAnswer {
  boost::beast::http::status status;
  boost::json::object body;
};

// {"route", "generation", "segments": [...]}: the list as PUT takes it.
boost::json::object segments_view(const runtime::Route& route);

// The segments of a PUT body ({"segments": [...]}), checked as put_segments() does: nullopt with
// `fail` (422) otherwise.
std::optional<std::vector<config::SegmentConfig>> segments_from_body(const runtime::Route& route,
                                                                     const boost::json::object& body,
                                                                     SafetyAnswer& fail);
// The audit fields of a segments change: {"segments_before", "segments", "values"}.
boost::json::object segments_audit(std::size_t before, const std::vector<config::SegmentConfig>& after);

// PUT /v1/routes/{route}/segments with `body` ({"segments": [...]}; "if_generation" and "reason"
// were checked already). 422 naming the field for a bad list ("segments[2].side ...").
SafetyAnswer put_segments(Control& control, const runtime::Route& route, const boost::json::object& body,
                          const Actor& actor);

// The maintenance of a route as the views show it: {status, retry_after_s, content_type,
// body_bytes, since}, or null when the route is not in maintenance. `with_body`: the body itself
// too, instead of body_bytes (the state file).
boost::json::value maintenance_json(const runtime::RouteSafety& safety, bool with_body = false);

// {"route", "generation", "maintenance"}: a maintenance call's answer for one route.
boost::json::object maintenance_view(const runtime::Route& route);
// The audit fields of maintenance_on: {"status", "retry_after_s", "body_bytes"}.
boost::json::object maintenance_audit(const runtime::Maintenance& m);

// The maintenance a PUT body asks for: {status (200..599, default 503), retry_after ("120s" or
// seconds, default 120s), body | body_file (a file of at most 1 MiB read now), content_type}. 422
// naming the field otherwise; an unknown field too (besides "if_generation" and "reason").
std::optional<runtime::Maintenance> parse_maintenance(const boost::json::object& body, std::string& problem);

// PUT /v1/routes/{route}/maintenance and DELETE (`m` nullopt). Answers {"route", "generation",
// "maintenance"}; a DELETE of a route not in maintenance is 409.
SafetyAnswer set_maintenance(Control& control, const runtime::Route& route, std::optional<runtime::Maintenance> m,
                             const Actor& actor);
// PUT/DELETE /v1/maintenance: every route of the current config at once. Answers {"routes":
// [{"route", "generation", "maintenance"}]}; routes already in the asked state are left alone.
SafetyAnswer set_maintenance_all(Control& control, std::optional<runtime::Maintenance> m, const Actor& actor);

// A setting as a fleet stores it in etcd (JSON text): the segment list as PUT takes it; the
// maintenance as the state file keeps it (body included), or null for none.
std::string setting_text(const std::vector<config::SegmentConfig>& segments);
std::string setting_text(const runtime::Maintenance* maintenance);
// Applies a setting's text from etcd to `rt` (no generation, audit or state file: the caller's).
// Returns whether it changed anything; `problem` says what is wrong with a text that does not
// parse (then nothing changes).
bool apply_setting(runtime::RouteRuntime& rt, bool segments, std::string_view text, std::string& problem);

// The state file's "segments" and "maintenance" of a route (RouteState), and their restore at
// start-up (before the config is compiled: restored segments win over the config's). Returns a
// problem with the saved values (then they are not restored), or nullopt.
void save_safety(const runtime::RouteRuntime& rt, RouteState& state);
std::optional<std::string> restore_safety(runtime::RouteRuntime& rt, const RouteState& state);

}  // namespace cutover::admin
