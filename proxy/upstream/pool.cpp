// Per-worker upstream connection pool: see pool.hpp.
#include "proxy/upstream/pool.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

namespace cutover::upstream {

namespace {

// An idle keep-alive connection the upstream has closed shows EOF (or stray bytes) without
// blocking; reusing it would fail the next request, so it is dropped here instead.
bool still_open(net::Stream& stream) {
  char byte;
  ssize_t n = ::recv(stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

constexpr std::size_t kKeptBufferBytes = 1024;

}  // namespace

const runtime::Endpoint& ConnectionPool::pick(const runtime::Cluster& cluster) {
  const std::size_t n = cluster.endpoints.size();
  if (n == 1) return cluster.endpoints[0];
  auto& next = round_robin_[cluster.runtime.get()];
  const auto now = runtime::steady_ms();
  // The next endpoint in turn that may take requests; when none may, the next in turn anyway
  // (the caller decided this cluster must serve: better a try than a certain error).
  for (std::size_t i = 0; i < n; ++i) {
    const auto& e = cluster.endpoints[(next + i) % n];
    if (e.health->available(now)) {
      next += i + 1;
      return e;
    }
  }
  return cluster.endpoints[next++ % n];
}

std::unique_ptr<Connection> ConnectionPool::take_idle(const runtime::Endpoint& endpoint,
                                                      const runtime::Cluster& cluster, ReuseCheck check) {
  auto it = idle_.find({cluster.runtime.get(), endpoint.address});
  if (it == idle_.end()) return nullptr;
  auto& stack = it->second;
  auto now = std::chrono::steady_clock::now();
  auto epoch = cluster.runtime->pool_epoch();
  while (!stack.empty()) {
    auto c = std::move(stack.back());
    stack.pop_back();
    if (c->epoch == epoch && now - c->idle_since < limits_.idle_timeout &&
        (check == ReuseCheck::retry_instead || still_open(c->stream))) {
      c->reused = true;
      return c;
    }
    error_code ignored;
    c->stream.socket().close(ignored);
  }
  return nullptr;
}

Lease ConnectionPool::take(const runtime::Cluster& cluster, bool fresh, const runtime::Endpoint* at, ReuseCheck check) {
  const runtime::Endpoint& endpoint = at ? *at : pick(cluster);
  Lease lease;
  lease.endpoint = &endpoint;
  if (!fresh) lease.connection = take_idle(endpoint, cluster, check);
  return lease;
}

asio::awaitable<Lease> ConnectionPool::acquire(const runtime::Cluster& cluster, bool fresh,
                                               const runtime::Endpoint* at, ReuseCheck check) {
  Lease lease = take(cluster, fresh, at, check);
  if (lease.connection) co_return lease;
  co_return co_await connect(cluster, *lease.endpoint);
}

asio::awaitable<Lease> ConnectionPool::connect(const runtime::Cluster& cluster, const runtime::Endpoint& endpoint) {
  Lease lease;
  lease.endpoint = &endpoint;
  auto c = std::make_unique<Connection>(ex_);
  c->endpoint = endpoint.address;
  c->cluster = cluster.runtime.get();
  c->epoch = cluster.runtime->pool_epoch();
  c->stream.expires_after(cluster.connect_timeout);  // connect and TLS handshake together
  auto [ec] = co_await c->stream.async_connect(endpoint.address, asio::as_tuple(asio::use_awaitable));
  if (ec) {
    lease.ec = ec;
    lease.reason = ec == beast::error::timeout ? std::string("connect timeout") : ec.message();
    co_return lease;
  }
  c->stream.socket().set_option(asio::ip::tcp::no_delay(true), ec);
  if (cluster.tls) {
    auto& slot = tls_sessions_[{cluster.name, endpoint.address}];
    if (!slot || slot->tls != cluster.tls) slot = std::make_shared<net::TlsSessionSlot>(cluster.tls);
    c->tls_session = slot;
    c->stream.start_tls(cluster.tls->context());
    if (!cluster.tls->prepare(c->stream.native_handle(), endpoint.host, slot.get())) {
      lease.ec = asio::error::no_memory;
      lease.tls_failed = true;
      lease.reason = "TLS setup failed";
      co_return lease;
    }
    auto [hec] = co_await c->stream.async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
    if (hec) {
      if (cluster.tls_errors) cluster.tls_errors->Increment();
      lease.ec = hec;
      lease.tls_failed = true;
      const std::string detail = hec == beast::error::timeout ? std::string("timeout") : hec.message();
      lease.reason = "TLS handshake failed: " +
                     net::handshake_failure_reason(cluster.tls->verify() ? c->stream.native_handle() : nullptr, detail);
      co_return lease;
    }
    if (auto problem = cluster.tls->alpn_problem(c->stream.native_handle()); !problem.empty()) {
      // A failed connect as far as the exchange and outlier detection go: this endpoint cannot
      // serve the cluster's protocol.
      lease.ec = asio::error::no_protocol_option;
      lease.tls_failed = true;
      lease.reason = std::move(problem);
      co_return lease;
    }
    if (SSL_session_reused(c->stream.native_handle()) == 1) {
      if (cluster.tls_resumed) cluster.tls_resumed->Increment();
      spdlog::debug("cluster {} endpoint {}: TLS session resumed", cluster.name, endpoint.text);
    }
  }
  c->stream.expires_never();
  lease.connection = std::move(c);
  co_return lease;
}

void ConnectionPool::release(std::unique_ptr<Connection> c) {
  error_code ignored;
  c->stream.expires_never();
  auto& stack = idle_[{c->cluster, c->endpoint}];
  if (stack.size() >= limits_.max_idle_per_endpoint || c->buffer.size() != 0 ||
      c->epoch != c->cluster->pool_epoch()) {
    c->stream.socket().close(ignored);
    return;
  }
  // The oldest idle connection past its timeout goes first, so an idle list does not keep
  // sockets the upstream closed long ago.
  if (!stack.empty() && std::chrono::steady_clock::now() - stack.front()->idle_since >= limits_.idle_timeout) {
    stack.front()->stream.socket().close(ignored);
    stack.erase(stack.begin());
  }
  // An idle connection holds no large buffer; a small one (a response head's) is kept, so the
  // next exchange does not allocate it again.
  if (c->buffer.capacity() > kKeptBufferBytes) c->buffer.shrink_to_fit();
  c->idle_since = std::chrono::steady_clock::now();
  stack.push_back(std::move(c));
}

std::size_t ConnectionPool::idle_count() const {
  std::size_t n = 0;
  for (const auto& [ep, stack] : idle_) n += stack.size();
  return n;
}

std::shared_ptr<H2Session> ConnectionPool::h2_session(const runtime::Cluster& cluster,
                                                      const runtime::Endpoint& endpoint) {
  auto it = h2_.find({cluster.runtime.get(), endpoint.address});
  if (it == h2_.end()) return nullptr;
  auto& sessions = it->second;
  const std::uint64_t epoch = cluster.runtime->pool_epoch();
  std::erase_if(sessions, [epoch](const PooledH2& p) {
    if (p.epoch != epoch) p.session->retire();
    return p.epoch != epoch || p.session->ended();
  });
  for (auto& p : sessions)
    if (p.session->usable()) return p.session;
  return nullptr;
}

std::shared_ptr<H2Session> ConnectionPool::start_h2_session(const runtime::Cluster& cluster,
                                                            const runtime::Endpoint& endpoint,
                                                            std::unique_ptr<Connection> connection) {
  H2SessionOptions options;
  options.ping_interval = cluster.http2_ping_interval;
  options.ping_timeout = cluster.http2_ping_timeout;
  options.tls_session = std::move(connection->tls_session);
  auto session = H2Session::start(std::move(connection->stream), std::move(options));
  if (session) h2_[{cluster.runtime.get(), endpoint.address}].push_back({session, cluster.runtime->pool_epoch()});
  return session;
}

}  // namespace cutover::upstream
