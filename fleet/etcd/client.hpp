// An etcd v3 client for the fleet's shared runtime state (weights, holds, ramps), with leases for
// node liveness and leader election, over etcd's JSON gateway.
//
// Design note.
// - The gateway: etcd serves, on its client port next to gRPC, a grpc-gateway that maps each
//   gRPC method to `POST /v3/<service>/<method>` with the request message as proto3 JSON and
//   answers the response message the same way (codec.hpp: base64 keys and values, int64 as
//   strings, zero values left out). Errors are a non-2xx status with
//   `{"error", "message", "code"}` (code: the gRPC status). Debian has no C++ etcd client; this
//   one needs only Beast, Boost.JSON and OpenSSL.
// - Endpoints used: /v3/kv/range, /v3/kv/put, /v3/kv/deleterange, /v3/kv/txn,
//   /v3/lease/grant, /v3/lease/keepalive (one POST per beat: the gateway turns the body into a
//   one-message stream and answers `{"result": LeaseKeepAliveResponse}`), /v3/lease/revoke,
//   /v3/lease/timetolive, /v3/auth/authenticate (the token goes in `Authorization:` on every later
//   request; an answer rejecting it, gRPC 16, makes the client authenticate again once and repeat
//   the request, which etcd did not apply; a watch etcd cancels, as it does for a stale token,
//   authenticates again on its next connection), /v3/watch.
// - https endpoints: TLS 1.2+ through Beast's ssl_stream, the certificate verified against
//   ca_file (or the system's CAs) and the endpoint's host (an IP literal against the IP SANs; a
//   name is sent as SNI), an optional client certificate (cert_file, key_file).
// - Unary requests: one connection each (HTTP/1.1, `Connection: close`), the whole call bounded
//   by request_timeout and each connect by connect_timeout. A connect that fails moves on to the
//   next endpoint (in order, starting at the last one that worked); a request sent whose answer
//   does not come is not repeated (a put or txn may have been applied), its error says so.
// - Watch framing: `POST /v3/watch` with one `{"create_request": ...}` body; the answer is a
//   chunked HTTP/1.1 body that never ends on its own, a JSON object per WatchResponse
//   (`{"result": {...}}`, or `{"error": {...}}` when the gRPC stream broke), each followed by a
//   newline; chunk boundaries fall anywhere, so StreamDecoder reassembles them, at most
//   max_watch_message_bytes per message (past it: an error, the watch ends).
// - Watch liveness: when the stream is silent for watch_idle, the watch probes its endpoint with
//   a linearizable range of the watched keys (newest mod_revision first, one key). A failed probe,
//   or two probes in a row showing a revision the stream has not delivered, drop the connection.
//   (Progress requests cannot be sent: the gateway reads one body; progress_notify is asked for
//   but etcd's default interval is 10 minutes.)
// - Reconnect policy: a broken, failed or silent watch connection is retried on the next endpoint
//   after a jittered exponential backoff (backoff_delay: backoff_min doubling to backoff_max,
//   uniformly in [d/2, d]); the attempt count resets once a watch is created. It resumes at the
//   last delivered revision + 1, and events at or below it are dropped, so across reconnects the
//   handler sees each revision once, in order. A start revision etcd has compacted ends the watch
//   with WatchEnd::compacted and the compact revision: the caller re-reads the keys (range) and
//   watches again from the header revision + 1.
// - Not supported: gRPC itself, several watches on one connection, progress requests, watch
//   filters and prev_kv in events, fragmenting of huge revisions, member discovery (the endpoint
//   list is fixed), leases kept alive by a stream (one POST per beat), connection reuse between
//   unary requests, the maintenance, cluster and auth-admin APIs, metrics (the notices and
//   errors say what happened; counting them is the caller's).
// Threading: a Client and its Watches live on the one io_context they are given; call them from
// its thread only (Watch::cancel excepted). The Client must outlive its Watches.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/json/object.hpp>

#include "fleet/etcd/types.hpp"

namespace cutover::fleet::etcd {

namespace detail {
struct Connection;
}

struct ClientConfig {
  std::vector<std::string> endpoints;  // "http://127.0.0.1:2379" or "https://etcd-1:2379"
  std::string username;                // empty: no authentication
  std::string password;
  std::string ca_file;    // https: the CA to verify etcd with (empty: the system's)
  std::string cert_file;  // https: a client certificate (PEM), with key_file
  std::string key_file;
  std::chrono::milliseconds request_timeout{5000};  // a unary call as a whole, failover included
  std::chrono::milliseconds connect_timeout{1000};  // one connect (and TLS handshake)
  std::size_t max_answer_bytes = 4 * 1024 * 1024;   // body of a unary answer
  std::size_t max_watch_message_bytes = 4 * 1024 * 1024;
  std::chrono::milliseconds watch_idle{10000};  // silence on a watch before its endpoint is probed
  std::chrono::milliseconds backoff_min{100};   // first watch reconnect delay
  std::chrono::milliseconds backoff_max{5000};  // longest watch reconnect delay
};

// A parsed endpoint: "http://host:port" (port 2379 when left out).
struct Endpoint {
  std::string host;
  std::string port;
  bool tls = false;
  std::string text;  // as configured, for messages
};
// ErrorKind::config for anything but http(s)://host[:port][/].
Result<Endpoint> parse_endpoint(std::string_view text);

// The delay before reconnect attempt `attempt` (0 = first): backoff_min * 2^attempt capped at
// backoff_max, scaled into [d/2, d] by `unit_random` in [0, 1).
std::chrono::milliseconds backoff_delay(unsigned attempt, std::chrono::milliseconds min, std::chrono::milliseconds max,
                                        double unit_random);

// Drops from `events` (one WatchResponse's, in revision order) those before `next_revision`, which
// the handler has seen already (etcd may send them again after a reconnect), and gives the
// revision to resume at after the rest (next_revision when nothing is left; 0 stays 0 only
// without events).
std::int64_t drop_seen_events(std::vector<WatchEvent>& events, std::int64_t next_revision);

// What a watch reports besides events: a connection made (`connected`, the endpoint) or lost
// (`disconnected`, why, and the delay before the next try).
struct WatchNotice {
  enum class Kind { connected, disconnected };
  Kind kind = Kind::connected;
  std::string endpoint;
  Error error;                            // disconnected
  std::chrono::milliseconds retry_in{0};  // disconnected
};

// Why Watch::run returned.
struct WatchEnd {
  enum class Reason { canceled, compacted, failed };
  Reason reason = Reason::canceled;
  std::int64_t compact_revision = 0;  // compacted: etcd keeps revisions from here on
  std::int64_t next_revision = 0;     // the revision the watch would have resumed at
  Error error;                        // failed: what a reconnect cannot cure (a message past the bound)
};

struct WatchOptions {
  std::string key;
  std::string range_end;            // empty: `key` alone; prefix(): every key under a prefix
  std::int64_t start_revision = 0;  // first revision to deliver; 0: changes from now on

  static WatchOptions prefix(std::string prefix, std::int64_t start_revision);
};

// Events of one WatchResponse, in revision order (one revision's events never split), and the
// response's header revision.
using WatchHandler = std::function<void(const std::vector<WatchEvent>& events, std::int64_t revision)>;
using WatchNoticeHandler = std::function<void(const WatchNotice&)>;

class Client;

// One watched range, kept across reconnects. Made by Client::watch; run it once.
class Watch : public std::enable_shared_from_this<Watch> {
 public:
  Watch(Client& client, WatchOptions options, WatchHandler on_events, WatchNoticeHandler on_notice);

  // Delivers events until canceled, compacted or failed. Never throws for network errors.
  boost::asio::awaitable<WatchEnd> run();
  // Ends run() with WatchEnd::canceled; safe from any thread.
  void cancel();
  // The revision the watch resumes at after a reconnect (0 until known).
  std::int64_t next_revision() const { return next_revision_; }

 private:
  struct SessionEnd;
  static SessionEnd lost(ErrorKind kind, std::string message);
  boost::asio::awaitable<SessionEnd> session(std::size_t endpoint);
  template <class Stream>
  boost::asio::awaitable<SessionEnd> stream_session(Stream& stream, std::size_t endpoint, std::string token);
  template <class Stream, class Parser, class Buffer>
  boost::asio::awaitable<SessionEnd> read_events(Stream& stream, Parser& parser, Buffer& buffer, std::size_t endpoint);
  boost::asio::awaitable<SessionEnd> watchdog(std::size_t endpoint);
  std::optional<SessionEnd> handle(const boost::json::object& message, std::size_t endpoint);
  void close_current();

  Client& client_;
  WatchOptions options_;
  WatchHandler on_events_;
  WatchNoticeHandler on_notice_;
  std::int64_t next_revision_;
  bool canceled_ = false;
  unsigned attempt_ = 0;
  boost::beast::tcp_stream* current_ = nullptr;  // the open stream's socket, for cancel()
  std::chrono::steady_clock::time_point last_activity_;
  std::int64_t undelivered_seen_ = 0;  // a probe's newest revision not yet delivered (0: none)
  boost::asio::steady_timer backoff_timer_;
};

class Client {
 public:
  // ErrorKind::config for a bad endpoint, no endpoint at all, or a TLS file that does not load.
  static Result<std::unique_ptr<Client>> create(boost::asio::io_context& io, ClientConfig config);

  // The value at `key` (kvs empty when there is none) or, with a range_end, [key, range_end).
  boost::asio::awaitable<Result<RangeResult>> range(std::string key, RangeOptions options = {},
                                                    std::string range_end = {});
  // Every key starting with `prefix`, in key order.
  boost::asio::awaitable<Result<RangeResult>> range_prefix(std::string prefix, RangeOptions options = {});
  // `lease` 0: the key has no lease. prev_kv: the value it replaced comes back.
  boost::asio::awaitable<Result<PutResult>> put(std::string key, std::string value, std::int64_t lease = 0,
                                                bool prev_kv = false);
  // [key, range_end), or `key` alone when range_end is empty.
  boost::asio::awaitable<Result<DeleteResult>> delete_range(std::string key, std::string range_end = {},
                                                            bool prev_kv = false);
  // A guarded transaction: TxnResult::succeeded false is a lost race, not an Error.
  boost::asio::awaitable<Result<TxnResult>> txn(TxnRequest request);
  // A lease of `ttl_s` seconds; keys put with its id are deleted when it expires or is revoked.
  boost::asio::awaitable<Result<LeaseGrant>> lease_grant(std::int64_t ttl_s);
  // One keepalive beat: the lease's TTL starts again. ttl_s 0 in the answer: the lease is gone.
  boost::asio::awaitable<Result<LeaseTtl>> lease_keepalive(std::int64_t id);
  // The seconds left; ttl_s -1: the lease is gone.
  boost::asio::awaitable<Result<LeaseTtl>> lease_time_to_live(std::int64_t id);
  // Ends the lease and deletes its keys. A lease already gone is a server Error (gRPC 5).
  boost::asio::awaitable<Result<Header>> lease_revoke(std::int64_t id);

  // A watch of `options`; co_await watch->run() to deliver. The handlers run on the io_context.
  std::shared_ptr<Watch> watch(WatchOptions options, WatchHandler on_events, WatchNoticeHandler on_notice = {});

  const ClientConfig& config() const { return config_; }
  const std::vector<Endpoint>& endpoints() const { return endpoints_; }

 private:
  friend class Watch;

  Client(boost::asio::io_context& io, ClientConfig config, std::vector<Endpoint> endpoints,
         std::unique_ptr<boost::asio::ssl::context> tls);

  // POSTs `body` to `path` and gives the answer object. `pin`: that endpoint only, no failover.
  boost::asio::awaitable<Result<boost::json::object>> call(std::string path, std::string body,
                                                           std::optional<std::size_t> pin = std::nullopt);
  // call() and the answer through `parse`.
  template <class T>
  boost::asio::awaitable<Result<T>> call_as(std::string path, std::string body,
                                            Result<T> (*parse)(const boost::json::object&));
  boost::asio::awaitable<Result<boost::json::object>> send(std::string path, std::string body,
                                                           std::optional<std::size_t> pin,
                                                           std::chrono::steady_clock::time_point deadline);
  // The token to send (empty without a username), authenticating when there is none yet.
  boost::asio::awaitable<Result<std::string>> token(std::optional<std::size_t> pin,
                                                    std::chrono::steady_clock::time_point deadline);
  // A connection to endpoint `index`, TLS handshake done; ErrorKind::connect on failure.
  boost::asio::awaitable<Result<std::unique_ptr<detail::Connection>>> connect(
      std::size_t index, std::chrono::steady_clock::time_point deadline);
  // Whether the answer rejected our token, so authenticating again may help.
  bool token_rejected(const Error& error) const;

  boost::asio::io_context& io_;
  ClientConfig config_;
  std::vector<Endpoint> endpoints_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::size_t preferred_ = 0;  // the endpoint that last accepted a connection
  std::string token_;
};

}  // namespace cutover::fleet::etcd
