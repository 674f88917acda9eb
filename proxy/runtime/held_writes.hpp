// The write requests waiting in a hold on one worker, by id: a release (on the control thread)
// wakes them through here, in the order the route's queue keeps (route_runtime.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/runtime/route_runtime.hpp"

namespace cutover::runtime {

// One waiting write: released by cancelling its timer after setting `released`.
struct HeldWrite {
  boost::asio::steady_timer* timer = nullptr;
  bool released = false;
  std::shared_ptr<RouteRuntime::ReleaseChain> chain;  // set on release: pass it on
};

class HeldWrites {
 public:
  // `io`: the worker's io_context, which releases are posted to (only referred to here).
  explicit HeldWrites(boost::asio::io_context& io) : io_(io) {}
  HeldWrites(const HeldWrites&) = delete;
  HeldWrites& operator=(const HeldWrites&) = delete;

  // Worker thread.
  void add(std::uint64_t id, HeldWrite* write) { waiting_[id] = write; }
  void remove(std::uint64_t id) { waiting_.erase(id); }

  // Any thread: releases write `id` with the release's baton; when it no longer waits here (its
  // hold_timeout passed, its client left), passes the baton on instead.
  void release(std::uint64_t id, std::shared_ptr<RouteRuntime::ReleaseChain> chain) {
    boost::asio::post(io_, [this, id, chain = std::move(chain)] {
      auto it = waiting_.find(id);
      if (it == waiting_.end()) {
        chain->advance();
        return;
      }
      it->second->released = true;
      it->second->chain = chain;
      it->second->timer->cancel();
      waiting_.erase(it);
    });
  }

 private:
  boost::asio::io_context& io_;
  std::unordered_map<std::uint64_t, HeldWrite*> waiting_;
};

}  // namespace cutover::runtime
