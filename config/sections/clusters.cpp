// clusters: the upstream side. A cluster's endpoints, timeouts, active health checks, passive
// outlier detection, PROXY protocol and upstream TLS.
#include "common/text.hpp"
#include "config/sections/sections.hpp"
#include "config/tls_files.hpp"

namespace cutover::config::detail {

namespace {

// ---- health_check: {path: /healthz, interval: 2s, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 3}

struct Health {
  HealthCheckConfig& h;
  std::optional<Mark> timeout_mark{};  // where timeout > interval is reported
};

const Key<Health> kHealthCheckKeys[] = {
    {"path",
     [](Reader& r, const Entry& e, Health& s) {
       if (auto v = r.scalar(e, "health_check.path", "a path starting with '/'")) {
         if (v->empty() || v->front() != '/' || v->find_first_of(" \t\r\n") != std::string::npos)
           r.error(e.value_mark(), "health_check.path must start with '/' and contain no whitespace");
         else
           s.h.path = *v;
       }
     }},
    {"interval",
     [](Reader& r, const Entry& e, Health& s) {
       if (auto v = r.read_duration(e, "health_check.interval", false)) s.h.interval = *v;
     }},
    {"timeout",
     [](Reader& r, const Entry& e, Health& s) {
       s.timeout_mark = e.value_mark();
       if (auto v = r.read_duration(e, "health_check.timeout", false)) s.h.timeout = *v;
     }},
    {"healthy_threshold",
     [](Reader& r, const Entry& e, Health& s) {
       if (auto v = r.read_uint(e, "health_check.healthy_threshold", 1, 100))
         s.h.healthy_threshold = static_cast<std::uint32_t>(*v);
     }},
    {"unhealthy_threshold",
     [](Reader& r, const Entry& e, Health& s) {
       if (auto v = r.read_uint(e, "health_check.unhealthy_threshold", 1, 100))
         s.h.unhealthy_threshold = static_cast<std::uint32_t>(*v);
     }},
};

void read_health_check(Reader& r, const Entry& section, HealthCheckConfig& h) {
  if (!r.expect_map(section.value, section.value_mark(), "health_check", " with 'path', 'interval', ...")) return;
  h.enabled = true;
  Health s{h};
  r.read_keys(section.value, "health_check", kHealthCheckKeys, s);
  if (h.timeout > h.interval)
    r.error(s.timeout_mark.value_or(section.key_mark), "health_check.timeout must not be longer than its interval");
}

// ---- outlier_detection: {consecutive_5xx: 5, consecutive_connect_failures: 3, ejection_time: 30s}

const Key<OutlierConfig> kOutlierKeys[] = {
    {"consecutive_5xx",
     [](Reader& r, const Entry& e, OutlierConfig& o) {
       if (auto v = r.read_uint(e, "outlier_detection.consecutive_5xx", 1, 1000))
         o.consecutive_5xx = static_cast<std::uint32_t>(*v);
     }},
    {"consecutive_connect_failures",
     [](Reader& r, const Entry& e, OutlierConfig& o) {
       if (auto v = r.read_uint(e, "outlier_detection.consecutive_connect_failures", 1, 1000))
         o.consecutive_connect_failures = static_cast<std::uint32_t>(*v);
     }},
    {"ejection_time",
     [](Reader& r, const Entry& e, OutlierConfig& o) {
       if (auto v = r.read_duration(e, "outlier_detection.ejection_time", false)) o.ejection_time = *v;
     }},
    {"max_ejection_time",
     [](Reader& r, const Entry& e, OutlierConfig& o) {
       if (auto v = r.read_duration(e, "outlier_detection.max_ejection_time", false)) o.max_ejection_time = *v;
     }},
};

void read_outlier(Reader& r, const Entry& section, OutlierConfig& o) {
  if (!r.expect_map(section.value, section.value_mark(), "outlier_detection",
                    " with 'consecutive_5xx', 'consecutive_connect_failures', 'ejection_time'"))
    return;
  o.enabled = true;
  r.read_keys(section.value, "outlier_detection", kOutlierKeys, o);
  if (o.max_ejection_time < o.ejection_time) o.max_ejection_time = o.ejection_time;
}

// ---- tls: {sni: app.internal, ca_file: ca.pem, verify: true} (upstream TLS)

struct ClusterTls {
  ClusterTlsConfig& t;
  const std::string& cluster;  // its name, for the verify warning
};

// RFC 6066 §3: a server name is a DNS host name; IP literals are not allowed in SNI.
void read_sni(Reader& r, const Entry& e, ClusterTls& s) {
  auto v = r.scalar(e, "tls.sni", "a host name");
  if (!v) return;
  const std::string& sni = *v;
  const bool ip_literal = sni.find(':') != std::string::npos ||
                          (!sni.empty() && sni.find_first_not_of("0123456789.") == std::string::npos);
  const bool bad_chars = sni.empty() || sni.size() > 253 ||
                         !std::all_of(sni.begin(), sni.end(), [](char c) {
                           return common::is_alnum(c) || c == '.' || c == '-';
                         });
  if (ip_literal)
    r.error(e.value_mark(), "tls.sni: " + q(sni) + " is an IP address; SNI carries host names only (RFC 6066 section 3)");
  else if (bad_chars)
    r.error(e.value_mark(), "tls.sni: " + q(sni) + " is not a valid host name");
  else
    s.t.sni = common::to_lower(sni);
}

const Key<ClusterTls> kClusterTlsKeys[] = {
    {"sni", read_sni},
    // The CA file is read here so a missing or empty one is a config error, not a failure at the
    // first connect.
    {"ca_file",
     [](Reader& r, const Entry& e, ClusterTls& s) {
       auto v = r.read_path(e, "tls.ca_file");
       if (!v) return;
       if (auto problem = check_ca_file(*v); !problem.empty())
         r.error(e.value_mark(), "tls.ca_file: " + problem);
       else
         s.t.ca_file = *v;
     }},
    {"verify",
     [](Reader& r, const Entry& e, ClusterTls& s) {
       auto v = r.read_bool(e, "tls.verify");
       if (!v) return;
       s.t.verify = *v;
       if (!*v)
         r.warn(e.value_mark(), "tls.verify is false for cluster " + q(s.cluster) +
                                    ": upstream certificates are not checked, so anyone on the path can "
                                    "impersonate the upstream");
     }},
};

void read_cluster_tls(Reader& r, const Entry& section, ClusterConfig& c) {
  c.tls.mark = section.key_mark;
  if (!r.expect_map(section.value, section.value_mark(), "tls", " with 'sni', 'ca_file' and/or 'verify' (or {})"))
    return;
  c.tls.enabled = true;
  ClusterTls s{c.tls, c.name};
  r.read_keys(section.value, "tls of cluster " + q(c.name), kClusterTlsKeys, s);
}

// ---- the cluster

void read_endpoints(Reader& r, const Entry& e, ClusterConfig& c) {
  if (!r.expect_items(e, "endpoints: expected a list of host:port, e.g. [\"127.0.0.1:9001\"]",
                      "endpoints: must list at least one host:port"))
    return;
  for (const YAML::Node& item : e.value) {
    const Mark m = item_mark(item, e.value_mark());
    auto hp = r.read_host_port(item, m, "endpoints", /*allow_port_zero=*/false);
    if (!hp) continue;
    for (const auto& prev : c.endpoints)
      if (common::iequals(prev.host, hp->host) && prev.port == hp->port)
        r.warn(m, "endpoint " + q(hp->text) + " is listed twice in cluster " + q(c.name) +
                      "; it will get a double share of requests");
    c.endpoints.push_back(std::move(*hp));
  }
}

struct Cluster {
  ClusterConfig& c;
  bool have_endpoints = false;
  std::optional<Entry> http2_only;  // the first key given that only an http2 cluster takes
};

const Key<Cluster> kClusterKeys[] = {
    {"endpoints",
     [](Reader& r, const Entry& e, Cluster& s) {
       s.have_endpoints = true;
       read_endpoints(r, e, s.c);
     }},
    {"connect_timeout",
     [](Reader& r, const Entry& e, Cluster& s) {
       if (auto v = r.read_duration(e, e.key, /*allow_zero=*/false)) s.c.connect_timeout = *v;
     }},
    {"response_timeout",
     [](Reader& r, const Entry& e, Cluster& s) {
       if (auto v = r.read_duration(e, e.key, /*allow_zero=*/false)) s.c.response_timeout = *v;
     }},
    {"health_check", [](Reader& r, const Entry& e, Cluster& s) { read_health_check(r, e, s.c.health_check); },
     keys_of<kHealthCheckKeys>()},
    {"outlier_detection", [](Reader& r, const Entry& e, Cluster& s) { read_outlier(r, e, s.c.outlier_detection); },
     keys_of<kOutlierKeys>()},
    {"send_proxy_protocol",
     [](Reader& r, const Entry& e, Cluster& s) {
       auto v = r.scalar(e, "send_proxy_protocol", "v1 or v2");
       if (!v) return;
       if (*v == "v1" || *v == "v2") {
         s.c.send_proxy_protocol = *v == "v1" ? ProxyProtocol::v1 : ProxyProtocol::v2;
         s.c.send_proxy_protocol_mark = e.value_mark();
       } else {
         r.error(e.value_mark(), "send_proxy_protocol: expected v1 or v2, got " + q(*v));
       }
     }},
    {"tls", [](Reader& r, const Entry& e, Cluster& s) { read_cluster_tls(r, e, s.c); }, keys_of<kClusterTlsKeys>()},
    {"http2_ping_interval",
     [](Reader& r, const Entry& e, Cluster& s) {
       if (!s.http2_only) s.http2_only = e;
       if (auto v = r.read_duration(e, e.key, /*allow_zero=*/true)) s.c.http2_ping_interval = *v;
     }},
    {"http2_ping_timeout",
     [](Reader& r, const Entry& e, Cluster& s) {
       if (!s.http2_only) s.http2_only = e;
       if (auto v = r.read_duration(e, e.key, /*allow_zero=*/false)) s.c.http2_ping_timeout = *v;
     }},
    {"protocol",
     [](Reader& r, const Entry& e, Cluster& s) {
       auto v = r.scalar(e, "protocol", "http1 or http2");
       if (!v) return;
       if (*v == "http1" || *v == "http2") {
         s.c.http2 = *v == "http2";
         s.c.protocol_mark = e.value_mark();
       } else {
         r.error(e.value_mark(), "protocol: expected http1 or http2, got " + q(*v));
       }
     }},
};

void read_cluster(Reader& r, const Entry& def, std::vector<ClusterConfig>& clusters) {
  ClusterConfig c;
  c.name = def.key;
  c.mark = def.key_mark;
  const std::string context = "cluster " + q(def.key);
  if (!valid_name(def.key))
    r.error(def.key_mark, "cluster name " + q(def.key) + " is not a valid name (use letters, digits, '_', '.', '-')");
  if (r.expect_map(def.value, def.value_mark(), context, " with 'endpoints'")) {
    Cluster s{c};
    r.read_keys(def.value, context, kClusterKeys, s);
    if (!s.have_endpoints) r.error(def.key_mark, context + " is missing 'endpoints'");
    if (s.http2_only && !c.http2)
      r.error(s.http2_only->key_mark,
              context + ": " + s.http2_only->key + " applies to clusters with protocol http2 only");
  }
  clusters.push_back(std::move(c));
}

}  // namespace

void list_cluster_keys(std::vector<std::string>& out, const std::string& prefix) { list_keys<kClusterKeys>(out, prefix); }

void read_clusters(Reader& r, const Entry& section, std::vector<ClusterConfig>& clusters) {
  if (!r.expect_map(section.value, section.value_mark(), "clusters",
                    " of cluster name to settings, e.g. 'legacy: {endpoints: [...]}'"))
    return;
  if (section.value.size() == 0) {
    r.error(section.value_mark(), "clusters: at least one cluster is required");
    return;
  }
  for (const Entry& e : r.entries(section.value, "clusters")) read_cluster(r, e, clusters);
}

}  // namespace cutover::config::detail
