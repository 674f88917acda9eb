// A message body as the side it comes from delivers it, piece by piece, whatever its framing
// (Content-Length, chunked, delimited by the close; later HTTP/2 DATA frames): what an exchange
// moves from one side to the other without ever holding a whole body. The HTTP/1 reader is a
// Beast parser with a buffer_body over the connection, reading into a fixed scratch buffer.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/parser.hpp>

#include "proxy/net/stream.hpp"

namespace cutover::codec {

struct BodyPiece {
  std::span<const char> data;  // valid until the next call to next()
  bool last = false;           // the body ends with this piece
  // The read failed: beast::error::timeout after the read timeout, a Beast parse error (a bad
  // chunk, http::error::body_limit over the configured limit, partial_message for a peer that
  // closed mid-body), or the socket's error.
  boost::system::error_code ec;
};

// Sees every body byte as it passes (the mirror's copy of a request or response body).
class BodyTap {
 public:
  virtual void append(std::span<const char> bytes) = 0;

 protected:
  ~BodyTap() = default;
};

class BodySource {
 public:
  // The next piece of the body: bytes, the end (possibly with bytes), or a failure. After the end
  // or a failure it is not called again. Never returns an empty piece that is not the end.
  virtual boost::asio::awaitable<BodyPiece> next() = 0;
  // The next piece when it is at hand without waiting for the peer (bytes already buffered, or the
  // end), else nullopt; then next() waits for it. Lets a writer send the head together with the
  // first piece when it can, and the head first when it would wait, without a coroutine per piece.
  virtual std::optional<BodyPiece> try_next() = 0;
  // Whether the whole body has been read.
  virtual bool done() const = 0;
  // From now on `tap` (null: none) sees every byte read.
  virtual void set_tap(BodyTap* tap) = 0;
  // Body bytes handed out so far (without chunk framing).
  virtual std::uint64_t bytes() const = 0;
  // After the last piece: the trailer fields that came with the body (an HTTP/2 upstream's, gRPC's
  // grpc-status among them); null when there are none or the source does not keep them.
  virtual const boost::beast::http::fields* trailers() const { return nullptr; }

 protected:
  ~BodySource() = default;
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

// The body of an HTTP/1 message whose head `parser` has read from `in` (leftover bytes in
// `buffer`). Each read waits at most `read_timeout`; pieces are read into `scratch`. `tap`, when
// set, sees every byte read.
template <bool isRequest>
class Http1BodyReader final : public BodySource {
 public:
  using Parser = boost::beast::http::parser<isRequest, boost::beast::http::buffer_body>;

  Http1BodyReader(net::Stream& in, boost::beast::flat_buffer& buffer, Parser& parser, std::span<char> scratch,
                  std::chrono::milliseconds read_timeout)
      : in_(in), buffer_(buffer), parser_(parser), scratch_(scratch), read_timeout_(read_timeout) {
    // Beast sizes each read by the buffer's free capacity; a body passes through without growing
    // the buffer, so without this every read would be as small as the header buffer (512 bytes).
    if (!parser_.is_done() && buffer_.capacity() < scratch_.size())
      buffer_.reserve(std::min(scratch_.size(), buffer_.max_size()));
  }

  void set_tap(BodyTap* tap) override { tap_ = tap; }
  bool done() const override { return parser_.is_done(); }
  std::uint64_t bytes() const override { return bytes_; }

  // Parses what the buffer holds; a chunk line ended by a bare LF is refused at once
  // (http::error::bad_chunk) rather than waited on for a CRLF that never comes.
  std::optional<BodyPiece> try_next() override {
    namespace bhttp = boost::beast::http;
    for (;;) {
      if (parser_.is_done()) return end(BodyPiece{{}, true, {}});
      if (buffer_.size() == 0) return std::nullopt;
      auto& body = parser_.get().body();
      body.data = scratch_.data();
      body.size = scratch_.size();
      boost::system::error_code ec;
      const std::size_t used = parser_.put(buffer_.data(), ec);
      buffer_.consume(used);
      const std::size_t got = scratch_.size() - body.size;
      if ((ec == bhttp::error::need_more || (!ec && used == 0)) && got == 0) {
        const std::string_view unparsed(static_cast<const char*>(buffer_.data().data()), buffer_.size());
        if (parser_.chunked() && chunk_framing_has_bare_lf(unparsed)) return end(BodyPiece{{}, false, bhttp::error::bad_chunk});
        if (buffer_.size() >= buffer_.max_size()) return end(BodyPiece{{}, false, bhttp::error::buffer_overflow});
        return std::nullopt;
      }
      if (ec && ec != bhttp::error::need_more && ec != bhttp::error::need_buffer) return end(BodyPiece{{}, false, ec});
      if (got == 0 && !parser_.is_done()) continue;  // framing bytes only
      if (tap_ && got > 0) tap_->append({scratch_.data(), got});
      bytes_ += got;
      const bool last = parser_.is_done();
      return last ? end(BodyPiece{{scratch_.data(), got}, true, {}}) : BodyPiece{{scratch_.data(), got}, false, {}};
    }
  }

  boost::asio::awaitable<BodyPiece> next() override {
    namespace asio = boost::asio;
    for (;;) {
      if (auto piece = try_next()) co_return *piece;
      in_.expires_after(read_timeout_);
      const auto want =
          std::min<std::size_t>(boost::beast::read_size(buffer_, 65536), buffer_.max_size() - buffer_.size());
      auto [ec, n] = co_await in_.async_read_some(buffer_.prepare(want), asio::as_tuple(asio::use_awaitable));
      buffer_.commit(n);
      if (ec == asio::error::eof) {
        // The peer closed: the end of a close-delimited body, else a truncated message.
        boost::system::error_code put_ec;
        parser_.put_eof(put_ec);
        if (put_ec) co_return end(BodyPiece{{}, false, put_ec});
        continue;
      }
      if (ec) co_return end(BodyPiece{{}, false, ec});
    }
  }

 private:
  // The last piece or a failure: the connection's deadline is lifted.
  BodyPiece end(BodyPiece piece) {
    in_.expires_never();
    return piece;
  }

  net::Stream& in_;
  boost::beast::flat_buffer& buffer_;
  Parser& parser_;
  std::span<char> scratch_;
  std::chrono::milliseconds read_timeout_;
  BodyTap* tap_ = nullptr;
  std::uint64_t bytes_ = 0;
};

}  // namespace cutover::codec
