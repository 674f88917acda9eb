// Streams one HTTP message from one connection to another through a fixed scratch buffer, never
// holding a whole body: the head as the caller rewrote it, then the body piece by piece, framed
// again (Content-Length kept, chunked re-chunked). The shape is Beast's `relay` example
// (example/doc/http_examples.hpp), made asynchronous, bounded in time per read and per write, and
// serializing heads itself (head_writer.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "proxy/http/head_writer.hpp"
#include "proxy/net/stream.hpp"
#include "proxy/shadow/body_capture.hpp"

namespace cutover::http {

// Told once when the message head has been written to `out` (used to release held writes in order).
struct HeadSentListener {
  virtual void head_sent() = 0;

 protected:
  ~HeadSentListener() = default;
};

struct RelayOutcome {
  enum class Failed { none, read, write };
  Failed failed = Failed::none;
  boost::system::error_code ec;  // beast::error::timeout when a read or write outlived its timeout
  bool header_sent = false;      // whether the head (and so any byte of the message) reached `out`
};

// Whether the unparsed bytes of a chunked body hold a line ended by a bare LF. Beast waits for CRLF
// there (RFC 9112 §7.1), so such a line would stall the body until the idle timeout; with the
// parser asking for more, what is left unparsed is only framing (chunk data is handed over as it
// arrives), so any LF not after a CR ends a malformed chunk line.
inline bool chunk_framing_has_bare_lf(std::string_view unparsed) {
  for (std::size_t i = unparsed.find('\n'); i != std::string_view::npos; i = unparsed.find('\n', i + 1))
    if (i == 0 || unparsed[i - 1] != '\r') return true;
  return false;
}

// Reads body bytes into `parser` until it makes progress, like http::async_read_some, but refuses
// a chunk line ended by a bare LF at once (http::error::bad_chunk) instead of waiting for a CRLF.
// Returns need_buffer when the body buffer is full, as Beast does.
template <class Stream, bool isRequest>
boost::asio::awaitable<boost::system::error_code> read_body_some(
    Stream& in, boost::beast::flat_buffer& buffer,
    boost::beast::http::parser<isRequest, boost::beast::http::buffer_body>& parser) {
  namespace asio = boost::asio;
  namespace bhttp = boost::beast::http;
  for (;;) {
    if (buffer.size() > 0) {
      boost::system::error_code ec;
      buffer.consume(parser.put(buffer.data(), ec));
      if (ec != bhttp::error::need_more) co_return ec;
      const std::string_view unparsed(static_cast<const char*>(buffer.data().data()), buffer.size());
      if (parser.chunked() && chunk_framing_has_bare_lf(unparsed)) co_return bhttp::error::bad_chunk;
      if (buffer.size() >= buffer.max_size()) co_return bhttp::error::buffer_overflow;
    }
    const auto want = std::min<std::size_t>(boost::beast::read_size(buffer, 65536), buffer.max_size() - buffer.size());
    auto [ec, n] = co_await in.async_read_some(buffer.prepare(want), asio::as_tuple(asio::use_awaitable));
    buffer.commit(n);
    if (ec == asio::error::eof) {
      // The peer closed: the end of a close-delimited body, else a truncated message.
      boost::system::error_code put_ec;
      parser.put_eof(put_ec);
      co_return put_ec;
    }
    if (ec) co_return ec;
  }
}

// Relays the message whose header `parser` has already read from `in` (leftover bytes in
// `in_buffer`), as the caller rewrote it: the head is serialized into `head_buf` and goes out with
// the first body bytes in one gather write; the body is framed as the head says (chunked when
// msg.chunked(), else passed through: Content-Length or no body). Each read waits at most
// `read_timeout`, each write at most `write_timeout`. Trailers of a chunked body are not relayed.
// `tap`, when given, sees every body byte read (the mirror's copy, issue 3).
template <bool isRequest>
boost::asio::awaitable<RelayOutcome> relay_message(net::Stream& in, boost::beast::flat_buffer& in_buffer,
                                                   boost::beast::http::parser<isRequest, boost::beast::http::buffer_body>& parser,
                                                   net::Stream& out, std::span<char> scratch,
                                                   std::string& head_buf, std::chrono::milliseconds read_timeout,
                                                   std::chrono::milliseconds write_timeout,
                                                   HeadSentListener* on_head_sent = nullptr,
                                                   shadow::BodyCapture* tap = nullptr) {
  namespace asio = boost::asio;
  namespace bhttp = boost::beast::http;
  using asio::as_tuple;
  using asio::use_awaitable;
  static constexpr char kCrlf[] = "\r\n";
  static constexpr char kLastChunk[] = "0\r\n\r\n";  // RFC 9112 §7.1, no trailer section
  static constexpr std::size_t kCoalesceBytes = 4096;

  RelayOutcome outcome;
  auto& msg = parser.get();
  const bool chunked = msg.chunked();
  head_buf.clear();
  append_head(msg.base(), head_buf);
  // Beast sizes each read by the buffer's free capacity; a body passes through without growing
  // the buffer, so without this every read would be as small as the header buffer (512 bytes).
  if (!parser.is_done() && in_buffer.capacity() < scratch.size())
    in_buffer.reserve(std::min(scratch.size(), in_buffer.max_size()));

  auto& body = msg.body();
  std::array<char, 20> size_line{};
  for (;;) {
    std::size_t got = 0;
    if (!parser.is_done()) {
      body.data = scratch.data();
      body.size = scratch.size();
      in.expires_after(read_timeout);
      auto ec = co_await read_body_some(in, in_buffer, parser);
      if (ec == bhttp::error::need_buffer) ec = {};  // the scratch buffer is full: write it out
      if (ec) {
        outcome.failed = RelayOutcome::Failed::read;
        outcome.ec = ec;
        break;
      }
      got = scratch.size() - body.size;
      if (tap && got > 0) tap->append({scratch.data(), got});
    }
    const bool last = parser.is_done();
    if (got == 0 && !last && outcome.header_sent) continue;  // framing bytes only

    // [head] [chunk-size line, data, CRLF] [last chunk], empty entries skipped by the write.
    std::array<asio::const_buffer, 5> pieces{};
    if (!outcome.header_sent) pieces[0] = asio::buffer(head_buf);
    if (got > 0) {
      if (chunked) {
        auto [end, ec] = std::to_chars(size_line.data(), size_line.data() + size_line.size() - 2, got, 16);
        *end++ = '\r';
        *end++ = '\n';
        pieces[1] = asio::buffer(size_line.data(), static_cast<std::size_t>(end - size_line.data()));
        pieces[3] = asio::buffer(kCrlf, 2);
      }
      pieces[2] = asio::buffer(scratch.data(), got);
    }
    if (last && chunked) pieces[4] = asio::buffer(kLastChunk, 5);
    out.expires_after(write_timeout);
    // One buffer where it can be: send(2) rather than sendmsg(2), whose iovec import the keep-alive
    // profile showed. A small body goes out in the head's string (a copy of at most
    // kCoalesceBytes), and a lone piece is written by itself.
    std::size_t nonempty = 0;
    for (const auto& b : pieces) nonempty += b.size() > 0;
    if (nonempty > 1 && !outcome.header_sent && got <= kCoalesceBytes) {
      for (std::size_t i = 1; i < pieces.size(); ++i)
        head_buf.append(static_cast<const char*>(pieces[i].data()), pieces[i].size());
      pieces = {};
      pieces[0] = asio::buffer(head_buf);
      nonempty = 1;
    }
    boost::system::error_code ec;
    if (nonempty == 1) {
      const auto& one = *std::find_if(pieces.begin(), pieces.end(), [](const auto& b) { return b.size() > 0; });
      auto [wec, n] = co_await asio::async_write(out, one, as_tuple(use_awaitable));
      ec = wec;
    } else {
      auto [wec, n] = co_await asio::async_write(out, pieces, as_tuple(use_awaitable));
      ec = wec;
    }
    if (ec) {
      outcome.failed = RelayOutcome::Failed::write;
      outcome.ec = ec;
      break;
    }
    if (!outcome.header_sent) {
      outcome.header_sent = true;
      if (on_head_sent) on_head_sent->head_sent();
    }
    if (last) break;
  }
  in.expires_never();
  out.expires_never();
  co_return outcome;
}

}  // namespace cutover::http
