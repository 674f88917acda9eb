// What the HTTP fuzz targets share: the proxy's reading of a message, replayed synchronously over
// the fuzz input. read_head() is proxy/codec/head_reader.hpp's loop and relay_body() is
// codec::Http1BodyReader's with codec::write_message's framing, with the socket replaced by InputStream; then
// expect_one_message() parses what the proxy would have sent and aborts when the next hop would
// read it differently (the definition of a desync).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <span>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/string_body.hpp>

#include "proxy/codec/head_reader.hpp"
#include "proxy/codec/framing.hpp"
#include "proxy/codec/head_writer.hpp"
#include "proxy/codec/headers.hpp"
#include "proxy/codec/message_writer.hpp"

namespace cutover::fuzz {

namespace bhttp = boost::beast::http;
using boost::system::error_code;

// Prints what broke (with the bytes involved, escaped) and aborts, so libFuzzer keeps the input.
[[noreturn]] inline void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "\n*** cutover fuzz invariant broken: %s\n", what);
  if (!detail.empty()) {
    std::string shown;
    for (unsigned char c : detail.substr(0, 4096)) {
      if (c == '\r') shown += "\\r";
      else if (c == '\n') shown += "\\n\n";
      else if (c < 0x20 || c >= 0x7f) {
        char hex[5];
        std::snprintf(hex, sizeof hex, "\\x%02x", c);
        shown += hex;
      } else shown += static_cast<char>(c);
    }
    std::fprintf(stderr, "--- bytes (%zu) ---\n%s\n---\n", detail.size(), shown.c_str());
  }
  std::abort();
}

// The bytes a socket would deliver, `segment` at most per read (TCP splits anywhere; the proxy
// must not care where), then EOF. A SyncReadStream for Beast's http::read_some.
class InputStream {
 public:
  InputStream(std::string_view data, std::size_t segment) : data_(data), segment_(std::max<std::size_t>(segment, 1)) {}

  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers, error_code& ec) {
    ec = {};
    if (data_.empty()) {
      ec = boost::asio::error::eof;
      return 0;
    }
    std::size_t n = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::mutable_buffer b = *it;
      const std::size_t k = std::min({b.size(), segment_ - n, data_.size()});
      std::memcpy(b.data(), data_.data(), k);
      data_.remove_prefix(k);
      n += k;
      if (n == segment_ || data_.empty()) break;
    }
    return n;
  }
  template <class MutableBuffers>
  std::size_t read_some(const MutableBuffers& buffers) {
    error_code ec;
    auto n = read_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }
  bool at_eof() const { return data_.empty(); }

 private:
  std::string_view data_;
  std::size_t segment_;
};

// How the input is cut into reads: derived from the bytes themselves (FNV-1a), so one input always
// replays the same way and a seed corpus of plain HTTP messages works as it is. Small segments
// make the head reader rescan a growing buffer on every read (quadratic), so large inputs get
// larger segments and one run stays fast.
inline std::uint32_t input_hash(std::string_view input) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : input) h = (h ^ c) * 16777619u;
  return h;
}
inline std::size_t segment_for(std::string_view input) {
  const std::uint32_t h = input_hash(input);
  static constexpr std::size_t kChoices[] = {1 << 20, 1, 3, 64, 512, 1 << 20, 7, 4096};
  std::size_t segment = kChoices[h % 8];
  if (input.size() > 2048) segment = std::max<std::size_t>(segment, 512);
  return segment;
}

using HeadRead = codec::HeadRead;

// proxy/codec/head_reader.hpp read_head(), synchronous: its own parse_buffered_head() between reads
// of the same sizes.
template <bool isRequest, class Body>
HeadRead read_head(InputStream& stream, boost::beast::flat_buffer& buffer, bhttp::parser<isRequest, Body>& parser,
                   const codec::HeadLimits& limits) {
  codec::HeadScanner scan;
  for (int guard = 0;; ++guard) {
    // The proxy's loop has no bound of its own; one that spins without reading is a hang there.
    if (guard > (1 << 22)) fail("read_head: no progress");
    auto step = codec::parse_buffered_head(buffer, parser, limits, scan);
    if (!step.need_more) return step.result;
    const auto want = std::min<std::size_t>(boost::beast::read_size(buffer, 65536),
                                            limits.header_bytes + 1 - std::min(buffer.size(), limits.header_bytes));
    error_code ec;
    const auto n = stream.read_some(buffer.prepare(std::max<std::size_t>(want, 1)), ec);
    buffer.commit(n);
    if (ec == boost::asio::error::eof)
      ec = buffer.size() == 0 ? bhttp::error::end_of_stream : bhttp::error::partial_message;
    if (ec) return {HeadRead::Problem::error, ec};
  }
}

// What the proxy writes to the other side for one relayed message, as bytes.
struct Relayed {
  std::string wire;     // head as rewritten, then the body framed again
  std::string body;     // the body bytes as the proxy read them
  bool complete = false;  // the message was read to its end (else the proxy closes mid-message)
  error_code ec;
};

// codec::Http1BodyReader and codec::write_message without sockets: the head is serialized with
// append_head() as the caller rewrote it, the body is read through `scratch` (Beast's buffer_body,
// the reader's loop) and framed by the writer's own codec::frame_body_piece(): chunked when the
// rewritten head says so, else passed through.
template <bool isRequest>
Relayed relay_body(InputStream& in, boost::beast::flat_buffer& in_buffer,
                   bhttp::parser<isRequest, bhttp::buffer_body>& parser, std::span<char> scratch) {
  Relayed out;
  auto& msg = parser.get();
  const bool chunked = msg.chunked();
  codec::append_head(msg.base(), out.wire);
  if (!parser.is_done() && in_buffer.capacity() < scratch.size())
    in_buffer.reserve(std::min(scratch.size(), in_buffer.max_size()));
  std::array<char, 20> size_line{};
  for (int guard = 0;; ++guard) {
    if (guard > (1 << 22)) fail("relay_body: no progress");
    std::size_t got = 0;
    if (!parser.is_done()) {
      msg.body().data = scratch.data();
      msg.body().size = scratch.size();
      error_code ec;
      bhttp::read_some(in, in_buffer, parser, ec);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) {
        out.ec = ec;
        return out;
      }
      got = scratch.size() - msg.body().size;
      out.body.append(scratch.data(), got);
    }
    const bool last = parser.is_done();
    if (got == 0 && !last) continue;  // framing bytes only (Http1BodyReader::next)
    const auto framed = codec::frame_body_piece({scratch.data(), got}, last, chunked, size_line);
    for (const auto& b : framed.parts) out.wire.append(static_cast<const char*>(b.data()), b.size());
    if (last) break;
  }
  out.complete = true;
  return out;
}

// Parses `wire` as the next hop would: it must be exactly one message, ending where the bytes end
// (`closes`: the proxy closes the connection after it, so a body delimited by the close is fine),
// carrying `body`. Returns the parsed head for further checks.
template <bool isRequest>
bhttp::message<isRequest, bhttp::string_body> expect_one_message(std::string_view wire, std::string_view body,
                                                                 bool head_response, bool closes,
                                                                 const char* what) {
  bhttp::parser<isRequest, bhttp::string_body> p;
  p.header_limit(1u << 20);
  p.body_limit(boost::none);
  p.eager(true);
  if constexpr (!isRequest) p.skip(head_response);
  error_code ec;
  std::size_t used = 0;
  while (used < wire.size() && !p.is_done()) {
    const auto n = p.put(boost::asio::buffer(wire.data() + used, wire.size() - used), ec);
    used += n;
    if (ec == bhttp::error::need_more) {
      ec = {};
      if (n == 0) break;  // wants bytes that are not there: checked below
      continue;
    }
    if (ec) break;
  }
  if (ec) fail((std::string(what) + ": the forwarded message does not parse: " + ec.message()).c_str(), wire);
  if (!p.is_header_done()) fail((std::string(what) + ": the forwarded head is incomplete").c_str(), wire);
  if (!p.is_done()) {
    if (!closes || !p.need_eof())
      fail((std::string(what) + ": the forwarded message does not end where the proxy's bytes end (the next hop "
                                 "waits for more: desync)")
               .c_str(),
           wire);
    p.put_eof(ec);
    if (ec) fail((std::string(what) + ": the forwarded message breaks at close: " + ec.message()).c_str(), wire);
  }
  if (used != wire.size())
    fail((std::string(what) + ": the forwarded bytes hold more than one message (smuggling)").c_str(), wire);
  if (p.get().body() != body)
    fail((std::string(what) + ": the next hop reads another body than the proxy relayed").c_str(), wire);
  return p.release();
}

}  // namespace cutover::fuzz
