// Per-worker upstream connection pool: idle keep-alive connections per endpoint, endpoints of a
// cluster picked round-robin. One pool per worker thread, so nothing here is shared or locked.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <string>
#include <utility>

#include "proxy/net/stream.hpp"
#include "proxy/net/tls_context.hpp"
#include "proxy/runtime/snapshot.hpp"
#include "proxy/upstream/h2_session.hpp"

namespace cutover::upstream {

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;

// One upstream connection and the buffer its responses are parsed from. Explicit states in the
// Envoy sense: it is either leased (owned by one exchange) or idle (owned by the pool). To a TLS
// cluster the stream is TLS, handshaken before the lease is handed out.
struct Connection {
  explicit Connection(asio::any_io_executor ex) : stream(std::move(ex)) {}

  // Declared before `stream`: the SSL object may store a new session into it until it is freed.
  std::shared_ptr<net::TlsSessionSlot> tls_session;
  net::Stream stream;
  beast::flat_buffer buffer;
  runtime::tcp::endpoint endpoint;                   // the idle list it returns to
  const runtime::ClusterRuntime* cluster = nullptr;  // for the pool epoch (registry entries live for the process)
  std::uint64_t epoch = 0;                           // cluster pool epoch when connected
  std::chrono::steady_clock::time_point idle_since{};
  bool reused = false;  // true when taken from the idle list rather than freshly connected
};

struct Lease {
  std::unique_ptr<Connection> connection;  // null on error
  const runtime::Endpoint* endpoint = nullptr;
  error_code ec;  // the connect or TLS handshake error, or beast::error::timeout after connect_timeout
  bool tls_failed = false;  // the TCP connect worked, the TLS handshake did not
  std::string reason;       // for logs and 502 bodies: "connect timeout", "TLS handshake failed: certificate verify failed: ..."
};

struct PoolLimits {
  std::size_t max_idle_per_endpoint = 128;
  std::chrono::milliseconds idle_timeout{60000};  // an idle connection older than this is closed
};

// Whether acquire() looks at an idle connection before handing it out. `peek`: one non-blocking
// recv(MSG_PEEK) drops a connection the upstream closed while it was idle (a syscall per reuse).
// `retry_instead`: no look; the caller sends again on a fresh connection when a reused one turns out
// closed before any response byte, which only an idempotent request without a body may do
// (RFC 9112 §9.3.1). The look does not close the race anyway (the upstream may close just after it).
enum class ReuseCheck { peek, retry_instead };

class ConnectionPool {
 public:
  ConnectionPool(asio::any_io_executor ex, PoolLimits limits = {}) : ex_(std::move(ex)), limits_(limits) {}

  // The cluster's next available endpoint (round robin, per worker, skipping endpoints that are
  // unhealthy or ejected while another one is not): an idle connection to it that is still
  // open, or a new one connected (and, to a TLS cluster, handshaken, resuming the endpoint's last
  // session) within cluster.connect_timeout. `fresh` skips the idle list
  // (used to retry after a reused connection turned out to be closed). `at`, one of the cluster's
  // endpoints, picks it instead of the round robin (the shadow's noise copy). `check`: see
  // ReuseCheck.
  asio::awaitable<Lease> acquire(const runtime::Cluster& cluster, bool fresh = false,
                                 const runtime::Endpoint* at = nullptr, ReuseCheck check = ReuseCheck::peek);

  // acquire() in two steps, so a caller with an idle connection at hand awaits nothing: take() picks
  // the endpoint (or `at`) and hands out an idle connection to it unless `fresh`; when the lease
  // has none, connect() opens one to lease.endpoint within connect_timeout.
  Lease take(const runtime::Cluster& cluster, bool fresh = false, const runtime::Endpoint* at = nullptr,
             ReuseCheck check = ReuseCheck::peek);
  asio::awaitable<Lease> connect(const runtime::Cluster& cluster, const runtime::Endpoint& endpoint);

  // Returns a connection whose last exchange completed cleanly and may be reused; closes it
  // instead when the endpoint's idle list is full or the cluster's pool epoch moved on.
  void release(std::unique_ptr<Connection> connection);

  std::size_t idle_count() const;

  // The endpoint acquire() would connect to next (the same round robin and health rules), for
  // callers that open their own, unpooled connection (tcp routes).
  const runtime::Endpoint& next_endpoint(const runtime::Cluster& cluster) { return pick(cluster); }

  // HTTP/2 clusters: a session of `cluster` to `endpoint` that takes another stream (null: none;
  // the caller connects and adds one). Sessions that ended are dropped as they are met, and those
  // opened under an older pool epoch retired (GOAWAY; their streams in flight finish), as pooled
  // HTTP/1.1 connections are closed. Kept per cluster, since two clusters may reach one address
  // with different TLS and PING settings.
  std::shared_ptr<H2Session> h2_session(const runtime::Cluster& cluster, const runtime::Endpoint& endpoint);
  // Starts a session on `connection` (just connected to `endpoint` by connect()) with the cluster's
  // PING settings and keeps it for later streams. Null when nghttp2 could not set one up.
  std::shared_ptr<H2Session> start_h2_session(const runtime::Cluster& cluster, const runtime::Endpoint& endpoint,
                                              std::unique_ptr<Connection> connection);

 private:
  // Round robin over the endpoints that may take requests (EndpointHealth::available).
  const runtime::Endpoint& pick(const runtime::Cluster& cluster);
  std::unique_ptr<Connection> take_idle(const runtime::Endpoint& endpoint, const runtime::Cluster& cluster,
                                        ReuseCheck check);

  asio::any_io_executor ex_;
  PoolLimits limits_;
  // Idle HTTP/1.1 connections, LIFO, per (cluster, endpoint): two clusters may reach one address
  // with different TLS settings, and a connection is only ever handed to the cluster that made it.
  std::map<std::pair<const runtime::ClusterRuntime*, runtime::tcp::endpoint>, std::vector<std::unique_ptr<Connection>>>
      idle_;
  // Next index per cluster, keyed by its runtime entry (one per cluster name for the process, so
  // a reload keeps the turn and the map cannot grow with reloads); no string hashing per request.
  std::unordered_map<const runtime::ClusterRuntime*, std::uint32_t> round_robin_;
  // The TLS session to resume per (cluster, endpoint); replaced when the cluster's ClientTls is.
  std::map<std::pair<std::string, runtime::tcp::endpoint>, std::shared_ptr<net::TlsSessionSlot>> tls_sessions_;
  // HTTP/2 sessions per (cluster, endpoint), each with the cluster's pool epoch it was opened under.
  struct PooledH2 {
    std::shared_ptr<H2Session> session;
    std::uint64_t epoch = 0;
  };
  std::map<std::pair<const runtime::ClusterRuntime*, runtime::tcp::endpoint>, std::vector<PooledH2>> h2_;
};

}  // namespace cutover::upstream
