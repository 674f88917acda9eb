// One downstream HTTP/1.1 connection and the exchanges on it: see connection.hpp.
#include "proxy/http/connection.hpp"

#include <poll.h>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "proxy/codec/body.hpp"
#include "proxy/codec/errors.hpp"
#include "proxy/codec/head_reader.hpp"
#include "proxy/codec/head_writer.hpp"
#include "proxy/codec/headers.hpp"
#include "proxy/codec/message_writer.hpp"
#include "proxy/exchange/access_line.hpp"
#include "proxy/exchange/downstream.hpp"
#include "proxy/exchange/exchange.hpp"
#include "proxy/exchange/tunnel.hpp"
#include "proxy/h2/server_connection.hpp"
#include "proxy/channel/cluster_channel.hpp"
#include "proxy/http/watchdog.hpp"
#include "proxy/net/stream.hpp"
#include "proxy/net/tls_context.hpp"
#include "proxy/observe/trace_context.hpp"

namespace cutover::http {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using asio::ip::tcp;
using boost::system::error_code;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

constexpr std::size_t kReadBufferMax = 128 * 1024;  // per-connection parse buffer
constexpr std::size_t kFirstReadBytes = 512;        // the read that waits for a request (held while idle)
constexpr milliseconds kTlsShutdownTimeout = 1s;    // close_notify out and the client's back, at the end

using RequestParser = bhttp::request_parser<bhttp::buffer_body>;

// Keeps cutover_downstream_connections_active right on every exit path of a connection.
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

class Connection final : public runtime::Drainable, public exchange::Downstream, public runtime::IdleSweep::Waiter {
 public:
  // `tls`, when given, is the listener's TLS termination: run() handshakes first.
  // `active` is the listener's cutover_downstream_connections_active (null: none). `slot` is
  // held until the connection ends. `idle_sweep` (null: none) parks a lasting idle wait.
  Connection(tcp::socket socket, const tcp::endpoint& peer, exchange::WorkerContext& worker,
             std::size_t listener_index, std::shared_ptr<const net::ServerTls> tls, prometheus::Counter* tls_errors,
             prometheus::Gauge* active, bool http2, runtime::ConnectionSlot slot, runtime::IdleSweep* idle_sweep)
      : slot_(std::move(slot)),
        idle_sweep_(idle_sweep),
        active_(active),
        http2_(http2),
        down_(std::move(socket)),
        worker_(worker),
        listener_index_(listener_index),
        watchdog_(down_),
        tls_(std::move(tls)),
        tls_errors_(tls_errors) {
    client_.address = peer.address();
    client_.ip = client_.address.to_string();
    client_.port = peer.port();
    client_.tls = tls_ != nullptr;
    buffer_.max_size(kReadBufferMax);
    worker_.connections.add(this);
  }
  ~Connection() {
    worker_.buffers.give_back_scratch(std::move(scratch_));
    worker_.connections.remove(this);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void close_if_idle() override {
    if (h2_) {  // an HTTP/2 connection: GOAWAY, its streams finish
      h2_->close_if_idle();
      return;
    }
    if (in_exchange_) return;
    error_code ignored;
    down_.socket().close(ignored);  // the pending header read completes with operation_aborted
  }

  // An HTTP/1 connection reads every setting per request, and closes between requests once a
  // reload removed its listener (as in a drain); an HTTP/2 one decides for itself.
  void on_reload() override {
    if (h2_)
      h2_->on_reload();
    else if (!listener_kept())
      close_if_idle();
  }

  bool listener_kept() { return worker_.snapshots.current()->snapshot->serves_listener(listener_index_); }

  // Idle for a while (IdleSweep): the pending idle read ends (operation_aborted) and run() parks
  // the connection. Nothing completes here: the read's handler is queued.
  void park_now() override {
    park_requested_ = true;
    error_code ignored;
    down_.socket().cancel(ignored);
  }

  // Serves the connection until it ends or parks. `owner` owns this connection: the coroutine's
  // frame keeps it (so an active connection costs one frame, not also one of a caller awaiting
  // this), and a parked connection's wait handler after it. Called again, by the wait handler,
  // for the requests after a park.
  asio::awaitable<void> run(std::unique_ptr<Connection> owner) {
    bool h2_by_alpn = false;
    if (!started_) {
      started_ = true;
      if (tls_) {
        const bool handshaken = co_await handshake();
        if (!handshaken) co_return;
      }
      // HTTP/2 by ALPN (RFC 9113 §3.2): the whole connection is the HTTP/2 server's.
      h2_by_alpn = down_.is_tls() && alpn_selected_h2();
      if (h2_by_alpn) co_await h2::serve(down_, buffer_, client_, worker_, listener_index_, &h2_);
      // An HTTP/2 connection may end while the client still sends (GOAWAY after an abuse): the
      // linger keeps its last frames from being lost to a reset.
      linger_ = h2_by_alpn;
    }
    while (!h2_by_alpn) {
      // The current config's limits and timeouts, by value: an idle connection holds no snapshot.
      std::uint64_t max_body = 0;  // 0: none
      codec::HeadLimits limits;
      {
        const auto& config = worker_.snapshots.current()->snapshot->config;
        limits = {static_cast<std::size_t>(config.limits.max_header_bytes),
                  static_cast<std::size_t>(config.limits.max_request_line)};
        max_body = config.limits.max_request_body;
        timeouts_ = config.timeouts;
      }
      // The idle wait is a read of this frame's own, not read_head's: an idle connection holds no
      // read_head frame (bench stage idle: memory per idle connection), and a head that arrives
      // whole is parsed here without one. Its timeout (timeouts.idle) is the stream's own deadline
      // on a plain connection: one that idles out is closed without an answer, and the deadline
      // costs no timer operation per request. A TLS connection waits on the watchdog instead, which
      // cancels rather than closes, so close_notify can still go out.
      // A plain connection whose wait lasts parks (IdleSweep, park()): it is linked for that while
      // it waits, which costs no allocation or timer operation. A TLS one stays in its session:
      // OpenSSL may hold bytes it read ahead, which a wait for the socket's readability misses.
      const bool idle_wait = buffer_.size() == 0;
      error_code first_ec;
      if (idle_wait) {
        const bool may_park = idle_sweep_ != nullptr && !down_.is_tls();
        if (down_.is_tls())
          watchdog_.arm(timeouts_.idle);
        else
          down_.expires_after(timeouts_.idle);
        if (may_park) idle_sweep_->waiting(*this);
        auto [ec, n] = co_await down_.async_read_some(buffer_.prepare(kFirstReadBytes), as_tuple(use_awaitable));
        buffer_.commit(n);
        stop_waiting();
        if (park_requested_) {
          park_requested_ = false;
          // Nothing read, still open (a drain or reload may have closed it meanwhile; a timeout
          // gives beast::error::timeout): park under the same idle deadline.
          if (ec == asio::error::operation_aborted && buffer_.size() == 0 && down_.socket().is_open()) {
            park(std::move(owner));
            co_return;
          }
        }
        down_.expires_never();
        first_ec = watchdog_.fired() && ec == asio::error::operation_aborted ? error_code(beast::error::timeout) : ec;
        watchdog_.disarm();
      }
      // Made once the wait is over, so an idle connection holds no parser either.
      auto parser = std::make_unique<RequestParser>();
      parser->header_limit(static_cast<std::uint32_t>(limits.header_bytes));
      // Bodies are streamed, never held; the limit (0: none) is the operator's (413).
      if (max_body)
        parser->body_limit(max_body);
      else
        parser->body_limit(boost::none);
      codec::HeadStep step{true, {}};
      // HTTP/2 with prior knowledge (RFC 9113 §3.3): the preface in a cleartext connection's first bytes.
      if (first_request_ && http2_ && !down_.is_tls() && !first_ec &&
          h2::starts_with_preface({static_cast<const char*>(buffer_.data().data()), buffer_.size()})) {
        co_await h2::serve(down_, buffer_, client_, worker_, listener_index_, &h2_);
        linger_ = true;
        break;
      }
      first_request_ = false;
      if (idle_wait) step = codec::parse_first_read(first_ec, buffer_, *parser, limits);
      codec::HeadRead head = step.result;
      if (step.need_more) {
        // The rest of the head within request_header from its first byte (slowloris: 408). The
        // watchdog cancels the read rather than closing the socket, so the 408 can still be sent.
        watchdog_.arm(timeouts_.request_header);
        head = co_await codec::read_head(down_, buffer_, *parser, limits);
        if (watchdog_.fired() && head.ec == asio::error::operation_aborted) head.ec = beast::error::timeout;
        watchdog_.disarm();
      }
      if (!head.ok()) {
        co_await reject_unreadable_request(head);
        break;
      }
      down_.expires_never();
      in_exchange_ = true;
      const bool keep_alive = co_await exchange(*parser);
      in_exchange_ = false;
      if (!keep_alive || worker_.connections.idle_closed() || !listener_kept()) break;
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

  // Stops a lasting idle wait: the session coroutine has ended (its frame, co_spawn's and the
  // read buffer are freed), this object alone waits for readability under the idle deadline set
  // before the wait, and owns itself through the wait's handler. Readable: a new session
  // coroutine reads the request. The deadline passed, or a drain or reload closed the socket: the
  // connection ends as an idle one does in its session (a plain close, no answer).
  void park(std::unique_ptr<Connection> owner) {
    buffer_.shrink_to_fit();  // empty: nothing buffered is lost
    // The idle deadline's timer is armed already (by the read that parked, TimedSocket::watch):
    // when it fires it closes the socket, and this wait ends with an error.
    down_.socket().async_wait(tcp::socket::wait_read, [owner = std::move(owner)](const error_code& ec) mutable {
      Connection& c = *owner;
      if (ec || !c.down_.socket().is_open()) {
        error_code ignored;
        c.down_.socket().shutdown(tcp::socket::shutdown_send, ignored);
        c.down_.socket().close(ignored);
        return;  // `owner` goes with this handler
      }
      asio::co_spawn(c.down_.get_executor(), c.run(std::move(owner)), [](const std::exception_ptr&) {});
    });
  }

  // ---- exchange::Downstream ----------------------------------------------------------------

  const exchange::ClientInfo& client() const override { return client_; }

  // Callers pass named strings, never temporaries: GCC 12 destroys temporaries of a co_await
  // full-expression twice (found by ASan here), so every reason is built in a local first.
  asio::awaitable<bool> reply(const exchange::Reply& r) override {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), req_version_ < 11 ? 10u : 11u};
    if (r.kind == exchange::Answer::held) {
      // A write refused by a hold: the client may retry once the flip is done. Route names are
      // [A-Za-z0-9_.-] (the config loader) and the rest is ours: nothing to escape.
      res.set(bhttp::field::content_type, "application/json");
      res.set(bhttp::field::retry_after, "1");
      res.body() = fmt::format("{{\"error\":\"{}\",\"route\":\"{}\",\"reason\":\"{}\"}}\n", r.reason, r.route, r.code);
    } else if (r.kind == exchange::Answer::maintenance) {
      res.set(bhttp::field::content_type, r.content_type);
      res.set(bhttp::field::retry_after, std::to_string(r.retry_after_s));
      res.body() = r.body;
    } else {
      res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
      res.body() = fmt::format("cutover: {}\n", r.reason);
    }
    if (!r.request_id_field.empty()) res.set(r.request_id_field, r.request_id);
    const bool keep = co_await write_reply(res, r.keep_alive);
    co_return keep;
  }

  asio::awaitable<bool> send_continue() override {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    down_.expires_after(timeouts_.body_idle);
    auto [ec, n] = co_await asio::async_write(down_, asio::buffer(kContinue), as_tuple(use_awaitable));
    down_.expires_never();
    co_return !ec;
  }

  asio::awaitable<bool> send_interim(bhttp::response_header<>& head) override {
    if (req_version_ < 11) co_return true;  // an HTTP/1.0 client does not expect 1xx (RFC 9110 §15.2)
    bhttp::response<bhttp::empty_body> interim{head};
    codec::remove_hop_by_hop(interim);
    down_.expires_after(timeouts_.body_idle);
    auto [ec, n] = co_await bhttp::async_write(down_, interim, as_tuple(use_awaitable));
    down_.expires_never();
    co_return !ec;
  }

  // Not a coroutine itself: the head is rewritten and serialized now, and the exchange awaits the
  // writer's frame.
  asio::awaitable<codec::WriteOutcome> send_response(exchange::Response& r) override {
    auto& res = r.head;
    r.keep_alive = codec::prepare_downstream_response(res, r.framing.chunked, r.framing.has_content_length,
                                                      r.no_body, req_version_, r.keep_alive);
    head_buf_.clear();
    codec::append_head(res, head_buf_);
    return codec::write_message(down_, head_buf_,
                                codec::rechunks_response(r.no_body, r.framing.has_content_length, req_version_),
                                r.body, timeouts_.body_idle);
  }

  asio::awaitable<net::RelayBytes> tunnel(bhttp::response_header<>& head, net::Stream& upstream,
                                          beast::flat_buffer& buffered, const exchange::TunnelSpec& spec) override {
    // The 101 as the upstream sent it: its Upgrade and Connection fields are the switch itself.
    head_buf_.clear();
    codec::append_head(head, head_buf_);
    down_.expires_after(timeouts_.body_idle);
    auto [ec, n] = co_await asio::async_write(down_, asio::buffer(head_buf_), as_tuple(use_awaitable));
    down_.expires_never();
    if (ec) co_return net::RelayBytes{};
    const auto result = co_await exchange::run_tunnel(worker_, spec, down_, buffer_, upstream, buffered);
    co_return result.bytes;
  }

  std::uint64_t last_reply_bytes() const override { return last_reply_bytes_; }

  // Whether the client closed or reset its side (POLLRDHUP), without reading what it sent.
  bool closed() override {
    pollfd p{down_.socket().native_handle(), POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }

  void arm_deadline(milliseconds after) override { watchdog_.arm(after); }
  void disarm_deadline() override { watchdog_.disarm(); }
  bool deadline_passed() const override { return watchdog_.fired(); }
  void watch_upstream(net::Stream* upstream) override { watchdog_.watch_upstream(upstream); }

 private:
  // One request and its response, through the exchange. Returns whether the connection stays open.
  // A frame of its own, not run()'s: an idle connection holds only run()'s frame.
  asio::awaitable<bool> exchange(RequestParser& parser) {
    // The scratch buffer and head string are lent for the exchange.
    if (!scratch_) scratch_ = worker_.buffers.take_scratch();
    head_buf_ = worker_.buffers.take_head_buffer();
    const std::span<char> scratch{scratch_.get(), runtime::BufferLender::kScratchBytes};
    // The upstream side lives in this frame too: its connection and response parser are the
    // exchange's, and an idle connection holds neither.
    channel::ClusterChannel channel(worker_.pool, worker_.executor);
    channel.begin(scratch, head_buf_);
    auto& head = parser.get();
    req_version_ = head.version();
    req_head_ = head.method() == bhttp::verb::head;
    std::optional<codec::Http1BodyReader<true>> body;
    if (!parser.is_done()) body.emplace(down_, buffer_, parser, scratch, timeouts_.body_idle);
    std::optional<std::uint64_t> length;
    if (auto l = parser.content_length()) length = *l;
    exchange::Request req{head, body ? &*body : nullptr, parser.chunked(), length, head.keep_alive(), parser.upgrade()};
    exchange::Exchange ex(worker_, worker_.snapshots.current(), listener_index_, *this, channel);
    const bool keep_alive = co_await ex.run(req);
    worker_.buffers.give_back_scratch(std::move(scratch_));
    worker_.buffers.give_back_head_buffer(std::move(head_buf_));
    head_buf_ = std::string();
    co_return keep_alive;
  }

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

  // Whether ALPN picked HTTP/2 in the handshake.
  bool alpn_selected_h2() {
    const unsigned char* proto = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(down_.native_handle(), &proto, &len);
    return len == 2 && proto[0] == 'h' && proto[1] == '2';
  }

  // The TLS handshake, within timeouts.request_header (a client that connects and stalls is treated like
  // one that stalls in its request head). Failures are counted and logged at debug level only:
  // scanners and clients with old TLS versions make them routine.
  asio::awaitable<bool> handshake() {
    down_.start_tls(tls_->context());
    down_.expires_after(worker_.snapshots.current()->snapshot->config.timeouts.request_header);
    auto [ec] = co_await down_.async_handshake(asio::ssl::stream_base::server, as_tuple(use_awaitable));
    down_.expires_never();
    tls_.reset();  // the SNI callback is done with it; the SSL keeps its SSL_CTX itself
    if (!ec) co_return true;
    if (tls_errors_) tls_errors_->Increment();
    spdlog::debug("TLS handshake with {} failed: {}", client_.ip, codec::is_timeout(ec) ? std::string("timeout") : ec.message());
    error_code ignored;
    down_.socket().close(ignored);
    co_return false;
  }

  // A request head that could not be read: silent close when the client left or idled out
  // between requests; otherwise a status naming the problem, then close (anything pipelined
  // after it is dropped with the connection).
  asio::awaitable<void> reject_unreadable_request(const codec::HeadRead& head) {
    using Problem = codec::HeadRead::Problem;
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
    } else if (codec::peer_gone(head.ec)) {
      co_return;
    } else if (codec::is_timeout(head.ec)) {
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
    req_version_ = 11;
    req_head_ = false;
    // Accounted for like every request: an id in the answer and a line in the access log.
    auto pinned = worker_.snapshots.current();
    const auto& snap = *pinned->snapshot;
    const std::string id = observe::make_request_id(worker_.random(), worker_.random());
    exchange::Reply r{static_cast<unsigned>(status), exchange::Answer::text, reason, {}, {}, false};
    r.request_id_field = snap.config.request_id.header;
    r.request_id = id;
    const auto started = std::chrono::steady_clock::now();
    const auto wall_started = std::chrono::system_clock::now();
    co_await reply(r);
    if (listener_index_ < snap.listeners.size()) {
      const auto& listener = snap.listeners[listener_index_];
      if (listener.access_log.writer && exchange::access_logged(listener, worker_.random())) {
        observe::AccessRecord line;
        line.time = wall_started;
        line.request_id = id;
        line.client_ip = client_.ip;
        line.client_port = client_.port;
        line.listener = listener.name;
        line.protocol = "HTTP/1.1";
        line.status = static_cast<unsigned>(status);
        line.duration_ms = observe::ms_between(started, std::chrono::steady_clock::now());
        line.bytes_out = last_reply_bytes_;
        line.result = refusal_name(head, status);
        exchange::write_access_line(listener, line);
      }
    }
  }

  // The access log's result for a request refused before it could be read.
  static std::string_view refusal_name(const codec::HeadRead& head, bhttp::status status) {
    switch (status) {
      case bhttp::status::uri_too_long: return "request_line_too_long";
      case bhttp::status::request_header_fields_too_large: return "header_too_large";
      case bhttp::status::request_timeout: return "request_header_timeout";
      case bhttp::status::payload_too_large: return "request_too_large";
      default: return head.problem == codec::HeadRead::Problem::obs_fold ? "bad_request_obs_fold" : "bad_request";
    }
  }

  // cutover_downstream_rejected_total{listener,code}: requests refused before any route saw them.
  void count_rejected(bhttp::status status) {
    auto pinned = worker_.snapshots.current();
    const auto& listeners = pinned->snapshot->listeners;
    if (listener_index_ >= listeners.size()) return;
    if (auto* c = listeners[listener_index_].rejected_counter(static_cast<unsigned>(status))) c->Increment();
  }

  // Writes a response produced by the proxy itself. Returns keep_alive when the write succeeded.
  asio::awaitable<bool> write_reply(bhttp::response<bhttp::string_body>& res, bool keep_alive) {
    if (!keep_alive) linger_ = true;
    res.set(bhttp::field::server, "cutover");
    res.keep_alive(keep_alive);
    res.prepare_payload();
    // The answer to HEAD has the length of the body it does not carry (RFC 9110 §9.3.2); a body
    // sent anyway would be read as the next response on a kept connection.
    if (req_head_) res.body().clear();
    down_.expires_after(timeouts_.body_idle);
    auto [ec, n] = co_await bhttp::async_write(down_, res, as_tuple(use_awaitable));
    down_.expires_never();
    last_reply_bytes_ = ec ? 0 : res.body().size();
    co_return !ec && keep_alive;
  }

  runtime::ConnectionSlot slot_;  // the listener's max_connections, given back last
  runtime::IdleSweep* idle_sweep_;
  ActiveConnection active_;
  bool http2_;  // the listener serves HTTP/2 too (prior knowledge in cleartext; ALPN decides on TLS)
  runtime::Drainable* h2_ = nullptr;  // while the connection is HTTP/2: its drain
  net::Stream down_;
  exchange::WorkerContext& worker_;
  std::size_t listener_index_;
  Watchdog watchdog_;  // a fragmented head's wait (and a TLS connection's idle wait), timeouts.request
  std::shared_ptr<const net::ServerTls> tls_;  // until the handshake is over
  prometheus::Counter* tls_errors_ = nullptr;
  beast::flat_buffer buffer_;
  exchange::ClientInfo client_;
  std::unique_ptr<char[]> scratch_;
  bool in_exchange_ = false;
  bool linger_ = false;  // an answer ended the connection: linger() before the close
  bool started_ = false;  // run() has begun: the handshake and the ALPN choice are behind
  bool first_request_ = true;  // no request read yet (HTTP/2 prior knowledge is looked for in it)
  bool park_requested_ = false;  // park_now() cancelled the idle read
  unsigned req_version_ = 11;  // of the request being answered (10 or 11)
  bool req_head_ = false;      // the request being answered is a HEAD
  std::uint64_t last_reply_bytes_ = 0;
  config::TimeoutsConfig timeouts_;  // the current config's, taken before each request
  std::string head_buf_;  // serialized head of the message being written, lent by the worker per exchange
};

}  // namespace

void serve_http1(tcp::socket socket, tcp::endpoint peer, exchange::WorkerContext& worker, std::size_t listener_index,
                 runtime::ConnectionSlot slot, runtime::IdleSweep* idle_sweep) {
  prometheus::Gauge* gauge = nullptr;
  std::shared_ptr<const net::ServerTls> tls;  // the current snapshot's: a reload's certificates apply to new connections
  prometheus::Counter* tls_errors = nullptr;
  bool http2 = false;
  {
    auto pinned = worker.snapshots.current();
    if (listener_index < pinned->snapshot->listeners.size()) {
      const auto& l = pinned->snapshot->listeners[listener_index];
      gauge = l.active_connections;
      tls = l.tls;
      tls_errors = l.tls_errors;
      http2 = l.http2;
    }
  }
  // The connection's run() is its only frame besides co_spawn's. Exceptions end the connection
  // (its frame and object are destroyed) and are not rethrown into the worker.
  auto connection = std::make_unique<Connection>(std::move(socket), peer, worker, listener_index, std::move(tls),
                                                 tls_errors, gauge, http2, std::move(slot), idle_sweep);
  Connection& c = *connection;
  asio::co_spawn(worker.executor, c.run(std::move(connection)), [](const std::exception_ptr&) {});
}

}  // namespace cutover::http
