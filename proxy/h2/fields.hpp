// HTTP/2 header lists to and from the HTTP/1-shaped heads the exchange works on (RFC 9113 §8.3):
// pure functions, so the mapping is tested without a connection. nghttp2 has already checked what
// the protocol requires of a received list (pseudo-header fields, lowercase names, no
// connection-specific fields, TE only "trailers"); these only translate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <nghttp2/nghttp2.h>

namespace cutover::h2 {

// Version number a head built from an HTTP/2 request carries (Beast's encoding: 20 for HTTP/2).
inline constexpr unsigned kHttp2Version = 20;

// Builds a request head from the fields of one HEADERS block, in the order received.
class RequestHeadBuilder {
 public:
  // `max_bytes`: the header list's size bound (name + value + 32 per field, RFC 9113 §6.5.2's
  // SETTINGS_MAX_HEADER_LIST_SIZE measure); over it the fields are no longer kept and
  // too_large() says so (the request is answered 431).
  RequestHeadBuilder(boost::beast::http::request_header<>& head, std::size_t max_bytes)
      : head_(head), max_bytes_(max_bytes) {
    head_.version(kHttp2Version);
  }

  // One field: :method, :path and :authority become the method, target and Host (:authority
  // wins over a Host field, §8.3.1); :scheme and :protocol are dropped (X-Forwarded-Proto comes
  // from the connection); cookie fields are joined with "; " (§8.2.3); te is dropped (it can only be
  // "trailers", a hop-by-hop request of the client's); the rest are kept as they are.
  void add(std::string_view name, std::string_view value);
  // After the last field: sets Host and Cookie. Returns the Content-Length, when one was sent.
  std::optional<std::uint64_t> finish();

  bool too_large() const { return too_large_; }
  std::size_t bytes() const { return bytes_; }

 private:
  boost::beast::http::request_header<>& head_;
  std::size_t max_bytes_;
  std::size_t bytes_ = 0;
  bool too_large_ = false;
  std::string authority_;
  std::string cookie_;
  std::optional<std::uint64_t> content_length_;
};

// The header list of a response head (:status first, names lowercased; the caller removed the
// hop-by-hop fields). The entries point into `storage`, which must outlive their use (nghttp2
// copies them when the response is submitted).
void response_fields(const boost::beast::http::response_header<>& head, std::string& storage,
                     std::vector<nghttp2_nv>& out);

// A field list for cutover's own answers: pairs of name and value, names lowercase already.
void add_field(std::vector<nghttp2_nv>& out, std::string_view name, std::string_view value);

}  // namespace cutover::h2
