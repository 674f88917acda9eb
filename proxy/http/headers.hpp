// Header rewriting at the proxy hop, as pure functions over a Beast field set:
// hop-by-hop removal (RFC 9110 §7.6.1) and the forwarding headers (X-Forwarded-*, Via §7.6.3).
#pragma once

#include <string_view>

#include <boost/beast/http/fields.hpp>

namespace cutover::http {

namespace bhttp = boost::beast::http;

// Removes Connection, every field named in it, and the fields that are hop-by-hop whether named or
// not: Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade, and Trailer (the relay
// re-frames bodies and does not carry trailers). Message framing is set again by the caller.
// The transfer codings of the Transfer-Encoding fields other than chunked, in order, joined
// with ", " ("gzip"); empty when there are none. remove_hop_by_hop() drops Transfer-Encoding, so
// a caller re-framing a body puts these back in front of chunked (RFC 9112 §6.1): the bytes relayed
// are still encoded with them.
std::string transfer_codings_before_chunked(const bhttp::fields& fields);

void remove_hop_by_hop(bhttp::fields& fields);

// Appends `client_ip` to X-Forwarded-For (joining repeated fields into one list), sets
// X-Forwarded-Proto to `proto` ("http"/"https"), and appends "<version> cutover" to Via, where
// `version` is the received message's version as Beast encodes it (10 or 11).
void add_forwarding_headers(bhttp::fields& fields, std::string_view client_ip, std::string_view proto,
                            unsigned version);

// Appends "<version> cutover" to Via (RFC 9110 §7.6.3), for responses.
void append_via(bhttp::fields& fields, unsigned version);

// Safe methods per RFC 9110 §9.2.1 (GET, HEAD, OPTIONS, TRACE) are reads for the split.
bool is_safe_method(bhttp::verb method);

}  // namespace cutover::http
