// Request-target forms: see request_target.hpp.
#include "proxy/codec/request_target.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/url/parse.hpp>

namespace cutover::codec {

std::optional<std::string> absolute_form_to_origin_form(boost::beast::http::request_header<>& req) {
  namespace bhttp = boost::beast::http;
  const std::string_view target = req.target();
  if (target.empty() || target.front() == '/' || target == "*") return std::nullopt;  // origin, asterisk
  if (target.find("://") == std::string_view::npos) return std::nullopt;  // authority-form (CONNECT)
  auto url = boost::urls::parse_absolute_uri(target);
  if (!url) return "request target in absolute-form is not a valid URI";
  const auto scheme = url->scheme_id();
  if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https)
    return "request target in absolute-form must be an http or https URI";
  if (url->has_userinfo()) return "request target must not carry userinfo (RFC 9110 section 4.2.4)";
  if (url->encoded_host().empty()) return "request target in absolute-form has no host";
  std::string host(url->encoded_host_and_port());
  std::string origin_form(url->encoded_path());
  if (origin_form.empty()) origin_form = "/";
  if (url->has_query()) {
    origin_form += '?';
    origin_form += url->encoded_query();
  }
  req.set(bhttp::field::host, host);
  req.target(origin_form);
  return std::nullopt;
}

}  // namespace cutover::codec
