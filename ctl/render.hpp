// What cutoverctl prints: pure functions from admin API JSON to text (tables, the ramp view and
// its progress bar, the live watch view), so the output is unit tested without a server. Every
// function takes the response as the server sent it and renders missing or null fields as "-".
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

namespace cutover::ctl {

// Columns separated by two spaces, padded to the widest cell; `right[i]` right-aligns column i
// (numbers). Lines end with '\n' and carry no trailing spaces.
std::string format_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows,
                         const std::vector<bool>& right = {});

// `value` with at most `decimals` decimals and no trailing zeros: 12.5 -> "12.5", 10.0 -> "10".
std::string plain_number(double value, int decimals = 2);
// Seconds as an operator writes them: 45 -> "45s", 1.5 -> "1.5s", 90 -> "1m30s", 300 -> "5m".
std::string duration_text(double seconds);

// "[#####-----] 2/5": `done` of `total` steps, `width` cells; total 0 gives an empty bar "0/0".
std::string progress_bar(std::size_t done, std::size_t total, std::size_t width = 10);
// "[###-------]": a fraction 0..1 (clamped) of `width` cells.
std::string fraction_bar(double fraction, std::size_t width = 10);

// GET /v1/routes {"routes":[...]}: ROUTE SOURCE TARGET READ % WRITE % WRITES TUNNELS RAMP GEN
// (TUNNELS: open upgrade tunnels to source/target).
std::string status_view(const boost::json::value& routes);
// One route object (PUT weights, rollback): "app: read 10 %, write 0 %, writes flowing, generation 3".
std::string route_line(const boost::json::value& route);
// POST writes/hold: the route line and what the drain found.
std::string hold_view(const boost::json::value& route);
// POST writes/release: how many held writes went out, and the route line.
std::string release_view(const boost::json::value& route);

// GET /v1/fleet: this node, etcd's health, the applied revision and the ramp leader ("-" while
// the answer has none), a NODE / APPLIED REVISION table of the live nodes, and the local overrides.
std::string fleet_view(const boost::json::value& fleet);

// A ramp object (ramp, ramp-status, pause/resume/abort): state, step and bar, plan, gates with
// the last evaluation, reason and failed gate.
std::string ramp_view(const boost::json::value& ramp);
// The live view of `watch`: ramp_view plus the time in the step against the interval and the
// traffic of both sides from a GET /v1/stats response (`stats` null when not available; `note`
// then says why, e.g. the API error).
std::string watch_view(const boost::json::value& ramp, const boost::json::value& stats, std::string_view note = {});
// "STEP i/n" state words for the status table: "running 2/5", "-" for null.
std::string ramp_cell(const boost::json::value& ramp);

// GET /v1/stats: per route and side REQ 5XX ERR % P50 MS P99 MS, then the mirror counts.
std::string stats_view(const boost::json::value& stats);
// GET /v1/shadow: per route the counts, the last error, noisy fields and the newest `samples`
// mismatches (newest first).
std::string shadow_view(const boost::json::value& shadow, std::size_t samples = 5);

// GET/PUT /v1/routes/{r}/segments: "N  MATCH  SIDE" per segment, numbered from 1 in match order
// (MATCH: "header X-Tenant: 3 values (acme, globex, ...)", "cookie plan: prefix beta-",
// "client 10.0.0.0/8, ..."), then the generation.
std::string segments_view(const boost::json::value& segments);
// PUT/DELETE /v1/routes/{r}/maintenance ({"route", "generation", "maintenance"}) or /v1/maintenance
// ({"routes": [...]}): per route "app: maintenance on (503, Retry-After 120s, since ...)" or "off".
std::string maintenance_view(const boost::json::value& answer);

}  // namespace cutover::ctl
