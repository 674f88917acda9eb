// Streams one HTTP message from one connection to another through a fixed scratch buffer, never
// holding a whole body: the header is forwarded as parsed (the caller rewrites it first), the body
// piece by piece, re-framed by Beast's serializer (Content-Length kept, chunked re-chunked).
// The shape is Beast's `relay` example (example/doc/http_examples.hpp), made asynchronous and
// bounded in time per read and per write.
#pragma once

#include <algorithm>
#include <chrono>
#include <span>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

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
  bool header_sent = false;      // whether any byte of the message reached `out`
};

// Relays the message whose header `parser` has already read from `in` (leftover bytes in
// `in_buffer`). Each read waits at most `read_timeout`, each write at most `write_timeout`.
template <bool isRequest>
boost::asio::awaitable<RelayOutcome> relay_message(boost::beast::tcp_stream& in, boost::beast::flat_buffer& in_buffer,
                                                   boost::beast::http::parser<isRequest, boost::beast::http::buffer_body>& parser,
                                                   boost::beast::tcp_stream& out, std::span<char> scratch,
                                                   std::chrono::milliseconds read_timeout,
                                                   std::chrono::milliseconds write_timeout,
                                                   HeadSentListener* on_head_sent = nullptr) {
  namespace bhttp = boost::beast::http;
  using boost::asio::as_tuple;
  using boost::asio::use_awaitable;

  RelayOutcome outcome;
  // Beast sizes each read by the buffer's free capacity; a body passes through without growing
  // the buffer, so without this every read would be as small as the header buffer (512 bytes).
  if (!parser.is_done() && in_buffer.capacity() < scratch.size())
    in_buffer.reserve(std::min(scratch.size(), in_buffer.max_size()));
  bhttp::serializer<isRequest, bhttp::buffer_body> sr{parser.get()};
  auto& body = parser.get().body();
  do {
    if (!parser.is_done()) {
      body.data = scratch.data();
      body.size = scratch.size();
      in.expires_after(read_timeout);
      auto [ec, n] = co_await bhttp::async_read_some(in, in_buffer, parser, as_tuple(use_awaitable));
      if (ec == bhttp::error::need_buffer) ec = {};  // the scratch buffer is full: write it out
      if (ec) {
        outcome.failed = RelayOutcome::Failed::read;
        outcome.ec = ec;
        break;
      }
      std::size_t got = scratch.size() - body.size;
      body.data = got ? scratch.data() : nullptr;
      body.size = got;
      body.more = !parser.is_done();
      if (got == 0 && body.more && sr.is_header_done()) continue;  // framing bytes only
    } else {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
    }
    out.expires_after(write_timeout);
    auto [ec, n] = co_await bhttp::async_write(out, sr, as_tuple(use_awaitable));
    if (ec == bhttp::error::need_buffer) ec = {};  // everything given was written; more to come
    if (ec) {
      outcome.failed = RelayOutcome::Failed::write;
      outcome.ec = ec;
      break;
    }
    if (on_head_sent && sr.is_header_done()) {
      on_head_sent->head_sent();
      on_head_sent = nullptr;
    }
  } while (!sr.is_done());
  outcome.header_sent = sr.is_header_done();
  in.expires_never();
  out.expires_never();
  co_return outcome;
}

}  // namespace cutover::http
