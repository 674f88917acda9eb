// Config reload: the rules (see reload.hpp) and Control::reload(), which applies them on the
// control thread. A reload either publishes a whole new snapshot or changes nothing at all.
#include "admin/reload.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>

#include <boost/json/array.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include "admin/auth.hpp"
#include "admin/control.hpp"

namespace cutover::admin {

namespace {

namespace json = boost::json;

constexpr std::string_view kRestart = "restart cutover to apply it";

// Where a top-level key is written in `file` (for settings the model keeps no mark of); 0:0 when
// the file cannot be read again or lacks the key.
config::Mark top_level_mark(const std::string& file, std::string_view key) {
  try {
    const YAML::Node root = YAML::LoadFile(file);
    if (!root.IsMap()) return {};
    for (const auto& kv : root) {
      if (kv.first.IsScalar() && kv.first.Scalar() == key) {
        const auto m = kv.first.Mark();
        if (m.is_null() || m.line < 0 || m.column < 0) return {};
        return {m.line + 1, m.column + 1};
      }
    }
  } catch (const std::exception&) {
  }
  return {};
}

std::string quoted(const std::string& s) { return s.empty() ? std::string("(none)") : "'" + s + "'"; }

bool same_address(const config::HostPort& a, const config::HostPort& b) { return a.host == b.host && a.port == b.port; }

std::vector<std::string> route_names(const config::Config& c) {
  std::vector<std::string> names;
  for (const auto& l : c.listeners)
    for (const auto& r : l.routes) names.push_back(r.name);
  return names;
}

json::array string_array(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

}  // namespace

std::vector<config::Diagnostic> restart_only_changes(const config::Config& running, const config::Config& next) {
  std::vector<config::Diagnostic> out;
  const std::string& file = next.path;
  auto at_key = [&](std::string_view key) { return top_level_mark(file, key); };

  if (running.workers != next.workers)
    out.push_back({file, at_key("workers"),
                   fmt::format("workers: changes from {} to {}; worker threads start once, {}", running.workers,
                               next.workers, kRestart)});
  if (running.worker_cpu_affinity != next.worker_cpu_affinity)
    out.push_back({file, at_key("worker_cpu_affinity"),
                   fmt::format("worker_cpu_affinity: changes; worker threads are placed when they start, {}", kRestart)});
  if (!same_address(running.admin.listen, next.admin.listen))
    out.push_back({file, next.admin.listen.mark,
                   fmt::format("admin.listen: changes from {} to {}; the admin listener is bound at start-up, {}",
                               running.admin.listen.text, next.admin.listen.text, kRestart)});
  if (running.admin.tokens_file != next.admin.tokens_file)
    out.push_back({file, next.admin.tokens_file.empty() ? at_key("admin") : next.admin.tokens_file_mark,
                   fmt::format("admin.tokens_file: changes from {} to {}; a reload re-reads the file but does not "
                               "switch files, {}",
                               quoted(running.admin.tokens_file), quoted(next.admin.tokens_file), kRestart)});
  if (running.state_file != next.state_file)
    out.push_back({file, at_key("state_file"),
                   fmt::format("state_file: changes from {} to {}; {}", quoted(running.state_file),
                               quoted(next.state_file), kRestart)});
  // The node's fleet membership (its etcd session and watch) is set up once at start-up.
  if (running.fleet.node != next.fleet.node || running.fleet.endpoints != next.fleet.endpoints ||
      running.fleet.prefix != next.fleet.prefix)
    out.push_back({file, at_key("fleet"), fmt::format("fleet: node, etcd endpoints or prefix change; {}", kRestart)});
  if (running.upgrade_socket != next.upgrade_socket)
    out.push_back({file, at_key("upgrade_socket"),
                   fmt::format("upgrade_socket: changes from {} to {}; a binary upgrade (cutover --upgrade) or a "
                               "restart applies it",
                               quoted(running.upgrade_socket), quoted(next.upgrade_socket))});
  if (running.audit_log != next.audit_log)
    out.push_back({file, at_key("audit_log"),
                   fmt::format("audit_log: changes from {} to {}; {}", quoted(running.audit_log),
                               quoted(next.audit_log), kRestart)});

  // Listeners are known by name: one the config adds is bound during the reload, one it removes
  // drains, one at another address is both (ListenerSet). What a listener's connections are
  // cannot change under them.
  for (const auto& l : next.listeners)
    for (const auto& o : running.listeners)
      if (o.name == l.name && o.protocol != l.protocol)
        out.push_back({file, l.mark,
                       fmt::format("listener '{}': protocol changes from {} to {}; {}", l.name, o.protocol,
                                   l.protocol, kRestart)});
  return out;
}

std::vector<std::string> clusters_with_new_connection_settings(const config::Config& running,
                                                               const config::Config& next) {
  auto settings = [](const config::ClusterConfig& c) {
    return std::tuple(c.tls.enabled, c.tls.sni, c.tls.ca_file, c.tls.verify, c.http2, c.send_proxy_protocol);
  };
  std::vector<std::string> out;
  for (const auto& c : next.clusters)
    for (const auto& o : running.clusters)
      if (o.name == c.name && settings(o) != settings(c)) out.push_back(c.name);
  return out;
}

std::vector<config::Diagnostic> reload_warnings(const config::Config& running, const config::Config& next) {
  std::vector<config::Diagnostic> out;
  const auto& a = running.mirror_log;
  const auto& b = next.mirror_log;
  if (!b.path.empty() && a.path == b.path && (a.max_size != b.max_size || a.max_files != b.max_files))
    out.push_back({next.path, top_level_mark(next.path, "mirror_log"),
                   "mirror_log: max_size and max_files of the open log stay as they are until its path changes or "
                   "cutover restarts"});
  return out;
}

RouteChanges route_changes(const config::Config& running, const config::Config& next) {
  const auto before = route_names(running);
  const auto after = route_names(next);
  const std::set<std::string> before_set(before.begin(), before.end()), after_set(after.begin(), after.end());
  RouteChanges c;
  for (const auto& n : after)
    if (!before_set.count(n)) c.added.push_back(n);
  for (const auto& n : before)
    if (!after_set.count(n)) c.removed.push_back(n);
  return c;
}

void Control::enable_reload(std::string config_path, runtime::RuntimeRegistry& registry) {
  config_path_ = std::move(config_path);
  registry_ = &registry;
  for (const char* result : {"success", "failure"}) metrics_.config_reloads.Add({{"result", result}});
}

ReloadOutcome Control::reload(const Actor& actor) {
  ReloadOutcome out;
  auto fail = [&](const std::vector<config::Diagnostic>& errors) {
    for (const auto& e : errors) {
      out.errors.push_back(e.str());
      spdlog::error("config reload ({}): {}", actor.name, e.str());
    }
    spdlog::error("config reload ({}) failed with {} error(s); the running config is unchanged", actor.name,
                  errors.size());
    metrics_.config_reloads.Add({{"result", "failure"}}).Increment();
    json::object entry{{"action", "config_reload"}, {"result", "failure"}, {"errors", string_array(out.errors)}};
    actor.stamp(entry);
    audit_->append(std::move(entry));
    return out;
  };
  if (!registry_) return fail({{config_path_, {}, "config reload is not enabled in this process"}});

  // 1. Read and validate, exactly as at start-up.
  auto loaded = config::load_file(config_path_);
  for (const auto& w : loaded.warnings) out.warnings.push_back(w.str());
  if (!loaded.errors.empty()) return fail(loaded.errors);
  const config::Config& next = *loaded.config;
  const auto running = snapshot();

  // 2. What only a restart can change, and what a reload must not lose.
  auto problems = restart_only_changes(running->config, next);
  auto changes = route_changes(running->config, next);
  for (const auto& name : changes.removed) {
    const auto* r = running->find_route(name);
    if (r && (r->runtime->writes_held() || r->runtime->held_requests.load() > 0))
      problems.push_back({config_path_, {},
                          fmt::format("route '{}' is removed but its writes are held ({} waiting); release them "
                                      "first (POST /v1/routes/{}/writes/release), then reload",
                                      name, r->runtime->held_requests.load(), name)});
  }
  // 3. What the loader cannot check: every endpoint resolves, the tokens file reads.
  for (const auto& c : next.clusters)
    for (const auto& ep : c.endpoints) {
      try {
        runtime::resolve(ep);
      } catch (const std::exception& e) {
        problems.push_back({config_path_, ep.mark, fmt::format("cluster '{}': {}", c.name, e.what())});
      }
    }
  Tokens tokens;
  if (!next.admin.tokens_file.empty()) {
    try {
      tokens = Tokens::load(next.admin.tokens_file);
    } catch (const std::exception& e) {
      problems.push_back({config_path_, next.admin.tokens_file_mark, e.what()});
    }
  }
  if (!problems.empty()) return fail(problems);
  // 4. Bind the listeners the config adds or moves: a port in use fails the reload here.
  if (listener_prepare_) {
    problems = listener_prepare_(next);
    if (!problems.empty()) return fail(problems);
  }
  auto finish_listeners = [&](const runtime::Snapshot* published) {
    if (listener_finish_) listener_finish_(published);
  };

  // 5. Compile (it leaves the registry as it was when it throws) and publish: workers take the
  // new snapshot at their next request; exchanges in flight finish on the one they pinned. Then
  // new listeners accept and removed ones stop.
  std::shared_ptr<const runtime::Snapshot> compiled;
  try {
    compiled = runtime::compile(next, *registry_, metrics_);
  } catch (const std::exception& e) {
    finish_listeners(nullptr);
    return fail({{config_path_, {}, e.what()}});
  }
  snapshots_.publish(compiled);
  // A connection opened under the old settings (plain where tls is now on, another sni or CA) is
  // not handed another request; the cluster keeps its name, so its pool epoch moves instead.
  for (const auto& name : clusters_with_new_connection_settings(running->config, next))
    for (const auto& c : compiled->clusters)
      if (c.name == name) c.runtime->bump_pool_epoch();
  finish_listeners(compiled.get());
  if (reload_listener_) reload_listener_();
  health_.apply(compiled);  // checks follow the new endpoints; verdicts of kept ones stay

  // 6. Forget what the new config no longer has: a route added back later starts from its
  // config's weights, like any new route.
  registry_->retain_routes([&](const std::string& name) { return compiled->find_route(name) != nullptr; });
  for (const auto& name : changes.removed)
    if (ramps_.on_route_removed(name)) out.ramps_aborted.push_back(name);
  tokens_ = std::move(tokens);
  for (const auto& w : reload_warnings(running->config, next)) out.warnings.push_back(w.str());

  out.ok = true;
  out.routes = compiled->routes.size();
  out.routes_added = std::move(changes.added);
  out.routes_removed = std::move(changes.removed);
  for (const auto& w : out.warnings) spdlog::warn("config reload ({}): {} (warning)", actor.name, w);
  spdlog::info("config reload ({}): success: {} route(s); added [{}], removed [{}]", actor.name, out.routes,
               fmt::join(out.routes_added, ", "), fmt::join(out.routes_removed, ", "));
  metrics_.config_reloads.Add({{"result", "success"}}).Increment();
  json::object entry{{"action", "config_reload"},
                     {"result", "success"},
                     {"routes", out.routes},
                     {"routes_added", string_array(out.routes_added)},
                     {"routes_removed", string_array(out.routes_removed)},
                     {"ramps_aborted", string_array(out.ramps_aborted)},
                     {"warnings", string_array(out.warnings)}};
  actor.stamp(entry);
  audit_->append(std::move(entry));
  persist();
  return out;
}

}  // namespace cutover::admin
