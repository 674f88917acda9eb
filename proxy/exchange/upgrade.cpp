// Upgrade requests: see upgrade.hpp.
#include "proxy/exchange/upgrade.hpp"

#include <boost/beast/http/rfc7230.hpp>

#include "common/text.hpp"

namespace cutover::exchange {

namespace bhttp = boost::beast::http;

namespace {

// The first protocol of an Upgrade list ("websocket, h2c" gives "websocket"), trimmed.
std::string_view first_protocol(std::string_view value) {
  const auto comma = value.find(',');
  return common::trim(value.substr(0, comma));
}

// The name part of "name/version".
std::string_view protocol_name(std::string_view protocol) { return protocol.substr(0, protocol.find('/')); }

bool connection_lists_upgrade(const bhttp::fields& fields) {
  auto [first, last] = fields.equal_range(bhttp::field::connection);
  for (auto it = first; it != last; ++it)
    for (auto token : bhttp::token_list{it->value()})
      if (common::iequals(token, "upgrade")) return true;
  return false;
}

}  // namespace

std::optional<std::string> requested_upgrade(const bhttp::request_header<>& req, const std::vector<std::string>& allowed,
                                             bool has_body) {
  if (allowed.empty() || req.version() < 11 || has_body) return std::nullopt;
  auto it = req.find(bhttp::field::upgrade);
  if (it == req.end() || !connection_lists_upgrade(req)) return std::nullopt;
  const auto protocol = first_protocol(it->value());
  const auto name = protocol_name(protocol);
  if (name.empty() || !common::is_token(name)) return std::nullopt;
  for (const auto& a : allowed)
    if (common::iequals(a, name)) return std::string(protocol);
  return std::nullopt;
}

bool switches_to(const bhttp::response_header<>& res, std::string_view requested) {
  auto it = res.find(bhttp::field::upgrade);
  if (it == res.end()) return false;
  return common::iequals(protocol_name(first_protocol(it->value())), protocol_name(requested));
}

void forward_upgrade(bhttp::request_header<>& req, std::string_view protocol) {
  req.set(bhttp::field::upgrade, protocol);
  req.set(bhttp::field::connection, "upgrade");
}

}  // namespace cutover::exchange
