// Config reload (SIGHUP and POST /v1/config/reload): which settings a reload may change, decided
// by pure functions over the running and the new config, and what a reload reports.
// Control::reload() (defined in reload.cpp) applies them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "config/model.hpp"

namespace cutover::admin {

// The result of one reload. On failure nothing changed: the running config keeps serving.
struct ReloadOutcome {
  bool ok = false;
  std::vector<std::string> errors;    // "FILE:LINE:COL: message" (line 0 when no place fits)
  std::vector<std::string> warnings;  // the loader's warnings and the reload's own, same form
  std::size_t routes = 0;             // routes in the running config afterwards
  std::vector<std::string> routes_added;    // by name, in config order
  std::vector<std::string> routes_removed;  // by name, in the old config's order
  std::vector<std::string> ramps_aborted;   // active ramps of removed routes
};

// Settings bound once at start-up that a reload cannot change: workers, admin.listen,
// admin.tokens_file (the path; the file itself is re-read), state_file, audit_log, and a
// listener's protocol (listeners are added, removed and moved by a reload: ListenerSet). One error per change, placed in `next`'s file
// and naming the old and the new value. Empty when `next` changes none of them.
std::vector<config::Diagnostic> restart_only_changes(const config::Config& running, const config::Config& next);

// Reload warnings that do not stop it: a mirror_log whose path stays but whose rotation settings
// changed (the open writer keeps its settings until the path changes or cutover restarts).
std::vector<config::Diagnostic> reload_warnings(const config::Config& running, const config::Config& next);

// Clusters of `next` whose connections `running` made must not be reused: the same name with
// other connection settings (tls on or off, sni, ca_file, verify, protocol, send_proxy_protocol).
// Their pooled connections are closed and HTTP/2 sessions retired through the pool epoch.
std::vector<std::string> clusters_with_new_connection_settings(const config::Config& running,
                                                               const config::Config& next);

struct RouteChanges {
  std::vector<std::string> added;    // in `next`, not in `running`; config order
  std::vector<std::string> removed;  // in `running`, not in `next`; config order
};
RouteChanges route_changes(const config::Config& running, const config::Config& next);

}  // namespace cutover::admin
