// Sends the shadow copy of a mirrored request and reads its response into the mirror exchange.
// Runs detached on the worker that served the primary, never awaited by it: a slow,
// failing or absent shadow side costs the primary nothing but this coroutine's own I/O.
#pragma once

#include <memory>

#include <boost/asio/awaitable.hpp>

#include "proxy/shadow/mirror_exchange.hpp"

namespace cutover::upstream {
class ConnectionPool;
}

namespace cutover::exchange {

// Sends the copy to `cluster` — at `endpoint` when given, else the pool's next endpoint — in the
// cluster's protocol, then reads the response head and body (stream-captured; HEAD reads no body),
// all within policy().timeout from the start. Reports to exchange->done(part, error) exactly once.
// Never throws.
// - http1: exchange->request_head_text() (Content-Length set to the captured body when the
//   request had a body) and the body on a pooled connection. A connection whose exchange
//   completed cleanly goes back to `pool`; any other is closed.
// - http2: a stream on one of the pool's sessions to the endpoint (RFC 9113; a new session when
//   none takes another stream), the head from exchange->request_fields(), the response trailers
//   captured too. A stream that did not end cleanly is reset (CANCEL); the session stays.
boost::asio::awaitable<void> send_shadow(std::shared_ptr<shadow::MirrorExchange> exchange,
                                         shadow::MirrorExchange::Part part,
                                         upstream::ConnectionPool& pool, const runtime::Cluster& cluster,
                                         const runtime::Endpoint* endpoint);

}  // namespace cutover::exchange
