// A deadline for a downstream connection that, when it passes, cancels the pending operations on
// the sockets it watches instead of closing them as Beast's tcp_stream timeouts do, so the session
// can still answer (408 for a request head or body that took too long, 504 for a response that did)
// before it closes. One per session, armed for the phases that need it: the rest of a request head
// that did not arrive whole (timeouts.request_header), a TLS connection's idle wait
// (timeouts.idle), the whole exchange (timeouts.request).
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
  // `downstream`'s socket is looked up when the watchdog fires: start_tls() moves it. Nothing is
  // allocated until the first arm(): most connections never need one (a head that arrives whole,
  // no timeouts.request), and an idle connection then holds no timer.
  explicit Watchdog(net::Stream& downstream) : down_(&downstream) {}
  // The timer's handler may already be queued: it finds the sockets gone and does nothing.
  ~Watchdog() {
    if (!state_) return;
    state_->down = nullptr;
    state_->up = nullptr;
    ++state_->generation;
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Fires `after` from now (a previous arming is forgotten).
  void arm(std::chrono::milliseconds after) { arm_at(std::chrono::steady_clock::now() + after); }
  void arm_at(std::chrono::steady_clock::time_point at) {
    if (!state_) {
      timer_ = std::make_unique<boost::asio::steady_timer>(down_->get_executor());
      state_ = std::make_shared<State>();
      state_->down = down_;
      state_->up = up_;
    }
    const auto generation = ++state_->generation;
    state_->fired = false;
    armed_ = true;
    timer_->expires_at(at);
    timer_->async_wait([state = state_, generation](const boost::system::error_code& ec) {
      if (ec || state->generation != generation || !state->down) return;  // re-armed, disarmed or gone
      state->fired = true;
      boost::system::error_code ignored;
      state->down->socket().cancel(ignored);
      if (state->up) state->up->socket().cancel(ignored);
    });
  }
  void disarm() {
    if (!state_) return;
    ++state_->generation;
    state_->fired = false;
    if (armed_) timer_->cancel();
    armed_ = false;
  }
  // Whether the armed deadline passed (the operations pending then ended with operation_aborted).
  bool fired() const { return state_ && state_->fired; }

  // Also cancels the operations of `upstream` (null: none) when it fires.
  void watch_upstream(net::Stream* upstream) {
    up_ = upstream;
    if (state_) state_->up = upstream;
  }

 private:
  struct State {
    net::Stream* down = nullptr;
    net::Stream* up = nullptr;
    std::uint64_t generation = 0;
    bool fired = false;
  };
  net::Stream* down_;
  net::Stream* up_ = nullptr;
  std::unique_ptr<boost::asio::steady_timer> timer_;  // with state_, from the first arm()
  std::shared_ptr<State> state_;
  bool armed_ = false;
};

}  // namespace cutover::http
