// Compiling a validated config into the immutable snapshot workers read: see snapshot.hpp.
#include "proxy/runtime/snapshot.hpp"

#include <chrono>
#include <stdexcept>

#include <boost/asio/io_context.hpp>

namespace cutover::runtime {

namespace {

prometheus::Labels route_labels(const std::string& route, router::Side side) {
  return {{"route", route}, {"side", std::string(router::name(side))}};
}

// The children of `family` for `route`, one per side ([router::Side]).
template <class Metric>
std::array<Metric*, 2> per_side(prometheus::Family<Metric>& family, const std::string& route) {
  return {&family.Add(route_labels(route, router::Side::source)), &family.Add(route_labels(route, router::Side::target))};
}

// The byte counters of `family` for `route`: [side][0 upstream (client to backend), 1 downstream].
std::array<std::array<prometheus::Counter*, 2>, 2> per_side_direction(prometheus::Family<prometheus::Counter>& family,
                                                                     const std::string& route) {
  std::array<std::array<prometheus::Counter*, 2>, 2> out{};
  for (auto side : {router::Side::source, router::Side::target})
    for (int d = 0; d < 2; ++d) {
      auto labels = route_labels(route, side);
      labels["direction"] = d == 0 ? "upstream" : "downstream";
      out[static_cast<int>(side)][d] = &family.Add(labels);
    }
  return out;
}

}  // namespace

const Route* Snapshot::find_route(std::string_view name) const {
  for (const auto& r : routes)
    if (r.name == name) return &r;
  return nullptr;
}

tcp::endpoint resolve(const config::HostPort& hp) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(hp.host == "localhost" ? "127.0.0.1" : hp.host, ec);
  if (!ec) return {address, hp.port};
  boost::asio::io_context io;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(hp.host, std::to_string(hp.port), ec);
  if (ec || results.empty())
    throw std::runtime_error("cannot resolve '" + hp.text + "': " + (ec ? ec.message() : "no address"));
  return results.begin()->endpoint();
}

void publish_weight_gauges(const Route& route) {
  auto w = route.runtime->weights();
  route.weight_gauge[0]->Set(w.read_bp / 100.0);
  route.weight_gauge[1]->Set(w.write_bp / 100.0);
}

namespace {

// CIDRs the loader validated (canonical "ADDR/PREFIX"; a bare address means a single host).
void add_networks(const std::vector<std::string>& cidrs, std::vector<boost::asio::ip::network_v4>& v4,
                  std::vector<boost::asio::ip::network_v6>& v6, const std::string& context) {
  for (const auto& cidr : cidrs) {
    boost::system::error_code ec;
    const std::string text =
        cidr.find('/') == std::string::npos ? cidr + (cidr.find(':') == std::string::npos ? "/32" : "/128") : cidr;
    if (text.find(':') == std::string::npos) {
      auto n = boost::asio::ip::make_network_v4(text, ec);
      if (!ec) v4.push_back(n.canonical());
    } else {
      auto n = boost::asio::ip::make_network_v6(text, ec);
      if (!ec) v6.push_back(n.canonical());
    }
    if (ec) throw std::runtime_error(context + ": invalid entry '" + cidr + "'");
  }
}

std::shared_ptr<const Snapshot> compile_into(const config::Config& config, RuntimeRegistry& registry,
                                             stats::Metrics& metrics, std::vector<std::string>& created_routes) {
  auto snap = std::make_shared<Snapshot>();
  snap->config = config;
  snap->mismatch_log = registry.mismatch_log(config.mirror_log);
  add_networks(config.request_id.trust_cidrs, snap->request_id_trust_v4, snap->request_id_trust_v6,
               "request_id.trust_cidrs");

  for (const auto& cc : config.clusters) {
    Cluster& c = snap->clusters.emplace_back();
    c.name = cc.name;
    for (const auto& ep : cc.endpoints)
      c.endpoints.push_back({resolve(ep), ep.text, ep.host, registry.endpoint_health(cc.name, ep.text),
                             &metrics.endpoint_healthy.Add({{"cluster", cc.name}, {"endpoint", ep.text}})});
    if (cc.tls.enabled) {
      try {
        // HTTP/2 over TLS is negotiated by ALPN (RFC 9113 §3.2): h2 only, so an upstream that
        // cannot speak it fails the connect instead of getting a preface it cannot parse.
        c.tls = std::make_shared<const net::ClientTls>(cc.tls, cc.http2 ? std::vector<std::string>{"h2"}
                                                                        : std::vector<std::string>{});
      } catch (const std::exception& e) {
        throw std::runtime_error("cluster '" + cc.name + "': tls: " + e.what());
      }
      c.tls_errors = &metrics.upstream_tls_errors.Add({{"cluster", cc.name}});
      c.tls_resumed = &metrics.upstream_tls_resumed.Add({{"cluster", cc.name}});
    }
    c.health_check = cc.health_check;
    c.outlier = cc.outlier_detection;
    c.retries = &metrics.upstream_retries.Add({{"cluster", cc.name}});
    c.stale_resends = &metrics.upstream_stale_resends.Add({{"cluster", cc.name}});
    c.ejections = &metrics.outlier_ejections.Add({{"cluster", cc.name}});
    c.connect_timeout = cc.connect_timeout;
    c.proxy_protocol = cc.send_proxy_protocol;
    c.response_timeout = cc.response_timeout;
    c.http2 = cc.http2;
    c.http2_ping_interval = cc.http2_ping_interval;
    c.http2_ping_timeout = cc.http2_ping_timeout;
    c.runtime = registry.cluster(cc.name);
    c.connect_errors = &metrics.connect_errors.Add({{"cluster", cc.name}});
    c.timeouts = &metrics.upstream_timeouts.Add({{"cluster", cc.name}});
  }
  auto cluster_named = [&](const std::string& name) -> const Cluster* {
    for (const auto& c : snap->clusters)
      if (c.name == name) return &c;
    throw std::runtime_error("unknown cluster '" + name + "'");  // the loader rejects this first
  };

  for (const auto& lc : config.listeners) {
    Listener& l = snap->listeners.emplace_back();
    l.name = lc.name;
    l.address = resolve(lc.address);
    l.is_tcp = lc.tcp();
    l.idle_timeout = lc.idle_timeout;
    l.active_connections = &metrics.downstream_active.Add({{"listener", lc.name}});
    if (!lc.tcp() && lc.http2) {
      l.http2 = true;
      l.http2_streams = &metrics.http2_streams.Add({{"listener", lc.name}});
      l.http2_streams_refused = &metrics.http2_streams_refused.Add({{"listener", lc.name}});
      for (std::size_t i = 0; i < Listener::kHttp2Errors.size(); ++i)
        l.http2_errors[i] = &metrics.http2_connection_errors.Add(
            {{"listener", lc.name}, {"reason", std::string(Listener::kHttp2Errors[i])}});
    }
    if (lc.tls.enabled) {
      try {
        // ALPN on http listeners, h2 first when it is on (the server's preference decides, RFC 7301
        // §3.2); a tcp listener's bytes are not HTTP, so it selects none.
        std::vector<std::string> alpn;
        if (!lc.tcp()) alpn = lc.http2 ? std::vector<std::string>{"h2", "http/1.1"} : std::vector<std::string>{"http/1.1"};
        l.tls = std::make_shared<const net::ServerTls>(lc.tls, std::move(alpn));
      } catch (const std::exception& e) {
        throw std::runtime_error("listener '" + lc.name + "': tls: " + e.what());
      }
      l.tls_errors = &metrics.downstream_tls_errors.Add({{"listener", lc.name}});
    }
    if (lc.access_log.enabled) {
      l.access_log.writer =
          registry.access_log(lc.access_log.path, static_cast<std::size_t>(lc.access_log.buffer),
                              &metrics.access_log_errors.Add({{"path", lc.access_log.path}}));
      l.access_log.format = observe::compile_format(lc.access_log);
      l.access_log.sample_bp = lc.access_log.sample_bp;
      l.access_log.dropped = &metrics.access_log_dropped.Add({{"listener", lc.name}});
    }
    for (std::size_t i = 0; i < Listener::kRejectedCodes.size(); ++i)
      l.rejected[i] = &metrics.downstream_rejected.Add(
          {{"listener", lc.name}, {"code", std::to_string(Listener::kRejectedCodes[i])}});
    for (const auto& rc : lc.routes) {
      Route& r = snap->routes.emplace_back();
      r.name = rc.name;
      r.listener = lc.name;
      r.match = {rc.host, rc.path_prefix, rc.grpc};
      r.grpc_error_codes = rc.grpc_error_codes;
      r.clusters = {cluster_named(rc.source), cluster_named(rc.target)};
      if (!registry.find_route(rc.name)) created_routes.push_back(rc.name);
      r.runtime = registry.route(rc.name, {static_cast<std::uint16_t>(rc.read_weight_bp),
                                           static_cast<std::uint16_t>(rc.write_weight_bp)});
      // The config's segments apply to a route that has no list yet (new, not restored); later
      // lists come from the admin API, and a reload keeps them as it keeps weights.
      auto& safety = r.runtime->safety;
      if (!safety.segments_initialized) safety.set_segments(rc.segments);
      r.ryw = rc.read_your_writes;
      if (r.ryw.enabled && !rc.sticky.sources.empty()) {
        if (!safety.ryw_table) safety.ryw_table = std::make_shared<RywTable>();
        r.ryw_table = safety.ryw_table.get();
      }
      r.ryw_reads = per_side(metrics.ryw_reads, rc.name);
      r.maintenance_responses = &metrics.maintenance_responses.Add({{"route", rc.name}});
      r.metrics.series = &metrics.request_series(rc.name, registry.workers());
      for (auto kind : {router::Kind::read, router::Kind::write})
        r.weight_gauge[static_cast<int>(kind)] =
            &metrics.route_weight.Add({{"route", rc.name}, {"kind", std::string(router::name(kind))}});
      publish_weight_gauges(r);
      r.sticky.sources = rc.sticky.sources;
      r.sticky.pin_cookie = rc.sticky.pin_cookie;
      r.sticky.pin_max_age_s = std::chrono::duration_cast<std::chrono::seconds>(rc.sticky.pin_max_age).count();
      r.force.header = rc.force.header;
      r.force.cookie = rc.force.cookie;
      add_networks(rc.force.allow_cidrs, r.force.allow_v4, r.force.allow_v6, "route " + rc.name + ": allow_cidrs");
      r.writes = rc.writes;
      r.forced = per_side(metrics.forced_requests, rc.name);
      prometheus::Labels by_route{{"route", rc.name}};
      r.failovers = &metrics.failovers.Add(by_route);
      r.hold_metrics = {&metrics.writes_held.Add(by_route), &metrics.writes_released.Add(by_route),
                        &metrics.writes_expired.Add(by_route), &metrics.writes_rejected.Add(by_route)};
      if (rc.mirror.enabled) {
        const auto& mc = rc.mirror;
        auto& m = r.mirror.emplace();
        m.percent_bp = mc.percent_bp;
        m.methods = mc.methods;
        m.max_body = mc.max_body;
        m.max_in_flight = mc.max_in_flight;
        m.timeout = mc.timeout;
        m.noise_sample_bp = mc.compare.noise_sample_bp;
        m.compare.ignore_headers = mc.compare.ignore_headers;
        m.compare.ignore_json_fields = mc.compare.ignore_json_fields;
        for (std::size_t i = 0; i < shadow::kResults; ++i)
          m.results[i] = &metrics.mirror_requests.Add({{"route", rc.name}, {"result", std::string(shadow::kResultNames[i])}});
        m.record = &r.runtime->shadow;
        m.log = snap->mismatch_log.get();
        m.windows = &r.runtime->windows;
      }
      if (lc.tcp()) {
        auto& t = r.tcp_metrics.emplace();
        t.connections = per_side(metrics.tcp_connections, rc.name);
        t.active = per_side(metrics.tcp_active, rc.name);
        t.bytes = per_side_direction(metrics.tcp_bytes, rc.name);
        t.idle_timeouts = &metrics.tcp_idle_timeouts.Add(by_route);
        t.target_closed = &metrics.tcp_target_closed.Add(by_route);
      } else {
        r.upgrades = rc.upgrade;
        r.tunnel_metrics = TunnelMetrics{per_side(metrics.tunnels_active, rc.name), per_side(metrics.tunnels_total, rc.name),
                                         per_side_direction(metrics.tunnel_bytes, rc.name)};
      }
      l.matches.push_back(r.match);
      l.routes.push_back(&r);
    }
  }
  // Each listener at its slot (stable across reloads, see RuntimeRegistry::listener_slot); those a
  // reload removed as placeholders, so the connections they still have find them removed.
  std::vector<Listener> placed;
  for (auto& l : snap->listeners) {
    const std::size_t slot = registry.listener_slot(l.name);
    if (placed.size() <= slot) placed.resize(slot + 1);
    placed[slot] = std::move(l);
  }
  placed.resize(registry.listener_slots().size());
  for (std::size_t i = 0; i < placed.size(); ++i)
    if (placed[i].name.empty()) {
      placed[i].name = registry.listener_slots()[i];
      placed[i].removed = true;
    }
  snap->listeners = std::move(placed);
  return snap;
}

}  // namespace

std::shared_ptr<const Snapshot> compile(const config::Config& config, RuntimeRegistry& registry,
                                        stats::Metrics& metrics) {
  std::vector<std::string> created_routes;
  try {
    return compile_into(config, registry, metrics, created_routes);
  } catch (...) {
    // Never published: a later compile must create these routes from its own config's weights.
    for (const auto& name : created_routes) registry.forget_route(name);
    throw;
  }
}

}  // namespace cutover::runtime
