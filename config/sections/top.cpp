// The top level of the config: process settings and the sections, each read by its own file.
#include <charconv>

#include "config/sections/sections.hpp"

namespace cutover::config::detail {

namespace {

// More threads than this is a typo, not a machine; 0 means one per core anyway.
constexpr unsigned kMaxWorkers = 1024;

struct Top {
  Document& doc;
  bool have_listeners = false;
};

void read_workers(Reader& r, const Entry& e, Top& t) {
  constexpr std::string_view kExpect = "a non-negative integer";
  auto s = r.scalar(e, "workers", kExpect);
  if (!s) return;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (s->empty() || ec != std::errc{} || p != s->data() + s->size()) {
    r.error(e.value_mark(), "workers: expected " + std::string(kExpect));
    return;
  }
  if (v > kMaxWorkers) {
    r.error(e.value_mark(), "workers: at most " + std::to_string(kMaxWorkers) + " (0 = one per core)");
    return;
  }
  t.doc.config.workers = v;
}

void read_worker_cpu_affinity(Reader& r, const Entry& e, Top& t) {
  constexpr std::string_view kExpect = "none or auto";
  auto s = r.scalar(e, "worker_cpu_affinity", kExpect);
  if (!s) return;
  if (*s == "none") {
    t.doc.config.worker_cpu_affinity = Config::WorkerAffinity::none;
  } else if (*s == "auto") {
    t.doc.config.worker_cpu_affinity = Config::WorkerAffinity::automatic;
  } else {
    r.error(e.value_mark(), "worker_cpu_affinity: expected " + std::string(kExpect) + ", not '" + std::string(*s) + "'");
  }
}

const Key<Top> kTopKeys[] = {
    {"workers", read_workers},
    {"worker_cpu_affinity", read_worker_cpu_affinity},
    {"drain_timeout",
     [](Reader& r, const Entry& e, Top& t) {
       if (auto v = r.read_duration(e, e.key, /*allow_zero=*/true)) t.doc.config.drain_timeout = *v;
     }},
    {"admin", [](Reader& r, const Entry& e, Top& t) { read_admin(r, e, t.doc.config.admin); }, {Nesting::map, list_admin_keys}},
    {"state_file",
     [](Reader& r, const Entry& e, Top& t) {
       if (auto v = r.read_path(e, e.key)) t.doc.config.state_file = *v;
     }},
    {"audit_log",
     [](Reader& r, const Entry& e, Top& t) {
       if (auto v = r.read_path(e, e.key)) t.doc.config.audit_log = *v;
     }},
    {"upgrade_socket",
     [](Reader& r, const Entry& e, Top& t) {
       if (auto v = r.read_path(e, e.key)) t.doc.config.upgrade_socket = *v;
     }},
    {"mirror_log",
     [](Reader& r, const Entry& e, Top& t) {
       if (read_mirror_log(r, e, t.doc.config.mirror_log)) t.doc.mirror_log = e.key_mark;
     },
     {Nesting::map, list_mirror_log_keys}},
    {"request_id", [](Reader& r, const Entry& e, Top& t) { read_request_id(r, e, t.doc.config.request_id); },
     {Nesting::map, list_request_id_keys}},
    {"tracing", [](Reader& r, const Entry& e, Top& t) { read_tracing(r, e, t.doc.config.tracing); },
     {Nesting::map, list_tracing_keys}},
    {"limits", [](Reader& r, const Entry& e, Top& t) { read_limits(r, e, t.doc.config.limits); },
     {Nesting::map, list_limits_keys}},
    {"timeouts", [](Reader& r, const Entry& e, Top& t) { read_timeouts(r, e, t.doc.config.timeouts); },
     {Nesting::map, list_timeouts_keys}},
    {"fleet", [](Reader& r, const Entry& e, Top& t) { read_fleet(r, e, t.doc.config.fleet); },
     {Nesting::map, list_fleet_keys}},
    {"clusters",
     [](Reader& r, const Entry& e, Top& t) {
       t.doc.have_clusters = true;
       read_clusters(r, e, t.doc.config.clusters);
     },
     {Nesting::named, list_cluster_keys}},
    {"listeners",
     [](Reader& r, const Entry& e, Top& t) {
       t.have_listeners = true;
       read_listeners(r, e, t.doc);
     },
     {Nesting::list, list_listener_keys}},
};

}  // namespace

void list_top_keys(std::vector<std::string>& out, const std::string& prefix) { list_keys<kTopKeys>(out, prefix); }

void read_top(Reader& r, const YAML::Node& root, Document& doc) {
  const Mark root_mark = to_mark(root.Mark()).line ? to_mark(root.Mark()) : Mark{1, 1};
  if (!root.IsMap()) {
    r.error(root_mark, "the config must be a mapping with 'clusters' and 'listeners' at the top level");
    return;
  }
  Top top{doc};
  r.read_keys(root, "the top level", kTopKeys, top);
  if (!doc.have_clusters) r.error(root_mark, "missing 'clusters': routes need a source and a target cluster");
  if (!top.have_listeners) r.error(root_mark, "missing 'listeners': at least one listener is required");
}

}  // namespace cutover::config::detail
