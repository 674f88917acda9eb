// The admin API's endpoints as data: a method and a path template each ("/v1/routes/{route}/ramp"),
// and the pure functions that select an endpoint for a request's method and path. api.cpp binds
// each endpoint to its handler; docs/admin-api.openapi.yaml describes the same list (a unit test
// compares the two both ways).
#pragma once

#include <optional>
#include <ostream>  // Boost 1.81's string_view (under beast/http/verb.hpp) streams and needs it complete
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/verb.hpp>

namespace cutover::admin {

// One endpoint. `path` is "/"-separated segments, each literal or a parameter "{name}" that takes
// one whole segment (any value, even empty; decoded, as boost::urls gives segments).
struct EndpointKey {
  boost::beast::http::verb method;
  std::string_view path;

  friend bool operator==(const EndpointKey&, const EndpointKey&) = default;
};

// Every endpoint of the admin API, in table order (the table is in api.cpp, with the handlers).
std::vector<EndpointKey> admin_endpoints();

// Path parameters of a match, (name, value) in template order: {"route", "app"}.
using PathParams = std::vector<std::pair<std::string_view, std::string>>;

// True when `segments` fit `path_template` segment for segment; the parameters go to `params`.
bool match_path(std::string_view path_template, const std::vector<std::string>& segments, PathParams& params);

// The value the path gives parameter `name` when the template's segments before "{name}" match
// the path's and the path has that segment, whatever follows it: "/v1/routes/{route}/ramp" scopes
// "nope" in /v1/routes/nope/anything. Lets an unknown route name be told apart from an unknown
// endpoint under a known one.
std::optional<std::string> scoped_param(std::string_view path_template, const std::vector<std::string>& segments,
                                        std::string_view name);

// "GET, POST": an Allow field value (RFC 9110 §10.2.1).
std::string allow_value(const std::vector<boost::beast::http::verb>& methods);

// What a method and path select in `table` (entries of type E with an EndpointKey `key`): `entry`
// when one matches both; else `allowed` lists the methods of the entries that match the path
// (empty: no endpoint has this path). `params` are the path's, whenever some entry matched it.
template <class E>
struct Selection {
  const E* entry = nullptr;
  PathParams params;
  std::vector<boost::beast::http::verb> allowed;
};

template <class E>
Selection<E> select_endpoint(std::span<const E> table, boost::beast::http::verb method,
                             const std::vector<std::string>& segments) {
  Selection<E> out;
  for (const auto& e : table) {
    PathParams params;
    if (!match_path(e.key.path, segments, params)) continue;
    out.params = std::move(params);
    if (e.key.method == method) {
      out.entry = &e;
      return out;
    }
    out.allowed.push_back(e.key.method);
  }
  return out;
}

}  // namespace cutover::admin
