// An HTTP/2 client connection to one upstream endpoint: see h2_session.hpp.
#include "proxy/upstream/h2_session.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

namespace cutover::upstream {

namespace {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using boost::system::error_code;

constexpr std::size_t kReadBytes = 16 * 1024;
constexpr std::size_t kWriteBatch = 64 * 1024;
constexpr std::uint32_t kConnectionWindow = 4 * 1024 * 1024;
constexpr auto kWriteTimeout = std::chrono::seconds(30);  // an upstream that reads nothing for this long

H2Call* call_of(nghttp2_session* session, std::int32_t id) {
  return static_cast<H2Call*>(nghttp2_session_get_stream_user_data(session, id));
}

}  // namespace

H2Session::H2Session(net::Stream stream, H2SessionOptions options)
    : options_(std::move(options)),
      stream_(std::move(stream)),
      write_signal_(stream_.get_executor()),
      ping_signal_(stream_.get_executor()),
      ping_timer_(stream_.get_executor()),
      idle_since_(std::chrono::steady_clock::now()) {}

H2Session::~H2Session() {
  if (session_) nghttp2_session_del(session_);
}

std::shared_ptr<H2Session> H2Session::start(net::Stream stream, H2SessionOptions options) {
  std::shared_ptr<H2Session> s(new H2Session(std::move(stream), std::move(options)));
  if (!s->init()) return nullptr;
  auto ex = s->stream_.get_executor();
  asio::co_spawn(ex, s->writer(s), asio::detached);
  asio::co_spawn(ex, s->reader(s), asio::detached);
  if (s->options_.ping_interval.count() > 0) asio::co_spawn(ex, s->keepalive(s), asio::detached);
  return s;
}

bool H2Session::init() {
  nghttp2_session_callbacks* callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0) return false;
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &H2Session::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &H2Session::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &H2Session::on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &H2Session::on_stream_close);
  nghttp2_option* option = nullptr;
  if (nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return false;
  }
  // Windows open as the client side takes the bytes (consume()), so a slow client bounds what
  // is buffered here for it.
  nghttp2_option_set_no_auto_window_update(option, 1);
  const int rv = nghttp2_session_client_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) return false;
  const std::array<nghttp2_settings_entry, 2> settings{{
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
  }};
  if (nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size()) != 0) return false;
  return nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow) == 0;
}

bool H2Session::usable() const {
  if (gone_ || goaway_ || retired_ || !session_) return false;
  if (!nghttp2_session_check_request_allowed(session_)) return false;
  return calls_.size() < nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

bool H2Session::open(H2Call& call, const std::vector<nghttp2_nv>& fields, bool has_body) {
  if (!usable()) return false;
  nghttp2_data_provider provider{};
  provider.read_callback = [](nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                              std::uint32_t* flags, nghttp2_data_source*, void*) -> ssize_t {
    H2Call* c = call_of(session, stream_id);
    if (!c) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const std::size_t available = c->out.size() - c->out_at;
    const std::size_t n = std::min(available, length);
    if (n > 0) {
      std::memcpy(buf, c->out.data() + c->out_at, n);
      c->out_at += n;
      if (c->out_at == c->out.size()) {
        c->out.clear();
        c->out_at = 0;
      }
    }
    if (c->out_end && n == available) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      c->out_done = true;
    } else if (n == 0) {
      return NGHTTP2_ERR_DEFERRED;
    }
    c->signal.notify();
    return static_cast<ssize_t>(n);
  };
  const std::int32_t id =
      nghttp2_submit_request(session_, nullptr, fields.data(), fields.size(), has_body ? &provider : nullptr, &call);
  if (id < 0) return false;
  call.id = id;
  if (!has_body) call.out_done = true;
  calls_.insert(&call);
  want_write();
  return true;
}

void H2Session::resume(H2Call& call) {
  if (gone_ || call.closed) return;
  nghttp2_session_resume_data(session_, call.id);
  want_write();
}

void H2Session::consume(H2Call& call, std::size_t n) {
  if (gone_ || n == 0) return;
  nghttp2_session_consume(session_, call.id, n);  // the connection's window even when the stream is gone
  want_write();
}

void H2Session::release(H2Call& call) {
  if (call.id < 0) return;
  calls_.erase(&call);
  if (calls_.empty()) idle_since_ = std::chrono::steady_clock::now();
  if (!gone_) {
    nghttp2_session_set_stream_user_data(session_, call.id, nullptr);
    if (!call.closed) {
      if (!call.in.empty()) nghttp2_session_consume(session_, call.id, call.in.size());
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, call.id, NGHTTP2_CANCEL);
      want_write();
    }
  }
  call.id = -1;
}

int H2Session::on_header(nghttp2_session* session, const nghttp2_frame* frame, const std::uint8_t* name,
                         std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void*) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  H2Call* c = call_of(session, frame->hd.stream_id);
  if (!c) return 0;
  const std::string_view n(reinterpret_cast<const char*>(name), namelen);
  const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (c->head_done) {  // after the final head: trailer fields
    c->trailers.insert(n, v);
    c->has_trailers = true;
    return 0;
  }
  if (n == ":status") {
    unsigned status = 0;
    for (char ch : v) status = status * 10 + static_cast<unsigned>(ch - '0');  // nghttp2 checked: 3 digits
    c->head = {};
    c->head.version(20);
    c->head.result(status);
  } else if (!n.empty() && n.front() != ':') {
    c->head.insert(n, v);
  }
  return 0;
}

int H2Session::on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto& self = *static_cast<H2Session*>(user);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    self.goaway_ = true;  // the streams in flight finish; new requests go to another session
    return 0;
  }
  if (frame->hd.type == NGHTTP2_PING) {
    if (frame->hd.flags & NGHTTP2_FLAG_ACK) {  // nghttp2 answers the peer's own PINGs itself
      self.ping_acked_ = true;
      self.ping_signal_.notify();
    }
    return 0;
  }
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  H2Call* c = call_of(session, frame->hd.stream_id);
  if (!c) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && !c->head_done && c->head.result_int() >= 200) c->head_done = true;
  if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) c->in_end = true;
  c->signal.notify();
  return 0;
}

int H2Session::on_data_chunk_recv(nghttp2_session* session, std::uint8_t, std::int32_t stream_id,
                                  const std::uint8_t* data, std::size_t len, void*) {
  H2Call* c = call_of(session, stream_id);
  if (!c) {
    nghttp2_session_consume(session, stream_id, len);  // released: nobody takes these
    return 0;
  }
  c->in.append(reinterpret_cast<const char*>(data), len);
  c->signal.notify();
  return 0;
}

int H2Session::on_stream_close(nghttp2_session* session, std::int32_t stream_id, std::uint32_t error_code,
                               void*) {
  H2Call* c = call_of(session, stream_id);
  if (!c) return 0;
  c->closed = true;
  c->error = error_code;
  c->signal.notify();
  return 0;
}

void H2Session::retire() {
  if (gone_ || retired_) return;
  retired_ = true;
  // A client processed no stream of the server's: the last stream id is 0 (RFC 9113 §6.8).
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
  want_write();
}

void H2Session::end() {
  if (gone_) return;
  gone_ = true;
  // Closed now rather than when the last holder lets go: the pool drops an ended session only
  // when it next looks at the endpoint, and the peer should see the end at once.
  error_code ignored;
  stream_.socket().close(ignored);
  write_signal_.notify();
  ping_signal_.notify();
  ping_timer_.cancel();
  // Every call still held learns it now.
  for (H2Call* c : calls_) {
    if (!c->closed && !c->error) c->error = NGHTTP2_INTERNAL_ERROR;
    c->closed = true;
    c->signal.notify();
  }
}

asio::awaitable<void> H2Session::reader(std::shared_ptr<H2Session> self) {
  std::array<std::uint8_t, kReadBytes> buf;
  for (;;) {
    if (gone_ || (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_))) break;
    auto [ec, n] = co_await stream_.async_read_some(asio::buffer(buf), as_tuple(use_awaitable));
    if (ec || gone_ || nghttp2_session_mem_recv(session_, buf.data(), n) < 0) break;
    want_write();
  }
  end();
}

asio::awaitable<void> H2Session::keepalive(std::shared_ptr<H2Session> self) {
  for (;;) {
    if (gone_) co_return;
    const auto now = std::chrono::steady_clock::now();
    if (!calls_.empty() || now < idle_since_ + options_.ping_interval) {
      // Streams in flight show the connection works; look again an interval after the last one.
      ping_timer_.expires_at(calls_.empty() ? idle_since_ + options_.ping_interval : now + options_.ping_interval);
      co_await ping_timer_.async_wait(as_tuple(use_awaitable));
      continue;
    }
    ping_acked_ = false;
    if (nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr) != 0) {
      end();
      co_return;
    }
    want_write();
    const bool signalled = co_await ping_signal_.wait_for(options_.ping_timeout);
    if (gone_) co_return;
    if (!signalled || !ping_acked_) {
      error_code ec;
      const auto peer = stream_.socket().remote_endpoint(ec);
      spdlog::info("upstream HTTP/2 session to {}:{}: no PING ACK within {} ms; closing it", peer.address().to_string(),
                   peer.port(), options_.ping_timeout.count());
      end();
      co_return;
    }
    idle_since_ = std::chrono::steady_clock::now();  // the next PING an interval after this one
  }
}

asio::awaitable<void> H2Session::writer(std::shared_ptr<H2Session> self) {
  for (;;) {
    if (gone_) break;
    while (out_.size() < kWriteBatch) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        end();
        co_return;
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (out_.empty()) {
      if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) break;
      co_await write_signal_.wait();
      continue;
    }
    stream_.expires_after(kWriteTimeout);
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(out_), as_tuple(use_awaitable));
    stream_.expires_never();
    out_.clear();
    if (ec) break;
  }
  end();
}

}  // namespace cutover::upstream
