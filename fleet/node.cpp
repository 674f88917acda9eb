// A fleet node over etcd: see node.hpp.
#include "fleet/node.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace cutover::fleet {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// How often a node retries etcd while it cannot start a session, and how often a change polls
// the node table while it waits for the others: short, as both bound what an operator waits for.
constexpr std::chrono::milliseconds kRetry{500};
constexpr std::chrono::milliseconds kPoll{20};
// A rollback retries a lost race this often before it keeps the override for later.
constexpr int kForceAttempts = 5;
// Routes per settings transaction: two operations each, below etcd's --max-txn-ops (128).
constexpr std::size_t kSettingsPerTxn = 60;

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

std::int64_t decode_applied(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return 0;
  auto* r = v.as_object().if_contains("applied_revision");
  return r && r->is_int64() ? r->as_int64() : 0;
}

// The node key's value. A function of its own: GCC rejects a braced JSON initializer list inside a
// coroutine ("array used as initializer").
std::string node_value(std::int64_t applied_revision) {
  return json::serialize(json::object{{"applied_revision", applied_revision}});
}

}  // namespace

std::string encode_route_value(const RouteValue& v) {
  json::object o{{"read_bp", v.read_bp}, {"write_bp", v.write_bp}, {"generation", v.generation}, {"by", v.by}};
  if (v.writes_held) {
    o["writes_held"] = true;
    if (v.hold_revision > 0) o["hold_revision"] = v.hold_revision;
  }
  return json::serialize(o);
}

std::optional<RouteValue> decode_route_value(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  auto number = [&](std::string_view key, std::int64_t max) -> std::optional<std::int64_t> {
    auto* n = o.if_contains(key);
    if (!n) return std::nullopt;
    std::int64_t x = n->is_int64() ? n->as_int64() : n->is_uint64() ? static_cast<std::int64_t>(n->as_uint64()) : -1;
    if (x < 0 || x > max) return std::nullopt;
    return x;
  };
  auto r = number("read_bp", 10000), w = number("write_bp", 10000);
  auto g = number("generation", INT64_MAX);
  if (!r || !w || !g) return std::nullopt;
  RouteValue out{static_cast<std::uint16_t>(*r), static_cast<std::uint16_t>(*w), static_cast<std::uint64_t>(*g), {}};
  if (auto* by = o.if_contains("by"); by && by->is_string()) out.by = by->as_string();
  if (auto* h = o.if_contains("writes_held"); h && h->is_bool()) out.writes_held = h->as_bool();
  if (auto hr = number("hold_revision", INT64_MAX); hr && out.writes_held) out.hold_revision = *hr;
  return out;
}

std::string_view setting_name(Setting s) { return s == Setting::segments ? "segments" : "maintenance"; }

std::string encode_drain_report(const DrainReport& r) {
  return json::serialize(json::object{{"hold_revision", r.hold_revision},
                                      {"in_flight_at_hold", r.in_flight_at_hold},
                                      {"in_flight_remaining", r.in_flight_remaining},
                                      {"drained", r.drained}});
}

std::optional<DrainReport> decode_drain_report(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  auto number = [&](std::string_view key) -> std::optional<std::int64_t> {
    auto* n = o.if_contains(key);
    if (!n || !n->is_int64() || n->as_int64() < 0) return std::nullopt;
    return n->as_int64();
  };
  auto rev = number("hold_revision"), at = number("in_flight_at_hold"), left = number("in_flight_remaining");
  auto* drained = o.if_contains("drained");
  if (!rev || !at || !left || !drained || !drained->is_bool()) return std::nullopt;
  return DrainReport{true, *rev, *at, *left, drained->as_bool()};
}

etcd::Result<std::unique_ptr<Node>> Node::create(asio::io_context& io, NodeOptions options, Apply apply,
                                                 Health health) {
  auto client = etcd::Client::create(io, options.etcd);
  if (!client) return client.error();
  return std::unique_ptr<Node>(
      new Node(io, std::move(options), std::move(*client), std::move(apply), std::move(health)));
}

Node::Node(asio::io_context& io, NodeOptions options, std::unique_ptr<etcd::Client> client, Apply apply,
           Health health)
    : io_(io), options_(std::move(options)), client_(std::move(client)), apply_(std::move(apply)),
      health_(std::move(health)) {}

Node::~Node() {
  stopped_ = true;
  if (watch_) watch_->cancel();
}

void Node::start() { asio::co_spawn(io_, run(), asio::detached); }

void Node::set_up(bool up, std::string error) {
  if (!up) error_ = std::move(error);
  // The first state is logged too: a node that starts with etcd unreachable says so.
  if (up == up_ && health_known_) return;
  health_known_ = true;
  up_ = up;
  if (up)
    spdlog::info("fleet: etcd reachable again; node {} at revision {}", options_.node, applied_revision_);
  else
    spdlog::warn("fleet: etcd unreachable ({}); node {} keeps its last applied weights", error_, options_.node);
  if (health_) health_(up);
}

asio::awaitable<void> Node::run() {
  while (!stopped_) {
    if (!co_await session_start()) {
      co_await sleep_for(kRetry);
      continue;
    }
    asio::co_spawn(io_, keepalive(session_), asio::detached);
    // Everything below the prefix up to stats/: the window statistics each node puts every second
    // for the ramps' leader (ramp_store.hpp) are read by the leader alone, not fanned out to all.
    auto watched = etcd::WatchOptions::prefix(options_.prefix, applied_revision_ + 1);
    watched.range_end = options_.prefix + "stats/";
    watch_ = client_->watch(
        std::move(watched),
        [this](const std::vector<etcd::WatchEvent>& events, std::int64_t revision) { on_events(events, revision); },
        [this](const etcd::WatchNotice& n) {
          if (n.kind == etcd::WatchNotice::Kind::disconnected) set_up(false, "watch: " + n.error.message);
        });
    auto end = co_await watch_->run();
    if (end.reason == etcd::WatchEnd::Reason::canceled || stopped_) co_return;
    // Compacted or failed: read everything again and watch from there.
    spdlog::warn("fleet: the watch ended ({}); reading {} again", end.error.message, options_.prefix);
    ++session_;
  }
}

asio::awaitable<bool> Node::session_start() {
  if (lease_ == 0) {
    const auto ttl_s = std::max<std::int64_t>(1, (options_.lease_ttl.count() + 999) / 1000);
    auto grant = co_await client_->lease_grant(ttl_s);
    if (!grant) {
      set_up(false, grant.error().message);
      co_return false;
    }
    lease_ = grant->id;
    ++session_;
  }
  auto routes = co_await client_->range_prefix(options_.prefix + "routes/");
  if (!routes) {
    set_up(false, routes.error().message);
    co_return false;
  }
  for (const auto& kv : routes->kvs) apply_route(kv);
  // The watch starts after the routes' revision; settings read later than that come again in it
  // and are skipped then (setting_revisions_).
  const bool settings_read = co_await read_settings();  // a variable: GCC 12 and `!co_await`
  if (!settings_read) co_return false;
  applied_revision_ = std::max(applied_revision_, routes->header.revision);
  auto nodes = co_await client_->range_prefix(options_.prefix + "nodes/");
  if (!nodes) {
    set_up(false, nodes.error().message);
    co_return false;
  }
  peers_.clear();
  for (const auto& kv : nodes->kvs)
    peers_[kv.key.substr(options_.prefix.size() + 6)] = decode_applied(kv.value);
  auto holds = co_await client_->range_prefix(options_.prefix + "holds/");
  if (!holds) {
    set_up(false, holds.error().message);
    co_return false;
  }
  auto audit = co_await client_->range_prefix(options_.prefix + "audit/");
  if (!audit) {
    set_up(false, audit.error().message);
    co_return false;
  }
  drains_.clear();
  for (const auto& kv : holds->kvs) on_drain({etcd::WatchEvent::Type::put, kv});
  for (const auto& kv : audit->kvs) on_audit({etcd::WatchEvent::Type::put, kv});
  auto put = co_await client_->put(node_key(), node_value(applied_revision_), lease_);
  if (!put) {
    set_up(false, put.error().message);
    co_return false;
  }
  peers_[options_.node] = applied_revision_;
  if (!synced_) spdlog::info("fleet: node {} joined at revision {}", options_.node, applied_revision_);
  synced_ = true;
  set_up(true);
  asio::co_spawn(io_, flush_overrides(), asio::detached);
  asio::co_spawn(io_, flush_audit(), asio::detached);
  co_return true;
}

asio::awaitable<void> Node::keepalive(std::uint64_t session) {
  const auto beat = std::max(std::chrono::milliseconds(200), options_.lease_ttl / 3);
  while (!stopped_ && session_ == session) {
    co_await sleep_for(beat);
    if (stopped_ || session_ != session) co_return;
    auto r = co_await client_->lease_keepalive(lease_);
    if (!r) {
      set_up(false, r.error().message);
      continue;
    }
    if (r->ttl_s <= 0) {
      // The lease expired while etcd was out of reach: a new one, and the node key again.
      auto grant = co_await client_->lease_grant(std::max<std::int64_t>(1, (options_.lease_ttl.count() + 999) / 1000));
      if (!grant) {
        set_up(false, grant.error().message);
        continue;
      }
      lease_ = grant->id;
      co_await report_applied();
    }
    set_up(true);
    if (!overrides_.empty()) co_await flush_overrides();
    if (!audit_pending_.empty()) co_await flush_audit();
  }
}

asio::awaitable<void> Node::report_applied() {
  if (reporting_) {
    report_again_ = true;
    co_return;
  }
  reporting_ = true;
  do {
    report_again_ = false;
    auto r = co_await client_->put(node_key(), node_value(applied_revision_), lease_);
    if (!r) set_up(false, r.error().message);
  } while (report_again_ && !stopped_);
  reporting_ = false;
}

void Node::apply_route(const etcd::KeyValue& kv) {
  const std::string route = kv.key.substr(options_.prefix.size() + 7);  // after "routes/"
  auto value = decode_route_value(kv.value);
  if (!value) {
    spdlog::warn("fleet: {} is not a route value; ignored", kv.key);
    return;
  }
  // A local override wins until it is written to etcd (flush_overrides).
  if (overrides_.contains(route)) return;
  // A value this node wrote is applied at its commit; the watch may still bring an older one
  // (another node's, committed just before) afterwards, which must not undo it.
  auto& seen = route_revisions_[route];
  if (kv.mod_revision <= seen) return;
  seen = kv.mod_revision;
  if (value->writes_held && value->hold_revision == 0) value->hold_revision = kv.mod_revision;
  apply_(route, *value, kv.mod_revision);
}

void Node::apply_setting_kv(const etcd::KeyValue& kv) {
  const auto rest = std::string_view(kv.key).substr(options_.prefix.size() + 7);  // after "safety/"
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos) return;
  const auto name = rest.substr(0, slash);
  Setting setting;
  if (name == setting_name(Setting::segments))
    setting = Setting::segments;
  else if (name == setting_name(Setting::maintenance))
    setting = Setting::maintenance;
  else
    return;
  // As for routes: a value this node wrote is applied at its commit; an older one coming later
  // in the watch must not undo it.
  auto& seen = setting_revisions_[kv.key];
  if (kv.mod_revision <= seen) return;
  seen = kv.mod_revision;
  if (apply_setting_) apply_setting_(std::string(rest.substr(slash + 1)), setting, kv.value, kv.mod_revision);
}

asio::awaitable<bool> Node::read_settings() {
  // The keys first, then one value per request: all of them in one answer could pass the
  // client's max_answer_bytes (a value may be up to kMaxSettingBytes).
  etcd::RangeOptions keys_only;
  keys_only.keys_only = true;
  auto keys = co_await client_->range_prefix(options_.prefix + "safety/", keys_only);
  if (!keys) {
    set_up(false, keys.error().message);
    co_return false;
  }
  for (const auto& k : keys->kvs) {
    auto one = co_await client_->range(k.key);
    if (!one) {
      set_up(false, one.error().message);
      co_return false;
    }
    for (const auto& kv : one->kvs) apply_setting_kv(kv);
  }
  co_return true;
}

asio::awaitable<ChangeResult> Node::change_settings(std::vector<SettingChange> changes,
                                                    std::optional<std::uint64_t> if_generation) {
  ChangeResult out;
  out.revision = applied_revision_;
  std::size_t done = 0;  // changes committed so far (earlier transactions)
  int lost = 0;          // races lost in a row
  while (done < changes.size()) {
    // The stored weights value of every route of the next transaction: kept as it is but for the
    // generation, which moves on by one.
    std::vector<std::pair<std::string, RouteValue>> routes;  // key -> new value
    std::vector<std::int64_t> revisions;
    etcd::TxnRequest txn;
    std::size_t bytes = 0, end = done;
    for (; end < changes.size() && end - done < kSettingsPerTxn; ++end) {
      const auto& c = changes[end];
      if (end > done && bytes + c.value.size() > kMaxSettingBytes) break;
      bytes += c.value.size();
      const std::string key = route_key(c.route);
      auto current = co_await client_->range(key);
      if (!current) {
        auto r = unreachable("etcd unreachable: ", current.error().message);
        if (done > 0) r.error += fmt::format(" ({} of {} routes were written)", done, changes.size());
        co_return r;
      }
      RouteValue value = c.local;
      std::int64_t mod_revision = 0;
      if (!current->kvs.empty()) {
        mod_revision = current->kvs.front().mod_revision;
        if (auto v = decode_route_value(current->kvs.front().value)) {
          value = *v;
          if (value.writes_held && value.hold_revision == 0) value.hold_revision = mod_revision;
        }
      }
      if (if_generation && *if_generation != value.generation) {
        out.outcome = ChangeResult::Outcome::conflict;
        out.generation = value.generation;
        out.error = "generation is " + std::to_string(value.generation) + ", not " +
                    std::to_string(*if_generation) + " (stored in etcd)";
        co_return out;
      }
      value.generation += 1;
      value.by = options_.node;
      txn.compares.push_back(etcd::Compare::mod_revision(key, etcd::Compare::Relation::equal, mod_revision));
      txn.success.push_back(etcd::Op::put(setting_key(c.setting, c.route), c.value));
      txn.success.push_back(etcd::Op::put(key, encode_route_value(value)));
      routes.emplace_back(c.route, value);
    }
    auto r = co_await client_->txn(std::move(txn));
    if (!r) {
      auto u = unreachable("etcd did not confirm the change: ", r.error().message);
      if (done > 0) u.error += fmt::format(" ({} of {} routes were written)", done, changes.size());
      co_return u;
    }
    set_up(true);
    if (!r->succeeded) {
      // Another change of one of these routes committed between the read and the write.
      if (if_generation || ++lost >= kForceAttempts) {
        out.outcome = ChangeResult::Outcome::conflict;
        out.generation = routes.size() == 1 ? routes.front().second.generation : 0;
        out.error = "the route changed in etcd meanwhile (another node won the race)";
        if (done > 0) out.error += fmt::format(" ({} of {} routes were written)", done, changes.size());
        co_return out;
      }
      continue;
    }
    lost = 0;
    out.revision = r->header.revision;
    // Applied here at once, weights value first (the generation), as write() does.
    for (std::size_t i = 0; i < routes.size(); ++i) {
      const auto& [route, value] = routes[i];
      const auto& c = changes[done + i];
      if (!overrides_.contains(route)) {
        route_revisions_[route] = std::max(route_revisions_[route], out.revision);
        apply_(route, value, out.revision);
      }
      auto& seen = setting_revisions_[setting_key(c.setting, route)];
      seen = std::max(seen, out.revision);
      if (apply_setting_) apply_setting_(route, c.setting, c.value, out.revision);
    }
    if (routes.size() == 1) out.generation = routes.front().second.generation;
    done += routes.size();
  }
  out.outcome = ChangeResult::Outcome::applied;
  co_await wait_applied(out);
  co_return out;
}

void Node::on_events(const std::vector<etcd::WatchEvent>& events, std::int64_t) {
  const std::string routes = options_.prefix + "routes/", nodes = options_.prefix + "nodes/",
                    holds = options_.prefix + "holds/", audit = options_.prefix + "audit/",
                    safety = options_.prefix + "safety/";
  std::int64_t newest_route = 0;
  for (const auto& e : events) {
    if (e.kv.key.starts_with(routes)) {
      if (e.type == etcd::WatchEvent::Type::put) apply_route(e.kv);
      newest_route = std::max(newest_route, e.kv.mod_revision);
    } else if (e.kv.key.starts_with(safety)) {
      // A deleted setting (by hand) changes nothing: the nodes keep what they apply.
      if (e.type == etcd::WatchEvent::Type::put) apply_setting_kv(e.kv);
      newest_route = std::max(newest_route, e.kv.mod_revision);
    } else if (e.kv.key.starts_with(nodes)) {
      auto name = e.kv.key.substr(nodes.size());
      if (e.type == etcd::WatchEvent::Type::put)
        peers_[name] = decode_applied(e.kv.value);
      else if (name != options_.node)
        peers_.erase(name);
    } else if (e.kv.key.starts_with(holds)) {
      on_drain(e);
    } else if (e.kv.key.starts_with(audit)) {
      on_audit(e);
    }
  }
  set_up(true);
  if (newest_route > applied_revision_) {
    applied_revision_ = newest_route;
    peers_[options_.node] = applied_revision_;
    asio::co_spawn(io_, report_applied(), asio::detached);
  }
}

asio::awaitable<ChangeResult> Node::write(const std::string& route, std::uint16_t read_bp, std::uint16_t write_bp,
                                          std::optional<std::uint64_t> if_generation, std::uint64_t local_generation,
                                          bool force, std::optional<bool> held, bool require_held) {
  ChangeResult out;
  const std::string key = route_key(route);
  for (int attempt = 0; attempt < (force ? kForceAttempts : 1); ++attempt) {
    auto current = co_await client_->range(key);
    if (!current) co_return unreachable("etcd unreachable: ", current.error().message);
    std::uint64_t generation = local_generation;
    std::int64_t mod_revision = 0;
    RouteValue stored;
    if (!current->kvs.empty()) {
      mod_revision = current->kvs.front().mod_revision;
      if (auto v = decode_route_value(current->kvs.front().value)) {
        stored = *v;
        generation = v->generation;
        if (stored.writes_held && stored.hold_revision == 0) stored.hold_revision = mod_revision;
      }
    }
    if (require_held && !stored.writes_held) {
      out.outcome = ChangeResult::Outcome::not_held;
      out.generation = generation;
      out.error = "writes are not held on this route (in etcd)";
      co_return out;
    }
    if (if_generation && *if_generation != generation) {
      out.outcome = ChangeResult::Outcome::conflict;
      out.generation = generation;
      out.error = "generation is " + std::to_string(generation) + ", not " + std::to_string(*if_generation) +
                  " (stored in etcd)";
      co_return out;
    }
    RouteValue value{read_bp, write_bp, generation + 1, options_.node, held.value_or(stored.writes_held), 0};
    // A hold carries the revision that raised it; a value that raises one gets its own (below).
    if (value.writes_held && stored.writes_held) value.hold_revision = stored.hold_revision;
    etcd::TxnRequest txn;
    txn.compares.push_back(etcd::Compare::mod_revision(key, etcd::Compare::Relation::equal, mod_revision));
    txn.success.push_back(etcd::Op::put(key, encode_route_value(value)));
    auto r = co_await client_->txn(std::move(txn));
    if (!r) co_return unreachable("etcd did not confirm the change: ", r.error().message);
    set_up(true);
    if (r->succeeded) {
      out.outcome = ChangeResult::Outcome::applied;
      out.generation = value.generation;
      out.revision = r->header.revision;
      if (value.writes_held && value.hold_revision == 0) value.hold_revision = out.revision;
      out.hold_revision = value.hold_revision;
      // Applied here at once: the watch event may come before or after this answer.
      if (force && overrides_.erase(route)) overrides_changed();
      route_revisions_[route] = std::max(route_revisions_[route], out.revision);
      apply_(route, value, out.revision);
      co_return out;
    }
    out.outcome = ChangeResult::Outcome::conflict;
    out.generation = generation + 1;
    out.error = "the route changed in etcd meanwhile (another node won the race)";
  }
  co_return out;
}

asio::awaitable<void> Node::wait_applied(ChangeResult& result) {
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + options_.apply_timeout;
  for (;;) {
    result.applied.clear();
    result.laggards.clear();
    for (const auto& [name, rev] : peers_) {
      const auto applied = name == options_.node ? applied_revision_ : rev;
      (applied >= result.revision ? result.applied : result.laggards).push_back(name);
    }
    if (result.laggards.empty() || std::chrono::steady_clock::now() >= deadline) break;
    co_await sleep_for(kPoll);
  }
  result.waited = std::chrono::steady_clock::now() - start;
}

asio::awaitable<ChangeResult> Node::change(std::string route, std::uint16_t read_bp, std::uint16_t write_bp,
                                           std::optional<std::uint64_t> if_generation,
                                           std::uint64_t local_generation) {
  auto out = co_await write(route, read_bp, write_bp, if_generation, local_generation, false);
  if (out.outcome == ChangeResult::Outcome::applied) co_await wait_applied(out);
  co_return out;
}

asio::awaitable<ChangeResult> Node::override_weights(std::string route, std::uint16_t read_bp,
                                                     std::uint16_t write_bp, std::uint64_t local_generation) {
  overrides_[route] = RouteValue{read_bp, write_bp, local_generation, options_.node};
  overrides_changed();
  // A rollback releases held writes (to source), on every node.
  auto out = co_await write(route, read_bp, write_bp, std::nullopt, local_generation, true, false);
  if (out.outcome == ChangeResult::Outcome::applied)
    co_await wait_applied(out);
  else
    spdlog::warn("fleet: route {}: rollback kept as a local override until etcd takes it ({})", route, out.error);
  co_return out;
}

asio::awaitable<void> Node::flush_overrides() {
  if (flushing_ || overrides_.empty()) co_return;
  flushing_ = true;
  auto pending = overrides_;
  for (const auto& [route, v] : pending) {
    auto r = co_await write(route, v.read_bp, v.write_bp, std::nullopt, v.generation, true, v.writes_held);
    if (r.outcome != ChangeResult::Outcome::applied) break;
    spdlog::info("fleet: route {}: local override written to etcd at revision {}", route, r.revision);
  }
  flushing_ = false;
}

ChangeResult Node::unreachable(std::string_view what, const std::string& message) {
  set_up(false, message);
  ChangeResult out;
  out.outcome = ChangeResult::Outcome::unavailable;
  out.error = std::string(what) + message;
  return out;
}

asio::awaitable<ChangeResult> Node::hold(std::string route, std::uint16_t read_bp, std::uint16_t write_bp,
                                         std::optional<std::uint64_t> if_generation, std::uint64_t local_generation) {
  ChangeResult out;
  auto current = co_await client_->range(route_key(route));
  if (!current) co_return unreachable("etcd unreachable: ", current.error().message);
  if (!current->kvs.empty()) {
    const auto& kv = current->kvs.front();
    auto v = decode_route_value(kv.value);
    if (v && v->writes_held && (!if_generation || *if_generation == v->generation)) {
      // Holding a held route changes nothing; the answer waits for that hold's drain as well.
      out.already_held = true;
      out.generation = v->generation;
      out.revision = kv.mod_revision;
      out.hold_revision = v->hold_revision ? v->hold_revision : kv.mod_revision;
      co_await wait_applied(out);
      co_return out;
    }
    if (v) {
      read_bp = v->read_bp;
      write_bp = v->write_bp;
      local_generation = v->generation;
    }
  }
  // The txn is guarded on the revision read here: weights changed meanwhile make it a lost race.
  out = co_await write(route, read_bp, write_bp, if_generation, local_generation, false, true);
  if (out.outcome == ChangeResult::Outcome::applied) co_await wait_applied(out);
  co_return out;
}

asio::awaitable<ChangeResult> Node::release(std::string route, std::optional<std::uint16_t> write_bp,
                                            std::optional<std::uint64_t> if_generation,
                                            std::uint64_t local_generation) {
  ChangeResult out;
  auto current = co_await client_->range(route_key(route));
  if (!current) co_return unreachable("etcd unreachable: ", current.error().message);
  std::optional<RouteValue> stored;
  if (!current->kvs.empty()) stored = decode_route_value(current->kvs.front().value);
  if (!stored || !stored->writes_held) {
    out.outcome = ChangeResult::Outcome::not_held;
    out.error = "writes are not held on this route (in etcd)";
    co_return out;
  }
  out = co_await write(route, stored->read_bp, write_bp.value_or(stored->write_bp), if_generation, local_generation,
                       false, false, true);
  if (out.outcome == ChangeResult::Outcome::applied) co_await wait_applied(out);
  co_return out;
}

void Node::report_drain(const std::string& route, const DrainReport& report) {
  drains_[route][options_.node] = report;
  if (lease_ == 0) return;
  asio::co_spawn(
      io_,
      [this, key = options_.prefix + "holds/" + route + "/" + options_.node,
       value = encode_drain_report(report)]() -> asio::awaitable<void> {
        auto r = co_await client_->put(key, value, lease_);
        if (!r) spdlog::warn("fleet: could not report a hold's drain to etcd: {}", r.error().message);
      },
      asio::detached);
}

asio::awaitable<std::map<std::string, DrainReport>> Node::wait_drained(
    std::string route, std::int64_t hold_revision, std::chrono::steady_clock::time_point deadline) {
  std::map<std::string, DrainReport> out;
  for (;;) {
    out.clear();
    bool all = true;
    for (const auto& [name, rev] : peers_) {
      DrainReport r;
      if (auto it = drains_.find(route); it != drains_.end())
        if (auto n = it->second.find(name); n != it->second.end() && n->second.hold_revision == hold_revision)
          r = n->second;
      all = all && r.drained;
      out[name] = r;
    }
    if (all || std::chrono::steady_clock::now() >= deadline) break;
    co_await sleep_for(kPoll);
  }
  co_return out;
}

void Node::on_drain(const etcd::WatchEvent& e) {
  const auto rest = std::string_view(e.kv.key).substr(options_.prefix.size() + 6);  // after "holds/"
  const auto slash = rest.rfind('/');
  if (slash == std::string_view::npos) return;
  const std::string route(rest.substr(0, slash)), node(rest.substr(slash + 1));
  if (e.type == etcd::WatchEvent::Type::del) {
    if (auto it = drains_.find(route); it != drains_.end()) it->second.erase(node);
    return;
  }
  if (auto r = decode_drain_report(e.kv.value)) drains_[route][node] = *r;
}

void Node::on_audit(const etcd::WatchEvent& e) {
  if (e.type == etcd::WatchEvent::Type::del) {
    if (auto it = audit_keys_.find(e.kv.key); it != audit_keys_.end()) {
      audit_.erase(it->second);
      audit_keys_.erase(it);
    }
    return;
  }
  if (audit_keys_.contains(e.kv.key)) return;  // put by this node: known since its answer
  audit_keys_[e.kv.key] = e.kv.create_revision;
  audit_[e.kv.create_revision] = {e.kv.key, e.kv.value};
  while (audit_.size() > kAuditKept) {  // the writer deletes them from etcd too (trim_audit)
    audit_keys_.erase(audit_.begin()->second.first);
    audit_.erase(audit_.begin());
  }
}

void Node::publish_audit(std::string entry) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  auto key = options_.prefix + "audit/" + fmt::format("{:016d}-{}-{}", us, options_.node, audit_seq_++);
  if (audit_pending_.size() >= kAuditPending) {
    spdlog::warn("fleet: {} audit entries wait for etcd; the oldest is dropped from the fleet-wide log (it stays in "
                 "this node's audit_log)", audit_pending_.size());
    audit_pending_.pop_front();
  }
  audit_pending_.emplace_back(std::move(key), std::move(entry));
  asio::co_spawn(io_, flush_audit(), asio::detached);
}

asio::awaitable<void> Node::flush_audit() {
  if (audit_flushing_ || lease_ == 0) co_return;
  audit_flushing_ = true;
  bool wrote = false;
  while (!audit_pending_.empty() && !stopped_) {
    auto [key, entry] = audit_pending_.front();
    auto r = co_await client_->put(key, entry);
    if (!r) {
      set_up(false, r.error().message);
      break;
    }
    // Known here at once, so this node's next GET /v1/audit has it; the watch event is skipped.
    if (!audit_keys_.contains(key)) {
      audit_keys_[key] = r->header.revision;
      audit_[r->header.revision] = {key, entry};
    }
    if (!audit_pending_.empty() && audit_pending_.front().first == key) audit_pending_.pop_front();
    wrote = true;
  }
  audit_flushing_ = false;
  if (wrote) co_await trim_audit();
}

asio::awaitable<void> Node::trim_audit() {
  etcd::RangeOptions count_only;
  count_only.count_only = true;
  auto count = co_await client_->range_prefix(options_.prefix + "audit/", count_only);
  if (!count || count->count <= static_cast<std::int64_t>(kAuditKept)) co_return;
  // The oldest keys by creation: the range comes in key order (time first), close enough to find
  // them; every node keeps its own newest kAuditKept by create revision anyway.
  etcd::RangeOptions o;
  o.limit = count->count - static_cast<std::int64_t>(kAuditKept);
  o.keys_only = true;
  auto oldest = co_await client_->range_prefix(options_.prefix + "audit/", o);
  if (!oldest) co_return;
  etcd::TxnRequest txn;
  for (const auto& kv : oldest->kvs) {
    txn.success.push_back(etcd::Op::del(kv.key));
    if (txn.success.size() == 64) {  // well below etcd's --max-txn-ops (128)
      co_await client_->txn(std::move(txn));
      txn = {};
    }
  }
  if (!txn.success.empty()) co_await client_->txn(std::move(txn));
}

std::vector<std::string> Node::audit_entries(std::size_t limit) const {
  std::vector<std::string> out;
  for (auto it = audit_pending_.rbegin(); it != audit_pending_.rend() && out.size() < limit; ++it)
    if (!audit_keys_.contains(it->first)) out.push_back(it->second);
  for (auto it = audit_.rbegin(); it != audit_.rend() && out.size() < limit; ++it) out.push_back(it->second.second);
  std::reverse(out.begin(), out.end());
  return out;
}

NodeStatus Node::status() const {
  NodeStatus s{options_.node, up_, up_ ? std::string() : error_, applied_revision_, {}, overrides_};
  for (const auto& [name, rev] : peers_)
    s.nodes.push_back({name, name == options_.node ? applied_revision_ : rev});
  return s;
}

}  // namespace cutover::fleet
