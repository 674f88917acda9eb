// cutoverctl: the operator CLI over cutover's admin API (SPEC "Binaries"). Flags and
// subcommands are CLI11's; each command is one or more calls of ctl::AdminClient and a view from
// ctl/render.hpp. Exit codes: 0 done, 1 the API answered with an error, 2 usage, 3 the admin
// endpoint could not be reached, 4 a watched ramp rolled back.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/json_number.hpp"
#include "common/ramp_gates.hpp"
#include "config/units.hpp"
#include "ctl/client.hpp"
#include "ctl/render.hpp"

namespace {

namespace common = cutover::common;
namespace json = boost::json;
using boost::beast::http::verb;
using namespace cutover::ctl;
using std::chrono::milliseconds;

constexpr int kExitApiError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;
constexpr int kExitRolledBack = 4;

// A duration argument: "250ms", "60s", "5m" (the config's syntax) or plain seconds ("1.5").
std::optional<milliseconds> duration_arg(const std::string& text) {
  if (auto d = cutover::config::parse_duration(text)) return *d;
  double s = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), s);
  if (ec != std::errc{} || p != text.data() + text.size() || !std::isfinite(s) || s < 0) return std::nullopt;
  return milliseconds(std::llround(s * 1000));
}

// The text sent to the API for a duration: whole seconds as "60s", else milliseconds.
std::string duration_wire(milliseconds d) {
  return d.count() % 1000 == 0 ? fmt::format("{}s", d.count() / 1000) : fmt::format("{}ms", d.count());
}

// A weight: percent to target. The help says PERCENT and the range in words.
const CLI::Validator kPercent = CLI::Range(0.0, 100.0).description("");

const CLI::Validator kDuration(
    [](std::string& text) -> std::string {
      return duration_arg(text) ? std::string() : "'" + text + "' is not a duration like 500ms, 60s, 5m or seconds";
    },
    "DURATION");

struct Ctl {
  AdminClient client;
  bool json_output = false;
  std::string reason;  // --reason: recorded in the audit entry of every change

  // Reports a failed call on stderr and gives its exit code; 0 when the call succeeded.
  int check(const CallResult& r) const {
    if (!r.response) {
      fmt::print(stderr, "cutoverctl: cannot reach {}: {}\n", client.endpoint().url, r.unreachable);
      return kExitUnreachable;
    }
    if (!r.response->ok()) {
      if (json_output) print_raw(*r.response);
      fmt::print(stderr, "cutoverctl: {} {}\n", r.response->status, r.response->error_text());
      return kExitApiError;
    }
    if (!json_output && r.response->json.is_null()) {
      fmt::print(stderr, "cutoverctl: {} answered {} without a JSON body\n", client.endpoint().url, r.response->status);
      return kExitApiError;
    }
    return 0;
  }

  static void print_raw(const AdminResponse& res) {
    std::fputs(res.body.c_str(), stdout);
    if (res.body.empty() || res.body.back() != '\n') std::fputc('\n', stdout);
  }

  // One call, then the raw body (--json) or the view.
  int run(verb method, const std::string& target, const json::value* body,
          const std::function<std::string(const json::value&)>& view,
          std::optional<milliseconds> timeout = std::nullopt) const {
    json::value with_reason;
    if (method != verb::get && !reason.empty()) {
      with_reason = body && body->is_object() ? *body : json::object{};
      with_reason.as_object()["reason"] = reason;
      body = &with_reason;
    }
    auto r = client.call(method, target, body, timeout.value_or(client.timeout()));
    if (int rc = check(r)) return rc;
    if (json_output)
      print_raw(*r.response);
    else
      std::fputs(view(r.response->json).c_str(), stdout);
    return 0;
  }
};

std::vector<std::string> route_path(const std::string& route, std::initializer_list<std::string> rest = {}) {
  std::vector<std::string> seg{"v1", "routes", route};
  seg.insert(seg.end(), rest);
  return seg;
}

struct WatchOptions {
  std::string route;
  std::string interval = "1s";
  double max_seconds = 0;  // 0: until the ramp ends
};

// The live ramp view (docs/cutoverctl.md, "watch"): redraws in place on a terminal, else one block per refresh.
int watch(const Ctl& ctl, const WatchOptions& opt) {
  const auto interval = *duration_arg(opt.interval);
  const bool tty = ::isatty(STDOUT_FILENO) == 1;
  const auto start = std::chrono::steady_clock::now();
  const auto ramp_target = api_target(route_path(opt.route, {"ramp"}));
  for (bool first = true;; first = false) {
    auto r = ctl.client.call(verb::get, ramp_target);
    if (int rc = ctl.check(r)) return rc;
    const json::value& ramp_value = r.response->json;
    if (!ramp_value.is_object()) {
      fmt::print(stderr, "cutoverctl: {} answered {} without a ramp object\n", ctl.client.endpoint().url,
                 r.response->status);
      return kExitApiError;
    }

    // The stats window covers the current step: at least 5 s, at most the server's 15 minutes.
    double elapsed = 0;
    if (const auto* e = ramp_value.as_object().if_contains("step_elapsed_s"))
      elapsed = common::json_number(*e).value_or(0);
    auto window = std::clamp(static_cast<long long>(std::ceil(elapsed)), 5LL, 900LL);
    auto s = ctl.client.call(verb::get, api_target({"v1", "stats"}, {{"window", fmt::format("{}s", window)},
                                                                       {"route", opt.route}}));
    json::value stats;
    std::string note;
    if (!s.response)
      note = "cannot reach the admin API: " + s.unreachable;
    else if (!s.response->ok())
      note = fmt::format("GET /v1/stats: {} {}", s.response->status, s.response->error_text());
    else
      stats = s.response->json;

    if (ctl.json_output) {
      std::fputs((json::serialize(json::object{{"ramp", ramp_value}, {"stats", stats}}) + "\n").c_str(), stdout);
    } else {
      std::string view = fmt::format("cutoverctl watch {}  (every {})\n", opt.route, opt.interval) +
                         watch_view(ramp_value, stats, note);
      if (tty)
        view = "\x1b[H\x1b[2J" + view;
      else if (!first)
        view = "\n" + view;
      std::fputs(view.c_str(), stdout);
    }
    std::fflush(stdout);

    std::string state, reason;
    if (const auto* v = ramp_value.as_object().if_contains("state"); v && v->is_string()) state = v->as_string();
    if (const auto* v = ramp_value.as_object().if_contains("reason"); v && v->is_string()) reason = v->as_string();
    if (state == "completed" || state == "aborted") return 0;
    if (state == "awaiting_approval") {
      // A person decides now; following on would only repeat this view.
      fmt::print("the ramp on route {} waits for approval: cutoverctl ramp-approve {}\n", opt.route, opt.route);
      return 0;
    }
    if (state == "rolled_back") {
      fmt::print(stderr, "cutoverctl: the ramp on route {} rolled back: {}\n", opt.route,
                 reason.empty() ? "no reason given" : reason);
      return kExitRolledBack;
    }
    auto next = interval;
    if (opt.max_seconds > 0) {
      auto left = std::chrono::duration_cast<milliseconds>(
          std::chrono::duration<double>(opt.max_seconds) - (std::chrono::steady_clock::now() - start));
      if (left.count() <= 0) return 0;
      next = std::min(next, left);
    }
    std::this_thread::sleep_for(next);
  }
}

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  // The help is the reference of the command line: the man page (help2man) and docs/cutoverctl.md
  // are checked against it, so every command, option, variable and exit code is said here, and
  // every command's help ends with examples.
  CLI::App app{"cutoverctl: the operator CLI over cutover's admin API. It reads and changes a route's weights, "
               "holds and releases its writes, runs and follows gated ramps, and shows stats and shadow "
               "comparisons; each command is one admin call (watch: one per refresh), printed as a table or "
               "view, or as the raw JSON with --json.",
               "cutoverctl"};
  app.get_formatter()->label("SUBCOMMAND", "COMMAND");
  app.set_version_flag("--version", "cutoverctl " CUTOVER_VERSION, "print the version and exit");
  app.footer(
      "Run 'cutoverctl COMMAND --help' for a command's options and examples. Global options may also follow "
      "the command. Durations are written as in the config (500ms, 60s, 5m) or as plain seconds.\n"
      "\n"
      "Environment:\n"
      "  CUTOVER_ADMIN   admin API URL when --admin is not given (default http://127.0.0.1:9901;\n"
      "                  HOST:PORT means http://HOST:PORT)\n"
      "  CUTOVER_TOKEN   bearer token when --token is not given\n"
      "\n"
      "Exit status:\n"
      "  0   done\n"
      "  1   the admin API answered with an error, printed as 'cutoverctl: STATUS ERROR'\n"
      "  2   usage error\n"
      "  3   the admin API could not be reached or did not answer within --timeout\n"
      "  4   the ramp that watch followed rolled back\n"
      "\n"
      "Examples:\n"
      "  cutoverctl status\n"
      "  CUTOVER_ADMIN=10.0.0.5:9901 CUTOVER_TOKEN=s3cret cutoverctl set app --weight 10 --reason canary");
  app.require_subcommand(1, 1);
  app.fallthrough();  // global options may follow the command too
  app.failure_message([](const CLI::App* a, const CLI::Error& e) {
    return fmt::format("cutoverctl: {} (see {} --help)\n", e.what(), a->get_name());
  });

  std::string admin_url = env_or("CUTOVER_ADMIN", "http://127.0.0.1:9901");
  std::string token = env_or("CUTOVER_TOKEN", "");
  double timeout_s = 10;
  bool json_output = false;
  app.add_option("--admin", admin_url, "admin API URL, http:// only (env CUTOVER_ADMIN)")
      ->type_name("URL")
      ->capture_default_str();
  app.add_option("--token", token, "bearer token sent as Authorization: Bearer, for changes (env CUTOVER_TOKEN)")
      ->type_name("TOKEN");
  app.add_option("--timeout", timeout_s, "seconds to wait for each admin call (hold: its drain plus 5 s at least)")
      ->type_name("SECONDS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--json", json_output, "print the raw JSON response instead of the human view");
  std::string reason;
  app.add_option("--reason", reason, "why: sent with every change and recorded in its audit log entry")
      ->type_name("TEXT");

  std::vector<std::pair<CLI::App*, std::function<int(const Ctl&)>>> commands;
  // A command: its one-line help, the examples its --help ends with, and what it runs.
  auto command = [&](std::string name, std::string help, std::initializer_list<const char*> examples,
                     std::function<int(const Ctl&)> run) {
    auto* sub = app.add_subcommand(std::move(name), std::move(help));
    sub->group("Commands");  // the heading of the list in --help
    std::string footer = "Examples:";
    for (const char* e : examples) footer += std::string("\n  ") + e;
    sub->footer(footer);
    commands.emplace_back(sub, std::move(run));
    return sub;
  };

  // status [ROUTE]
  std::string status_route;
  command("status", "weights, write hold and ramp of every route (or one)",
          {"cutoverctl status", "cutoverctl status app --json"}, [&](const Ctl& ctl) {
    if (status_route.empty())
      return ctl.run(verb::get, api_target({"v1", "routes"}), nullptr, status_view);
    return ctl.run(verb::get, api_target(route_path(status_route)), nullptr, [](const json::value& r) {
      return status_view(json::object{{"routes", json::array{r}}});
    });
  })->add_option("route", status_route, "only this route");

  // set ROUTE --weight N | --read-weight N --write-weight M [--if-generation G]
  std::string set_route;
  std::optional<double> weight, read_weight, write_weight;
  std::optional<std::uint64_t> if_generation;
  auto* set = command("set", "change a route's weights (percent to target)",
                      {"cutoverctl set app --weight 10",
                       "cutoverctl set app --read-weight 50 --write-weight 0 --if-generation 4"},
                      [&](const Ctl& ctl) {
    json::object body;
    if (weight) body["weight"] = common::percent_json(*weight);
    if (read_weight) body["read_weight"] = common::percent_json(*read_weight);
    if (write_weight) body["write_weight"] = common::percent_json(*write_weight);
    if (if_generation) body["if_generation"] = *if_generation;
    json::value v = std::move(body);
    return ctl.run(verb::put, api_target(route_path(set_route, {"weights"})), &v, route_line);
  });
  set->add_option("route", set_route, "route name")->required();
  auto* weight_opt =
      set->add_option("--weight", weight, "read and write weight, 0..100")->check(kPercent)->type_name("PERCENT");
  set->add_option("--read-weight", read_weight, "weight of safe methods (GET, HEAD, OPTIONS, TRACE)")
      ->check(kPercent)->type_name("PERCENT")
      ->excludes(weight_opt);
  set->add_option("--write-weight", write_weight, "weight of every other method")
      ->check(kPercent)->type_name("PERCENT")
      ->excludes(weight_opt);
  set->add_option("--if-generation", if_generation, "refuse (409) unless the route is at this generation");

  // rollback ROUTE [--close-target-connections [--grace DURATION]]
  std::string rollback_route;
  bool close_target = false;
  std::string grace;
  auto* rollback = command("rollback", "all weights of a route to 0 at once",
                           {"cutoverctl rollback app --reason 'p99 doubled'",
                            "cutoverctl rollback app --close-target-connections --grace 2s"},
                           [&](const Ctl& ctl) {
    json::object body;
    if (close_target) body["close_target_connections"] = true;
    if (!grace.empty()) body["grace"] = grace;  // checked by the server (422)
    json::value v = std::move(body);
    return ctl.run(verb::post, api_target(route_path(rollback_route, {"rollback"})), &v, route_line);
  });
  rollback->add_option("route", rollback_route, "route name")->required();
  auto* close_flag = rollback->add_flag("--close-target-connections", close_target,
                                        "also drop pooled connections to the target and close the target connections of a "
                                        "tcp route and the target tunnels (WebSocket) of an HTTP route");
  rollback->add_option("--grace", grace, "with --close-target-connections: let those connections run this long first (e.g. 2s)")
      ->needs(close_flag);

  // hold ROUTE [--drain SECONDS]
  std::string hold_route;
  std::optional<double> drain_s;
  auto* hold = command("hold", "hold new writes of a route (reads flow); waits for writes in flight",
                       {"cutoverctl hold app", "cutoverctl hold app --drain 30"}, [&](const Ctl& ctl) {
    json::object body;
    if (drain_s) body["drain"] = *drain_s;
    json::value v = std::move(body);
    // The server answers after the drain (default 10 s): give the call that long and more.
    auto wait = milliseconds(std::llround((drain_s.value_or(10) + 5) * 1000));
    return ctl.run(verb::post, api_target(route_path(hold_route, {"writes", "hold"})), &v, hold_view,
                   std::max(wait, ctl.client.timeout()));
  });
  hold->add_option("route", hold_route, "route name")->required();
  hold->add_option("--drain", drain_s, "seconds to wait for writes in flight (server default 10)")
      ->check(CLI::Range(0.0, 3600.0));

  // release ROUTE [--write-weight N] [--close-tunnels SIDE [--grace DURATION]]
  std::string release_route, close_tunnels, release_grace;
  std::optional<double> release_weight;
  auto* release = command("release", "send held writes out in arrival order",
                          {"cutoverctl release app --write-weight 100",
                           "cutoverctl release app --write-weight 100 --close-tunnels source --grace 1s"},
                          [&](const Ctl& ctl) {
    json::object body;
    if (release_weight) body["write_weight"] = common::percent_json(*release_weight);
    if (!close_tunnels.empty()) body["close_tunnels"] = close_tunnels;
    if (!release_grace.empty()) body["grace"] = release_grace;  // checked by the server (422)
    json::value v = std::move(body);
    return ctl.run(verb::post, api_target(route_path(release_route, {"writes", "release"})), &v, release_view);
  });
  release->add_option("route", release_route, "route name")->required();
  release->add_option("--write-weight", release_weight, "write weight applied before the release")
      ->check(kPercent)->type_name("PERCENT");
  auto* close_tunnels_opt =
      release->add_option("--close-tunnels", close_tunnels,
                          "end the tunnels (WebSocket) still open to this side, which lost the writes: source or target")
          ->check(CLI::IsMember({"source", "target"}));
  release->add_option("--grace", release_grace, "with --close-tunnels: let those tunnels run this long first (e.g. 2s)")
      ->needs(close_tunnels_opt);

  // ramp ROUTE --steps ... --interval ... [gates] [--max-wait] [--webhook URL [--webhook-timeout]]
  std::string ramp_route, ramp_interval, apply_to = "both", max_wait, webhook, webhook_timeout;
  std::vector<double> steps;
  std::optional<double> max_error_rate, max_p99_ms, max_p99_ratio, max_mismatch_rate;
  std::optional<std::uint64_t> min_requests;
  std::vector<double> approve_at;
  bool dry_run = false;
  std::map<std::string, std::string> hooks;  // pre_step, post_step, on_rollback, on_complete -> URL
  std::vector<std::vector<std::string>> prometheus_gates;  // {URL, QUERY, max=N | min=N}
  auto* ramp = command("ramp", "start an automated ramp through weight steps, gated on the target's health",
                       {"cutoverctl ramp app --steps 1,5,25,50,100 --interval 60s --max-error-rate 0.01 "
                        "--max-p99-ms 500",
                        "cutoverctl ramp app --steps 10,50,100 --interval 5m --apply-to read --max-p99-ratio 1.5 "
                        "--min-requests 200 --max-wait 10m --webhook http://hooks.internal/cutover",
                        "cutoverctl ramp app --steps 5,25,50,100 --interval 5m --approve-at 50 --pre-step "
                        "http://hooks.internal/check --prometheus-gate http://prometheus:9090 "
                        "'sum(rate(http_errors_total[1m])) or vector(0)' max=0.5",
                        "cutoverctl ramp app --steps 5,25,100 --interval 60s --max-error-rate 0.01 --dry-run"},
                       [&](const Ctl& ctl) {
    json::object body;
    json::array list;
    for (double s : steps) {
      // A step named by --approve-at waits for `cutoverctl ramp-approve`.
      const bool approve = std::find(approve_at.begin(), approve_at.end(), s) != approve_at.end();
      if (approve)
        list.push_back(json::object{{"weight", common::percent_json(s)}, {"approve", true}});
      else
        list.push_back(common::percent_json(s));
    }
    for (double a : approve_at)
      if (std::find(steps.begin(), steps.end(), a) == steps.end()) {
        fmt::print(stderr, "cutoverctl: --approve-at {} is not one of --steps\n", a);
        return 2;
      }
    body["steps"] = std::move(list);
    body["interval"] = duration_wire(*duration_arg(ramp_interval));
    body["apply_to"] = apply_to;
    // The thresholds given; min_requests is RampGates' default (the server's too) unless given.
    common::RampGates gates{max_error_rate, max_p99_ms, max_p99_ratio, max_mismatch_rate};
    if (min_requests) gates.min_requests = *min_requests;
    json::object gates_json = common::ramp_gates_json(gates);
    if (!prometheus_gates.empty()) {
      json::array list_p;
      for (const auto& g : prometheus_gates) {
        // The server checks URL and query; the bound is "max=N" or "min=N" here.
        const std::string& bound = g.at(2);
        const auto eq = bound.find('=');
        const std::string key = eq == std::string::npos ? std::string() : bound.substr(0, eq);
        double value = 0;
        const char* first = bound.data() + (eq == std::string::npos ? bound.size() : eq + 1);
        const char* last = bound.data() + bound.size();
        auto [end, ec] = std::from_chars(first, last, value);
        const bool number = ec == std::errc() && end == last && first != last && std::isfinite(value);
        if ((key != "max" && key != "min") || !number) {
          fmt::print(stderr, "cutoverctl: --prometheus-gate's third value must be max=N or min=N, not '{}'\n", bound);
          return 2;
        }
        list_p.push_back(json::object{{"url", g.at(0)}, {"query", g.at(1)}, {key, value}});
      }
      gates_json["prometheus"] = std::move(list_p);
    }
    body["gates"] = std::move(gates_json);
    if (!hooks.empty()) {
      json::object h;
      for (const auto& [k, url] : hooks) h[k] = url;
      body["hooks"] = std::move(h);
    }
    if (dry_run) body["dry_run"] = true;
    if (!max_wait.empty()) body["max_wait"] = duration_wire(*duration_arg(max_wait));
    if (!webhook.empty()) {
      json::object hook{{"url", webhook}};
      if (!webhook_timeout.empty()) hook["timeout"] = duration_wire(*duration_arg(webhook_timeout));
      body["webhook"] = std::move(hook);
    }
    json::value v = std::move(body);
    return ctl.run(verb::post, api_target(route_path(ramp_route, {"ramp"})), &v, ramp_view);
  });
  ramp->add_option("route", ramp_route, "route name")->required();
  ramp->add_option("--steps", steps, "weights in percent, e.g. 1,5,25,50,100")
      ->required()
      ->delimiter(',')
      ->check(kPercent)->type_name("PERCENT");
  ramp->add_option("--interval", ramp_interval, "time per step, e.g. 60s")->required()->check(kDuration);
  ramp->add_option("--apply-to", apply_to, "which weights the steps set")
      ->check(CLI::IsMember({"read", "write", "both"}))
      ->capture_default_str();
  ramp->add_option("--max-error-rate", max_error_rate, "gate: target 5xx rate, 0..1")->check(CLI::Range(0.0, 1.0));
  ramp->add_option("--max-p99-ms", max_p99_ms, "gate: target p99 latency in ms")->check(CLI::NonNegativeNumber);
  ramp->add_option("--max-p99-ratio", max_p99_ratio, "gate: target p99 / source p99")->check(CLI::NonNegativeNumber);
  ramp->add_option("--max-mismatch-rate", max_mismatch_rate, "gate: shadow mismatch rate, 0..1")
      ->check(CLI::Range(0.0, 1.0));
  ramp->add_option("--min-requests", min_requests, "gate: target requests needed before judging a step");
  ramp->add_option("--max-wait", max_wait, "how long a step may wait for min-requests, e.g. 5m")->check(kDuration);
  auto* webhook_opt = ramp->add_option(
      "--webhook", webhook, "gate: a URL that must approve each next step (a 2xx answer to a POST), until --max-wait");
  ramp->add_option("--webhook-timeout", webhook_timeout, "how long each webhook call may take, e.g. 5s")
      ->check(kDuration)
      ->needs(webhook_opt);
  ramp->add_option("--approve-at", approve_at,
                   "steps (weights in percent, from --steps) that wait for `cutoverctl ramp-approve` once applied")
      ->delimiter(',')
      ->check(kPercent)->type_name("PERCENT");
  for (const char* hook : {"pre_step", "post_step", "on_rollback", "on_complete"}) {
    std::string flag = std::string("--") + hook;
    std::replace(flag.begin(), flag.end(), '_', '-');
    const std::string what = std::string(hook) == "pre_step"
                                 ? "hook: a URL POSTed before each step after the first; anything but a 2xx pauses the ramp"
                                 : std::string("hook: a URL POSTed ") +
                                       (std::string(hook) == "post_step"     ? "after each step's weight is applied"
                                        : std::string(hook) == "on_rollback" ? "when a gate rolls the ramp back"
                                                                             : "when the ramp completes");
    ramp->add_option_function<std::string>(flag, [&hooks, key = std::string(hook)](const std::string& url) {
      hooks[key] = url;
    }, what)->type_name("URL");
  }
  ramp->add_option("--prometheus-gate", prometheus_gates,
                   "gate: URL QUERY max=N|min=N, a PromQL query on the team's Prometheus that must answer one number "
                   "within the bound (repeatable)")
      ->expected(3)
      ->allow_extra_args(false)
      ->type_name("URL QUERY BOUND");
  ramp->add_flag("--dry-run", dry_run,
                 "rehearse: walk the steps and evaluate the gates and hooks on live traffic, change no weight, record "
                 "what the ramp would have done");

  // ramp-status / ramp-pause / ramp-resume / ramp-abort ROUTE
  std::string ramp_status_route;
  command("ramp-status", "the ramp of a route: state, step, last gate evaluation",
          {"cutoverctl ramp-status app", "cutoverctl ramp-status app --json"}, [&](const Ctl& ctl) {
    return ctl.run(verb::get, api_target(route_path(ramp_status_route, {"ramp"})), nullptr, ramp_view);
  })->add_option("route", ramp_status_route, "route name")->required();
  std::string ramp_action_route;
  for (std::string action : {"pause", "resume", "abort", "approve"}) {
    const std::string example = "cutoverctl ramp-" + action + " app";
    const std::string what =
        action == "approve" ? "let a ramp awaiting approval go on past its step" : action + " the ramp of a route";
    command("ramp-" + action, what, {example.c_str()},
            [&ramp_action_route, action](const Ctl& ctl) {
      return ctl.run(verb::post, api_target(route_path(ramp_action_route, {"ramp", action})), nullptr, ramp_view);
    })->add_option("route", ramp_action_route, "route name")->required();
  }

  // watch ROUTE [--interval 1s] [--max-seconds N]
  WatchOptions watch_opt;
  auto* watch_cmd = command("watch", "follow a ramp live until it ends or waits for approval (exit 4 when it rolls back)",
                            {"cutoverctl watch app", "cutoverctl watch app --interval 5s --max-seconds 600"},
                            [&](const Ctl& ctl) { return watch(ctl, watch_opt); });
  watch_cmd->add_option("route", watch_opt.route, "route name")->required();
  watch_cmd->add_option("--interval", watch_opt.interval, "time between refreshes")->check(kDuration)->capture_default_str();
  watch_cmd->add_option("--max-seconds", watch_opt.max_seconds, "stop (exit 0) after this many seconds")
      ->check(CLI::PositiveNumber);

  // stats [--window 60s] [--route ROUTE]
  std::string stats_window = "60s", stats_route;
  auto* stats = command("stats", "requests, 5xx, latency per route and side over a window",
                        {"cutoverctl stats", "cutoverctl stats --window 5m --route app"}, [&](const Ctl& ctl) {
    std::vector<std::pair<std::string, std::string>> params{{"window", duration_wire(*duration_arg(stats_window))}};
    if (!stats_route.empty()) params.emplace_back("route", stats_route);
    return ctl.run(verb::get, api_target({"v1", "stats"}, params), nullptr, stats_view);
  });
  stats->add_option("--window", stats_window, "how far back the figures reach, 1s to 15m, e.g. 60s")
      ->check(kDuration)
      ->capture_default_str();
  stats->add_option("--route", stats_route, "only this route");

  // fleet
  command("fleet", "the fleet as this node sees it: nodes, applied revisions, leader, local overrides, etcd",
          {"cutoverctl fleet", "cutoverctl --admin http://edge-2:9901 fleet --json"}, [&](const Ctl& ctl) {
    return ctl.run(verb::get, api_target({"v1", "fleet"}), nullptr, fleet_view);
  });

  // shadow [ROUTE] [--samples N]
  std::string shadow_route;
  std::size_t shadow_samples = 5;
  auto* shadow = command("shadow", "shadow comparison counts and the newest mismatches",
                         {"cutoverctl shadow", "cutoverctl shadow app --samples 20"}, [&](const Ctl& ctl) {
    std::vector<std::pair<std::string, std::string>> params;
    if (!shadow_route.empty()) params.emplace_back("route", shadow_route);
    return ctl.run(verb::get, api_target({"v1", "shadow"}, params), nullptr,
                   [&](const json::value& v) { return shadow_view(v, shadow_samples); });
  });
  shadow->add_option("route", shadow_route, "only this route");
  shadow->add_option("--samples", shadow_samples, "mismatch samples to show per route")->capture_default_str();

  // segment ROUTE list | add (--header N | --cookie N) (--values A,B | --values-file F | --prefix P) --side S
  //                        | add --client-cidrs C,D --side S | remove N
  struct SegmentOptions {
    std::string route, action, header, cookie, prefix, side, values_file;
    std::vector<std::string> values, cidrs;
    std::size_t index = 0;
  } seg;
  auto* segment = command(
      "segment", "list, add or remove a route's tenant segments (requests pinned to a side by header, cookie or client)",
      {"cutoverctl segment app list", "cutoverctl segment app add --header X-Tenant --values acme,globex --side target",
       "cutoverctl segment app add --values-file tenants.txt --header X-Tenant --side target",
       "cutoverctl segment app add --client-cidrs 10.1.0.0/16 --side source", "cutoverctl segment app remove 2"},
      [&](const Ctl& ctl) {
        const auto target = api_target(route_path(seg.route, {"segments"}));
        if (seg.action == "list") return ctl.run(verb::get, target, nullptr, segments_view);
        // add and remove edit the list as read, and send it back under its generation (409 when
        // another change came in between).
        auto got = ctl.client.call(verb::get, target);
        if (int rc = ctl.check(got)) return rc;
        json::array list;
        if (const auto* l = got.response->json.as_object().if_contains("segments"); l && l->is_array()) list = l->as_array();
        if (seg.action == "remove") {
          if (seg.index == 0 || seg.index > list.size()) {
            fmt::print(stderr, "cutoverctl: route {} has {} segments; remove takes a number from 'segment {} list'\n",
                       seg.route, list.size(), seg.route);
            return kExitUsage;
          }
          list.erase(list.begin() + static_cast<std::ptrdiff_t>(seg.index - 1));
        } else {
          json::object added;
          if (!seg.header.empty()) added["header"] = seg.header;
          if (!seg.cookie.empty()) added["cookie"] = seg.cookie;
          if (!seg.cidrs.empty()) {
            json::array a;
            for (const auto& c : seg.cidrs) a.emplace_back(c);
            added["client_cidrs"] = std::move(a);
          }
          std::vector<std::string> values = seg.values;
          if (!seg.values_file.empty()) {
            std::ifstream in(seg.values_file);
            if (!in) {
              fmt::print(stderr, "cutoverctl: cannot read {}\n", seg.values_file);
              return kExitUsage;
            }
            for (std::string line; std::getline(in, line);) {
              while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
              if (!line.empty()) values.push_back(line);
            }
          }
          if (!values.empty()) {
            json::array a;
            for (const auto& v : values) a.emplace_back(v);
            added["values"] = std::move(a);
          }
          if (!seg.prefix.empty()) added["prefix"] = seg.prefix;
          added["side"] = seg.side;
          list.push_back(std::move(added));
        }
        json::value body = json::object{{"segments", std::move(list)},
                                        {"if_generation", got.response->json.as_object().at("generation")}};
        return ctl.run(verb::put, target, &body, segments_view);
      });
  segment->add_option("route", seg.route, "route name")->required();
  segment->add_option("action", seg.action, "list, add or remove")
      ->required()
      ->check(CLI::IsMember({"list", "add", "remove"}));
  segment->add_option("number", seg.index, "remove: the segment's number in 'list'");
  auto* seg_header = segment->add_option("--header", seg.header, "add: match this request header")->type_name("NAME");
  auto* seg_cookie = segment->add_option("--cookie", seg.cookie, "add: match this cookie")->type_name("NAME")->excludes(seg_header);
  segment->add_option("--client-cidrs", seg.cidrs, "add: match clients in these networks, e.g. 10.0.0.0/8,::1/128")
      ->delimiter(',')
      ->excludes(seg_header)
      ->excludes(seg_cookie);
  auto* seg_values = segment->add_option("--values", seg.values, "add: exact values, e.g. acme,globex")->delimiter(',');
  segment->add_option("--values-file", seg.values_file, "add: exact values, one per line (thousands are fine)")
      ->type_name("FILE");
  segment->add_option("--prefix", seg.prefix, "add: match values starting with this")->excludes(seg_values);
  segment->add_option("--side", seg.side, "add: where matching requests go")->check(CLI::IsMember({"source", "target"}));

  // maintenance ROUTE on|off [--status 503] [--retry-after 120s] [--body TEXT | --body-file PATH]
  //             [--content-type TYPE]; --all instead of ROUTE: every route at once
  struct MaintenanceOptions {
    std::vector<std::string> args;
    bool all = false;
    std::optional<unsigned> status;
    std::string retry_after, body, body_file, content_type;
  } mnt;
  auto* maintenance = command(
      "maintenance", "answer a route's requests from cutover itself (503 + Retry-After), or stop; testers allowed by "
                     "force still pass",
      {"cutoverctl maintenance app on --retry-after 120s --reason 'write flip'", "cutoverctl maintenance app off",
       "cutoverctl maintenance --all on --body-file /etc/cutover/maintenance.html"},
      [&](const Ctl& ctl) {
        const std::string& action = mnt.args.back();
        std::vector<std::string> path = mnt.all ? std::vector<std::string>{"v1", "maintenance"}
                                                : route_path(mnt.args.front(), {"maintenance"});
        if (action == "off") return ctl.run(verb::delete_, api_target(path), nullptr, maintenance_view);
        json::object body;
        if (mnt.status) body["status"] = *mnt.status;
        if (!mnt.retry_after.empty()) body["retry_after"] = duration_wire(*duration_arg(mnt.retry_after));
        if (!mnt.body.empty()) body["body"] = mnt.body;
        if (!mnt.body_file.empty()) body["body_file"] = mnt.body_file;
        if (!mnt.content_type.empty()) body["content_type"] = mnt.content_type;
        json::value v = std::move(body);
        return ctl.run(verb::put, api_target(path), &v, maintenance_view);
      });
  maintenance->add_option("args", mnt.args, "ROUTE on|off, or on|off with --all")->required()->expected(1, 2);
  maintenance->add_flag("--all", mnt.all, "every route of the config at once");
  maintenance->add_option("--status", mnt.status, "status of the answer (server default 503)")->check(CLI::Range(200, 599));
  maintenance->add_option("--retry-after", mnt.retry_after, "Retry-After of the answer (server default 120s)")
      ->check(kDuration);
  auto* mnt_body = maintenance->add_option("--body", mnt.body, "the answer's body (default: a plain page)")->type_name("TEXT");
  maintenance->add_option("--body-file", mnt.body_file, "the answer's body from a file on the cutover host")
      ->type_name("PATH")
      ->excludes(mnt_body);
  maintenance->add_option("--content-type", mnt.content_type, "the answer's Content-Type")->type_name("TYPE");

  std::optional<AdminEndpoint> endpoint;
  try {
    app.parse(argc, argv);
    if (set->parsed() && !weight && !read_weight && !write_weight)
      throw CLI::ValidationError("set", "give --weight N, or --read-weight N and/or --write-weight M");
    if (segment->parsed() && seg.action == "add" && seg.side.empty())
      throw CLI::ValidationError("segment", "add needs --side source|target");
    if (segment->parsed() && seg.action == "remove" && seg.index == 0)
      throw CLI::ValidationError("segment", "remove needs the segment's number from 'list'");
    if (maintenance->parsed()) {
      const bool shape = mnt.all ? mnt.args.size() == 1 : mnt.args.size() == 2;
      const std::string& action = mnt.args.back();
      if (!shape || (action != "on" && action != "off"))
        throw CLI::ValidationError("maintenance", "give ROUTE on|off, or --all on|off");
    }
    std::string url_error;
    endpoint = parse_admin_url(admin_url, url_error);
    if (!endpoint) throw CLI::ValidationError("--admin", url_error);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }

  Ctl ctl{AdminClient(*endpoint, token, milliseconds(std::llround(timeout_s * 1000))), json_output, reason};
  for (auto& [sub, run] : commands)
    if (sub->parsed()) return run(ctl);
  return kExitUsage;
}
