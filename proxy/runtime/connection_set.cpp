// A worker's downstream connections: see connection_set.hpp.
#include "proxy/runtime/connection_set.hpp"

#include <memory>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace cutover::runtime {

void ConnectionSet::add(Drainable* c) {
  connections_.insert(c);
  active_.fetch_add(1, std::memory_order_acq_rel);
  if (gauge_) gauge_->Increment();
}

void ConnectionSet::remove(Drainable* c) {
  connections_.erase(c);
  active_.fetch_sub(1, std::memory_order_acq_rel);
  if (gauge_) gauge_->Decrement();
}

void ConnectionSet::drain() {
  draining_ = true;
  idle_closed_ = true;
  // Copy: closing a connection may end it, which erases it from the set.
  std::vector<Drainable*> open(connections_.begin(), connections_.end());
  for (auto* c : open)
    if (connections_.contains(c)) c->close_if_idle();
}

void ConnectionSet::reloaded() {
  std::vector<Drainable*> open(connections_.begin(), connections_.end());
  for (auto* c : open)
    if (connections_.contains(c)) c->on_reload();
}

void ConnectionSet::add_closable(const RouteRuntime* route, router::Side side, Closable* c) {
  closables_[{route, side}][c] = next_seq_++;
}

void ConnectionSet::remove_closable(const RouteRuntime* route, router::Side side, Closable* c) {
  auto it = closables_.find({route, side});
  if (it == closables_.end()) return;
  it->second.erase(c);
  if (it->second.empty()) closables_.erase(it);
}

void ConnectionSet::close_registered_before(Key key, std::uint64_t cutoff) {
  auto it = closables_.find(key);
  if (it == closables_.end()) return;
  // Copy: closing does not deregister at once, but a connection may end meanwhile.
  std::vector<Closable*> doomed;
  for (const auto& [c, seq] : it->second)
    if (seq < cutoff) doomed.push_back(c);
  for (auto* c : doomed) c->close_now();
}

void ConnectionSet::close_side(const RouteRuntime* route, router::Side side, std::chrono::milliseconds grace) {
  boost::asio::post(io_, [this, key = Key{route, side}, grace] {
    const std::uint64_t cutoff = next_seq_;  // connections registered from now on stay open
    if (grace.count() <= 0) {
      close_registered_before(key, cutoff);
      return;
    }
    // The timer owns itself through its handler; a worker that stops destroys the handler with it.
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, grace);
    timer->async_wait([this, key, cutoff, timer](const boost::system::error_code& ec) {
      if (!ec) close_registered_before(key, cutoff);
    });
  });
}

}  // namespace cutover::runtime
