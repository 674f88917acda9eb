// The fleet's leader election: see leader.hpp.
#include "fleet/leader.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace cutover::fleet {

namespace asio = boost::asio;

Leader::Leader(asio::io_context& io, Node& node, Changed changed)
    : io_(io), node_(node), changed_(std::move(changed)), wake_(io) {}

Leader::~Leader() {
  stopped_ = true;
  *alive_ = false;
  wake_.cancel();
  if (watch_) watch_->cancel();
}

std::chrono::milliseconds Leader::poll_interval(std::chrono::milliseconds lease_ttl) {
  return std::clamp<std::chrono::milliseconds>(lease_ttl / 4, std::chrono::milliseconds(100),
                                                std::chrono::milliseconds(1000));
}

void Leader::start() {
  asio::co_spawn(io_, run(), asio::detached);
  asio::co_spawn(io_, watch_loop(), asio::detached);
}

etcd::Compare Leader::guard() const {
  return etcd::Compare::create_revision(key(), etcd::Compare::Relation::equal, create_revision_);
}

void Leader::set_leader(bool leader, std::string holder) {
  holder_ = std::move(holder);
  if (leader == leader_) return;
  leader_ = leader;
  if (leader)
    spdlog::info("fleet: node {} is the leader (runs the fleet's ramps)", node_.options().node);
  else
    spdlog::warn("fleet: node {} is no longer the leader{}", node_.options().node,
                 holder_.empty() ? std::string() : " (" + holder_ + " is)");
  if (changed_) changed_(leader);
}

asio::awaitable<void> Leader::campaign() {
  const std::int64_t lease = node_.lease();
  if (lease == 0) co_return;  // no session yet: nothing to put the key under
  etcd::TxnRequest txn;
  txn.compares.push_back(etcd::Compare::create_revision(key(), etcd::Compare::Relation::equal, 0));
  txn.success.push_back(etcd::Op::put(key(), node_.options().node, lease));
  txn.failure.push_back(etcd::Op::get(key()));
  auto alive = alive_;
  auto r = co_await node_.client().txn(std::move(txn));
  if (!*alive) co_return;
  if (!r) {
    // Cut off from etcd: the lease may expire meanwhile and another node take over, so this
    // node stops acting as the leader now (its guarded writes would fail anyway).
    set_leader(false, {});
    co_return;
  }
  if (r->succeeded) {
    create_revision_ = r->header.revision;
    set_leader(true, node_.options().node);
    co_return;
  }
  if (r->results.empty() || r->results.front().range.kvs.empty()) {
    set_leader(false, {});  // deleted between the compare and the get: the next campaign decides
    co_return;
  }
  const auto& kv = r->results.front().range.kvs.front();
  if (kv.value == node_.options().node && kv.lease == node_.lease()) {
    create_revision_ = kv.create_revision;
    set_leader(true, kv.value);
  } else {
    set_leader(false, kv.value);
  }
}

asio::awaitable<void> Leader::give_up() {
  if (!leader_) co_return;
  etcd::TxnRequest txn;
  txn.compares.push_back(guard());
  txn.success.push_back(etcd::Op::del(key()));
  auto alive = alive_;
  auto r = co_await node_.client().txn(std::move(txn));
  if (!*alive) co_return;
  if (!r) spdlog::warn("fleet: node {} could not delete the leader key ({}); it expires with the lease",
                       node_.options().node, r.error().message);
  set_leader(false, {});
}

asio::awaitable<void> Leader::resign() {
  if (resigned_) co_return;
  resigned_ = true;
  wake_.cancel();
  spdlog::info("fleet: node {} resigns the leadership (hand-over to a new process)", node_.options().node);
  co_await give_up();
}

void Leader::campaign_again() {
  if (!resigned_ || stopped_) return;
  resigned_ = false;
  spdlog::info("fleet: node {} campaigns for the leadership again", node_.options().node);
  asio::co_spawn(io_, run(), asio::detached);
}

asio::awaitable<void> Leader::run() {
  auto alive = alive_;
  const auto poll = poll_interval(node_.options().lease_ttl);
  while (*alive && !stopped_ && !resigned_) {
    co_await campaign();
    if (!*alive || stopped_) co_return;
    if (resigned_) {
      co_await give_up();  // a campaign that was under way when the resignation came may have won
      co_return;
    }
    wake_.expires_after(poll);
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));  // canceled: woken early
  }
}

asio::awaitable<void> Leader::watch_loop() {
  auto alive = alive_;
  while (*alive && !stopped_) {
    etcd::WatchOptions o;
    o.key = key();
    watch_ = node_.client().watch(std::move(o), [this, alive](const std::vector<etcd::WatchEvent>& events, std::int64_t) {
      if (!*alive) return;
      for (const auto& e : events)
        if (e.type == etcd::WatchEvent::Type::del) {
          set_leader(false, {});
          wake_.cancel();  // campaign now
        } else if (e.kv.value != node_.options().node) {
          set_leader(false, e.kv.value);
        }
    });
    auto end = co_await watch_->run();
    if (!*alive || stopped_ || end.reason == etcd::WatchEnd::Reason::canceled) co_return;
    asio::steady_timer t(io_, std::chrono::seconds(1));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace cutover::fleet
