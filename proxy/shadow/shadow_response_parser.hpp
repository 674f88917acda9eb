// The parser of a shadow (or noise) response: Beast's HTTP/1.1 response parser (RFC 9112 §4
// status line, §5 fields, §6 framing) with the fields and body going straight into the
// CapturedResponse that the comparison reads, instead of into a beast::http::fields container
// and a body buffer that would be copied from afterwards (the shadow side never forwards them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/beast/core/string_type.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/optional/optional.hpp>

#include "proxy/shadow/compare.hpp"

namespace cutover::shadow {

// Parses one response into `out` (status, headers with lower-case names, json, body into
// out.body, which keeps what its own bound allows). Framing, keep_alive(), content_length(),
// chunked(), is_done(), header_limit(), body_limit() and skip() (for HEAD) are basic_parser's.
// A status line clears what an earlier (1xx) response of the same parser object left in `out`;
// use a fresh parser per response all the same, as Beast requires. Errors are Beast's
// (beast::http::error), plus errc::not_enough_memory when the body capture cannot allocate.
// `out` must outlive the parser.
class ShadowResponseParser : public boost::beast::http::basic_parser<false> {
 public:
  explicit ShadowResponseParser(CapturedResponse& out) : out_(out) {}

 private:
  using error_code = boost::system::error_code;
  using field = boost::beast::http::field;
  using sv = boost::beast::string_view;  // Beast's (boost::core::string_view in Boost 1.81)

  void on_request_impl(boost::beast::http::verb, sv, sv, int, error_code&) override {}
  void on_response_impl(int code, sv reason, int version, error_code& ec) override;
  void on_field_impl(field name, sv name_string, sv value, error_code& ec) override;
  void on_header_impl(error_code&) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
  std::size_t on_body_impl(sv body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, sv, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, sv body, error_code& ec) override;
  void on_finish_impl(error_code&) override {}

  CapturedResponse& out_;
};

}  // namespace cutover::shadow
