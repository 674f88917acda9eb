// A wake-up for one coroutine at a time on a single-threaded executor: one side waits (with a
// timeout), the other notifies. A notify that comes before the wait is kept, so nothing is lost
// between a check and the wait that follows it. The HTTP/2 connection's writer, each stream's body
// reads and response writes, and the upstream HTTP/2 sessions, wait on one.
#pragma once

#include <chrono>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace cutover::net {

class Signal {
 public:
  explicit Signal(const boost::asio::any_io_executor& ex) : timer_(ex) {}
  Signal(const Signal&) = delete;
  Signal& operator=(const Signal&) = delete;

  // Wakes the waiter, or the next wait when none waits now.
  void notify() {
    pending_ = true;
    timer_.cancel();
  }

  // Returns true when notified, false when `timeout` passed first.
  boost::asio::awaitable<bool> wait_for(std::chrono::steady_clock::duration timeout) {
    if (!pending_) {
      timer_.expires_after(timeout);
      auto [ec] = co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      if (!pending_ && ec != boost::asio::error::operation_aborted) co_return false;
    }
    pending_ = false;
    co_return true;
  }

  // Waits without a timeout (the waiter is woken by a notify, always due: the end of the
  // connection notifies every signal).
  boost::asio::awaitable<void> wait() {
    // Not `while (!co_await ...)`: GCC 12 miscompiles a co_await in a loop condition (SIGILL).
    for (;;) {
      const bool notified = co_await wait_for(std::chrono::hours(24));
      if (notified) co_return;
    }
  }

 private:
  boost::asio::steady_timer timer_;
  bool pending_ = false;
};

}  // namespace cutover::net
