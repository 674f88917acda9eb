// Header rewriting at the proxy hop, as pure functions over a Beast field set:
// hop-by-hop removal (RFC 9110 §7.6.1) and the forwarding headers (X-Forwarded-*, Via §7.6.3).
#pragma once

#include <string>
#include <string_view>

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

namespace cutover::codec {

namespace bhttp = boost::beast::http;

// The transfer codings of the Transfer-Encoding fields other than chunked, in order, joined
// with ", " ("gzip"); empty when there are none. remove_hop_by_hop() drops Transfer-Encoding, so
// a caller re-framing a body puts these back in front of chunked (RFC 9112 §6.1): the bytes relayed
// are still encoded with them.
std::string transfer_codings_before_chunked(const bhttp::fields& fields);

// Removes Connection, every field named in it (never Content-Length or Host: a peer naming those
// is trying to unframe or reroute the message), and the fields that are hop-by-hop whether named
// or not: Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade, and Trailer (the relay
// re-frames bodies and does not carry trailers). Message framing is set again by the caller.
void remove_hop_by_hop(bhttp::fields& fields);

// The request head as the upstream gets it (RFC 9110 §7.6): hop-by-hop fields removed, Expect
// removed when the proxy answers 100-continue itself, X-Forwarded-For/-Proto and Via added for the
// client's version, HTTP/1.1, and a chunked body framed as chunked again with its other transfer
// codings kept in front ("gzip, chunked").
void prepare_upstream_request(bhttp::request_header<>& req, bool chunked_body, bool answers_continue,
                              std::string_view client_ip, std::string_view proto);

// The response head as a client of version `client_version` (10 or 11) gets it: hop-by-hop fields
// removed, Via added, HTTP/1.1; a body without Content-Length (chunked or close-delimited) is
// chunked again for an HTTP/1.1 client, while an HTTP/1.0 client can only learn its end from the
// connection closing. Returns whether the client connection stays open (`keep_alive` and what
// the framing allows), and sets Connection accordingly.
bool prepare_downstream_response(bhttp::response_header<>& res, bool body_chunked, bool has_content_length,
                                 bool no_body, unsigned client_version, bool keep_alive);

// Whether prepare_downstream_response() frames the body chunked for the client: a body without
// Content-Length (chunked or close-delimited upstream) to an HTTP/1.1 client.
constexpr bool rechunks_response(bool no_body, bool has_content_length, unsigned client_version) {
  return !no_body && !has_content_length && client_version >= 11;
}

// Appends `client_ip` to X-Forwarded-For (joining repeated fields into one list), sets
// X-Forwarded-Proto to `proto` ("http"/"https"), and appends "<version> cutover" to Via, where
// `version` is the received message's version as Beast encodes it (10, 11, or 20 for HTTP/2).
void add_forwarding_headers(bhttp::fields& fields, std::string_view client_ip, std::string_view proto,
                            unsigned version);

// Appends "<version> cutover" to Via (RFC 9110 §7.6.3), for responses.
void append_via(bhttp::fields& fields, unsigned version);


}  // namespace cutover::codec
