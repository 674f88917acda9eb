// Checks that span sections (see cross_checks.hpp): they run on the model the sections filled,
// using the positions the sections kept (Document, RouteMarks).
#include "config/cross_checks.hpp"

#include <map>
#include <set>

#include "common/text.hpp"
#include "config/units.hpp"

namespace cutover::config::detail {

namespace {

// A noise sample sends a mirrored request to a second source endpoint as well; with only one
// there is nothing to compare against.
void check_noise_sample(Reader& r, const Config& cfg, const RouteConfig& route, const RouteMarks& rm) {
  if (!route.mirror.enabled || route.mirror.compare.noise_sample_bp == 0 || rm.noise_sample.line == 0) return;
  const ClusterConfig* source = cfg.find_cluster(route.source);
  if (source == nullptr || source->endpoints.empty()) return;  // already an error
  // An endpoint listed twice (warned about) is still one server: it cannot measure noise.
  std::set<std::pair<std::string, std::uint16_t>> distinct;
  for (const auto& ep : source->endpoints) distinct.emplace(common::to_lower(ep.host), ep.port);
  if (distinct.size() >= 2) return;
  r.warn(rm.noise_sample, "mirror.compare.noise_sample needs two or more source endpoints; cluster " +
                              q(source->name) + " has " + std::to_string(distinct.size()));
}

// Per-cluster checks of the routes that use a cluster; each cluster is reported once, at the
// cluster, for the first route that breaks the rule.
class ClusterUse {
 public:
  ClusterUse(Reader& r, const Document& doc) : r_(r), doc_(doc) {}

  void reference(const std::string& name, Mark at) {
    if (name.empty()) return;
    used_.insert(name);
    // With no 'clusters' section at all that one error says it; don't repeat it for every route.
    if (doc_.have_clusters && doc_.config.find_cluster(name) == nullptr) r_.error(at, "unknown cluster " + q(name));
  }

  // A PROXY protocol header describes one client; a pooled HTTP connection carries many.
  void no_proxy_protocol(const std::string& cluster, const std::string& route) {
    const ClusterConfig* c = doc_.config.find_cluster(cluster);
    if (c == nullptr || c->send_proxy_protocol == ProxyProtocol::none) return;
    if (!proxy_protocol_reported_.insert(c->name).second) return;
    r_.error(c->send_proxy_protocol_mark, "send_proxy_protocol is for clusters of tcp routes only; cluster " +
                                              q(c->name) + " serves http route " + q(route));
  }

  // The L4 relay connects plain TCP to upstreams: a cluster `tls` block would be ignored there.
  void no_upstream_tls(const std::string& cluster, const std::string& route) {
    const ClusterConfig* c = doc_.config.find_cluster(cluster);
    if (c == nullptr || !c->tls.enabled) return;
    if (!upstream_tls_reported_.insert(c->name).second) return;
    r_.error(c->tls.mark, "cluster " + q(c->name) + " serves tcp route " + q(route) +
                              ", which relays plain TCP to its endpoints: upstream tls is for http routes only");
  }

  // The L4 relay carries bytes, whatever protocol they are.
  void no_http2(const std::string& cluster, const std::string& route) {
    const ClusterConfig* c = doc_.config.find_cluster(cluster);
    if (c == nullptr || !c->http2) return;
    if (!http2_reported_.insert(c->name).second) return;
    r_.error(c->protocol_mark, "cluster " + q(c->name) + " serves tcp route " + q(route) +
                                   ": protocol http2 is for clusters of http routes only");
  }

  void warn_unused() {
    if (!doc_.have_clusters) return;
    for (const auto& c : doc_.config.clusters)
      if (!used_.contains(c.name)) r_.warn(c.mark, "cluster " + q(c.name) + " is not used by any route");
  }

 private:
  Reader& r_;
  const Document& doc_;
  std::set<std::string> used_;
  std::set<std::string> upstream_tls_reported_;
  std::set<std::string> proxy_protocol_reported_;
  std::set<std::string> http2_reported_;
};

// Two sockets on the same port collide when the hosts match or either is the any-address.
// Port 0 asks the kernel for a free port, so it never collides.
void check_addresses(Reader& r, const Document& doc) {
  struct Bound {
    std::string host;
    std::uint16_t port;
    std::string owner;
  };
  std::vector<Bound> bound;
  auto collides = [](const Bound& a, const std::string& host, std::uint16_t port) {
    return a.port == port && (a.host == host || is_wildcard_host(a.host) || is_wildcard_host(host));
  };
  const Config& cfg = doc.config;
  if (cfg.admin.listen.port != 0)
    bound.push_back({common::to_lower(cfg.admin.listen.host), cfg.admin.listen.port, "the admin API"});
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const HostPort& a = cfg.listeners[i].address;
    if (a.text.empty() || a.port == 0) continue;
    const std::string host = common::to_lower(a.host);
    for (const Bound& b : bound) {
      if (collides(b, host, a.port)) {
        r.error(doc.listeners[i].address, "listener address " + q(a.text) + " is already used by " + b.owner);
        break;
      }
    }
    bound.push_back({host, a.port, "listener " + q(cfg.listeners[i].name)});
  }
}

}  // namespace

void check_tcp_routes(Reader& r, const ListenerConfig& l, const ListenerMarks& marks) {
  const std::string listener = l.name.empty() ? "this tcp listener" : "tcp listener " + q(l.name);
  for (std::size_t i = 0; i < l.routes.size(); ++i) {
    const RouteConfig& route = l.routes[i];
    const std::string name = route.name.empty() ? "a route" : "route " + q(route.name);
    if (i == 1) r.error(route.mark, listener + " takes exactly one route (a connection has no host or path to match on)");
    for (const auto& [key, at] : marks.routes[i].http_only)
      r.error(at, "'" + key + "' is HTTP-only and not allowed in " + name + " of " + listener +
                      "; a tcp route takes name, source, target, weight and sticky: {client_ip: true}");
  }
}

void cross_check(Reader& r, const Document& doc) {
  const Config& cfg = doc.config;
  std::map<std::string, Mark> listener_names;
  std::map<std::string, std::pair<std::string, Mark>> route_names;  // name -> (listener, mark)
  ClusterUse clusters(r, doc);
  bool any_mirror = false;

  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const ListenerConfig& l = cfg.listeners[i];
    const ListenerMarks& lm = doc.listeners[i];
    if (!l.name.empty()) {
      auto [pos, inserted] = listener_names.emplace(l.name, lm.name);
      if (!inserted)
        r.error(lm.name, "duplicate listener name " + q(l.name) + " (first at " + where(pos->second) + ")");
    }
    for (std::size_t j = 0; j < l.routes.size(); ++j) {
      const RouteConfig& route = l.routes[j];
      const RouteMarks& rm = lm.routes[j];
      if (!route.name.empty()) {
        // Route names are global: the admin API addresses /v1/routes/{route} without a listener.
        auto [pos, inserted] = route_names.emplace(route.name, std::pair{l.name, rm.name});
        if (!inserted)
          r.error(rm.name, "duplicate route name " + q(route.name) + " (first at " + where(pos->second.second) +
                               " in listener " + q(pos->second.first) +
                               "); route names must be unique across all listeners");
      }
      clusters.reference(route.source, rm.source);
      clusters.reference(route.target, rm.target);
      if (!l.tcp()) {
        clusters.no_proxy_protocol(route.source, route.name);
        clusters.no_proxy_protocol(route.target, route.name);
      } else {
        clusters.no_upstream_tls(route.source, route.name);
        clusters.no_upstream_tls(route.target, route.name);
        clusters.no_http2(route.source, route.name);
        clusters.no_http2(route.target, route.name);
      }
      if (route.grpc)
        for (const std::string* name : {&route.source, &route.target})
          if (const ClusterConfig* c = cfg.find_cluster(*name); c && !c->http2)
            r.error(rm.grpc, "route " + q(route.name) + " matches gRPC calls, but cluster " + q(c->name) +
                                 " speaks HTTP/1.1; gRPC needs 'protocol: http2' on both clusters");
      if (route.mirror.enabled) any_mirror = true;
      check_noise_sample(r, cfg, route, rm);
      if (!route.source.empty() && route.source == route.target)
        r.error(rm.target, "source and target are the same cluster " + q(route.source));
      for (std::size_t k = 0; k < j; ++k) {
        const RouteConfig& earlier = l.routes[k];
        if (earlier.host == route.host && earlier.path_prefix == route.path_prefix && earlier.grpc == route.grpc)
          r.warn(route.mark, "route " + q(route.name) + " can never match: route " + q(earlier.name) +
                                 " before it has the same host, path_prefix and grpc");
      }
    }
  }

  check_addresses(r, doc);

  if (doc.mirror_log.line != 0 && !any_mirror)
    r.warn(doc.mirror_log, "mirror_log has no effect: no route has a 'mirror' block");

  clusters.warn_unused();
}

}  // namespace cutover::config::detail
