// One byte stream for every connection the proxy makes or accepts: plain TCP, or TLS over TCP
// (OpenSSL through Beast's ssl_stream). Protocol code (HTTP sessions and relays, the upstream pool,
// health checks, the L4 relay) is written once against this type; which of the two it is was
// decided when the connection was set up.
//
// The plain path stays what it was with a bare socket: each read and write checks one
// discriminator and calls the TimedSocket's own operation with the caller's handler, so there is no
// virtual call and no allocation beyond what the operation itself does.
#pragma once

#include <chrono>
#include <cstddef>
#include <utility>
#include <variant>

#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "proxy/net/timed_socket.hpp"

namespace cutover::net {

namespace asio = boost::asio;
namespace beast = boost::beast;

// A connected (or to be connected) TCP stream, optionally with TLS on top. Satisfies Asio's
// AsyncReadStream and AsyncWriteStream, so Beast's http::async_read/async_write and
// asio::async_write take it. Timeouts are TimedSocket's (timed_socket.hpp; the semantics of
// beast::tcp_stream at a fraction of the cost): expires_after() bounds every operation pending or
// started until the next call (TLS handshake and shutdown included) and a timed-out operation
// completes with beast::error::timeout, the socket closed.
//
// Life cycle: constructed plain (from an accepted socket, or an executor to async_connect on);
// start_tls() once, before any TLS operation and with no operation pending, turns it into TLS;
// then async_handshake(). Not thread-safe: one strand (one worker) uses it.
class Stream {
 public:
  using executor_type = TimedSocket::executor_type;
  using tls_stream = beast::ssl_stream<TimedSocket>;

  explicit Stream(asio::ip::tcp::socket socket) : layer_(std::in_place_index<0>, std::move(socket)) {}
  explicit Stream(const executor_type& ex) : layer_(std::in_place_index<0>, ex) {}

  Stream(Stream&&) = default;
  Stream& operator=(Stream&&) = default;

  executor_type get_executor() noexcept { return tcp().get_executor(); }

  // The TCP layer (timeouts, connect) and its socket (peer address, shutdown, close, native handle).
  TimedSocket& tcp() noexcept {
    if (auto* t = std::get_if<1>(&layer_)) return t->next_layer();
    return *std::get_if<0>(&layer_);
  }
  asio::ip::tcp::socket& socket() noexcept { return tcp().socket(); }

  void expires_after(std::chrono::steady_clock::duration d) { tcp().expires_after(d); }
  void expires_at(std::chrono::steady_clock::time_point t) { tcp().expires_at(t); }
  void expires_never() { tcp().expires_never(); }

  template <class Token>
  auto async_connect(const asio::ip::tcp::endpoint& ep, Token&& token) {
    return tcp().async_connect(ep, std::forward<Token>(token));
  }

  // Plain to TLS, with `ctx`'s settings (the context must outlive the stream, or be kept alive by
  // the SSL object's reference to it, which OpenSSL takes). The caller then configures the SSL
  // object (native_handle(): SNI, host check, session) and calls async_handshake().
  void start_tls(asio::ssl::context& ctx) {
    TimedSocket plain = std::move(*std::get_if<0>(&layer_));
    layer_.emplace<1>(std::move(plain), ctx);
  }
  bool is_tls() const noexcept { return layer_.index() == 1; }
  // The SSL object; null on a plain stream.
  SSL* native_handle() noexcept {
    auto* t = std::get_if<1>(&layer_);
    return t ? t->native_handle() : nullptr;
  }

  // TLS handshake as client or server (RFC 8446 §4, RFC 5246 §7.3). Only on a TLS stream.
  template <class Token>
  auto async_handshake(asio::ssl::stream_base::handshake_type type, Token&& token) {
    return std::get_if<1>(&layer_)->async_handshake(type, std::forward<Token>(token));
  }
  // Sends close_notify and waits for the peer's (RFC 8446 §6.1); bound it with expires_after().
  // Only on a TLS stream.
  template <class Token>
  auto async_shutdown(Token&& token) {
    return std::get_if<1>(&layer_)->async_shutdown(std::forward<Token>(token));
  }

  // AsyncReadStream. A TLS peer that closes without close_notify gives
  // asio::ssl::error::stream_truncated where a plain one gives asio::error::eof.
  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [](auto&& handler, Stream* self, const MutableBufferSequence& b) {
          if (auto* t = std::get_if<1>(&self->layer_))
            t->async_read_some(b, std::move(handler));
          else
            std::get_if<0>(&self->layer_)->async_read_some(b, std::move(handler));
        },
        token, this, buffers);
  }

  // AsyncWriteStream.
  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [](auto&& handler, Stream* self, const ConstBufferSequence& b) {
          if (auto* t = std::get_if<1>(&self->layer_))
            t->async_write_some(b, std::move(handler));
          else
            std::get_if<0>(&self->layer_)->async_write_some(b, std::move(handler));
        },
        token, this, buffers);
  }

 private:
  std::variant<TimedSocket, tls_stream> layer_;
};

// Whether `ec` means the peer closed the connection: EOF, or a TLS peer that closed without
// close_notify (which at a message boundary is a close, not an attack on the data).
inline bool closed_by_peer(const boost::system::error_code& ec) {
  return ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
}

}  // namespace cutover::net
