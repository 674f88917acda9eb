// The values the etcd client takes and gives: keys and values as raw bytes (std::string), the
// int64 revisions and ids of etcd's protobuf messages, errors as values (Result), no exceptions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace cutover::fleet::etcd {

// What went wrong, so a caller can tell a retryable transport failure from an answer of etcd's.
enum class ErrorKind {
  config,     // the client's configuration (an endpoint that is not http(s)://host:port, a TLS file)
  connect,    // no endpoint accepted a connection within the connect timeout
  timeout,    // the request timeout ran out after the request was sent (it may have been applied)
  transport,  // the connection failed after the request was sent (it may have been applied)
  server,     // etcd answered with an error: grpc_code and http_status say which
  malformed,  // the answer is not the JSON the gateway sends
  too_large,  // an answer or a watch message is larger than its bound
  canceled,   // the caller canceled (a watch)
};

struct Error {
  ErrorKind kind = ErrorKind::transport;
  std::string message;       // human-readable, names the endpoint when there is one
  unsigned http_status = 0;  // the gateway's HTTP status (0 when none arrived)
  int grpc_code = 0;         // gRPC status code of a server error (16: unauthenticated, 14: unavailable)
};

// A value or an Error; never throws. `value()` on an error is a programming error (asserted).
template <class T>
class Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// etcd's ResponseHeader: `revision` is the store revision when the request was served.
struct Header {
  std::uint64_t cluster_id = 0;
  std::uint64_t member_id = 0;  // the member that served the request
  std::int64_t revision = 0;
  std::uint64_t raft_term = 0;
};

// One key as etcd stores it. Revisions are the store's global revisions; `version` counts the
// puts since the key was created (0: deleted); `lease` is 0 when the key has none.
struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t create_revision = 0;
  std::int64_t mod_revision = 0;
  std::int64_t version = 0;
  std::int64_t lease = 0;
};

struct RangeOptions {
  std::int64_t limit = 0;     // keys at most; 0 = no limit
  std::int64_t revision = 0;  // read at this revision; 0 = the newest
  bool serializable = false;  // served by the member alone (may be stale) instead of through the leader
  bool keys_only = false;
  bool count_only = false;
  bool newest_mod_first = false;  // sort by mod_revision, descending
};

struct RangeResult {
  Header header;
  std::vector<KeyValue> kvs;
  std::int64_t count = 0;  // keys in the range (more than kvs.size() when limited)
  bool more = false;
};

struct PutResult {
  Header header;
  std::optional<KeyValue> prev_kv;  // only when asked for
};

struct DeleteResult {
  Header header;
  std::int64_t deleted = 0;
  std::vector<KeyValue> prev_kvs;  // only when asked for
};

// One operation of a transaction. `range_end` empty: the key alone; else [key, range_end)
// (prefix_range_end makes the end of a prefix).
struct Op {
  enum class Type { range, put, delete_range };
  Type type = Type::range;
  std::string key;
  std::string range_end;
  std::string value;       // put
  std::int64_t lease = 0;  // put

  static Op get(std::string key, std::string range_end = {}) {
    return Op{Type::range, std::move(key), std::move(range_end), {}, 0};
  }
  static Op put(std::string key, std::string value, std::int64_t lease = 0) {
    return Op{Type::put, std::move(key), {}, std::move(value), lease};
  }
  static Op del(std::string key, std::string range_end = {}) {
    return Op{Type::delete_range, std::move(key), std::move(range_end), {}, 0};
  }
};

// What an Op gave: `range` for a get, `header` alone for a put, `deleted` for a delete.
struct OpResult {
  Op::Type type = Op::Type::range;
  Header header;
  RangeResult range;
  std::int64_t deleted = 0;
};

// A guard of a transaction: `key`'s target compared with `number` (revisions, version, lease) or
// `value`. A key that does not exist has version, create_revision and mod_revision 0.
struct Compare {
  enum class Target { version, create_revision, mod_revision, value, lease };
  enum class Relation { equal, not_equal, greater, less };
  std::string key;
  Target target = Target::mod_revision;
  Relation relation = Relation::equal;
  std::int64_t number = 0;
  std::string value;

  static Compare mod_revision(std::string key, Relation r, std::int64_t rev) {
    return Compare{std::move(key), Target::mod_revision, r, rev, {}};
  }
  static Compare create_revision(std::string key, Relation r, std::int64_t rev) {
    return Compare{std::move(key), Target::create_revision, r, rev, {}};
  }
  static Compare version(std::string key, Relation r, std::int64_t v) {
    return Compare{std::move(key), Target::version, r, v, {}};
  }
  static Compare value_is(std::string key, Relation r, std::string value) {
    return Compare{std::move(key), Target::value, r, 0, std::move(value)};
  }
};

// If every compare holds, `success` runs, else `failure`, atomically at one revision.
struct TxnRequest {
  std::vector<Compare> compares;
  std::vector<Op> success;
  std::vector<Op> failure;
};

// `succeeded` false means a guard failed: the optimistic-concurrency loser (an admin API answers
// 409). `results` are those of the branch that ran, in its order.
struct TxnResult {
  Header header;
  bool succeeded = false;
  std::vector<OpResult> results;
};

struct LeaseGrant {
  Header header;
  std::int64_t id = 0;
  std::int64_t ttl_s = 0;  // seconds granted (etcd may raise a short TTL to its minimum)
};

// A keepalive's or time-to-live's answer; ttl_s <= 0: the lease is gone (expired or revoked).
struct LeaseTtl {
  Header header;
  std::int64_t id = 0;
  std::int64_t ttl_s = 0;
};

struct WatchEvent {
  enum class Type { put, del };
  Type type = Type::put;
  KeyValue kv;  // for a delete: the key and mod_revision (the delete's revision), no value
};

// One message of a watch stream (a WatchResponse).
struct WatchMessage {
  Header header;
  bool created = false;
  bool canceled = false;
  std::int64_t compact_revision = 0;  // > 0 with canceled: the start revision was compacted
  std::string cancel_reason;
  std::vector<WatchEvent> events;
};

}  // namespace cutover::fleet::etcd
