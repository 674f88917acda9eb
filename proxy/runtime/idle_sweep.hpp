// Finds the downstream connections of one worker that have waited for their next request for a
// while, so that they can give up their session coroutine and read buffer and park in a compact
// form (proxy/http/connection.cpp). A connection that waits only between the requests of a busy
// client is left alone: parking and waking again cost a coroutine start and an epoll_ctl, which
// the busy path should not pay per request.
//
// A waiting connection is linked into the "young" list (O(1), no allocation, no timer operation);
// one timer per worker, running only while some connection waits, ticks every `after`: the
// connections still in the "old" list are told to park, and the young ones become old. So a
// connection parks after waiting between `after` and 2 x `after`; one whose wait ends first
// unlinks itself. Worker thread only.
#pragma once

#include <chrono>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>

namespace cutover::runtime {

class IdleSweep {
 public:
  using Hook = boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

  // A connection that can park. Unlinks itself when destroyed.
  class Waiter : public Hook {
   public:
    // Called once, on the worker's thread, after the connection waited long enough; it is
    // unlinked already. Must not complete anything inline (cancel a pending read: its handler is
    // queued, not run).
    virtual void park_now() = 0;
    // The wait ended (a byte arrived, or anything else): no park_now() from now on.
    void stop_waiting() noexcept {
      if (is_linked()) unlink();
    }

   protected:
    Waiter() = default;
    ~Waiter() = default;
    Waiter(const Waiter&) = delete;
    Waiter& operator=(const Waiter&) = delete;
  };

  // `after`: how long a connection waits before it is told to park (at most twice that).
  IdleSweep(boost::asio::io_context& io, std::chrono::milliseconds after) : timer_(io), after_(after) {}
  IdleSweep(const IdleSweep&) = delete;
  IdleSweep& operator=(const IdleSweep&) = delete;
  // Connections still linked are unlinked by the lists (their hooks are auto-unlink).
  ~IdleSweep() = default;

  // `w` starts waiting for its next request. Not linked already.
  void waiting(Waiter& w) {
    young_.push_back(w);
    if (!ticking_) arm();
  }

  // Connections linked now (young and old), for tests.
  std::size_t linked() const { return young_.size() + old_.size(); }

 private:
  using List = boost::intrusive::list<Waiter, boost::intrusive::constant_time_size<false>>;

  void arm() {
    ticking_ = true;
    timer_.expires_after(after_);
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;  // destroyed with the worker
      tick();
    });
  }
  void tick() {
    ticking_ = false;
    while (!old_.empty()) {
      Waiter& w = old_.front();
      old_.pop_front();
      w.park_now();
    }
    old_.splice(old_.end(), young_);
    if (!old_.empty()) arm();
  }

  List young_;  // started waiting since the last tick
  List old_;    // waiting since before the last tick: parked at the next
  boost::asio::steady_timer timer_;
  std::chrono::milliseconds after_;
  bool ticking_ = false;
};

}  // namespace cutover::runtime
