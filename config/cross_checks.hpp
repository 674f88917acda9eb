// Checks that need more than one section of the config: cluster references, names unique across
// listeners, colliding addresses, and what a tcp route or its clusters may not have.
#pragma once

#include "config/sections/sections.hpp"

namespace cutover::config::detail {

// A tcp listener has nothing to match on: one route, and none of the HTTP-only keys (the route's
// RouteMarks::http_only). Called when the listener has been read, once its protocol is known.
void check_tcp_routes(Reader& r, const ListenerConfig& l, const ListenerMarks& marks);

// Everything else that spans sections, once the whole file has been read.
void cross_check(Reader& r, const Document& doc);

}  // namespace cutover::config::detail
