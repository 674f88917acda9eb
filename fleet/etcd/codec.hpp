// The JSON of etcd v3's gateway (grpc-gateway, proto3 JSON with original field names): request
// bodies built from our types, answers parsed into them. Pure functions, no I/O. In that JSON
// keys and values are base64, int64 and uint64 fields are strings ("5"), and a field at its zero
// value (0, false, "", the first enum value such as PUT or EQUAL) is left out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/stream_parser.hpp>

#include "fleet/etcd/types.hpp"

namespace cutover::fleet::etcd {

// RFC 4648 §4 base64 with padding (OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock).
std::string base64_encode(std::string_view bytes);
// std::nullopt for a length not a multiple of 4 or a byte outside the alphabet.
std::optional<std::string> base64_decode(std::string_view text);

// The range_end that makes [prefix, end) every key starting with `prefix`: the prefix with its
// last byte below 0xff incremented and what follows dropped; "\0" (every key) for an empty prefix
// or one of 0xff bytes only.
std::string prefix_range_end(std::string_view prefix);

// Request bodies (JSON text) for the gateway's POST endpoints.
std::string auth_request(std::string_view name, std::string_view password);  // /v3/auth/authenticate
std::string range_request(std::string_view key, std::string_view range_end, const RangeOptions& options);
std::string put_request(std::string_view key, std::string_view value, std::int64_t lease, bool prev_kv);
std::string delete_request(std::string_view key, std::string_view range_end, bool prev_kv);
std::string txn_request(const TxnRequest& txn);
std::string lease_grant_request(std::int64_t ttl_s);
std::string lease_id_request(std::int64_t id);  // keepalive, revoke, timetolive
// A watch's create_request for [key, range_end) from `start_revision` (0: from now on).
// `progress_notify` asks for empty messages when the watch is quiet (etcd's interval: 10 min by
// default), which keep the connection busy but are not relied on.
std::string watch_create_request(std::string_view key, std::string_view range_end, std::int64_t start_revision,
                                 bool progress_notify);

// An answer body as a JSON object; ErrorKind::malformed when it is not one, too_large past
// `max_bytes`.
Result<boost::json::object> parse_object(std::string_view body, std::size_t max_bytes);

// A non-2xx answer `{"error": "...", "message": "...", "code": N}` (code: gRPC status) as an
// Error of kind server; a body that is not that JSON still gives an Error naming the status.
Error parse_error_answer(unsigned http_status, std::string_view body);

// Answers of the unary endpoints: ErrorKind::malformed for a field of the wrong shape (a missing
// field is its zero value, as proto3 JSON leaves those out).
Result<std::string> parse_auth(const boost::json::object& answer);  // the token
Result<Header> parse_header(const boost::json::object& answer);      // the "header" member
Result<RangeResult> parse_range(const boost::json::object& answer);
Result<PutResult> parse_put(const boost::json::object& answer);
Result<DeleteResult> parse_delete(const boost::json::object& answer);
Result<TxnResult> parse_txn(const boost::json::object& answer);
Result<LeaseGrant> parse_lease_grant(const boost::json::object& answer);
// /v3/lease/keepalive answers in a stream envelope {"result": {...}}; timetolive answers bare.
// Both accepted. A lease that is gone has no TTL (0).
Result<LeaseTtl> parse_lease_ttl(const boost::json::object& answer);

// One message of a watch stream: {"result": WatchResponse} or, when the gateway's stream broke,
// {"error": {"grpc_code", "http_code", "message", ...}} (an Error of kind server).
Result<WatchMessage> parse_watch_message(const boost::json::object& message);

// Splits a byte stream of concatenated JSON objects (the gateway's streamed answers: one object
// per message, a newline after each, chunk boundaries anywhere) into objects. Bounded: a message
// longer than max_message_bytes is an error, and the decoder stays failed after an error.
class StreamDecoder {
 public:
  explicit StreamDecoder(std::size_t max_message_bytes);

  // Feeds `bytes` and appends every object they complete to `out`. An error (malformed JSON, a
  // value that is not an object, a message past the bound) is returned once and sticks.
  std::optional<Error> feed(std::string_view bytes, std::vector<boost::json::object>& out);
  // True between messages (nothing but whitespace fed since the last object).
  bool idle() const { return pending_ == 0; }

 private:
  boost::json::stream_parser parser_;
  std::size_t max_bytes_;
  std::size_t pending_ = 0;  // bytes of the message being parsed
  std::optional<Error> failed_;
};

}  // namespace cutover::fleet::etcd
