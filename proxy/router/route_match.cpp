// Route selection: see route_match.hpp.
#include "proxy/router/route_match.hpp"

#include <boost/beast/core/string.hpp>

namespace cutover::router {

std::string_view host_without_port(std::string_view h) {
  if (!h.empty() && h.front() == '[') {
    auto close = h.find(']');
    return close == std::string_view::npos ? h : h.substr(0, close + 1);
  }
  auto colon = h.rfind(':');
  return colon == std::string_view::npos ? h : h.substr(0, colon);
}

std::string_view path_of_target(std::string_view t) {
  if (t.empty()) return {};
  if (t.front() != '/') {
    auto scheme = t.find("://");
    if (scheme == std::string_view::npos) return {};
    auto slash = t.find('/', scheme + 3);
    if (slash == std::string_view::npos) return "/";
    t.remove_prefix(slash);
  }
  return t.substr(0, t.find_first_of("?#"));
}

int match_route(std::span<const RouteMatch> routes, std::string_view host, std::string_view path, bool grpc_call) {
  int best = -1;
  bool best_exact = false;
  bool best_grpc = false;
  std::size_t best_len = 0;
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const auto& r = routes[i];
    if (r.grpc && !grpc_call) continue;
    bool exact = r.host != "*";
    // ASCII case-insensitive (RFC 9110 §4.2.3), without the std::locale that
    // boost::algorithm::iequals consults per character.
    if (exact && !boost::beast::iequals(r.host, host)) continue;
    if (!path.starts_with(r.path_prefix)) continue;
    bool better = best < 0 || (exact && !best_exact) ||
                  (exact == best_exact && r.path_prefix.size() > best_len) ||
                  (exact == best_exact && r.path_prefix.size() == best_len && r.grpc && !best_grpc);
    if (better) {
      best = static_cast<int>(i);
      best_exact = exact;
      best_grpc = r.grpc;
      best_len = r.path_prefix.size();
    }
  }
  return best;
}

}  // namespace cutover::router
