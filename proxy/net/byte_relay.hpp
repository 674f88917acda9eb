// The byte relay of a tcp route's connection and of an HTTP upgrade tunnel: two pumps (downstream
// -> upstream, upstream -> downstream) and an idle watchdog, one coroutine each on the connection's
// executor. A template over both stream types, so a TLS-terminated downstream or a TLS upstream
// can use it as well as a plain socket.
//
// Shape (cf. Asio's cpp20 coroutine examples): each pump reads into its own bounded buffer and
// writes it out in full before reading again, so a connection never holds more than the two
// buffers. A FIN from one side is passed on as shutdown(send) towards the other, and the other
// direction keeps going (half-close); the relay ends when both directions ended, on the first
// error (both sides closed), or when no byte moved for `idle` (both sides closed).
#pragma once

#include <chrono>
#include <cstdint>
#include <span>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "proxy/net/stream.hpp"

namespace cutover::net {

namespace asio = boost::asio;
using boost::system::error_code;

// ---- customisation points of a downstream stream -----------------------------------------------
// The TCP socket under a stream, for close() and a plain half-close. A layered stream (e.g.
// asio::ssl::stream<tcp::socket>) reaches it through next_layer().
inline asio::ip::tcp::socket& lowest_socket(asio::ip::tcp::socket& s) { return s; }
inline asio::ip::tcp::socket& lowest_socket(boost::beast::tcp_stream& s) { return s.socket(); }
template <class Stream>
  requires requires(Stream& s) { s.next_layer(); }
auto& lowest_socket(Stream& s) {
  return lowest_socket(s.next_layer());
}

// What the relay does to a stream besides reading and writing. Specialise it for a stream with a
// close message of its own (TLS: send close_notify in half_close); a specialisation is found
// wherever it is declared before the relay is instantiated, unlike an overload in this namespace.
template <class Stream>
struct StreamOps {
  // Passes a FIN on: the peer sees EOF, and may still send.
  static asio::awaitable<void> half_close(Stream& s) {
    error_code ignored;
    lowest_socket(s).shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    co_return;
  }
  // Closes at once; pending operations complete with operation_aborted.
  static void close(Stream& s) {
    error_code ignored;
    lowest_socket(s).close(ignored);
  }
};

// net::Stream (plain, or TLS-terminated by a tcp listener): the TCP socket under either layer. A
// TLS downstream's half-close is a TCP FIN without close_notify: Asio sends close_notify only from
// async_shutdown, which also waits to read the peer's and so cannot run beside the other
// direction's pump. The client sees the end of the stream as an EOF without close_notify, as from
// any server that closes that way (OpenSSL: "unexpected eof while reading").
template <>
struct StreamOps<net::Stream> {
  static asio::awaitable<void> half_close(net::Stream& s) {
    error_code ignored;
    s.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    co_return;
  }
  static void close(net::Stream& s) {
    error_code ignored;
    s.socket().close(ignored);
  }
};

template <class Stream>
void close_stream(Stream& s) {
  StreamOps<Stream>::close(s);
}

// ---- the relay ---------------------------------------------------------------------------------

enum class RelayEnd {
  closed,  // both directions ended with a FIN (or one with a FIN, the other with a clean close)
  error,   // a read or write failed (reset, closed by cutover, ...): both sides were closed
  idle,    // nothing moved for the idle timeout: both sides were closed
};

// Bytes moved, for metrics. `to_upstream`: read from the client and written to the upstream;
// `to_downstream`: the other way. Counted as written.
struct RelayBytes {
  std::uint64_t to_upstream = 0;
  std::uint64_t to_downstream = 0;
};

// Called after every write with the direction (true: towards upstream) and the bytes written,
// so metrics move while a long connection lasts.
template <class F>
concept ByteObserver = requires(F f, bool up, std::size_t n) { f(up, n); };

namespace detail {

struct RelayState {
  std::chrono::steady_clock::time_point last_activity = std::chrono::steady_clock::now();
  bool failed = false;
  bool idle = false;
  RelayBytes bytes;
};

template <class From, class To, class Fail, class Observe>
asio::awaitable<void> pump(From& from, To& to, std::span<char> buffer, bool towards_upstream, RelayState& st,
                           Fail& fail, Observe& observe) {
  using asio::as_tuple;
  using asio::use_awaitable;
  for (;;) {
    auto [rec, n] = co_await from.async_read_some(asio::buffer(buffer.data(), buffer.size()), as_tuple(use_awaitable));
    if (n > 0) {
      st.last_activity = std::chrono::steady_clock::now();
      auto [wec, written] = co_await asio::async_write(to, asio::buffer(buffer.data(), n), as_tuple(use_awaitable));
      (towards_upstream ? st.bytes.to_upstream : st.bytes.to_downstream) += written;
      if (written) observe(towards_upstream, written);
      st.last_activity = std::chrono::steady_clock::now();
      if (wec) {
        fail();
        co_return;
      }
    }
    // A TLS peer that closes without close_notify (stream_truncated) ended its direction all the
    // same: the bytes before it were whole records.
    if (rec == asio::error::eof || rec == asio::ssl::error::stream_truncated) {
      co_await StreamOps<To>::half_close(to);
      co_return;
    }
    if (rec) {
      fail();
      co_return;
    }
  }
}

}  // namespace detail

// Relays between `down` and the connected `up` (any AsyncStreams with lowest_socket or a StreamOps
// specialisation) until both directions ended (RelayEnd::closed), an error (::error) or `idle` without a
// byte moved (::idle). `down_buffer` carries downstream -> upstream bytes, `up_buffer` the other
// way: the only memory the relay uses. Every error ends in both sockets closed; the caller owns
// them and closes them anyway. Never throws for network errors.
template <class Downstream, class Upstream, ByteObserver Observe>
asio::awaitable<RelayEnd> relay(Downstream& down, Upstream& up, std::span<char> down_buffer,
                                std::span<char> up_buffer, std::chrono::milliseconds idle, RelayBytes& bytes,
                                Observe observe) {
  using namespace asio::experimental::awaitable_operators;
  detail::RelayState st;
  auto fail = [&] {
    // Closing ends the other pump's pending operation too.
    if (!st.failed) {
      st.failed = true;
      close_stream(down);
      close_stream(up);
    }
  };
  auto watchdog = [&]() -> asio::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
      timer.expires_at(st.last_activity + idle);
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;  // cancelled: the pumps ended
      if (std::chrono::steady_clock::now() - st.last_activity >= idle) {
        st.idle = true;
        fail();
        co_return;
      }
    }
  };
  co_await ((detail::pump(down, up, down_buffer, true, st, fail, observe) &&
             detail::pump(up, down, up_buffer, false, st, fail, observe)) ||
            watchdog());
  bytes = st.bytes;
  if (st.idle) co_return RelayEnd::idle;
  co_return st.failed ? RelayEnd::error : RelayEnd::closed;
}

}  // namespace cutover::net
