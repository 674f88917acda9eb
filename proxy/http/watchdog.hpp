// A deadline for a downstream connection that, when it passes, cancels the pending operations on
// the sockets it watches instead of closing them as Beast's tcp_stream timeouts do, so the session
// can still answer (408 for a request head or body that took too long, 504 for a response that did)
// before it closes. One per session, re-armed for each phase: the idle wait and the request head
// (config timeouts.idle, timeouts.request_header), then the whole exchange (timeouts.request).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "proxy/net/stream.hpp"

namespace cutover::http {

class Watchdog {
 public:
  // `downstream`'s socket is looked up when the watchdog fires: start_tls() moves it.
  Watchdog(boost::asio::any_io_executor ex, net::Stream& downstream)
      : timer_(std::move(ex)), state_(std::make_shared<State>()) {
    state_->down = &downstream;
  }
  // The timer's handler may already be queued: it finds the sockets gone and does nothing.
  ~Watchdog() {
    state_->down = nullptr;
    state_->up = nullptr;
    ++state_->generation;
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Fires `after` from now (a previous arming is forgotten).
  void arm(std::chrono::milliseconds after) { arm_at(std::chrono::steady_clock::now() + after); }
  void arm_at(std::chrono::steady_clock::time_point at) {
    const auto generation = ++state_->generation;
    state_->fired = false;
    timer_.expires_at(at);
    timer_.async_wait([state = state_, generation](const boost::system::error_code& ec) {
      if (ec || state->generation != generation || !state->down) return;  // re-armed, disarmed or gone
      state->fired = true;
      boost::system::error_code ignored;
      state->down->socket().cancel(ignored);
      if (state->up) state->up->socket().cancel(ignored);
    });
  }
  void disarm() {
    ++state_->generation;
    state_->fired = false;
    timer_.cancel();
  }
  // Whether the armed deadline passed (the operations pending then ended with operation_aborted).
  bool fired() const { return state_->fired; }

  // Also cancels the operations of `upstream` (null: none) when it fires.
  void watch_upstream(net::Stream* upstream) { state_->up = upstream; }

 private:
  struct State {
    net::Stream* down = nullptr;
    net::Stream* up = nullptr;
    std::uint64_t generation = 0;
    bool fired = false;
  };
  boost::asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

}  // namespace cutover::http
