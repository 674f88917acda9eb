// The config's sections as the loader reads them, one file each in config/sections/, and the
// positions they keep for the checks that span sections (config/cross_checks.cpp).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "config/model.hpp"
#include "config/yaml_reader.hpp"

namespace cutover::config::detail {

// Positions the model does not keep but the cross-checks need.
struct RouteMarks {
  Mark name, source, target;
  Mark noise_sample;  // of mirror.compare.noise_sample's value; line 0 when not given
  Mark grpc;          // of match.grpc's value; line 0 when not given
  // Keys only an http listener's route may have ("read_weight", "sticky.header", ...), where they
  // were written: a tcp listener's routes are checked once the listener's protocol is known.
  std::vector<std::pair<std::string, Mark>> http_only;
};
struct ListenerMarks {
  Mark name, address;
  std::vector<RouteMarks> routes;  // parallel to ListenerConfig::routes
};

// What reading the whole file gives: the config and the positions the cross-checks need.
struct Document {
  Config config;
  bool have_clusters = false;  // the file has a `clusters` key (valid or not)
  Mark mirror_log;             // of the `mirror_log` key; line 0 when absent
  std::vector<ListenerMarks> listeners;  // parallel to config.listeners
};

// The top level (top.cpp): every section below, and the two required ones reported when missing.
void read_top(Reader& r, const YAML::Node& root, Document& doc);

// Each section's key paths below PREFIX (list_keys of its table), for config::documented_keys():
// the tables of one file are reached through each other's Below, those of another file
// through these.
ListKeys list_top_keys, list_admin_keys, list_limits_keys, list_timeouts_keys, list_cluster_keys, list_listener_keys,
    list_route_keys, list_mirror_keys, list_mirror_log_keys, list_access_log_keys, list_request_id_keys,
    list_tracing_keys, list_fleet_keys;

// admin: {listen, tokens_file} (admin.cpp).
void read_admin(Reader& r, const Entry& section, AdminConfig& admin);
// limits: {...} and timeouts: {...} (limits_timeouts.cpp).
void read_limits(Reader& r, const Entry& section, LimitsConfig& limits);
void read_timeouts(Reader& r, const Entry& section, TimeoutsConfig& timeouts);
// clusters: {NAME: {endpoints, ..., health_check, outlier_detection, tls}} (clusters.cpp).
void read_clusters(Reader& r, const Entry& section, std::vector<ClusterConfig>& clusters);
// listeners: [{name, address, protocol, idle_timeout, tls, routes}] (listeners.cpp).
void read_listeners(Reader& r, const Entry& section, Document& doc);
// One item of a listener's `routes`, at `at`, appended to `l` and `marks` (routes.cpp).
void read_route(Reader& r, const YAML::Node& node, Mark at, ListenerConfig& l, ListenerMarks& marks);
// A route's mirror: {percent, methods, ..., compare}; `route_context` is "route 'app'" (mirror.cpp).
void read_mirror(Reader& r, const Entry& section, MirrorConfig& m, RouteMarks& marks,
                 const std::string& route_context);
// A list of CIDRs into `out` (canonical, duplicates warned and dropped); `allows` ends the warning
// about a /0 ("to force a side"). False when an item was an error (cidr_list.cpp).
bool read_cidr_list(Reader& r, const Entry& e, const std::string& label, std::string_view allows,
                    std::vector<std::string>& out);
// A listener's access_log: {path, format, fields, log_query, sample} (observability.cpp).
void read_access_log(Reader& r, const Entry& section, AccessLogConfig& log);
// request_id: {header, trust_cidrs} and tracing: {generate} (observability.cpp).
void read_request_id(Reader& r, const Entry& section, RequestIdConfig& id);
void read_tracing(Reader& r, const Entry& section, TracingConfig& tracing);
// mirror_log: {path, max_size, max_files} (mirror.cpp); false when it is not a mapping (reported).
bool read_mirror_log(Reader& r, const Entry& section, MirrorLogConfig& log);

// fleet: {node, etcd: {endpoints, prefix, lease_ttl, username, password_file, ca_file, cert_file,
// key_file}, apply_timeout} (fleet.cpp).
void read_fleet(Reader& r, const Entry& section, FleetConfig& fleet);

}  // namespace cutover::config::detail
