// Reads one message head into a Beast parser, like http::async_read_header, but sees the raw
// bytes first: Beast unfolds obs-fold silently and reports an over-long request line as a header
// section over the limit, and a strict proxy must refuse the first (RFC 9112 §5.2) and tell the
// second apart (414, RFC 9112 §3). The head is parsed once it is complete, so the raw checks run
// over at most `limits.header_bytes` per message.
#pragma once

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include "proxy/codec/framing.hpp"
#include "proxy/net/stream.hpp"

namespace cutover::codec {

struct HeadRead {
  enum class Problem { none, error, obs_fold, request_line_too_long, header_too_large };
  Problem problem = Problem::none;
  // With Problem::error: Beast's parse error, or the read error (http::error::end_of_stream
  // when the peer closed before sending a byte, partial_message when it closed mid-head: a TLS
  // peer's close without close_notify counts as a close here, between messages,
  // beast::error::timeout after the stream's expiry).
  boost::system::error_code ec;
  bool ok() const { return problem == Problem::none; }
};

// What the bytes already in `buffer` give: a complete head parsed into `parser` (its bytes
// consumed), a problem, or the need for more bytes. The synchronous core of read_head(), shared
// with the fuzz targets (fuzz/fuzz_http.hpp) so they exercise exactly this. `scan` carries the
// raw checks from one call to the next while the head is incomplete.
struct HeadStep {
  bool need_more = false;
  HeadRead result;  // when !need_more
};

template <bool isRequest, class Body>
HeadStep parse_buffered_head(boost::beast::flat_buffer& buffer, boost::beast::http::parser<isRequest, Body>& parser,
                             const HeadLimits& limits, HeadScanner& scan) {
  namespace bhttp = boost::beast::http;
  using Problem = HeadRead::Problem;
  for (;;) {
    const std::string_view raw(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (raw.empty()) return {true, {}};
    scan.scan(raw);
    if (scan.obs_fold()) return {false, {Problem::obs_fold, {}}};
    if constexpr (isRequest) {
      const auto line = scan.first_line();
      if (line == std::string_view::npos ? raw.size() > limits.request_line : line > limits.request_line)
        return {false, {Problem::request_line_too_long, {}}};
    }
    // Beast consumes the lines it has parsed even while the head is incomplete, and the checks
    // above need the whole head in view: so the parser gets it only once it is all here (or when
    // a bare LF already tells it is malformed, which the parser then reports).
    if (scan.end() == std::string_view::npos && !scan.bare_lf()) {
      if (buffer.size() >= limits.header_bytes) return {false, {Problem::header_too_large, {}}};
      return {true, {}};
    }
    boost::system::error_code ec;
    const auto used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (used > 0) scan.reset();  // the bytes it looked at moved
    if (!ec && parser.is_header_done()) return {false, {}};
    if (ec == bhttp::error::header_limit) return {false, {Problem::header_too_large, ec}};
    if (ec && ec != bhttp::error::need_more) return {false, {Problem::error, ec}};
    if (!ec) continue;  // the parser took part of the input (a leading empty line): go on
    if (buffer.size() >= limits.header_bytes) return {false, {Problem::header_too_large, {}}};
    return {true, {}};
  }
}

// What read_head() makes of the read that waited for a message (into a `buffer` that was empty,
// `ec` its outcome, its bytes committed): an error as read_head() reports it, or the parse of what
// arrived: a head, a problem, or the need for more (then read_head() goes on). Callers do that
// first read and this parse themselves, so the common case, a whole head in one read, costs no
// read_head() coroutine frame.
template <bool isRequest, class Body>
HeadStep parse_first_read(const boost::system::error_code& ec, boost::beast::flat_buffer& buffer,
                          boost::beast::http::parser<isRequest, Body>& parser, const HeadLimits& limits) {
  namespace bhttp = boost::beast::http;
  if (ec) {
    const bool closed = net::closed_by_peer(ec);
    return {false, {HeadRead::Problem::error,
                    closed ? (buffer.size() == 0 ? bhttp::error::end_of_stream : bhttp::error::partial_message) : ec}};
  }
  HeadScanner scan;
  return parse_buffered_head(buffer, parser, limits, scan);
}

// Reads until `parser` has a complete head, from `buffer` first, then from `stream` (whose expiry
// the caller sets). The head's bytes are consumed from `buffer`; bytes after it stay there.
// Requests get limits.request_line on their first line.
template <bool isRequest, class Body>
boost::asio::awaitable<HeadRead> read_head(net::Stream& stream, boost::beast::flat_buffer& buffer,
                                           boost::beast::http::parser<isRequest, Body>& parser,
                                           const HeadLimits& limits) {
  namespace asio = boost::asio;
  namespace bhttp = boost::beast::http;
  HeadScanner scan;
  for (;;) {
    auto step = parse_buffered_head(buffer, parser, limits, scan);
    if (!step.need_more) co_return step.result;
    const auto want = std::min<std::size_t>(boost::beast::read_size(buffer, 65536),
                                            limits.header_bytes + 1 - std::min(buffer.size(), limits.header_bytes));
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(std::max<std::size_t>(want, 1)),
                                                   asio::as_tuple(asio::use_awaitable));
    buffer.commit(n);
    if (net::closed_by_peer(ec))
      ec = buffer.size() == 0 ? bhttp::error::end_of_stream : bhttp::error::partial_message;
    if (ec) co_return HeadRead{HeadRead::Problem::error, ec};
  }
}

}  // namespace cutover::codec
