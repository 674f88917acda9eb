// cutoverctl's text views: see render.hpp.
#include "ctl/render.hpp"

#include <algorithm>
#include <cmath>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/json_number.hpp"

namespace cutover::ctl {

namespace json = boost::json;

namespace {

const json::value kNull;

// obj[key], or null when `v` is not an object or has no such key.
const json::value& at(const json::value& v, std::string_view key) {
  if (!v.is_object()) return kNull;
  const auto* p = v.as_object().if_contains(key);
  return p ? *p : kNull;
}

using common::json_number;

std::string str(const json::value& v, std::string_view fallback = "-") {
  if (v.is_string()) return std::string(v.as_string());
  if (auto d = json_number(v)) return plain_number(*d, 3);
  if (v.is_bool()) return v.as_bool() ? "true" : "false";
  return std::string(fallback);
}

bool flag(const json::value& v) { return v.is_bool() && v.as_bool(); }

std::string count(const json::value& v) {
  if (auto d = json_number(v)) return plain_number(*d, 0);
  return "-";
}

// A weight in percent: "12.25".
std::string percent(const json::value& v) {
  if (auto d = json_number(v)) return plain_number(*d, 2);
  return "-";
}

// A rate 0..1 as percent: 0.0123 -> "1.23%".
std::string rate(const json::value& v) {
  if (auto d = json_number(v)) return plain_number(*d * 100, 3) + "%";
  return "-";
}

std::string ms(const json::value& v) {
  if (auto d = json_number(v)) return plain_number(*d, 2);
  return "-";
}

std::string seconds(const json::value& v) {
  if (auto d = json_number(v)) return duration_text(*d);
  return "-";
}

// A gate's value or threshold in the gate's unit.
std::string gate_value(std::string_view gate, const json::value& v) {
  if (gate == "webhook") return "-";  // a refusal of the step by the webhook: no measure
  auto d = json_number(v);
  if (!d) return "-";
  if (gate.ends_with("_rate")) return plain_number(*d * 100, 3) + "%";
  if (gate.ends_with("_ms")) return plain_number(*d, 2) + " ms";
  if (gate.ends_with("_ratio")) return plain_number(*d, 2) + "x";
  if (gate == "min_requests") return plain_number(*d, 0);
  return plain_number(*d, 3);
}

// A PromQL query short enough for a table cell.
std::string prometheus_label(std::string query) {
  constexpr std::size_t kWidth = 40;
  if (query.size() > kWidth) query = query.substr(0, kWidth - 3) + "...";
  return query;
}

std::string_view gate_comparison(std::string_view gate) {
  if (gate == "webhook") return "";
  return gate.starts_with("min_") ? ">=" : "<=";
}

std::size_t array_size(const json::value& v) { return v.is_array() ? v.as_array().size() : 0; }

// Steps reached for the bar: the current step counts as reached; a completed ramp has them all.
std::size_t steps_done(const json::value& ramp) {
  auto total = array_size(at(ramp, "steps"));
  if (str(at(ramp, "state")) == "completed") return total;
  auto step = json_number(at(ramp, "step"));
  if (!step || *step < 0) return 0;
  return std::min(total, static_cast<std::size_t>(*step) + 1);
}

std::string steps_list(const json::value& steps) {
  if (!steps.is_array()) return "-";
  std::string out;
  for (const auto& s : steps.as_array()) {
    if (!out.empty()) out += ",";
    // A step that waits for approval: {"weight", "approve": true}, shown as "50(approve)".
    if (s.is_object())
      out += percent(at(s, "weight")) + (flag(at(s, "approve")) ? "(approve)" : "");
    else
      out += percent(s);
  }
  return out;
}

// The ramp's header lines: state, step, plan.
void ramp_head(std::string& out, const json::value& ramp) {
  const auto total = array_size(at(ramp, "steps"));
  const auto done = steps_done(ramp);
  const bool rehearsal = flag(at(ramp, "dry_run"));
  out += fmt::format("route {}  {} {}  step {}/{} at {} %  {}\n", str(at(ramp, "route")),
                     rehearsal ? "DRY-RUN ramp (no weight changes)" : "ramp", str(at(ramp, "state")), done, total,
                     percent(at(ramp, "step_weight")), progress_bar(done, total));
  if (str(at(ramp, "state")) == "awaiting_approval")
    out += fmt::format("waiting for approval: cutoverctl ramp-approve {}\n", str(at(ramp, "route")));
  std::string plan = fmt::format("steps {} % every {}, apply to {}", steps_list(at(ramp, "steps")),
                                 seconds(at(ramp, "interval_s")), str(at(ramp, "apply_to")));
  if (json_number(at(ramp, "max_wait_s"))) plan += ", max wait " + seconds(at(ramp, "max_wait_s"));
  const auto& hook = at(ramp, "webhook");
  if (hook.is_object())
    plan += fmt::format(", webhook {} (timeout {})", str(at(hook, "url")), seconds(at(hook, "timeout_s")));
  const auto& hooks = at(ramp, "hooks");
  if (hooks.is_object())
    for (const auto& kv : hooks.as_object()) plan += fmt::format(", {} {}", std::string_view(kv.key()), str(at(kv.value(), "url")));
  out += plan + "\n";
  std::string times = "started " + str(at(ramp, "started"));
  if (at(ramp, "step_started").is_string()) times += ", step started " + str(at(ramp, "step_started"));
  if (at(ramp, "ended").is_string()) times += ", ended " + str(at(ramp, "ended"));
  out += times + "\n";
}

// The gates: the last evaluation's measurements when there is one, else the configured ones.
void ramp_gates(std::string& out, const json::value& ramp) {
  const auto& eval = at(ramp, "last_evaluation");
  std::vector<std::vector<std::string>> rows;
  if (eval.is_object() && at(eval, "gates").is_array()) {
    const bool waiting = flag(at(eval, "waiting"));
    std::string verdict = flag(at(eval, "passed")) ? "passed" : waiting ? "waiting for enough requests" : "failed";
    out += fmt::format("last evaluation {} over {}: {}, target {} / source {} requests\n", str(at(eval, "time")),
                       seconds(at(eval, "window_s")), verdict, count(at(eval, "target_requests")),
                       count(at(eval, "source_requests")));
    for (const auto& g : at(eval, "gates").as_array()) {
      auto name = str(at(g, "gate"));
      std::string result = flag(at(g, "passed")) ? "pass" : (waiting && name == "min_requests") ? "wait" : "FAIL";
      if (name == "prometheus") {
        // The query names the row; a query without a number says why.
        const auto error = str(at(g, "error"), "");
        rows.push_back({"  prometheus " + prometheus_label(str(at(g, "query"))), gate_value(name, at(g, "value")),
                        str(at(g, "bound")) == "min" ? ">=" : "<=", gate_value(name, at(g, "threshold")),
                        error.empty() ? result : result + " (" + error + ")"});
        continue;
      }
      rows.push_back({"  " + name, gate_value(name, at(g, "value")), std::string(gate_comparison(name)),
                      gate_value(name, at(g, "threshold")), result});
    }
  } else {
    out += "last evaluation: none yet\n";
    const auto& gates = at(ramp, "gates");
    if (gates.is_object())
      for (const auto& kv : gates.as_object()) {
        if (kv.value().is_null()) continue;
        std::string name(kv.key());
        if (name == "prometheus" && kv.value().is_array()) {
          for (const auto& g : kv.value().as_array()) {
            const bool min = at(g, "min").is_number();
            rows.push_back({"  prometheus " + prometheus_label(str(at(g, "query"))), "-", min ? ">=" : "<=",
                            gate_value(name, at(g, min ? "min" : "max")), "pending"});
          }
          continue;
        }
        rows.push_back({"  " + name, "-", std::string(gate_comparison(name)), gate_value(name, kv.value()), "pending"});
      }
  }
  if (rows.empty())
    out += "  no gates\n";
  else
    out += format_table({"  GATE", "VALUE", "", "THRESHOLD", "RESULT"}, rows, {false, true, false, true, false});
}

void ramp_outcome(std::string& out, const json::value& ramp) {
  auto reason = str(at(ramp, "reason"), "");
  if (!reason.empty()) out += "reason: " + reason + "\n";
  auto hook_last = str(at(ramp, "hook_last"), "");
  if (!hook_last.empty()) out += "hook: " + hook_last + "\n";
  // A rehearsal's decisions, the newest few.
  const auto& rehearsal = at(ramp, "rehearsal");
  if (rehearsal.is_array() && !rehearsal.as_array().empty()) {
    const auto& list = rehearsal.as_array();
    out += "rehearsal (what the ramp would have done):\n";
    for (std::size_t i = list.size() > 8 ? list.size() - 8 : 0; i < list.size(); ++i)
      out += fmt::format("  {} step {}: {}: {}\n", str(at(list[i], "time")), count(at(list[i], "step")),
                         str(at(list[i], "would")), str(at(list[i], "reason")));
  }
  if (flag(at(ramp, "webhook_pending"))) out += "webhook: waiting for its answer to the next step\n";
  auto hook = str(at(ramp, "webhook_last"), "");
  if (!hook.empty()) out += "webhook: " + hook + "\n";
  const auto& failed = at(ramp, "failed_gate");
  if (failed.is_object()) {
    auto name = str(at(failed, "gate"));
    auto cmp = gate_comparison(name);
    if (cmp.empty())
      out += fmt::format("failed gate: {}\n", name);
    else
      out += fmt::format("failed gate: {} {} {} {}\n", name, gate_value(name, at(failed, "value")),
                         cmp == "<=" ? ">" : "<", gate_value(name, at(failed, "threshold")));
  }
}

std::string writes_cell(const json::value& writes) {
  if (!writes.is_object()) return "-";
  if (flag(at(writes, "held"))) return "held " + count(at(writes, "held_requests"));
  return "flowing";
}

// Open upgrade tunnels as "SOURCE/TARGET" ("3/0"); "-" for a route without them (tcp).
std::string tunnels_cell(const json::value& tunnels) {
  if (!tunnels.is_object()) return "-";
  return count(at(tunnels, "source")) + "/" + count(at(tunnels, "target"));
}

// The stats entry of `route` in a GET /v1/stats response, or null.
const json::value& stats_route(const json::value& stats, std::string_view route) {
  const auto& routes = at(stats, "routes");
  if (routes.is_array())
    for (const auto& r : routes.as_array())
      if (str(at(r, "route")) == route) return r;
  return kNull;
}

// A stats "mirror" entry worth a line: some copies were compared in the window.
bool mirror_seen(const json::value& m) {
  return m.is_object() && json_number(at(m, "match")).value_or(0) + json_number(at(m, "mismatch")).value_or(0) > 0;
}

std::vector<std::string> side_cells(const json::value& side) {
  return {count(at(side, "requests")), count(at(side, "errors_5xx")), rate(at(side, "error_rate")),
          ms(at(side, "p50_ms")), ms(at(side, "p99_ms"))};
}

}  // namespace

std::string format_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows,
                         const std::vector<bool>& right) {
  std::vector<std::size_t> width(headers.size(), 0);
  for (std::size_t i = 0; i < headers.size(); ++i) width[i] = headers[i].size();
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < width.size(); ++i) {
      const std::string& cell = i < cells.size() ? cells[i] : std::string();
      if (i > 0) out += "  ";
      bool r = i < right.size() && right[i];
      out += r ? fmt::format("{:>{}}", cell, width[i]) : fmt::format("{:<{}}", cell, width[i]);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(headers);
  for (const auto& row : rows) out += line(row);
  return out;
}

std::string plain_number(double value, int decimals) {
  if (!std::isfinite(value)) return "-";
  auto s = fmt::format("{:.{}f}", value, std::max(decimals, 0));
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "-";
  if (s < 60) return plain_number(s, 1) + "s";
  auto total = static_cast<long long>(std::llround(s));
  auto h = total / 3600, m = total % 3600 / 60, sec = total % 60;
  std::string out;
  if (h) out += fmt::format("{}h", h);
  if (m) out += fmt::format("{}m", m);
  if (sec) out += fmt::format("{}s", sec);
  return out;
}

std::string progress_bar(std::size_t done, std::size_t total, std::size_t width) {
  done = std::min(done, total);
  std::size_t filled = total == 0 ? 0 : (done * width + total / 2) / total;
  return fmt::format("[{}{}] {}/{}", std::string(filled, '#'), std::string(width - filled, '-'), done, total);
}

std::string fraction_bar(double fraction, std::size_t width) {
  if (!std::isfinite(fraction)) fraction = 0;
  fraction = std::clamp(fraction, 0.0, 1.0);
  auto filled = static_cast<std::size_t>(std::lround(fraction * static_cast<double>(width)));
  return fmt::format("[{}{}]", std::string(filled, '#'), std::string(width - filled, '-'));
}

std::string ramp_cell(const json::value& ramp) {
  if (!ramp.is_object()) return "-";
  return fmt::format("{} {}/{}", str(at(ramp, "state")), steps_done(ramp), array_size(at(ramp, "steps")));
}

std::string status_view(const json::value& response) {
  std::vector<std::vector<std::string>> rows;
  const auto& routes = at(response, "routes");
  if (routes.is_array())
    for (const auto& r : routes.as_array())
      rows.push_back({str(at(r, "name")), str(at(r, "source")), str(at(r, "target")), percent(at(r, "read_weight")),
                      percent(at(r, "write_weight")), writes_cell(at(r, "writes")), tunnels_cell(at(r, "tunnels")),
                      ramp_cell(at(r, "ramp")), count(at(r, "generation"))});
  if (rows.empty()) return "no routes\n";
  return format_table({"ROUTE", "SOURCE", "TARGET", "READ %", "WRITE %", "WRITES", "TUNNELS", "RAMP", "GEN"}, rows,
                      {false, false, false, true, true, false, true, false, true});
}

std::string route_line(const json::value& r) {
  std::string writes = writes_cell(at(r, "writes"));
  if (writes.starts_with("held")) writes = "writes held (" + count(at(at(r, "writes"), "held_requests")) + " waiting)";
  else if (writes == "flowing") writes = "writes flowing";
  return fmt::format("{}: read {} %, write {} %, {}, generation {}\n", str(at(r, "name")), percent(at(r, "read_weight")),
                     percent(at(r, "write_weight")), writes, count(at(r, "generation")));
}

std::string hold_view(const json::value& r) {
  std::string out = route_line(r);
  auto at_hold = count(at(r, "in_flight_at_hold"));
  auto remaining = count(at(r, "in_flight_remaining"));
  if (flag(at(r, "drained")))
    out += fmt::format("writes held; {} in flight at the hold, all finished\n", at_hold);
  else if (at(r, "drained").is_bool())
    out += fmt::format("writes held; {} in flight at the hold, {} still in flight when the drain ended\n", at_hold,
                       remaining);
  else
    out += "writes held\n";
  if (at(at(r, "fleet"), "nodes").is_object()) {  // a fleet-wide hold: each node's drain
    std::vector<std::vector<std::string>> rows;
    for (const auto& [node, d] : at(at(r, "fleet"), "nodes").as_object())
      rows.push_back({std::string(node), count(at(d, "in_flight_at_hold")), count(at(d, "in_flight_remaining")),
                      flag(at(d, "drained")) ? "yes" : "no"});
    out += format_table({"NODE", "IN FLIGHT AT HOLD", "REMAINING", "DRAINED"}, rows, {false, true, true, false});
  }
  if (at(r, "tunnels").is_object())  // tunnels are not drained: they may carry writes until closed
    out += fmt::format("tunnels open: {} to source, {} to target\n", count(at(at(r, "tunnels"), "source")),
                       count(at(at(r, "tunnels"), "target")));
  return out;
}

std::string release_view(const json::value& r) {
  std::string out = fmt::format("released {} held writes\n", count(at(r, "released")));
  if (at(r, "tunnels_closing").is_number())
    out += fmt::format("closing {} tunnels of the side that lost the writes\n", count(at(r, "tunnels_closing")));
  return out + route_line(r);
}

std::string fleet_view(const json::value& f) {
  const auto& etcd = at(f, "etcd");
  std::string out = fmt::format("node {}: etcd {}, applied revision {}, leader {}\n", str(at(f, "node")),
                                flag(at(etcd, "up")) ? "up" : "unreachable (" + str(at(etcd, "error")) + ")",
                                count(at(f, "applied_revision")), str(at(f, "leader")));
  std::vector<std::vector<std::string>> rows;
  if (at(f, "nodes").is_array())
    for (const auto& n : at(f, "nodes").as_array()) rows.push_back({str(at(n, "node")), count(at(n, "applied_revision"))});
  out += format_table({"NODE", "APPLIED REVISION"}, rows, {false, true});
  rows.clear();
  if (at(f, "local_overrides").is_array())
    for (const auto& o : at(f, "local_overrides").as_array())
      rows.push_back({str(at(o, "route")), percent(at(o, "read_weight")), percent(at(o, "write_weight"))});
  if (rows.empty())
    out += "local overrides: none\n";
  else
    out += "local overrides (not yet in etcd):\n" +
           format_table({"ROUTE", "READ %", "WRITE %"}, rows, {false, true, true});
  return out;
}

std::string ramp_view(const json::value& ramp) {
  std::string out;
  ramp_head(out, ramp);
  ramp_gates(out, ramp);
  ramp_outcome(out, ramp);
  return out;
}

std::string watch_view(const json::value& ramp, const json::value& stats, std::string_view note) {
  std::string out;
  ramp_head(out, ramp);
  // Only a running ramp's step clock moves; the server reports 0 otherwise.
  auto elapsed = json_number(at(ramp, "step_elapsed_s"));
  auto interval = json_number(at(ramp, "interval_s"));
  if (elapsed && str(at(ramp, "state")) == "running") {
    double fraction = interval && *interval > 0 ? *elapsed / *interval : 0;
    out += fmt::format("time in step {} / {}  {}\n", duration_text(*elapsed), seconds(at(ramp, "interval_s")),
                       fraction_bar(fraction));
  }
  ramp_gates(out, ramp);
  const auto& route = stats_route(stats, str(at(ramp, "route")));
  if (route.is_object()) {
    const auto& sides = at(route, "sides");
    out += fmt::format("traffic over the last {}:\n", seconds(at(stats, "window_s")));
    std::vector<std::vector<std::string>> rows;
    for (std::string side : {"source", "target"}) {
      auto cells = side_cells(at(sides, side));
      cells.insert(cells.begin(), "  " + side);
      rows.push_back(std::move(cells));
    }
    out += format_table({"  SIDE", "REQ", "5XX", "ERR %", "P50 MS", "P99 MS"}, rows,
                        {false, true, true, true, true, true});
    const auto& mirror = at(route, "mirror");
    if (mirror_seen(mirror))
      out += fmt::format("  mirror: {} match, {} mismatch ({})\n", count(at(mirror, "match")),
                         count(at(mirror, "mismatch")), rate(at(mirror, "mismatch_rate")));
  } else {
    out += fmt::format("traffic: {}\n", note.empty() ? std::string_view("no stats for this route") : note);
  }
  ramp_outcome(out, ramp);
  return out;
}

std::string stats_view(const json::value& stats) {
  std::string out = fmt::format("window {}\n", seconds(at(stats, "window_s")));
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<std::string>> mirrors;
  const auto& routes = at(stats, "routes");
  if (routes.is_array())
    for (const auto& r : routes.as_array()) {
      auto name = str(at(r, "route"));
      for (std::string side : {"source", "target"}) {
        auto cells = side_cells(at(at(r, "sides"), side));
        cells.insert(cells.begin(), {name, side});
        rows.push_back(std::move(cells));
      }
      const auto& m = at(r, "mirror");
      if (mirror_seen(m))
        mirrors.push_back({name, count(at(m, "match")), count(at(m, "mismatch")), rate(at(m, "mismatch_rate"))});
    }
  if (rows.empty()) return out + "no routes\n";
  out += format_table({"ROUTE", "SIDE", "REQ", "5XX", "ERR %", "P50 MS", "P99 MS"}, rows,
                      {false, false, true, true, true, true, true});
  if (!mirrors.empty()) {
    out += "\n";
    out += format_table({"ROUTE", "MIRROR MATCH", "MISMATCH", "MISMATCH %"}, mirrors, {false, true, true, true});
  }
  return out;
}

std::string shadow_view(const json::value& shadow, std::size_t samples) {
  std::string out;
  const auto& routes = at(shadow, "routes");
  if (!routes.is_array() || routes.as_array().empty()) return "no routes\n";
  for (const auto& r : routes.as_array()) {
    if (!out.empty()) out += "\n";
    auto name = str(at(r, "route"));
    if (!flag(at(r, "enabled"))) {
      out += fmt::format("route {}: no mirror\n", name);
      continue;
    }
    std::string methods;
    if (at(r, "methods").is_array())
      for (const auto& m : at(r, "methods").as_array()) methods += (methods.empty() ? "" : ",") + str(m);
    out += fmt::format("route {}: mirror {} % of {}\n", name, percent(at(r, "percent")), methods.empty() ? "-" : methods);
    out += fmt::format("  mirrored {}  compared {}  matched {}  mismatched {} ({})  errors {}\n",
                       count(at(r, "mirrored")), count(at(r, "compared")), count(at(r, "matched")),
                       count(at(r, "mismatched")), rate(at(r, "mismatch_rate")), count(at(r, "errors")));
    out += fmt::format("  dropped {}  skipped_body {}  in flight {}\n", count(at(r, "dropped")),
                       count(at(r, "skipped_body")), count(at(r, "in_flight")));
    const auto& last = at(r, "last_error");
    if (last.is_object()) out += fmt::format("  last error: {} ({})\n", str(at(last, "reason")), str(at(last, "time")));
    const auto& noise = at(r, "noise");
    const auto& fields = at(noise, "fields");
    if (noise.is_object() && json_number(at(noise, "samples")).value_or(0) > 0) {
      std::string list;
      if (fields.is_array())
        for (const auto& f : fields.as_array())
          list += fmt::format("{}{} ({})", list.empty() ? "" : ", ", str(at(f, "field")), count(at(f, "count")));
      out += fmt::format("  noise: {} samples; fields {}; other {}\n", count(at(noise, "samples")),
                         list.empty() ? "-" : list, count(at(noise, "other")));
    }
    const auto& list = at(r, "samples");
    if (!list.is_array() || list.as_array().empty() || samples == 0) continue;
    const auto& arr = list.as_array();
    auto n = std::min(samples, arr.size());
    out += fmt::format("  newest {} of {} mismatches:\n", n, arr.size());
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& s = arr[arr.size() - 1 - i];  // the server keeps them oldest first
      auto primary = str(at(s, "primary_side"));
      auto shadow_side = primary == "source" ? "target" : primary == "target" ? "source" : "shadow";
      rows.push_back({"    " + str(at(s, "time")), str(at(s, "method")) + " " + str(at(s, "path")),
                      fmt::format("{} {} / {} {}", primary, str(at(s, "primary_status")), shadow_side,
                                  str(at(s, "shadow_status"))),
                      str(at(s, "first_difference"))});
    }
    out += format_table({"    TIME", "REQUEST", "STATUS", "FIRST DIFFERENCE"}, rows);
  }
  return out;
}

namespace {

// "3 values (acme, globex, initech)": the first few of a list, then "...".
std::string listed(const json::value& list, std::string_view noun) {
  if (!list.is_array()) return "-";
  const auto& a = list.as_array();
  std::string shown;
  for (std::size_t i = 0; i < a.size() && i < 3; ++i) shown += (i ? ", " : "") + str(a[i]);
  if (a.size() > 3) shown += ", ...";
  return fmt::format("{} {}{} ({})", a.size(), noun, a.size() == 1 ? "" : "s", shown);
}

std::string maintenance_line(const json::value& r) {
  const auto& m = at(r, "maintenance");
  if (!m.is_object()) return fmt::format("{}: maintenance off, generation {}\n", str(at(r, "route")), count(at(r, "generation")));
  return fmt::format("{}: maintenance on ({}, Retry-After {}s, since {}), generation {}\n", str(at(r, "route")),
                     count(at(m, "status")), count(at(m, "retry_after_s")), str(at(m, "since")),
                     count(at(r, "generation")));
}

}  // namespace

std::string segments_view(const json::value& v) {
  const auto& list = at(v, "segments");
  std::vector<std::vector<std::string>> rows;
  if (list.is_array()) {
    std::size_t n = 0;
    for (const auto& seg : list.as_array()) {
      std::string match;
      if (at(seg, "client_cidrs").is_array()) {
        match = "client " + listed(at(seg, "client_cidrs"), "network");
      } else {
        const bool header = at(seg, "header").is_string();
        match = fmt::format("{} {}: ", header ? "header" : "cookie", str(at(seg, header ? "header" : "cookie")));
        match += at(seg, "prefix").is_string() ? "prefix " + str(at(seg, "prefix")) : listed(at(seg, "values"), "value");
      }
      rows.push_back({std::to_string(++n), match, str(at(seg, "side"))});
    }
  }
  std::string out = rows.empty() ? std::string("no segments\n") : format_table({"N", "MATCH", "SIDE"}, rows, {true});
  return out + fmt::format("route {}, generation {}\n", str(at(v, "route")), count(at(v, "generation")));
}

std::string maintenance_view(const json::value& v) {
  if (!at(v, "routes").is_array()) return maintenance_line(v);
  std::string out;
  for (const auto& r : at(v, "routes").as_array()) out += maintenance_line(r);
  return out.empty() ? "no HTTP routes\n" : out;
}

}  // namespace cutover::ctl
