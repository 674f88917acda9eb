// Shadow response comparison as pure functions: where two captured responses differ (status,
// headers, trailers, body bytes or JSON structure), and which of those differences are noise.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/shadow/body_capture.hpp"
#include "proxy/shadow/header_list.hpp"

namespace cutover::shadow {

// One response as seen by cutover, for comparison.
struct CapturedResponse {
  unsigned status = 0;
  // Header fields in received order, name lower-cased, value as received.
  HeaderList headers;
  // Trailer fields (RFC 9110 §6.5: an HTTP/2 response's trailing HEADERS, gRPC's grpc-status
  // and grpc-message among them), the same way.
  HeaderList trailers;
  // finish()ed before comparing.
  BodyCapture body{0};
  bool json = false;  // Content-Type is JSON (is_json_media_type)
};

struct CompareOptions {
  std::vector<std::string> ignore_headers;      // lower-case names
  std::vector<std::string> ignore_json_fields;  // object keys removed at any depth (exact match)
};

// Where two responses differ, in a stable order: "status"; then "header:NAME" for each header name
// whose values differ (sorted by name); then "trailer:NAME" likewise for the trailer fields; then
// either "body" (byte-wise, by digest) or JSON paths
// such as "$.items[2].price" or "$[\"odd key\"]" in traversal order (object keys sorted).
// At most kMaxDifferences entries; `truncated` says more were found.
inline constexpr std::size_t kMaxDifferences = 32;
struct Comparison {
  std::vector<std::string> differences;
  bool truncated = false;
  bool json_compared = false;  // bodies were compared structurally
  bool match() const { return differences.empty(); }
};

// Compares `a` with `b`; never throws except std::bad_alloc.
//
// - Headers: the framing and hop-by-hop fields (connection, keep-alive, proxy-connection, te,
//   trailer, transfer-encoding, upgrade, content-length; RFC 9110 §7.6.1, RFC 9112 §6) and every
//   name in options.ignore_headers are skipped. For each other name present in either response
//   the ordered lists of its values must be equal as exact strings.
// - Trailers: as headers, with the same skipped names (options.ignore_headers covers both).
// - Body, structurally: when both are `json`, both bodies complete() and both parse as JSON
//   (Boost.JSON, nesting depth <= 64; an empty body is not JSON). Keys in
//   options.ignore_json_fields are dropped at any depth, object key order is ignored, arrays are
//   compared index by index (an index present in one only is a difference at that index),
//   numbers compare by value across integer and floating kinds (1 equals 1.0), and otherwise a
//   kind mismatch is one difference at that path (not descended). The root path is "$"; a key
//   matching [A-Za-z_][A-Za-z0-9_]* is appended as ".key", any other as "[\"key\"]" with the key
//   JSON-escaped.
// - Body, otherwise: size() and digest() must be equal, else the single difference "body".
Comparison compare(const CapturedResponse& a, const CapturedResponse& b, const CompareOptions& options);

// gRPC's Trailers-Only answer (gRPC PROTOCOL-HTTP2.md: one HEADERS frame that ends the stream, no
// message) carries the call's status in its head. For a response with a gRPC content-type
// (codec::is_grpc_content_type), an empty body, no trailers and a grpc-status header, moves
// grpc-status, grpc-message and grpc-status-details-bin from `r.headers` to `r.trailers`, so that
// it compares with an answer that sent its status as trailers: a NOT_FOUND call against an OK one
// differs in "trailer:grpc-status" either way. Leaves any other response as it is.
void trailers_only_status_as_trailers(CapturedResponse& r);

// The differences of `primary` that are not in `noise` (Diffy-style: a place where two source
// endpoints disagree tells nothing about the target), in primary's order. A noise entry removes
// the equal entry and every JSON path beneath it: noise "$.a" removes "$.a", "$.a.b", "$.a[3]"
// and "$.a[\"x y\"]", not "$.ab". "body" and "header:NAME" only remove themselves.
std::vector<std::string> without_noise(const std::vector<std::string>& primary, const std::vector<std::string>& noise);

// Whether the first Content-Type field of `headers` (names lower-case) names a gRPC call's
// messages (codec::is_grpc_content_type); false without one.
bool has_grpc_content_type(const HeaderList& headers);

// application/json or any application/*+json (RFC 6839 §3.1), case-insensitive, parameters and
// surrounding whitespace ignored (RFC 9110 §8.3.1).
bool is_json_media_type(std::string_view content_type);

// Whether the first Content-Type field of `headers` (names lower-case) names JSON
// (is_json_media_type); false without one.
bool has_json_content_type(const HeaderList& headers);

// Lower-cased copy (ASCII only), for header names.
std::string lower(std::string_view s);

}  // namespace cutover::shadow
