// Serializes a message head (RFC 9112 §3 request line or §4 status line, the fields, the empty
// line) into one contiguous buffer, so the relay writes head and first body piece with one
// gather write instead of Beast's per-field buffer sequence (the largest per-request cost seen in
// callgrind). Output is byte-for-byte what Beast's serializer writes (tests/unit/http).
#pragma once

#include <string>

#include <boost/beast/http/message.hpp>

namespace cutover::codec {

// Appends the head of `h` to `out` (which is not cleared).
void append_head(const boost::beast::http::request_header<>& h, std::string& out);
void append_head(const boost::beast::http::response_header<>& h, std::string& out);

// Says whether a field is written.
using FieldFilter = bool (*)(const boost::beast::http::fields::value_type& field);

// Appends the request line of `h` and those of its fields that `keep` accepts, and not the empty
// line that ends the head: the caller appends fields of its own, then "\r\n".
void append_open_head(const boost::beast::http::request_header<>& h, FieldFilter keep, std::string& out);

}  // namespace cutover::codec
