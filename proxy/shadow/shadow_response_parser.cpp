// Shadow response parsing into the comparison's capture: see shadow_response_parser.hpp.
#include "proxy/shadow/shadow_response_parser.hpp"

#include <new>

#include <boost/system/errc.hpp>

namespace cutover::shadow {

namespace {
// Room reserved for a response's fields up front, so that a usual one fills it without growing.
constexpr std::size_t kTypicalFields = 16;
constexpr std::size_t kTypicalFieldBytes = 512;
}  // namespace

void ShadowResponseParser::on_response_impl(int code, sv, int, error_code&) {
  out_.status = static_cast<unsigned>(code);
  out_.headers.clear();
  out_.headers.reserve(kTypicalFields, kTypicalFieldBytes);
  out_.json = false;
}

void ShadowResponseParser::on_field_impl(field, sv name_string, sv value, error_code& ec) {
  try {
    out_.headers.add(std::string_view(name_string.data(), name_string.size()), std::string_view(value.data(), value.size()));
  } catch (const std::bad_alloc&) {
    ec = boost::system::errc::make_error_code(boost::system::errc::not_enough_memory);
  }
}

void ShadowResponseParser::on_header_impl(error_code&) {
  out_.json = has_json_content_type(out_.headers);  // the first Content-Type decides, as for the primary
}

std::size_t ShadowResponseParser::on_body_impl(sv body, error_code& ec) {
  try {
    out_.body.append({body.data(), body.size()});
  } catch (const std::bad_alloc&) {
    ec = boost::system::errc::make_error_code(boost::system::errc::not_enough_memory);
    return 0;
  }
  return body.size();
}

std::size_t ShadowResponseParser::on_chunk_body_impl(std::uint64_t, sv body, error_code& ec) {
  return on_body_impl(body, ec);
}

}  // namespace cutover::shadow
