// A request's identity as it travels: its request id (kept from a trusted client, else made here)
// and its W3C trace context, applied to the request head before it goes upstream, so the source,
// the target's shadow copy, the client's response and the access log all carry the same id.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/message.hpp>

#include "proxy/runtime/snapshot.hpp"

namespace cutover::exchange {

struct RequestIdentity {
  std::string request_id;   // never empty once identified
  std::string trace_id;     // 32 hex digits; empty without a valid (or generated) traceparent
  std::string trace_flags;  // 2 hex digits, with trace_id
};

// Rewrites `head` in place (RFC 9110 §5.3: one field line per name):
//  - the request id field (config request_id.header): kept when the client is inside
//    request_id.trust_cidrs and its one value is valid (observe::valid_request_id), else replaced;
//  - traceparent: kept unchanged when valid and given once, else removed with tracestate
//    (W3C Trace Context §3.3: a tracestate without a valid traceparent means nothing); then, with
//    tracing.generate, a request without one gets a new traceparent.
// `random`: the worker's generator.
RequestIdentity identify_request(boost::beast::http::request_header<>& head, const runtime::Snapshot& snap,
                                 const boost::asio::ip::address& client, std::mt19937_64& random);

// The traceparent of a shadow copy: the same trace, a new span id (the copy is another call).
// Empty when `id` has no trace.
std::string shadow_traceparent(const RequestIdentity& id, std::uint64_t span_bits);

}  // namespace cutover::exchange
