// Admission of a request head: see admission.hpp.
#include "proxy/exchange/admission.hpp"

#include <fmt/format.h>

#include "proxy/codec/framing.hpp"
#include "proxy/codec/request_target.hpp"

namespace cutover::exchange {

std::optional<Refusal> admit(boost::beast::http::request_header<>& head, std::optional<std::uint64_t> content_length,
                             const config::LimitsConfig& limits) {
  if (auto problem = codec::check_request_framing(head)) return Refusal{Outcome::bad_request, "malformed request: " + *problem};
  if (content_length && *content_length > 0 && limits.max_request_body && *content_length > limits.max_request_body)
    return Refusal{Outcome::request_too_large, fmt::format("request body of {} bytes is over the limit of {}",
                                                           *content_length, limits.max_request_body)};
  if (auto problem = codec::absolute_form_to_origin_form(head))
    return Refusal{Outcome::bad_request, "malformed request: " + *problem};
  return std::nullopt;
}

}  // namespace cutover::exchange
