// Writes one HTTP/1.1 message to a connection: a serialized head, then the body pieces from a
// BodySource framed again (chunked when the head says so, else passed through as they come:
// Content-Length or no body). The shape is Beast's `relay` example (example/doc/http_examples.hpp)
// split in two, so that what reads a body (an HTTP/1 parser today, an HTTP/2 stream later) and
// what writes it are independent; bounded in time per write.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "proxy/codec/body.hpp"
#include "proxy/net/stream.hpp"

namespace cutover::codec {

// Told once when the message head has been written (a released write passes its baton on then,
// so held writes reach the upstream in arrival order).
class HeadSentListener {
 public:
  virtual void head_sent() = 0;

 protected:
  ~HeadSentListener() = default;
};

struct WriteOutcome {
  enum class Failed { none, read, write };
  Failed failed = Failed::none;  // read: the body source failed; write: the connection did
  boost::system::error_code ec;  // beast::error::timeout when a read or write outlived its timeout
  bool head_sent = false;        // whether the head (and so any byte of the message) went out
  std::uint64_t body_bytes = 0;  // body bytes written (without chunk framing)
};

// The wire form of one body piece: [chunk-size line, data, CRLF] and, for the last piece, the
// last chunk (RFC 9112 §7.1, no trailer section) when `chunked`; the data alone otherwise.
// Empty entries are to be skipped. `size_line` holds the chunk-size line's bytes.
struct FramedPiece {
  std::array<boost::asio::const_buffer, 4> parts{};
};
inline FramedPiece frame_body_piece(std::span<const char> data, bool last, bool chunked,
                                    std::array<char, 20>& size_line) {
  static constexpr char kCrlf[] = "\r\n";
  static constexpr char kLastChunk[] = "0\r\n\r\n";
  FramedPiece f;
  if (!data.empty()) {
    if (chunked) {
      auto [end, ec] = std::to_chars(size_line.data(), size_line.data() + size_line.size() - 2, data.size(), 16);
      *end++ = '\r';
      *end++ = '\n';
      f.parts[0] = boost::asio::buffer(size_line.data(), static_cast<std::size_t>(end - size_line.data()));
      f.parts[2] = boost::asio::buffer(kCrlf, 2);
    }
    f.parts[1] = boost::asio::buffer(data.data(), data.size());
  }
  if (last && chunked) f.parts[3] = boost::asio::buffer(kLastChunk, 5);
  return f;
}

// Writes `head` (a serialized head, which may be appended to) and then the body from `body` (null:
// no body), each write within `write_timeout`. The head goes out together with the first body
// piece when that is at hand (body->try_next()), else alone first. `on_head_sent` is told once the
// head went out. Trailers of a chunked body are not relayed.
inline boost::asio::awaitable<WriteOutcome> write_message(net::Stream& out, std::string& head, bool chunked,
                                                          BodySource* body, std::chrono::milliseconds write_timeout,
                                                          HeadSentListener* on_head_sent = nullptr) {
  namespace asio = boost::asio;
  using asio::as_tuple;
  using asio::use_awaitable;
  // A small first piece is copied into the head's string so the head and it go out in one send(2)
  // rather than a sendmsg(2), whose iovec import the keep-alive profile showed.
  static constexpr std::size_t kCoalesceBytes = 4096;

  WriteOutcome outcome;
  std::array<char, 20> size_line{};
  bool last = body == nullptr;
  std::optional<BodyPiece> at_hand;
  if (body) at_hand = body->try_next();
  if (body && !at_hand) {
    // Nothing to send with the head yet (a slow body, a client waiting for 100 Continue): the
    // head goes first, so the peer sees it without waiting for the body.
    out.expires_after(write_timeout);
    auto [ec, n] = co_await asio::async_write(out, asio::buffer(head), as_tuple(use_awaitable));
    if (ec) {
      out.expires_never();
      co_return WriteOutcome{WriteOutcome::Failed::write, ec, false};
    }
    outcome.head_sent = true;
    if (on_head_sent) on_head_sent->head_sent();
  }
  while (!outcome.head_sent || !last) {
    BodyPiece piece{{}, true, {}};
    if (!last) {
      if (at_hand) {
        piece = *at_hand;
        at_hand.reset();
      } else if (auto ready = body->try_next()) {
        piece = *ready;
      } else {
        piece = co_await body->next();
      }
      if (piece.ec) {
        outcome.failed = WriteOutcome::Failed::read;
        outcome.ec = piece.ec;
        break;
      }
      last = piece.last;
    }
    const auto framed = frame_body_piece(piece.data, last, chunked, size_line);
    out.expires_after(write_timeout);
    boost::system::error_code ec;
    if (!outcome.head_sent) {
      std::size_t rest = 0;
      for (const auto& b : framed.parts) rest += b.size();
      if (rest <= kCoalesceBytes) {
        for (const auto& b : framed.parts) head.append(static_cast<const char*>(b.data()), b.size());
        auto [wec, n] = co_await asio::async_write(out, asio::buffer(head), as_tuple(use_awaitable));
        ec = wec;
      } else {
        const std::array<asio::const_buffer, 5> all{asio::buffer(head), framed.parts[0], framed.parts[1],
                                                    framed.parts[2], framed.parts[3]};
        auto [wec, n] = co_await asio::async_write(out, all, as_tuple(use_awaitable));
        ec = wec;
      }
    } else {
      std::size_t nonempty = 0;
      const asio::const_buffer* one = nullptr;
      for (const auto& b : framed.parts)
        if (b.size() > 0) {
          ++nonempty;
          one = &b;
        }
      if (nonempty == 1) {  // a lone piece by itself: send(2), not sendmsg(2)
        auto [wec, n] = co_await asio::async_write(out, *one, as_tuple(use_awaitable));
        ec = wec;
      } else if (nonempty > 1) {
        auto [wec, n] = co_await asio::async_write(out, framed.parts, as_tuple(use_awaitable));
        ec = wec;
      }
    }
    if (ec) {
      outcome.failed = WriteOutcome::Failed::write;
      outcome.ec = ec;
      break;
    }
    outcome.body_bytes += piece.data.size();
    if (!outcome.head_sent) {
      outcome.head_sent = true;
      if (on_head_sent) on_head_sent->head_sent();
    }
  }
  out.expires_never();
  co_return outcome;
}

}  // namespace cutover::codec
