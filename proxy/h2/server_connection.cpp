// A downstream HTTP/2 connection and its streams: see server_connection.hpp.
#include "proxy/h2/server_connection.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <fmt/format.h>
#include <nghttp2/nghttp2.h>
#include <spdlog/spdlog.h>

#include "common/text.hpp"
#include "proxy/channel/cluster_channel.hpp"
#include "proxy/codec/headers.hpp"
#include "proxy/exchange/exchange.hpp"
#include "proxy/h2/fields.hpp"
#include "proxy/codec/grpc.hpp"
#include "proxy/net/signal.hpp"

namespace cutover::h2 {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using boost::system::error_code;
using std::chrono::milliseconds;
using net::Signal;

constexpr std::size_t kReadBytes = 16 * 1024;   // one read from the client
constexpr std::size_t kWriteBatch = 64 * 1024;  // frames gathered before a write

class Connection;

// timeouts.request of one stream: when it passes, the stream's wait in progress (a body read, a
// response write) ends and the watched upstream connection's pending operations are cancelled, as
// the HTTP/1 watchdog cancels what is pending then; the exchange then answers 504 or resets, and
// that answer is not cut itself. The
// state is shared with the timer's handler, which may run after the stream is gone. Nothing is
// allocated until the first arm(): with no timeouts.request (the default) a stream never needs one.
class StreamDeadline {
 public:
  StreamDeadline(const asio::any_io_executor& ex, Signal& wake) : ex_(ex), wake_(&wake) {}
  ~StreamDeadline() {
    if (!state_) return;
    state_->wake = nullptr;
    state_->up = nullptr;
    ++state_->generation;
  }
  StreamDeadline(const StreamDeadline&) = delete;
  StreamDeadline& operator=(const StreamDeadline&) = delete;

  void arm(milliseconds after) {
    if (!state_) {
      timer_ = std::make_unique<asio::steady_timer>(ex_);
      state_ = std::make_shared<State>();
      state_->wake = wake_;
      state_->up = up_;
    }
    const auto generation = ++state_->generation;
    state_->fired = false;
    timer_->expires_after(after);
    timer_->async_wait([state = state_, generation](const error_code& ec) {
      if (ec || state->generation != generation || !state->wake) return;
      state->fired = true;
      state->cut = state->waiting;
      state->wake->notify();
      error_code ignored;
      if (state->up) state->up->socket().cancel(ignored);
    });
  }
  void disarm() {
    if (!state_) return;
    ++state_->generation;
    state_->fired = false;
    timer_->cancel();
  }
  bool fired() const { return state_ && state_->fired; }
  // Around a wait of the stream's: whether the deadline cut it (once).
  void waiting(bool w) {
    if (state_) state_->waiting = w;
  }
  bool take_cut() {
    if (!state_ || !state_->cut) return false;
    state_->cut = false;
    return true;
  }
  void watch_upstream(net::Stream* up) {
    up_ = up;
    if (state_) state_->up = up;
  }
  net::Stream* upstream() const { return up_; }

 private:
  struct State {
    Signal* wake = nullptr;
    net::Stream* up = nullptr;
    std::uint64_t generation = 0;
    bool fired = false;
    bool waiting = false;  // the stream waits now
    bool cut = false;      // the deadline ended that wait
  };
  asio::any_io_executor ex_;
  Signal* wake_;
  net::Stream* up_ = nullptr;
  std::unique_ptr<asio::steady_timer> timer_;  // with state_, from the first arm()
  std::shared_ptr<State> state_;
};

// One stream: the request's head and body as nghttp2 delivers them, and the Downstream its
// exchange answers through.
class Stream final : public exchange::Downstream, public codec::BodySource {
 public:
  Stream(Connection& conn, std::int32_t id, std::size_t max_header_bytes);
  // Response bytes still queued leave the connection's count with it (a reset stream's too).
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // ---- filled by the connection's callbacks
  std::int32_t id() const { return id_; }
  RequestHeadBuilder& builder() { return builder_; }
  bhttp::request_header<>& head() { return head_; }
  void data_received(const std::uint8_t* data, std::size_t len) {
    body_in_.append(reinterpret_cast<const char*>(data), len);
    signal_.notify();
  }
  void end_stream_received() {
    end_stream_ = true;
    signal_.notify();
  }
  bool request_ended() const { return end_stream_; }
  // Its exchange is about to be spawned: from now on DATA is kept for it.
  void starting() { running_ = true; }
  // Drops the body bytes not handed out yet; returns how many (the caller gives them back to the
  // connection's window).
  std::size_t discard_unconsumed() {
    const std::size_t n = body_in_.size();
    body_in_.clear();
    return n;
  }
  // nghttp2 closed the stream (reset by either side, or done both ways).
  void closed_by_peer(std::uint32_t error_code) {
    closed_ = true;
    close_code_ = error_code;
    if (!response_done_) cancel_upstream();
    signal_.notify();
  }
  // The connection ended: every wait ends, the upstream's operations too.
  void connection_gone() {
    closed_ = true;
    cancel_upstream();
    signal_.notify();
  }
  bool is_closed() const { return closed_; }
  bool running() const { return running_; }
  bool response_done() const { return response_done_; }
  void wake() { signal_.notify(); }
  // Body bytes handed to nghttp2 but not yet given back to the client's window.
  std::size_t unconsumed() const { return body_in_.size(); }

  // The DATA frames' source (nghttp2_data_source_read_callback).
  ssize_t read_response(std::uint8_t* buf, std::size_t length, std::uint32_t* flags);

  // Runs the exchange of this stream (a coroutine of its own, spawned once the head is complete).
  asio::awaitable<void> run(std::optional<std::uint64_t> content_length);

  // ---- exchange::Downstream
  const exchange::ClientInfo& client() const override;
  asio::awaitable<bool> reply(const exchange::Reply& reply) override;
  // cutover's answer to a gRPC call: Trailers-Only, grpc-status and grpc-message (grpc.hpp).
  asio::awaitable<bool> reply_grpc(const exchange::Reply& reply);
  asio::awaitable<bool> send_continue() override;
  asio::awaitable<bool> send_interim(bhttp::response_header<>& head) override;
  asio::awaitable<codec::WriteOutcome> send_response(exchange::Response& response) override;
  asio::awaitable<net::RelayBytes> tunnel(bhttp::response_header<>&, net::Stream&, beast::flat_buffer&,
                                          const exchange::TunnelSpec&) override {
    co_return net::RelayBytes{};  // no upgrade on HTTP/2 (the request never asks for one)
  }
  std::uint64_t last_reply_bytes() const override { return last_reply_bytes_; }
  bool closed() override { return closed_; }
  void arm_deadline(milliseconds after) override { deadline_.arm(after); }
  void disarm_deadline() override { deadline_.disarm(); }
  bool deadline_passed() const override { return deadline_.fired(); }
  void watch_upstream(net::Stream* upstream) override { deadline_.watch_upstream(upstream); }

  // ---- codec::BodySource (the request body)
  asio::awaitable<codec::BodyPiece> next() override;
  std::optional<codec::BodyPiece> try_next() override;
  bool done() const override { return body_done_; }
  void set_tap(codec::BodyTap* tap) override { tap_ = tap; }
  std::uint64_t bytes() const override { return body_bytes_; }

 private:
  void cancel_upstream() {
    error_code ignored;
    if (auto* up = deadline_.upstream()) up->socket().cancel(ignored);
  }
  // Submits the head (`fields`) with a body from pending_ (unless `no_body`). False when the
  // stream can take no response (closed, reset, or the connection is gone).
  bool submit(const std::vector<nghttp2_nv>& fields, bool no_body);
  // Waits until the queued response bytes are below the stream's and the connection's bounds,
  // then until the last byte went out when `to_end`. Returns the failure, if any.
  asio::awaitable<error_code> wait_for_room(bool to_end);
  error_code failure() const;
  // Keeps `trailers` (names lowercased, connection-specific fields left out) for the end.
  void trailer_list(const bhttp::fields& trailers);
  enum class Woken { notified, timed_out, deadline };
  // Waits for the signal at most timeouts.body_idle; `deadline` when timeouts.request cut it.
  asio::awaitable<Woken> wait();
  // After a complete answer to a request whose body has not all arrived: waits up to kLinger for
  // its end, discarding it (at most a stream buffer's worth), so that the stream ends both ways.
  // RFC 9113 §8.1 lets a server reset it with NO_ERROR instead, but gRPC clients take that reset
  // for the call's failure even after its status arrived. Whatever is still open is reset after.
  asio::awaitable<void> linger();
  static constexpr milliseconds kLinger{1000};

  Connection& conn_;
  std::int32_t id_;
  bhttp::request_header<> head_;
  RequestHeadBuilder builder_;
  Signal signal_;
  StreamDeadline deadline_;
  bool running_ = false;
  bool closed_ = false;
  std::uint32_t close_code_ = 0;

  // The request body: bytes received (bounded by the stream's window) and the piece handed out.
  std::string body_in_;
  std::string body_out_;
  bool end_stream_ = false;
  bool body_done_ = false;
  std::uint64_t body_bytes_ = 0;
  codec::BodyTap* tap_ = nullptr;

  // The response body queued for DATA frames.
  std::string pending_;
  std::size_t pending_at_ = 0;
  bool pending_end_ = false;   // the last byte is queued
  bool response_done_ = false; // the last DATA frame (END_STREAM) was framed
  bool head_submitted_ = false;
  std::uint64_t last_reply_bytes_ = 0;
  std::string field_storage_;
  // The response's trailer section, sent after its last DATA frame (empty: none).
  std::vector<nghttp2_nv> trailer_fields_;
  std::string trailer_storage_;
};

class Connection final : public runtime::Drainable {
 public:
  Connection(net::Stream& io, beast::flat_buffer& received, const exchange::ClientInfo& client,
             exchange::WorkerContext& worker, std::size_t listener_index)
      : io_(io),
        received_(received),
        client_(client),
        worker_(worker),
        listener_index_(listener_index),
        write_signal_(io.get_executor()),
        tasks_done_(io.get_executor()),
        idle_timer_(io.get_executor()) {
    const auto& config = worker_.snapshots.current()->snapshot->config;
    limits_ = config.limits;
    timeouts_ = config.timeouts;
    reset_tokens_ = limits_.http2_max_resets_per_second;
    reset_refill_ = std::chrono::steady_clock::now();
  }
  ~Connection() {
    streams_.clear();  // before the members they count in
    if (session_) nghttp2_session_del(session_);
  }

  asio::awaitable<void> run();

  // A drain: GOAWAY (no new streams), the open ones finish, then the connection closes.
  void close_if_idle() override {
    if (!session_ || gone_) return;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                          NGHTTP2_NO_ERROR, nullptr, 0);
    write_signal_.notify();
  }

  // Streams read the new snapshot on their own; the limits and timeouts this connection took at
  // its start (its SETTINGS among them) do not change under it. When the reload changed them, or
  // removed the listener or its HTTP/2, the connection ends as in a drain and the client's next
  // one gets the new ones.
  void on_reload() override {
    const auto pinned = worker_.snapshots.current();
    const auto& snap = *pinned->snapshot;
    const bool listener_kept = snap.serves_listener(listener_index_) && snap.listeners[listener_index_].http2;
    if (listener_kept && snap.config.limits == limits_ && snap.config.timeouts == timeouts_) return;
    spdlog::debug("HTTP/2 client {}: the reload changed this connection's settings, GOAWAY", client_.ip);
    close_if_idle();
  }

  // ---- for streams
  nghttp2_session* session() { return session_; }
  bool gone() const { return gone_; }
  const exchange::ClientInfo& client() const { return client_; }
  exchange::WorkerContext& worker() { return worker_; }
  std::size_t listener_index() const { return listener_index_; }
  const config::LimitsConfig& limits() const { return limits_; }
  const config::TimeoutsConfig& timeouts() const { return timeouts_; }
  void want_write() { write_signal_.notify(); }
  // Response bytes queued by every stream (bounded by limits.http2_connection_buffer).
  std::size_t& response_queued() { return response_queued_; }
  // A stream's exchange ended: its nghttp2 stream is reset if it is still open and not finishing.
  void stream_finished(Stream& s);

 private:
  // nghttp2 callbacks (user_data: the Connection).
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t flags, void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id, const std::uint8_t* data,
                                std::size_t len, void* user);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user);
  static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user);

  bool start_session();
  Stream* find(std::int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }
  void erase(std::int32_t id);
  // The stream's head is complete: refuse it (431) or start its exchange.
  void start_stream(Stream& s);
  // RST_STREAM from the client: one token of the rapid-reset bucket.
  void count_reset();
  // Feeds bytes to nghttp2; false on a fatal error (the connection ends).
  bool receive(const std::uint8_t* data, std::size_t len);
  asio::awaitable<void> reader();
  asio::awaitable<void> writer();
  asio::awaitable<void> idle_watch();
  void spawn(asio::awaitable<void> task);
  void count_error(runtime::Listener::Http2Error e);
  void end_connection();

  net::Stream& io_;
  beast::flat_buffer& received_;
  const exchange::ClientInfo& client_;
  exchange::WorkerContext& worker_;
  std::size_t listener_index_;
  config::LimitsConfig limits_;
  config::TimeoutsConfig timeouts_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, std::unique_ptr<Stream>> streams_;
  std::string out_;
  std::size_t response_queued_ = 0;
  Signal write_signal_;
  Signal tasks_done_;
  int tasks_ = 0;  // coroutines of this connection still running (writer, idle watch, streams)
  asio::steady_timer idle_timer_;
  bool gone_ = false;  // the socket is done: no more reads or writes
  std::optional<runtime::Listener::Http2Error> error_;  // why cutover ended the connection
  bool counted_ = false;
  double reset_tokens_ = 0;
  std::chrono::steady_clock::time_point reset_refill_;
};

// ---- Stream

Stream::Stream(Connection& conn, std::int32_t id, std::size_t max_header_bytes)
    : conn_(conn),
      id_(id),
      builder_(head_, max_header_bytes),
      signal_(conn.worker().executor),
      deadline_(conn.worker().executor, signal_) {}

Stream::~Stream() { conn_.response_queued() -= pending_.size() - pending_at_; }

const exchange::ClientInfo& Stream::client() const { return conn_.client(); }

error_code Stream::failure() const { return asio::error::connection_reset; }

void Stream::trailer_list(const bhttp::fields& trailers) {
  std::size_t need = 0;
  for (const auto& f : trailers) need += f.name_string().size() + f.value().size();
  trailer_storage_.clear();
  trailer_storage_.reserve(need);
  trailer_fields_.clear();
  for (const auto& f : trailers) {
    const std::size_t at = trailer_storage_.size();
    for (char c : f.name_string()) trailer_storage_ += common::ascii_lower(c);
    trailer_storage_.append(f.value());
    const std::string_view all(trailer_storage_.data() + at, trailer_storage_.size() - at);
    add_field(trailer_fields_, all.substr(0, f.name_string().size()), all.substr(f.name_string().size()));
  }
}

asio::awaitable<Stream::Woken> Stream::wait() {
  deadline_.waiting(true);
  const bool notified = co_await signal_.wait_for(conn_.timeouts().body_idle);
  deadline_.waiting(false);
  if (deadline_.take_cut()) co_return Woken::deadline;
  co_return notified ? Woken::notified : Woken::timed_out;
}

ssize_t Stream::read_response(std::uint8_t* buf, std::size_t length, std::uint32_t* flags) {
  const std::size_t available = pending_.size() - pending_at_;
  const std::size_t n = std::min(available, length);
  if (n > 0) {
    std::memcpy(buf, pending_.data() + pending_at_, n);
    pending_at_ += n;
    conn_.response_queued() -= n;
    if (pending_at_ == pending_.size()) {
      pending_.clear();
      pending_at_ = 0;
    }
  }
  if (pending_end_ && n == available) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!trailer_fields_.empty()) {
      // The stream ends with the trailer section instead (gRPC's grpc-status), submitted from
      // here as nghttp2 allows.
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      nghttp2_submit_trailer(conn_.session(), id_, trailer_fields_.data(), trailer_fields_.size());
      trailer_fields_.clear();
    }
    response_done_ = true;
  } else if (n == 0) {
    return NGHTTP2_ERR_DEFERRED;
  }
  signal_.notify();
  return static_cast<ssize_t>(n);
}

bool Stream::submit(const std::vector<nghttp2_nv>& fields, bool no_body) {
  if (closed_ || conn_.gone()) return false;
  nghttp2_data_provider provider{};
  provider.read_callback = [](nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                              std::uint32_t* flags, nghttp2_data_source*, void*) -> ssize_t {
    auto* s = static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, stream_id));
    if (!s) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
    return s->read_response(buf, length, flags);
  };
  const int rv = nghttp2_submit_response(conn_.session(), id_, fields.data(), fields.size(), no_body ? nullptr : &provider);
  if (rv != 0) return false;
  head_submitted_ = true;
  if (no_body) response_done_ = true;
  conn_.want_write();
  return true;
}

asio::awaitable<error_code> Stream::wait_for_room(bool to_end) {
  const auto bound = static_cast<std::size_t>(conn_.limits().http2_stream_buffer);
  const auto conn_bound = static_cast<std::size_t>(conn_.limits().http2_connection_buffer);
  for (;;) {
    // Done first: nghttp2 may have closed the stream already, END_STREAM having gone both ways.
    const std::size_t queued = pending_.size() - pending_at_;
    const bool room = to_end ? response_done_ : queued < bound && conn_.response_queued() < conn_bound;
    if (room) co_return error_code{};
    if (closed_ || conn_.gone()) co_return failure();
    const Woken woken = co_await wait();
    if (woken == Woken::timed_out) co_return beast::error::timeout;
    if (woken == Woken::deadline) co_return asio::error::operation_aborted;
  }
}

asio::awaitable<bool> Stream::reply(const exchange::Reply& r) {
  if (codec::is_grpc_content_type(head_[bhttp::field::content_type])) co_return co_await reply_grpc(r);
  std::string body;
  std::string_view content_type;
  if (r.kind == exchange::Answer::held) {
    content_type = "application/json";
    body = fmt::format("{{\"error\":\"{}\",\"route\":\"{}\",\"reason\":\"{}\"}}\n", r.reason, r.route, r.code);
  } else if (r.kind == exchange::Answer::maintenance) {
    content_type = r.content_type;
    body = r.body;
  } else {
    content_type = "text/plain; charset=utf-8";
    body = fmt::format("cutover: {}\n", r.reason);
  }
  const std::string status = std::to_string(r.status);
  const std::size_t body_size = body.size();
  const std::string length = std::to_string(body_size);
  std::vector<nghttp2_nv> fields;
  add_field(fields, ":status", status);
  add_field(fields, "content-type", content_type);
  add_field(fields, "content-length", length);
  add_field(fields, "server", "cutover");
  if (r.kind == exchange::Answer::held) add_field(fields, "retry-after", "1");
  const std::string retry_after = std::to_string(r.retry_after_s);
  if (r.kind == exchange::Answer::maintenance) add_field(fields, "retry-after", retry_after);
  std::string id_name;
  if (!r.request_id_field.empty()) {
    id_name = common::to_lower(r.request_id_field);
    add_field(fields, id_name, r.request_id);
  }
  last_reply_bytes_ = 0;
  if (head_submitted_) co_return false;  // a response is under way already: nothing more can be said
  // The answer to HEAD has the length of the body it does not carry (RFC 9110 §9.3.2).
  const bool head_request = head_.method() == bhttp::verb::head;
  if (!head_request) {
    pending_ = std::move(body);
    pending_at_ = 0;
    pending_end_ = true;
    conn_.response_queued() += pending_.size();
  }
  if (!submit(fields, head_request)) co_return false;
  const error_code ec = co_await wait_for_room(/*to_end=*/true);
  if (!ec && !head_request) last_reply_bytes_ = body_size;
  co_return !ec;
}

asio::awaitable<bool> Stream::reply_grpc(const exchange::Reply& r) {
  last_reply_bytes_ = 0;
  if (head_submitted_) co_return false;
  std::string reason = r.kind == exchange::Answer::held ? fmt::format("{} (route {})", r.reason, r.route)
                                                          : std::string(r.reason);
  const std::string message = codec::grpc_percent_encode("cutover: " + reason);
  const std::string code = std::to_string(codec::grpc_status_for(r.status, r.code));
  const std::string http_status = std::to_string(r.status);
  std::vector<nghttp2_nv> fields;
  add_field(fields, ":status", "200");
  add_field(fields, "content-type", "application/grpc");
  add_field(fields, "grpc-status", code);
  add_field(fields, "grpc-message", message);
  add_field(fields, "x-cutover-status", http_status);  // what an HTTP client would have got
  std::string id_name;
  if (!r.request_id_field.empty()) {
    id_name = common::to_lower(r.request_id_field);
    add_field(fields, id_name, r.request_id);
  }
  if (!submit(fields, /*no_body=*/true)) co_return false;
  const error_code ec = co_await wait_for_room(/*to_end=*/true);
  co_return !ec;
}

asio::awaitable<bool> Stream::send_continue() {
  if (closed_ || conn_.gone()) co_return false;
  std::vector<nghttp2_nv> fields;
  add_field(fields, ":status", "100");
  if (nghttp2_submit_headers(conn_.session(), NGHTTP2_FLAG_NONE, id_, nullptr, fields.data(), fields.size(), nullptr) != 0)
    co_return false;
  conn_.want_write();
  co_return true;
}

asio::awaitable<bool> Stream::send_interim(bhttp::response_header<>& head) {
  if (closed_ || conn_.gone()) co_return false;
  if (head.result_int() == 101) co_return true;  // no protocol switch on HTTP/2 (RFC 9113 §8.6)
  codec::remove_hop_by_hop(head);
  std::vector<nghttp2_nv> fields;
  response_fields(head, field_storage_, fields);
  if (nghttp2_submit_headers(conn_.session(), NGHTTP2_FLAG_NONE, id_, nullptr, fields.data(), fields.size(), nullptr) != 0)
    co_return false;
  conn_.want_write();
  co_return true;
}

asio::awaitable<codec::WriteOutcome> Stream::send_response(exchange::Response& r) {
  codec::WriteOutcome out;
  auto& res = r.head;
  codec::remove_hop_by_hop(res);
  codec::append_via(res, res.version());
  r.keep_alive = true;  // the stream ends; the connection is the client's to close
  std::vector<nghttp2_nv> fields;
  response_fields(res, field_storage_, fields);
  const bool no_body = r.no_body || r.body == nullptr;
  if (!submit(fields, no_body)) {
    out.failed = codec::WriteOutcome::Failed::write;
    out.ec = failure();
    co_return out;
  }
  out.head_sent = true;
  if (no_body) {
    if (auto ec = co_await wait_for_room(/*to_end=*/true)) {
      out.failed = codec::WriteOutcome::Failed::write;
      out.ec = ec;
    }
    co_return out;
  }
  for (;;) {
    std::optional<codec::BodyPiece> ready = r.body->try_next();
    codec::BodyPiece piece = ready ? *ready : co_await r.body->next();
    if (piece.ec) {
      out.failed = codec::WriteOutcome::Failed::read;
      out.ec = piece.ec;
      co_return out;
    }
    pending_.append(piece.data.data(), piece.data.size());
    conn_.response_queued() += piece.data.size();
    out.body_bytes += piece.data.size();
    if (piece.last) {
      if (const auto* trailers = r.body->trailers()) trailer_list(*trailers);
      pending_end_ = true;
    }
    nghttp2_session_resume_data(conn_.session(), id_);
    conn_.want_write();
    if (auto ec = co_await wait_for_room(/*to_end=*/piece.last)) {
      out.failed = codec::WriteOutcome::Failed::write;
      out.ec = ec;
      co_return out;
    }
    if (piece.last) co_return out;
  }
}

std::optional<codec::BodyPiece> Stream::try_next() {
  if (body_done_) return codec::BodyPiece{{}, true, {}};
  if (!body_in_.empty()) {
    // The piece handed out, and the client's windows opened by as much.
    body_out_.swap(body_in_);
    body_in_.clear();
    if (!closed_ && !conn_.gone()) {
      nghttp2_session_consume(conn_.session(), id_, body_out_.size());
      conn_.want_write();
    }
    body_bytes_ += body_out_.size();
    const auto max = conn_.limits().max_request_body;
    if (max && body_bytes_ > max) {
      body_done_ = true;
      return codec::BodyPiece{{}, false, bhttp::error::body_limit};
    }
    if (tap_) tap_->append({body_out_.data(), body_out_.size()});
    const bool last = end_stream_;
    body_done_ = last;
    return codec::BodyPiece{{body_out_.data(), body_out_.size()}, last, {}};
  }
  if (end_stream_) {
    body_done_ = true;
    return codec::BodyPiece{{}, true, {}};
  }
  if (closed_ || conn_.gone()) {
    body_done_ = true;
    return codec::BodyPiece{{}, false, failure()};
  }
  return std::nullopt;
}

asio::awaitable<codec::BodyPiece> Stream::next() {
  for (;;) {
    if (auto piece = try_next()) co_return *piece;
    const Woken woken = co_await wait();
    if (woken == Woken::notified) continue;
    body_done_ = true;
    co_return codec::BodyPiece{{}, false, woken == Woken::timed_out ? error_code(beast::error::timeout)
                                                                     : error_code(asio::error::operation_aborted)};
  }
}

asio::awaitable<void> Stream::linger() {
  if (closed_ || conn_.gone() || !response_done_ || end_stream_) co_return;
  const auto until = std::chrono::steady_clock::now() + kLinger;
  std::size_t discarded = 0;
  for (;;) {
    if (const std::size_t n = discard_unconsumed()) {
      discarded += n;
      nghttp2_session_consume(conn_.session(), id_, n);
      conn_.want_write();
    }
    const auto now = std::chrono::steady_clock::now();
    if (closed_ || conn_.gone() || end_stream_ || discarded > conn_.limits().http2_stream_buffer || now >= until)
      co_return;
    co_await signal_.wait_for(std::chrono::duration_cast<milliseconds>(until - now) + milliseconds(1));
  }
}

asio::awaitable<void> Stream::run(std::optional<std::uint64_t> content_length) {
  auto& worker = conn_.worker();
  if (!closed_) {  // a stream reset before its exchange began (rapid reset) costs nothing more
    auto scratch = worker.buffers.take_scratch();
    std::string head_buffer = worker.buffers.take_head_buffer();
    channel::ClusterChannel upstream(worker.pool, worker.executor);
    upstream.begin({scratch.get(), runtime::BufferLender::kScratchBytes}, head_buffer);
    const bool has_body = !end_stream_ || !body_in_.empty();
    exchange::Request req{head_, has_body ? this : nullptr, has_body && !content_length, content_length,
                          /*keep_alive=*/true, /*upgrade=*/false};
    {
      exchange::Exchange ex(worker, worker.snapshots.current(), conn_.listener_index(), *this, upstream);
      co_await ex.run(req);
    }
    upstream.finish(false);
    worker.buffers.give_back_scratch(std::move(scratch));
    worker.buffers.give_back_head_buffer(std::move(head_buffer));
    co_await linger();
  }
  running_ = false;
  conn_.stream_finished(*this);  // may destroy this stream
}

// ---- Connection

int Connection::on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto& c = *static_cast<Connection*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto s = std::make_unique<Stream>(c, frame->hd.stream_id, static_cast<std::size_t>(c.limits_.max_header_bytes));
  nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s.get());
  c.streams_.emplace(frame->hd.stream_id, std::move(s));
  return 0;
}

int Connection::on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                          const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
  auto& c = *static_cast<Connection*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Stream* s = c.find(frame->hd.stream_id);
  if (!s) return 0;
  if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
    s->builder().add({reinterpret_cast<const char*>(name), namelen}, {reinterpret_cast<const char*>(value), valuelen});
  // Trailer fields of a request are not relayed to an HTTP/1.1 upstream (the body is re-framed).
  return 0;
}

int Connection::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto& c = *static_cast<Connection*>(user);
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS: {
      Stream* s = c.find(frame->hd.stream_id);
      if (!s) break;
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) s->end_stream_received();
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) c.start_stream(*s);
      break;
    }
    case NGHTTP2_DATA:
      if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
        if (Stream* s = c.find(frame->hd.stream_id)) s->end_stream_received();
      break;
    case NGHTTP2_RST_STREAM:
      c.count_reset();
      break;
    default:
      break;
  }
  return 0;
}

int Connection::on_data_chunk_recv(nghttp2_session* session, std::uint8_t, std::int32_t stream_id,
                                   const std::uint8_t* data, std::size_t len, void* user) {
  auto& c = *static_cast<Connection*>(user);
  Stream* s = c.find(stream_id);
  if (!s || !s->running()) {
    // Nobody will read it (the exchange is over, or the stream was refused): the window is
    // given back at once.
    nghttp2_session_consume(session, stream_id, len);
    return 0;
  }
  s->data_received(data, len);
  return 0;
}

int Connection::on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user) {
  auto& c = *static_cast<Connection*>(user);
  Stream* s = c.find(stream_id);
  if (!s) return 0;
  // Bytes it held that no one will take: the connection's window gets them back.
  if (const std::size_t n = s->discard_unconsumed()) nghttp2_session_consume_connection(c.session_, n);
  if (s->running())
    s->closed_by_peer(error_code);
  else
    c.erase(stream_id);
  return 0;
}

int Connection::on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto& c = *static_cast<Connection*>(user);
  if (frame->hd.type == NGHTTP2_RST_STREAM && frame->rst_stream.error_code == NGHTTP2_REFUSED_STREAM) {
    // nghttp2 refuses the streams over SETTINGS_MAX_CONCURRENT_STREAMS itself; counted here.
    auto pinned = c.worker_.snapshots.current();
    const auto& listeners = pinned->snapshot->listeners;
    if (c.listener_index_ < listeners.size())
      if (auto* counter = listeners[c.listener_index_].http2_streams_refused) counter->Increment();
  }
  if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR) {
    using E = runtime::Listener::Http2Error;
    c.count_error(c.error_.value_or(frame->goaway.error_code == NGHTTP2_ENHANCE_YOUR_CALM ? E::flood : E::protocol_error));
  }
  return 0;
}

void Connection::erase(std::int32_t id) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  if (session_) nghttp2_session_set_stream_user_data(session_, id, nullptr);
  streams_.erase(it);
  if (streams_.empty() && !gone_) {
    // Idle from now: timeouts.idle runs again.
    idle_timer_.expires_after(timeouts_.idle);
  }
}

void Connection::start_stream(Stream& s) {
  auto pinned = worker_.snapshots.current();
  const auto& listeners = pinned->snapshot->listeners;
  const runtime::Listener* listener = listener_index_ < listeners.size() ? &listeners[listener_index_] : nullptr;
  if (listener && listener->http2_streams) listener->http2_streams->Increment();
  idle_timer_.expires_at(std::chrono::steady_clock::time_point::max());
  const auto content_length = s.builder().finish();
  if (s.builder().too_large()) {
    // Answered without an exchange, as an HTTP/1 head over the limit is (no route saw it).
    if (listener)
      if (auto* counter = listener->rejected_counter(431)) counter->Increment();
    std::vector<nghttp2_nv> fields;
    add_field(fields, ":status", "431");
    add_field(fields, "server", "cutover");
    nghttp2_submit_response(session_, s.id(), fields.data(), fields.size(), nullptr);
    want_write();
    return;
  }
  ++tasks_;
  s.starting();
  asio::co_spawn(worker_.executor, s.run(content_length), asio::detached);
}

void Connection::stream_finished(Stream& s) {
  const std::int32_t id = s.id();
  if (s.is_closed() || gone_) {
    erase(id);
  } else if (!(s.request_ended() && s.response_done())) {
    // The exchange ended with the stream open: a response cut short (INTERNAL_ERROR), or a complete
    // answer to a request whose body was not all read (NO_ERROR, RFC 9113 §8.1).
    if (const std::size_t n = s.discard_unconsumed()) nghttp2_session_consume(session_, id, n);
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, s.response_done() ? NGHTTP2_NO_ERROR : NGHTTP2_INTERNAL_ERROR);
    want_write();
  }
  // Otherwise END_STREAM went both ways: nghttp2 closes the stream once its frames are out.
  --tasks_;
  tasks_done_.notify();
}

void Connection::count_reset() {
  const auto now = std::chrono::steady_clock::now();
  const double rate = limits_.http2_max_resets_per_second;
  reset_tokens_ = std::min(rate, reset_tokens_ + rate * std::chrono::duration<double>(now - reset_refill_).count());
  reset_refill_ = now;
  if (reset_tokens_ >= 1) {
    reset_tokens_ -= 1;
    return;
  }
  if (error_) return;
  error_ = runtime::Listener::Http2Error::rapid_reset;
  spdlog::debug("HTTP/2 client {}: over {} RST_STREAM per second, GOAWAY", client_.ip, limits_.http2_max_resets_per_second);
  nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
}

void Connection::count_error(runtime::Listener::Http2Error e) {
  if (counted_) return;  // one reason per connection
  counted_ = true;
  auto pinned = worker_.snapshots.current();
  const auto& listeners = pinned->snapshot->listeners;
  if (listener_index_ < listeners.size()) listeners[listener_index_].count_http2_error(e);
}

bool Connection::start_session() {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return false;
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &Connection::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &Connection::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &Connection::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &Connection::on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &Connection::on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, &Connection::on_frame_send);
  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return false;
  }
  // The windows open as the upstream takes the bytes, not as they arrive: the client can never
  // have more buffered here than the windows we advertise.
  nghttp2_option_set_no_auto_window_update(option, 1);
  // Our own reset limit (count_reset) answers first; nghttp2's stays as a backstop.
  const std::uint64_t resets = limits_.http2_max_resets_per_second;
  nghttp2_option_set_stream_reset_rate_limit(option, resets * 4, resets * 4);
  nghttp2_option_set_max_settings(option, 32);
  const int rv = nghttp2_session_server_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) return false;
  const std::array<nghttp2_settings_entry, 4> settings{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.http2_max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.http2_stream_buffer},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(limits_.max_header_bytes)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  }};
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size()) != 0) return false;
  return nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                               static_cast<std::int32_t>(limits_.http2_connection_buffer)) == 0;
}

bool Connection::receive(const std::uint8_t* data, std::size_t len) {
  const ssize_t rv = nghttp2_session_mem_recv(session_, data, len);
  if (rv >= 0) return true;
  using E = runtime::Listener::Http2Error;
  if (!error_) error_ = rv == NGHTTP2_ERR_FLOODED ? E::flood : E::protocol_error;
  count_error(*error_);
  spdlog::debug("HTTP/2 client {}: {}", client_.ip, nghttp2_strerror(static_cast<int>(rv)));
  return false;
}

void Connection::spawn(asio::awaitable<void> task) {
  ++tasks_;
  asio::co_spawn(worker_.executor, std::move(task), [this](const std::exception_ptr&) {
    --tasks_;
    tasks_done_.notify();
  });
}

void Connection::end_connection() {
  if (gone_) return;
  gone_ = true;
  error_code ignored;
  io_.socket().cancel(ignored);
  idle_timer_.cancel();
  write_signal_.notify();
  for (auto& [id, s] : streams_) s->connection_gone();
}

asio::awaitable<void> Connection::reader() {
  std::array<std::uint8_t, kReadBytes> buf;
  for (;;) {
    if (gone_ || (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_))) break;
    auto [ec, n] = co_await io_.async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
    if (ec || gone_ || !receive(buf.data(), n)) {
      end_connection();  // the client left, or broke the protocol beyond an answer
      break;
    }
    write_signal_.notify();
  }
}

asio::awaitable<void> Connection::writer() {
  for (;;) {
    if (gone_) break;
    while (out_.size() < kWriteBatch) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        if (!error_)
          error_ = n == NGHTTP2_ERR_FLOODED ? runtime::Listener::Http2Error::flood
                                            : runtime::Listener::Http2Error::protocol_error;
        count_error(*error_);
        end_connection();
        co_return;
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    // Streams that waited for the connection's response bound to come down.
    if (response_queued_ < limits_.http2_connection_buffer)
      for (auto& [id, s] : streams_) s->wake();
    if (out_.empty()) {
      if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) break;
      co_await write_signal_.wait();
      continue;
    }
    // A client that reads nothing for body_idle loses the connection.
    io_.expires_after(timeouts_.body_idle);
    auto [ec, n] = co_await asio::async_write(io_, asio::buffer(out_), as_tuple(use_awaitable));
    io_.expires_never();
    out_.clear();
    if (ec) break;
  }
  end_connection();
}

asio::awaitable<void> Connection::idle_watch() {
  idle_timer_.expires_after(timeouts_.idle);
  for (;;) {
    auto [ec] = co_await idle_timer_.async_wait(as_tuple(use_awaitable));
    if (gone_) co_return;
    if (ec) continue;  // re-armed
    if (idle_timer_.expiry() > std::chrono::steady_clock::now()) continue;
    // No stream for timeouts.idle: GOAWAY, and the writer ends the connection once it is out.
    nghttp2_session_terminate_session(session_, NGHTTP2_NO_ERROR);
    write_signal_.notify();
    co_return;
  }
}

asio::awaitable<void> Connection::run() {
  if (!start_session()) co_return;
  bool ok = true;
  if (received_.size() > 0) {
    ok = receive(static_cast<const std::uint8_t*>(received_.data().data()), received_.size());
    received_.consume(received_.size());
  }
  if (!ok) end_connection();  // a bad preface: closed without a word
  spawn(writer());
  if (ok) {
    spawn(idle_watch());
    co_await reader();
  }
  // The reader is done (the socket failed, or nghttp2 wants nothing more: the writer is ending
  // too); every stream ends, and the connection waits for the coroutines.
  write_signal_.notify();
  while (tasks_ > 0) {
    if (!co_await tasks_done_.wait_for(timeouts_.body_idle)) end_connection();
  }
  gone_ = true;
}

}  // namespace

asio::awaitable<void> serve(net::Stream& stream, beast::flat_buffer& received, const exchange::ClientInfo& client,
                            exchange::WorkerContext& worker, std::size_t listener_index, runtime::Drainable** drain_hook) {
  auto connection = std::make_unique<Connection>(stream, received, client, worker, listener_index);
  *drain_hook = connection.get();
  co_await connection->run();
  *drain_hook = nullptr;
}

}  // namespace cutover::h2
