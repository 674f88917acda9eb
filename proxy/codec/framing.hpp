// Strict HTTP/1.1 message framing (RFC 9112), the checks Beast's parser leaves to the
// application: a proxy that forwards a message whose length two parties could read differently is
// how request smuggling happens, so anything ambiguous is refused (400 for a request, 502 for an
// upstream response) and the connection closed. Pure functions over a parsed head, plus the
// raw-bytes check for obs-fold that Beast would otherwise silently unfold.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>

namespace cutover::codec {

// Limits of a request head (HAProxy and nginx use the same orders of magnitude).
struct HeadLimits {
  std::size_t header_bytes = 64 * 1024;  // whole head, request line included: over it, 431 (502 upstream)
  std::size_t request_line = 8 * 1024;   // request line (method, target, version): over it, 414
};

// Whether the raw bytes of a head section (from its first byte up to, at most, the end of the
// empty line that ends it) contain obs-fold: a line starting with SP or HTAB (RFC 9112 §5.2).
// `raw` may be an incomplete head; bytes after the first empty line are not looked at.
bool has_obs_fold(std::string_view raw);

// Where the head in `raw` ends (one past the empty line's LF), or npos while incomplete.
std::size_t head_end(std::string_view raw);

// Whether the head in `raw` (up to its end, or all of `raw` while incomplete) has a LF not
// preceded by CR (a line ending RFC 9112 §2.2 lets us refuse).
bool has_bare_lf(std::string_view raw);

// The length of the first line of `raw` (without CRLF), or npos when no LF is in it yet.
std::size_t first_line_length(std::string_view raw);

// The raw checks above, done incrementally: each call looks only at the bytes appended since the
// last one, so a head trickled in byte by byte costs linear, not quadratic, work (a slowloris
// client could otherwise burn a worker's CPU; found by the request_head fuzz target's notes).
// `raw` must grow by appending only (the caller resets the scanner when it consumed bytes).
class HeadScanner {
 public:
  void scan(std::string_view raw);
  void reset() { *this = HeadScanner(); }
  bool obs_fold() const { return obs_fold_; }
  bool bare_lf() const { return bare_lf_; }
  std::size_t end() const { return end_; }                // as head_end(); npos while incomplete
  std::size_t first_line() const { return first_line_; }  // as first_line_length()
  std::size_t scanned() const { return scanned_; }

 private:
  std::size_t scanned_ = 0;
  std::size_t end_ = std::string_view::npos;
  std::size_t first_line_ = std::string_view::npos;
  bool obs_fold_ = false;
  bool bare_lf_ = false;
};

// A request head that must be refused with 400, and why; nullopt when its framing is sound:
// - Content-Length: exactly one field, 1*DIGIT (RFC 9110 §8.6; a list, a sign, a repeat, even of
//   the same value, is refused);
// - Transfer-Encoding: not in HTTP/1.0 (RFC 9112 §6.1), its last coding must be "chunked", which
//   must not appear twice (§6.3 item 4), never together with Content-Length (§6.1);
// - Host: exactly one in HTTP/1.1 (RFC 9112 §3.2).
std::optional<std::string> check_request_framing(const boost::beast::http::request_header<>& head);

// As check_request_framing for an upstream response (a failure is the upstream's: 502): one valid
// Content-Length, Transfer-Encoding ending in chunked, not both, no Transfer-Encoding in a 1.0
// response.
std::optional<std::string> check_response_framing(const boost::beast::http::response_header<>& head);

}  // namespace cutover::codec
