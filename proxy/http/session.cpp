// One downstream HTTP/1.1 connection and the exchanges on it: see session.hpp.
#include "proxy/http/session.hpp"

#include <poll.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <boost/algorithm/string/predicate.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "proxy/http/assign.hpp"
#include "proxy/http/framing.hpp"
#include "proxy/http/head_reader.hpp"
#include "proxy/http/headers.hpp"
#include "proxy/http/relay.hpp"
#include "proxy/http/request_target.hpp"
#include "proxy/http/watchdog.hpp"
#include "proxy/net/stream.hpp"
#include "proxy/net/tls_context.hpp"
#include "proxy/router/route_match.hpp"
#include "proxy/router/split.hpp"
#include "proxy/server/worker.hpp"
#include "proxy/shadow/mirror_exchange.hpp"
#include "proxy/shadow/shadow_client.hpp"
#include "proxy/stats/window.hpp"
#include "proxy/upstream/failover.hpp"

namespace cutover::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::as_tuple;
using asio::use_awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

// Bounds. Issue 6 makes these configurable per listener; they are fixed here.
constexpr std::size_t kResponseHeaderLimit = 64 * 1024;  // bytes of an upstream response head
constexpr int kMaxInterimResponses = 16;                 // 1xx responses before the final one
constexpr std::size_t kReadBufferMax = 128 * 1024;   // per-connection parse buffer
constexpr std::size_t kFirstReadBytes = 512;         // the read that waits for a request (held while idle)
constexpr milliseconds kTlsShutdownTimeout = 1s;     // close_notify out and the client's back, at the end

const HeadLimits kResponseHeadLimits{kResponseHeaderLimit, kResponseHeaderLimit};

using RequestParser = bhttp::request_parser<bhttp::buffer_body>;
using ResponseParser = bhttp::response_parser<bhttp::buffer_body>;

bool client_gone(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || net::closed_by_peer(ec) || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::operation_aborted;
}

bool is_timeout(const error_code& ec) { return ec == beast::error::timeout; }

// Ends an exchange's watch: the deadline is disarmed and the upstream connection forgotten.
struct WatchdogScope {
  Watchdog& watchdog;
  ~WatchdogScope() {
    watchdog.watch_upstream(nullptr);
    watchdog.disarm();
  }
};

// Idempotent methods (RFC 9110 §9.2.2) may be sent again on a new connection when a reused one
// turns out to be closed before any response byte (RFC 9112 §9.3.1).
bool is_idempotent(bhttp::verb m) {
  return is_safe_method(m) || m == bhttp::verb::put || m == bhttp::verb::delete_;
}

// Counts one write exchange in its route's writes_in_flight for as long as it lives, so a hold
// call knows when the writes that passed before it have finished.
class WriteInFlight {
 public:
  explicit WriteInFlight(runtime::RouteRuntime& rt) : rt_(&rt) {}
  ~WriteInFlight() { rt_->writes_in_flight.fetch_sub(1, std::memory_order_seq_cst); }
  WriteInFlight(const WriteInFlight&) = delete;
  WriteInFlight& operator=(const WriteInFlight&) = delete;

 private:
  runtime::RouteRuntime* rt_;
};

// The baton of a release chain (RouteRuntime::ReleaseChain): held once a released write has it,
// passed on when its request head was written upstream or, at the latest, when the exchange ends.
struct ReleaseBaton : HeadSentListener {
  std::shared_ptr<runtime::RouteRuntime::ReleaseChain> chain;
  void head_sent() override { pass(); }
  void pass() {
    if (auto c = std::move(chain)) c->advance();
  }
  ~ReleaseBaton() { pass(); }
};

// Reports the primary part of a mirrored request as failed unless the exchange reported it first
// (every early return of an exchange: 502, 504, the client leaving).
struct MirrorPrimaryGuard {
  std::shared_ptr<shadow::MirrorExchange>& mirror;
  ~MirrorPrimaryGuard() {
    if (mirror) mirror->done(shadow::MirrorExchange::Part::primary, "no complete response");
  }
};

// Keeps cutover_downstream_connections_active right on every exit path of a session.
class ActiveConnection {
 public:
  explicit ActiveConnection(prometheus::Gauge* g) : gauge_(g) {
    if (gauge_) gauge_->Increment();
  }
  ~ActiveConnection() {
    if (gauge_) gauge_->Decrement();
  }
  ActiveConnection(const ActiveConnection&) = delete;
  ActiveConnection& operator=(const ActiveConnection&) = delete;

 private:
  prometheus::Gauge* gauge_;
};

class Session final : public server::Drainable {
 public:
  // `tls`, when given, is the listener's TLS termination: run() handshakes first.
  // `active` is the listener's cutover_downstream_connections_active (null: none).
  Session(tcp::socket socket, const tcp::endpoint& peer, server::Worker& worker, std::size_t listener_index,
          std::shared_ptr<const net::ServerTls> tls, prometheus::Counter* tls_errors, prometheus::Gauge* active)
      : active_(active),
        down_(std::move(socket)),
        worker_(worker),
        listener_index_(listener_index),
        watchdog_(down_),
        tls_(std::move(tls)),
        tls_errors_(tls_errors) {
    client_addr_ = peer.address();
    client_ip_ = client_addr_.to_string();
    buffer_.max_size(kReadBufferMax);
    worker_.add_session(this);
  }
  ~Session() {
    worker_.give_back_scratch(std::move(scratch_));
    worker_.remove_session(this);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void close_if_idle() override {
    if (in_exchange_) return;
    error_code ignored;
    down_.socket().close(ignored);  // the pending header read completes with operation_aborted
  }

  // Serves the connection to its end. `owner` owns this session: the coroutine's frame keeps it,
  // so an idle connection costs one frame, not also one of a caller awaiting this.
  asio::awaitable<void> run([[maybe_unused]] std::unique_ptr<Session> owner) {
    if (tls_ && !co_await handshake()) co_return;
    for (;;) {
      const auto limits = request_limits();
      timeouts_ = worker_.current()->snapshot->config.timeouts;
      const auto header_timeout = timeouts_.request_header;
      // The idle wait is a read of this frame's own, not read_head's: an idle connection holds no
      // read_head frame (bench stage idle: memory per idle connection), and a head that arrives
      // whole is parsed here without one. Its timeout (timeouts.idle) is the stream's own deadline
      // on a plain connection: one that idles out is closed without an answer, and the deadline
      // costs no timer operation per request. A TLS connection waits on the watchdog instead, which
      // cancels rather than closes, so close_notify can still go out.
      const bool idle_wait = buffer_.size() == 0;
      error_code first_ec;
      if (idle_wait) {
        if (down_.is_tls())
          watchdog_.arm(timeouts_.idle);
        else
          down_.expires_after(timeouts_.idle);
        auto [ec, n] = co_await down_.async_read_some(buffer_.prepare(kFirstReadBytes), as_tuple(use_awaitable));
        buffer_.commit(n);
        down_.expires_never();
        first_ec = watchdog_.fired() && ec == asio::error::operation_aborted ? error_code(beast::error::timeout) : ec;
        watchdog_.disarm();
      }
      // Made once the wait is over, so an idle connection holds no parser either.
      const auto parser_owner = new_request_parser(limits);
      RequestParser& parser = *parser_owner;
      HeadStep step{true, {}};
      if (idle_wait) step = parse_first_read(first_ec, buffer_, parser, limits.head);
      HeadRead head = step.result;
      if (step.need_more) {
        // The rest of the head within request_header from its first byte (slowloris: 408). The
        // watchdog cancels the read rather than closing the socket, so the 408 can still be sent.
        watchdog_.arm(header_timeout);
        head = co_await read_head(down_, buffer_, parser, limits.head);
        if (watchdog_.fired() && head.ec == asio::error::operation_aborted) head.ec = beast::error::timeout;
        watchdog_.disarm();
      }
      if (!head.ok()) {
        co_await reject_unreadable_request(head);
        break;
      }
      down_.expires_never();
      in_exchange_ = true;
      head_buf_ = worker_.take_head_buffer();
      bool keep_alive = co_await exchange(parser);
      in_exchange_ = false;
      worker_.give_back_scratch(std::move(scratch_));
      worker_.give_back_head_buffer(std::move(head_buf_));
      head_buf_ = std::string();
      if (!keep_alive || worker_.draining()) break;
      // An idle connection holds no buffer (its stream's one timer wait serves timeouts.idle).
      if (buffer_.size() == 0) buffer_.shrink_to_fit();
    }
    error_code ignored;
    if (down_.is_tls() && down_.socket().is_open()) {
      // close_notify (RFC 8446 §6.1), so the client can tell the end from a truncation; the
      // wait for its answer is short, and any error is the end anyway.
      down_.expires_after(kTlsShutdownTimeout);
      co_await down_.async_shutdown(as_tuple(use_awaitable));
    }
    down_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (linger_) co_await linger();
    down_.socket().close(ignored);
  }

 private:
  // After an answer that ends the connection while the client may still be sending (a refused or
  // timed-out request): the send side is shut already; read and discard for at most kLingerTime or
  // kLingerBytes, so the close does not become a reset that destroys the answer in the client's
  // receive queue before it reads it (RFC 9112 §9.6; nginx's lingering_close).
  asio::awaitable<void> linger() {
    static constexpr auto kLingerTime = 2s;
    static constexpr std::size_t kLingerBytes = 1024 * 1024;
    std::array<char, 2048> sink;
    std::size_t discarded = 0;
    down_.expires_after(kLingerTime);
    while (discarded < kLingerBytes) {
      auto [ec, n] = co_await down_.async_read_some(asio::buffer(sink), as_tuple(use_awaitable));
      if (ec) break;
      discarded += n;
    }
  }

  // The TLS handshake, within timeouts.request_header (a client that connects and stalls is treated like
  // one that stalls in its request head). Failures are counted and logged at debug level only:
  // scanners and clients with old TLS versions make them routine.
  asio::awaitable<bool> handshake() {
    down_.start_tls(tls_->context());
    down_.expires_after(worker_.current()->snapshot->config.timeouts.request_header);
    auto [ec] = co_await down_.async_handshake(asio::ssl::stream_base::server, as_tuple(use_awaitable));
    down_.expires_never();
    tls_.reset();  // the SNI callback is done with it; the SSL keeps its SSL_CTX itself
    if (!ec) co_return true;
    if (tls_errors_) tls_errors_->Increment();
    spdlog::debug("TLS handshake with {} failed: {}", client_ip_, is_timeout(ec) ? std::string("timeout") : ec.message());
    error_code ignored;
    down_.socket().close(ignored);
    co_return false;
  }

  struct RequestLimits {
    HeadLimits head;
    std::uint64_t max_body = 0;  // 0 = none
  };
  static std::unique_ptr<RequestParser> new_request_parser(const RequestLimits& limits) {
    auto parser = std::make_unique<RequestParser>();
    parser->header_limit(static_cast<std::uint32_t>(limits.head.header_bytes));
    // Bodies are streamed, never held; the limit (0: none) is the operator's (413).
    if (limits.max_body)
      parser->body_limit(limits.max_body);
    else
      parser->body_limit(boost::none);
    return parser;
  }
  // The current config's limits (config `limits`).
  RequestLimits request_limits() {
    const auto& l = worker_.current()->snapshot->config.limits;
    return {{static_cast<std::size_t>(l.max_header_bytes), static_cast<std::size_t>(l.max_request_line)},
            l.max_request_body};
  }

  // A request head that could not be read: silent close when the client left or idled out
  // between requests; otherwise a status naming the problem, then close (anything pipelined
  // after it is dropped with the connection).
  asio::awaitable<void> reject_unreadable_request(const HeadRead& head) {
    using Problem = HeadRead::Problem;
    bhttp::status status = bhttp::status::bad_request;
    std::string reason;
    if (head.problem == Problem::obs_fold) {
      reason = "malformed request: obs-fold (a header line starting with whitespace, RFC 9112 section 5.2)";
    } else if (head.problem == Problem::request_line_too_long) {
      status = bhttp::status::uri_too_long;
      reason = "request line too long";
    } else if (head.problem == Problem::header_too_large) {
      status = bhttp::status::request_header_fields_too_large;
      reason = "request header section too large";
    } else if (client_gone(head.ec)) {
      co_return;
    } else if (is_timeout(head.ec)) {
      if (buffer_.size() == 0) co_return;  // idle between requests: a plain close
      status = bhttp::status::request_timeout;
      reason = "request header timeout";
    } else if (head.ec == bhttp::error::body_limit) {  // a Content-Length over limits.max_request_body
      status = bhttp::status::payload_too_large;
      reason = "request body over the configured limit";
    } else {
      reason = "malformed request: " + head.ec.message();
    }
    count_rejected(status);
    co_await reply_error(status, reason, 11, false);
  }

  // cutover_downstream_rejected_total{listener,code}: requests refused before any route saw them.
  void count_rejected(bhttp::status status) {
    auto pinned = worker_.current();
    const auto& listeners = pinned->snapshot->listeners;
    if (listener_index_ >= listeners.size()) return;
    if (auto* c = listeners[listener_index_].rejected_counter(static_cast<unsigned>(status))) c->Increment();
  }

  // The relay buffer, lent by the worker for the current exchange only.
  std::span<char> scratch() {
    if (!scratch_) scratch_ = worker_.take_scratch();
    return {scratch_.get(), server::Worker::kScratchBytes};
  }

  // Callers pass a named string, never a temporary: GCC 12 destroys temporaries of a co_await
  // full-expression twice (found by ASan here), so every reason is built in a local first.
  // Writes a short text/plain response produced by the proxy itself. Returns keep_alive when the
  // write succeeded.
  asio::awaitable<bool> reply_error(bhttp::status status, std::string_view reason, unsigned version,
                                    bool keep_alive) {
    bhttp::response<bhttp::string_body> res{status, version < 11 ? 10u : 11u};
    if (!keep_alive) linger_ = true;
    res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
    res.body() = fmt::format("cutover: {}\n", reason);
    co_return co_await write_reply(res, keep_alive);
  }

  // A JSON error answer {"error": reason, "route": ..., "reason": code} with Retry-After, for
  // requests refused by a write hold (the client may retry once the flip is done).
  asio::awaitable<bool> reply_held_write(std::string_view route, std::string_view code, std::string_view reason,
                                         unsigned version, bool keep_alive) {
    bhttp::response<bhttp::string_body> res{bhttp::status::service_unavailable, version < 11 ? 10u : 11u};
    res.set(bhttp::field::content_type, "application/json");
    res.set(bhttp::field::retry_after, "1");
    // Route names are [A-Za-z0-9_.-] (config/loader.cpp) and the rest is ours: nothing to escape.
    res.body() = fmt::format("{{\"error\":\"{}\",\"route\":\"{}\",\"reason\":\"{}\"}}\n", reason, route, code);
    co_return co_await write_reply(res, keep_alive);
  }

  asio::awaitable<bool> write_reply(bhttp::response<bhttp::string_body>& res, bool keep_alive) {
    res.set(bhttp::field::server, "cutover");
    res.keep_alive(keep_alive);
    res.prepare_payload();
    down_.expires_after(timeouts_.body_idle);
    auto [ec, n] = co_await bhttp::async_write(down_, res, as_tuple(use_awaitable));
    down_.expires_never();
    co_return !ec && keep_alive;
  }

  enum class HoldOutcome { pass, expired, rejected, client_left };

  // Whether the client closed or reset its side (POLLRDHUP), without reading what it sent.
  bool peer_closed() {
    pollfd p{down_.socket().native_handle(), POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }

  // The write-hold gate (issue 4). On `pass` the write counts in route.writes_in_flight until
  // `in_flight` is destroyed; a held write waits here, before any upstream contact and before its
  // side is chosen, so it takes the weights the release published.
  asio::awaitable<HoldOutcome> pass_write_hold(const runtime::Route& route, std::optional<WriteInFlight>& in_flight,
                                               ReleaseBaton& baton) {
    auto& rt = *route.runtime;
    rt.writes_in_flight.fetch_add(1, std::memory_order_seq_cst);  // announce, then look (route_runtime.hpp)
    if (!rt.writes_held()) {
      in_flight.emplace(rt);
      co_return HoldOutcome::pass;
    }
    rt.writes_in_flight.fetch_sub(1, std::memory_order_seq_cst);
    if (rt.held_requests.fetch_add(1) >= route.writes.max_held) {
      rt.held_requests.fetch_sub(1);
      route.hold_metrics.rejected->Increment();
      co_return HoldOutcome::rejected;
    }
    route.hold_metrics.held->Increment();
    asio::steady_timer timer(down_.get_executor());
    server::HeldWrite held{&timer, false, nullptr};
    const std::uint64_t id = runtime::RouteRuntime::next_held_write_id();
    worker_.add_held_write(id, &held);
    rt.enqueue_held({id, rt.hold_seq.load(), [w = &worker_, id](auto chain) { w->release_held_write(id, std::move(chain)); }});
    // The hold may have been lifted between the look above and the enqueue, after the release took
    // the queue: then nobody would wake this write. Take it back and go; if a release did take it,
    // its wake is on the way.
    if (!rt.writes_held() && rt.forget_held(id)) {
      worker_.remove_held_write(id);
      held.released = true;
    }
    // Wait for the release, the hold_timeout, or the client leaving (checked every 200 ms: the
    // unread body keeps the socket readable, so only the peer's FIN/RST tells).
    const auto deadline = std::chrono::steady_clock::now() + route.writes.hold_timeout;
    bool client_left = false;
    while (!held.released && std::chrono::steady_clock::now() < deadline) {
      timer.expires_at(std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(200)));
      co_await timer.async_wait(as_tuple(use_awaitable));
      if (!held.released && peer_closed()) {
        client_left = true;
        break;
      }
    }
    if (!held.released) {
      // If a release took this write just as it timed out (or its client left), the wake finds
      // it gone from the worker and passes the baton on.
      rt.forget_held(id);
      worker_.remove_held_write(id);
    }
    rt.held_requests.fetch_sub(1);
    route.hold_metrics.held->Decrement();
    if (client_left) co_return HoldOutcome::client_left;
    if (!held.released) {
      route.hold_metrics.expired->Increment();
      co_return HoldOutcome::expired;
    }
    route.hold_metrics.released->Increment();
    baton.chain = std::move(held.chain);
    rt.writes_in_flight.fetch_add(1, std::memory_order_seq_cst);
    in_flight.emplace(rt);
    co_return HoldOutcome::pass;
  }

  // Whether this request is mirrored (issue 3). Counts skipped_body (a Content-Length over
  // max_body) and dropped (max_in_flight reached) itself; otherwise the exchange, holding a slot
  // and the request head as it goes upstream (call after the head was rewritten).
  std::shared_ptr<shadow::MirrorExchange> pick_mirror(const runtime::Route& route, router::Side side,
                                                      const std::shared_ptr<const server::PinnedSnapshot>& pinned,
                                                      RequestParser& parser, bool chunked_body) {
    const auto& policy = *route.mirror;
    auto& req = parser.get();
    if (!shadow::selects(policy, req.method_string(), worker_.random())) return nullptr;
    const auto length = parser.content_length();
    if (length && *length > policy.max_body) {
      policy.count(shadow::Result::skipped_body);
      return nullptr;
    }
    if (!policy.record->try_acquire_slot(policy.max_in_flight)) {
      policy.count(shadow::Result::dropped);
      return nullptr;
    }
    auto ex = std::make_shared<shadow::MirrorExchange>(pinned, policy, route.name, side, req.method_string(),
                                                       req.target(), worker_.id());
    ex->copy_request_head(req.base(), chunked_body || length.has_value());
    return ex;
  }

  // Sends the shadow copy (and, sampled, a noise copy to a second source endpoint) once the
  // request went upstream in full; `primary_at` is the endpoint that got the primary. Resets
  // `mirror` when the body was over max_body (counted skipped_body).
  void launch_mirror(std::shared_ptr<shadow::MirrorExchange>& mirror, const runtime::Route& route, router::Side side,
                     const runtime::Endpoint* primary_at) {
    const auto& policy = mirror->policy();
    const runtime::Cluster& source = route.cluster(router::Side::source);
    const bool noise = shadow::samples_noise(policy, source.endpoints.size(), worker_.random());
    if (!mirror->launch(noise)) {
      mirror.reset();
      return;
    }
    const runtime::Endpoint* shadow_at = nullptr;  // the pool's round robin
    const runtime::Endpoint* noise_at = nullptr;
    if (noise) {
      // The source response to compare against comes from the primary (side source) or from the
      // shadow (side target); the noise copy goes to the next source endpoint after that one.
      const std::size_t n = source.endpoints.size();
      std::size_t reference = worker_.random() % n;
      if (side == router::Side::source) {
        reference = static_cast<std::size_t>(primary_at - source.endpoints.data());
      } else {
        shadow_at = &source.endpoints[reference];
      }
      noise_at = &source.endpoints[(reference + 1) % n];
    }
    asio::co_spawn(worker_.io(),
                   shadow::send_shadow(mirror, shadow::MirrorExchange::Part::shadow, worker_.pool(),
                                       route.cluster(router::other(side)), shadow_at),
                   asio::detached);
    if (noise)
      asio::co_spawn(worker_.io(),
                     shadow::send_shadow(mirror, shadow::MirrorExchange::Part::noise, worker_.pool(), source, noise_at),
                     asio::detached);
  }

  // One request and its response. Returns whether the downstream connection stays open.
  asio::awaitable<bool> exchange(RequestParser& parser) {
    const auto started = std::chrono::steady_clock::now();
    auto pinned = worker_.current();
    const runtime::Snapshot& snap = *pinned->snapshot;
    if (listener_index_ >= snap.listeners.size())  // the listener went away in a reload
      co_return co_await reply_error(bhttp::status::service_unavailable, "listener removed", 11, false);
    const runtime::Listener& listener = snap.listeners[listener_index_];

    auto& req = parser.get();
    const unsigned req_version = req.version();
    const bool req_keep_alive = req.keep_alive();
    const bool head = req.method() == bhttp::verb::head;
    // With a body still unread on the socket, the connection can only be kept after the body went
    // through; a proxy-made error answer before that closes it.
    const bool body_pending = !parser.is_done();
    const bool keep_after_error = req_keep_alive && !body_pending;

    if (auto problem = check_request_framing(req)) {  // RFC 9112 §3.2, §6: refuse anything ambiguous
      const std::string reason = "malformed request: " + *problem;
      count_rejected(bhttp::status::bad_request);
      co_return co_await reply_error(bhttp::status::bad_request, reason, req_version, false);
    }
    if (auto length = parser.content_length(); length && *length > 0) {
      const auto& l = snap.config.limits;
      if (l.max_request_body && *length > l.max_request_body) {
        const std::string reason = fmt::format("request body of {} bytes is over the limit of {}", *length, l.max_request_body);
        count_rejected(bhttp::status::payload_too_large);
        co_return co_await reply_error(bhttp::status::payload_too_large, reason, req_version, false);
      }
    }
    if (auto problem = absolute_form_to_origin_form(req)) {  // RFC 9112 §3.2.2: the target's authority is the Host
      const std::string reason = "malformed request: " + *problem;
      count_rejected(bhttp::status::bad_request);
      co_return co_await reply_error(bhttp::status::bad_request, reason, req_version, false);
    }
    auto host_it = req.find(bhttp::field::host);
    std::string_view host = host_it == req.end() ? std::string_view{} : router::host_without_port(host_it->value());
    int route_index = router::match_route(listener.matches, host, router::path_of_target(req.target()));
    if (route_index < 0)
      co_return co_await reply_error(bhttp::status::not_found, "no route for this host and path", req_version,
                                     keep_after_error);
    const runtime::Route& route = *listener.routes[route_index];

    const auto kind = is_safe_method(req.method()) ? router::Kind::read : router::Kind::write;
    std::optional<WriteInFlight> write_in_flight;
    ReleaseBaton baton;  // a released write passes it on once its request head is upstream
    if (kind == router::Kind::write) {
      auto outcome = co_await pass_write_hold(route, write_in_flight, baton);
      if (outcome == HoldOutcome::client_left) co_return false;  // nobody to answer; never forwarded
      if (outcome != HoldOutcome::pass) {
        const bool expired = outcome == HoldOutcome::expired;
        const std::string reason =
            expired ? fmt::format("writes are held for a write-path flip; not released within {} ms",
                                  route.writes.hold_timeout.count())
                    : fmt::format("writes are held for a write-path flip and {} requests already wait",
                                  route.writes.max_held);
        co_return co_await reply_held_write(route.name, expired ? "hold_timeout" : "max_held", reason, req_version,
                                            keep_after_error);
      }
    }

    // timeouts.request runs from here: a write hold's wait is bounded by its own hold_timeout.
    if (timeouts_.request.count()) watchdog_.arm(timeouts_.request);
    WatchdogScope watchdog_scope{watchdog_};

    // The split: one atomic load of the route's weights, then force, sticky bucket or a random draw.
    const auto assignment = assign_side(route, kind, route.runtime->weights(), req, client_ip_, client_addr_,
                                        worker_.random());
    auto side = assignment.side;
    if (side == router::Side::target) side = upstream::fail_over_if_target_down(route);
    if (assignment.forced) route.forced[static_cast<int>(side)]->Increment();
    if (!route.force.header.empty()) req.erase(route.force.header);  // never forwarded, honoured or not
    const runtime::Cluster& cluster = route.cluster(side);
    // Prometheus counters and histogram, and this worker's window statistics (ramp gates, /v1/stats).
    auto record = [&](unsigned status, stats::Outcome outcome = stats::Outcome::response) {
      const auto now = std::chrono::steady_clock::now();
      const auto took = now - started;
      route.metrics.record(side, kind, status, std::chrono::duration<double>(took).count());
      route.runtime->windows.at(worker_.id(), side)
          .record(stats::steady_seconds(now), status,
                  static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()),
                  outcome);
    };

    // The request head as the upstream sees it (RFC 9110 §7.6). Expect: 100-continue is answered
    // here, so the upstream gets a plain request.
    const bool expect_continue = boost::algorithm::iequals(req[bhttp::field::expect], "100-continue");
    const bool chunked_body = parser.chunked();
    prepare_upstream_request(req, chunked_body, expect_continue, client_ip_, down_.is_tls() ? "https" : "http");

    // Shadow traffic (issue 3): picked now, sent once the request body went through.
    std::shared_ptr<shadow::MirrorExchange> mirror =
        route.mirror ? pick_mirror(route, side, pinned, parser, chunked_body) : nullptr;
    MirrorPrimaryGuard mirror_guard{mirror};
    bool mirror_launched = false;

    bool sent_continue = false;
    const bool may_retry = !body_pending && is_idempotent(req.method());
    std::unique_ptr<upstream::Connection> up;
    std::optional<ResponseParser> rp;
    const runtime::Endpoint* served_by = nullptr;
    for (int attempt = 0;; ++attempt) {
      // A request that may be sent again skips the pool's look at the idle connection (a syscall).
      auto lease = co_await worker_.pool().acquire(
          cluster, /*fresh=*/attempt > 0, nullptr,
          may_retry ? upstream::ReuseCheck::retry_instead : upstream::ReuseCheck::peek);
      if (!lease.connection) {
        cluster.connect_errors->Increment();
        spdlog::warn("route {}: cluster {} endpoint {}: {}{}", route.name, cluster.name, lease.endpoint->text,
                     lease.tls_failed ? "" : "connect failed: ", lease.reason);
        upstream::note_outlier(cluster, *lease.endpoint,
                     lease.endpoint->health->record_connect_failure(cluster.outlier, upstream::steady_ms()));
        // Nothing went upstream: once more, on the next available endpoint of the cluster.
        if (attempt == 0 && cluster.endpoints.size() > 1) {
          cluster.retries->Increment();
          continue;
        }
        record(502, stats::Outcome::connect_error);
        const std::string reason =
            fmt::format("upstream connect failed (cluster {}, endpoint {}): {}", cluster.name, lease.endpoint->text,
                        lease.reason);
        co_return co_await reply_error(bhttp::status::bad_gateway, reason, req_version, keep_after_error);
      }
      up = std::move(lease.connection);
      served_by = lease.endpoint;
      if (!up->reused) served_by->health->record_connect_success();
      watchdog_.watch_upstream(&up->stream);
      if (watchdog_.fired()) {  // timeouts.request ran out while connecting
        record(504, stats::Outcome::timeout);
        const std::string reason =
            fmt::format("request timeout: no response within {} ms (timeouts.request, cluster {})",
                        timeouts_.request.count(), cluster.name);
        co_return co_await reply_error(bhttp::status::gateway_timeout, reason, req_version, false);
      }

      if (expect_continue && body_pending && !sent_continue) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        down_.expires_after(timeouts_.body_idle);
        auto [ec, n] = co_await asio::async_write(down_, asio::buffer(kContinue), as_tuple(use_awaitable));
        if (ec) co_return false;
        sent_continue = true;
      }

      auto sent = co_await relay_message(down_, buffer_, parser, up->stream, scratch(), head_buf_, timeouts_.body_idle,
                                         cluster.response_timeout, baton.chain ? &baton : nullptr,
                                         mirror && !mirror_launched ? &mirror->request_body : nullptr);
      if (sent.failed == RelayOutcome::Failed::read) {
        // The client left mid-body, or its body broke the framing or the size limit: the
        // upstream connection (holding part of a request) is dropped either way.
        if (watchdog_.fired()) {  // timeouts.request ran out while the body came in
          record(408, stats::Outcome::timeout);
          count_rejected(bhttp::status::request_timeout);
          const std::string reason =
              fmt::format("request timeout: not complete within {} ms (timeouts.request)", timeouts_.request.count());
          co_await reply_error(bhttp::status::request_timeout, reason, req_version, false);
          co_return false;
        }
        if (client_gone(sent.ec) || is_timeout(sent.ec)) co_return false;
        const bool too_large = sent.ec == bhttp::error::body_limit;
        const std::string reason =
            too_large ? fmt::format("request body over the limit of {} bytes", snap.config.limits.max_request_body)
                      : "malformed request body: " + sent.ec.message();
        record(too_large ? 413 : 400);
        co_await reply_error(too_large ? bhttp::status::payload_too_large : bhttp::status::bad_request, reason,
                             req_version, false);
        co_return false;
      }
      if (sent.failed == RelayOutcome::Failed::write) {
        if (watchdog_.fired()) {  // timeouts.request ran out while the upstream was taking the body
          record(504, stats::Outcome::timeout);
          const std::string reason = fmt::format("request timeout: not sent upstream within {} ms (timeouts.request, cluster {})",
                                                 timeouts_.request.count(), cluster.name);
          co_return co_await reply_error(bhttp::status::gateway_timeout, reason, req_version, false);
        }
        if (up->reused && may_retry && attempt == 0) continue;  // a pooled connection the upstream had closed
        record(502);
        const std::string reason = fmt::format("upstream write failed (cluster {}): {}", cluster.name, sent.ec.message());
        co_return co_await reply_error(bhttp::status::bad_gateway, reason, req_version,
                                       req_keep_alive && parser.is_done());
      }
      if (mirror && !mirror_launched) {
        mirror_launched = true;
        launch_mirror(mirror, route, side, lease.endpoint);
      }

      // The response head. Interim 1xx responses are passed on (100 Continue was answered
      // already) and the final one is awaited, all within response_timeout.
      error_code ec;
      for (int interim = 0;; ++interim) {
        if (interim > kMaxInterimResponses) {  // each 1xx restarts response_timeout: bound them
          record(502);
          const std::string reason = fmt::format("more than {} interim (1xx) responses from upstream (cluster {})",
                                                 kMaxInterimResponses, cluster.name);
          co_return co_await reply_error(bhttp::status::bad_gateway, reason, req_version, false);
        }
        rp.emplace();
        rp->header_limit(kResponseHeaderLimit);
        rp->body_limit(boost::none);
        if (head) rp->skip(true);
        up->stream.expires_after(cluster.response_timeout);
        // The first read here and its parse without a read_head frame (parse_first_read).
        HeadStep first{true, {}};
        if (up->buffer.size() == 0) {
          const auto want = beast::read_size(up->buffer, kResponseHeaderLimit);
          auto [rec, rn] = co_await up->stream.async_read_some(up->buffer.prepare(want), as_tuple(use_awaitable));
          up->buffer.commit(rn);
          first = parse_first_read(rec, up->buffer, *rp, kResponseHeadLimits);
        }
        HeadRead got_head = first.result;
        if (first.need_more) got_head = co_await read_head(up->stream, up->buffer, *rp, kResponseHeadLimits);
        if (!got_head.ok()) {
          ec = got_head.problem == HeadRead::Problem::error ? got_head.ec
               : got_head.problem == HeadRead::Problem::obs_fold ? error_code(bhttp::error::bad_field)
                                                                  : error_code(bhttp::error::header_limit);
          break;
        }
        if (auto problem = check_response_framing(rp->get())) {
          up->stream.expires_never();
          record(502);
          spdlog::warn("route {}: {} sent a response with unsafe framing: {}", route.name, cluster.name, *problem);
          const std::string reason = fmt::format("invalid response from upstream (cluster {}): {}", cluster.name, *problem);
          co_return co_await reply_error(bhttp::status::bad_gateway, reason, req_version, req_keep_alive);
        }
        unsigned status = rp->get().result_int();
        if (status < 100 || status >= 200 || status == 101) break;
        if (status != 100 && req_version >= 11) {
          bhttp::response<bhttp::empty_body> interim{rp->get().base()};
          remove_hop_by_hop(interim);
          down_.expires_after(timeouts_.body_idle);
          auto [wec, wn] = co_await bhttp::async_write(down_, interim, as_tuple(use_awaitable));
          if (wec) co_return false;
        }
      }
      up->stream.expires_never();
      if (!ec) break;
      if (is_timeout(ec) || watchdog_.fired()) {
        cluster.timeouts->Increment();
        upstream::note_outlier(cluster, *served_by, served_by->health->record_status(504, cluster.outlier, upstream::steady_ms()));
        record(504, stats::Outcome::timeout);
        const std::string reason =
            watchdog_.fired() ? fmt::format("request timeout: no response within {} ms (timeouts.request, cluster {})",
                                         timeouts_.request.count(), cluster.name)
                           : fmt::format("upstream response timeout after {} ms (cluster {})",
                                         cluster.response_timeout.count(), cluster.name);
        co_return co_await reply_error(bhttp::status::gateway_timeout, reason, req_version, req_keep_alive);
      }
      if (up->reused && may_retry && attempt == 0 && up->buffer.size() == 0 &&
          (ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset)) {
        continue;  // closed while idle in the pool, before any response byte: safe to send again
      }
      record(502);
      const std::string reason =
          fmt::format("invalid or no response from upstream (cluster {}): {}", cluster.name, ec.message());
      co_return co_await reply_error(bhttp::status::bad_gateway, reason, req_version, req_keep_alive);
    }

    // The response head as the client sees it.
    auto& res = rp->get();
    upstream::note_outlier(cluster, *served_by, served_by->health->record_status(res.result_int(), cluster.outlier, upstream::steady_ms()));
    if (mirror) mirror->capture_primary_head(res.base());
    const unsigned status = res.result_int();
    const bool upstream_keep_alive = res.keep_alive() && status != 101;
    const bool no_body = head || status == 204 || status == 304 || status < 200;
    const bool length_known = rp->chunked() || rp->content_length().has_value();
    const bool keep_alive = prepare_downstream_response(res, rp->chunked(), rp->content_length().has_value(), no_body,
                                                        req_version, req_keep_alive && status != 101 && !worker_.draining());
    if (assignment.pin_bucket)  // the bucket, not the side: later weight changes still apply to this client
      res.insert(bhttp::field::set_cookie,
                 fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax", route.sticky.pin_cookie,
                             *assignment.pin_bucket, route.sticky.pin_max_age_s));

    auto got = co_await relay_message(up->stream, up->buffer, *rp, down_, scratch(), head_buf_,
                                      cluster.response_timeout, timeouts_.body_idle, nullptr,
                                      mirror ? &mirror->primary().body : nullptr);
    if (got.failed != RelayOutcome::Failed::none) {
      if (got.failed == RelayOutcome::Failed::read) {
        if (is_timeout(got.ec)) cluster.timeouts->Increment();
        spdlog::warn("route {}: {} response body interrupted: {}", route.name, cluster.name, got.ec.message());
        if (!got.header_sent) {
          record(502);
          const std::string reason = fmt::format("upstream response failed (cluster {}): {}", cluster.name, got.ec.message());
          co_await reply_error(bhttp::status::bad_gateway, reason, req_version, false);
          co_return false;
        }
      }
      record(status, is_timeout(got.ec) ? stats::Outcome::timeout : stats::Outcome::response);
      co_return false;  // mid-body failure: close without a final chunk so the client sees truncation
    }
    record(status);
    if (mirror) {
      mirror->done(shadow::MirrorExchange::Part::primary, {});
      mirror.reset();
    }
    if (upstream_keep_alive && length_known && rp->is_done()) worker_.pool().release(std::move(up));
    co_return keep_alive;
  }

  ActiveConnection active_;
  net::Stream down_;
  server::Worker& worker_;
  std::size_t listener_index_;
  Watchdog watchdog_;  // a fragmented head's wait (and a TLS connection's idle wait), timeouts.request
  std::shared_ptr<const net::ServerTls> tls_;  // until the handshake is over
  prometheus::Counter* tls_errors_ = nullptr;
  beast::flat_buffer buffer_;
  asio::ip::address client_addr_;
  std::string client_ip_;
  std::unique_ptr<char[]> scratch_;
  bool in_exchange_ = false;
  bool linger_ = false;  // an answer ended the connection: linger() before the close
  config::TimeoutsConfig timeouts_;  // the current config's, taken before each request
  std::string head_buf_;  // serialized head of the message being relayed, lent by the worker per exchange
};

}  // namespace

asio::awaitable<void> serve_downstream(tcp::socket socket, tcp::endpoint peer, server::Worker& worker,
                                       std::size_t listener_index) {
  prometheus::Gauge* gauge = nullptr;
  std::shared_ptr<const net::ServerTls> tls;  // the current snapshot's: a reload's certificates apply to new connections
  prometheus::Counter* tls_errors = nullptr;
  {
    auto pinned = worker.current();
    if (listener_index < pinned->snapshot->listeners.size()) {
      const auto& l = pinned->snapshot->listeners[listener_index];
      gauge = l.active_connections;
      tls = l.tls;
      tls_errors = l.tls_errors;
    }
  }
  // Not a coroutine itself: the session's run() is the connection's only frame.
  auto session =
      std::make_unique<Session>(std::move(socket), peer, worker, listener_index, std::move(tls), tls_errors, gauge);
  Session& s = *session;
  return s.run(std::move(session));
}

}  // namespace cutover::http
