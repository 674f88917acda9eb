// A TCP socket with one deadline for its reads, writes and connect, kept the cheap way: setting the
// deadline writes a time point, and the timer is re-armed only when it fires (or when a deadline
// comes earlier than the one it is armed for). Beast's tcp_stream, which this replaces on the data
// plane, arms and cancels a timer around every read and write: a timer-queue insert and removal
// and two clock reads per operation, which the keep-alive profile showed (bench/README.md). The
// same lazy re-arm is nginx's NGX_TIMER_LAZY_DELAY idea and Envoy's "touch" of idle timers.
//
// Semantics are the tcp_stream's: when the deadline passes while an operation is pending (or one
// starts after it passed), the socket is closed and the operations complete with
// beast::error::timeout. A deadline set again (expires_after/at/never) starts afresh. Reads and
// writes share the deadline; callers set it before each phase (each read or write of a message).
//
// The socket's pending operations hold the state alive, so the object may be destroyed (or moved)
// with operations pending, as any Asio I/O object: destruction closes the socket and they complete
// with operation_aborted.
#pragma once

#include <chrono>
#include <memory>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

namespace cutover::net {

class TimedSocket {
 public:
  using executor_type = boost::asio::any_io_executor;
  using clock = std::chrono::steady_clock;

  explicit TimedSocket(boost::asio::ip::tcp::socket socket) : s_(std::make_shared<State>(std::move(socket))) {}
  explicit TimedSocket(const executor_type& ex) : s_(std::make_shared<State>(boost::asio::ip::tcp::socket(ex))) {}
  TimedSocket(TimedSocket&&) noexcept = default;
  TimedSocket& operator=(TimedSocket&& other) noexcept {
    if (this != &other) {
      close_state();
      s_ = std::move(other.s_);
    }
    return *this;
  }
  // Closes the socket (as tcp_stream does): pending operations, which hold the state, complete.
  ~TimedSocket() { close_state(); }

  executor_type get_executor() noexcept { return s_->socket.get_executor(); }
  boost::asio::ip::tcp::socket& socket() noexcept { return s_->socket; }
  // What asio::ssl::stream asks of the layer it wraps.
  using lowest_layer_type = boost::asio::ip::tcp::socket;
  lowest_layer_type& lowest_layer() noexcept { return s_->socket; }

  void expires_after(clock::duration d) { expires_at(clock::now() + d); }
  void expires_at(clock::time_point t) {
    s_->deadline = t;
    s_->expired = false;
  }
  // No deadline. A wait already armed is left to fire by itself (and then finds none).
  void expires_never() {
    s_->deadline = clock::time_point::max();
    s_->expired = false;
  }

  template <class Token>
  auto async_connect(const boost::asio::ip::tcp::endpoint& ep, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [](auto&& handler, const std::shared_ptr<State>& s, const boost::asio::ip::tcp::endpoint& to) {
          s->watch();
          s->socket.async_connect(to, [h = std::move(handler), s](boost::system::error_code ec) mutable {
            std::move(h)(s->map(ec));
          });
        },
        token, s_, ep);
  }

  // AsyncReadStream.
  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [](auto&& handler, const std::shared_ptr<State>& s, const MutableBufferSequence& b) {
          s->watch();
          s->socket.async_read_some(b, [h = std::move(handler), s](boost::system::error_code ec, std::size_t n) mutable {
            std::move(h)(s->map(ec), n);
          });
        },
        token, s_, buffers);
  }

  // AsyncWriteStream.
  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [](auto&& handler, const std::shared_ptr<State>& s, const ConstBufferSequence& b) {
          s->watch();
          s->socket.async_write_some(b, [h = std::move(handler), s](boost::system::error_code ec, std::size_t n) mutable {
            std::move(h)(s->map(ec), n);
          });
        },
        token, s_, buffers);
  }

 private:
  struct State : std::enable_shared_from_this<State> {
    explicit State(boost::asio::ip::tcp::socket s) : socket(std::move(s)), timer(socket.get_executor()) {}

    boost::asio::ip::tcp::socket socket;
    boost::asio::steady_timer timer;
    clock::time_point deadline = clock::time_point::max();
    clock::time_point armed_until = clock::time_point::max();  // when the pending wait ends (max: none)
    bool expired = false;  // the deadline passed and the socket was closed

    // An operation starts: make sure a wait ends no later than the deadline. A wait that ends
    // earlier finds the deadline moved and waits again (one re-arm per timeout period, not per
    // operation).
    void watch() {
      if (deadline == clock::time_point::max() || armed_until <= deadline) return;
      armed_until = deadline;
      timer.expires_at(deadline);  // a pending later wait completes with operation_aborted
      timer.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
        if (ec) return;  // re-armed earlier, or the socket is gone
        if (auto s = w.lock()) s->fired();
      });
    }
    void fired() {
      armed_until = clock::time_point::max();
      if (deadline == clock::time_point::max()) return;
      if (clock::now() < deadline) {
        watch();
        return;
      }
      expired = true;
      boost::system::error_code ignored;
      socket.close(ignored);  // the pending operations complete with operation_aborted
    }
    boost::system::error_code map(boost::system::error_code ec) const {
      if (expired && (ec == boost::asio::error::operation_aborted || ec == boost::asio::error::bad_descriptor))
        return boost::beast::error::timeout;
      return ec;
    }
  };
  void close_state() noexcept {
    if (!s_) return;
    boost::system::error_code ignored;
    s_->socket.close(ignored);
    s_->timer.cancel();
  }

  std::shared_ptr<State> s_;
};

}  // namespace cutover::net
