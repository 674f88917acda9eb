// Shadow traffic for one request: whether it is mirrored (the route's mirror policy), and the
// detached shadow (and noise) copies once the request went upstream in full. The comparison
// itself is proxy/shadow; the copies' I/O is shadow_client.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <boost/beast/http/message.hpp>

#include "proxy/exchange/request_identity.hpp"
#include "proxy/exchange/worker_context.hpp"
#include "proxy/router/split.hpp"
#include "proxy/runtime/snapshot.hpp"
#include "proxy/shadow/mirror_exchange.hpp"

namespace cutover::exchange {

// Whether the request with head `forwarded` (as rewritten for the upstream) is mirrored. Counts
// skipped_body (a Content-Length over max_body) and dropped (max_in_flight reached) itself;
// otherwise returns the mirror exchange, holding a slot, the request head and `keep` (which keeps
// the snapshot `route` lives in). `has_body`: the request has a body (chunked or a length). The
// copy carries the request's id, and its trace with a span id of its own.
std::shared_ptr<shadow::MirrorExchange> pick_mirror(WorkerContext& worker, const runtime::Route& route,
                                                    router::Side side, std::shared_ptr<const void> keep,
                                                    const boost::beast::http::request_header<>& forwarded,
                                                    std::optional<std::uint64_t> content_length, bool has_body,
                                                    const RequestIdentity& identity);

// Sends the shadow copy to the other side (and, sampled, a noise copy to a second source
// endpoint) once the request went upstream in full; `primary_at` is the endpoint that got the
// primary. Resets `mirror` when the body was over max_body (counted skipped_body).
void launch_mirror(WorkerContext& worker, std::shared_ptr<shadow::MirrorExchange>& mirror, const runtime::Route& route,
                   router::Side side, const runtime::Endpoint* primary_at);

}  // namespace cutover::exchange
