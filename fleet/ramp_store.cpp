// The fleet's ramps in etcd: see ramp_store.hpp.
#include "fleet/ramp_store.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace cutover::fleet {

namespace asio = boost::asio;

namespace {

// How long the reader waits before it reads ramps/ again after etcd failed it.
constexpr std::chrono::milliseconds kReadRetry{500};

asio::awaitable<void> store_sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace

RampStore::RampStore(asio::io_context& io, Node& node, Changed changed)
    : io_(io), node_(node), changed_(std::move(changed)) {}

RampStore::~RampStore() {
  *alive_ = false;
  if (watch_) watch_->cancel();
}

void RampStore::start() { asio::co_spawn(io_, run(), asio::detached); }

void RampStore::deliver(const etcd::KeyValue& kv, bool deleted) {
  const std::string prefix = node_.options().prefix + "ramps/";
  if (!kv.key.starts_with(prefix)) return;
  changed_(kv.key.substr(prefix.size()), deleted ? std::string() : kv.value, kv.mod_revision);
}

asio::awaitable<void> RampStore::run() {
  auto alive = alive_;
  const std::string prefix = node_.options().prefix + "ramps/";
  while (*alive) {
    auto all = co_await node_.client().range_prefix(prefix);
    if (!*alive) co_return;
    if (!all) {
      co_await store_sleep(kReadRetry);
      continue;
    }
    for (const auto& kv : all->kvs) deliver(kv, false);
    watch_ = node_.client().watch(
        etcd::WatchOptions::prefix(prefix, all->header.revision + 1),
        [this, alive](const std::vector<etcd::WatchEvent>& events, std::int64_t) {
          if (!*alive) return;
          for (const auto& e : events) deliver(e.kv, e.type == etcd::WatchEvent::Type::del);
        });
    auto end = co_await watch_->run();
    if (!*alive || end.reason == etcd::WatchEnd::Reason::canceled) co_return;
    spdlog::warn("fleet: the watch of {} ended ({}); reading it again", prefix, end.error.message);
  }
}

asio::awaitable<RampStore::WriteResult> RampStore::write(std::string route, std::string value, std::int64_t expected,
                                                         std::optional<Weights> weights,
                                                         std::optional<etcd::Compare> guard) {
  WriteResult out;
  const std::string rkey = ramp_key(route);
  etcd::TxnRequest txn;
  txn.compares.push_back(etcd::Compare::mod_revision(rkey, etcd::Compare::Relation::equal, expected));
  if (guard) txn.compares.push_back(*guard);
  txn.success.push_back(etcd::Op::put(rkey, std::move(value)));
  if (weights) {
    const std::string wkey = node_.options().prefix + "routes/" + route;
    auto current = co_await node_.client().range(wkey);
    if (!current) {
      out.outcome = ChangeResult::Outcome::unavailable;
      out.error = "etcd unreachable: " + current.error().message;
      co_return out;
    }
    RouteValue next{weights->read_bp, weights->write_bp, weights->local_generation, node_.options().node};
    std::int64_t mod_revision = 0;
    if (!current->kvs.empty()) {
      mod_revision = current->kvs.front().mod_revision;
      if (auto v = decode_route_value(current->kvs.front().value)) {
        next.generation = v->generation;
        if (v->writes_held && !weights->lift_hold) {
          next.writes_held = true;
          // The revision that raised the hold goes on with it (the raising value has none: its own).
          next.hold_revision = v->hold_revision ? v->hold_revision : mod_revision;
        }
      }
    }
    out.generation = ++next.generation;
    txn.compares.push_back(etcd::Compare::mod_revision(wkey, etcd::Compare::Relation::equal, mod_revision));
    txn.success.push_back(etcd::Op::put(wkey, encode_route_value(next)));
  }
  auto r = co_await node_.client().txn(std::move(txn));
  if (!r) {
    out.outcome = ChangeResult::Outcome::unavailable;
    out.error = "etcd did not confirm the ramp change: " + r.error().message;
    co_return out;
  }
  if (!r->succeeded) {
    out.outcome = ChangeResult::Outcome::conflict;
    out.error = "the ramp, the route's weights or the fleet's leader changed in etcd meanwhile";
    co_return out;
  }
  out.revision = r->header.revision;
  co_return out;
}

asio::awaitable<void> RampStore::publish(std::map<std::string, StepStats> stats) {
  if (publishing_ || node_.lease() == 0) co_return;  // the previous second's puts still run
  publishing_ = true;
  auto alive = alive_;
  const std::string base = node_.options().prefix + "stats/" + node_.options().node + "/";
  const auto lease = node_.lease();
  for (const auto& [route, s] : stats) {
    auto r = co_await node_.client().put(base + route, encode_step_stats(s), lease);
    if (!*alive) co_return;
    if (r) published_.insert(route);
  }
  for (auto it = published_.begin(); it != published_.end();) {
    if (stats.contains(*it)) {
      ++it;
      continue;
    }
    auto r = co_await node_.client().delete_range(base + *it);
    if (!*alive) co_return;
    it = r ? published_.erase(it) : std::next(it);
  }
  publishing_ = false;
}

asio::awaitable<std::optional<std::map<std::string, std::map<std::string, StepStats>>>> RampStore::read_stats(
    std::size_t max_bins) {
  const std::string prefix = node_.options().prefix + "stats/";
  auto all = co_await node_.client().range_prefix(prefix);
  if (!all) co_return std::nullopt;
  std::map<std::string, std::map<std::string, StepStats>> out;
  for (const auto& kv : all->kvs) {
    const std::string rest = kv.key.substr(prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string::npos) continue;
    auto s = decode_step_stats(kv.value, max_bins);
    if (!s) {
      spdlog::warn("fleet: {} is not window statistics; ignored", kv.key);
      continue;
    }
    out[rest.substr(slash + 1)][rest.substr(0, slash)] = std::move(*s);
  }
  co_return out;
}

}  // namespace cutover::fleet
