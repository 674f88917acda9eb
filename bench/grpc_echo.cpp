// gRPC unary echo backend for the bench "grpc" stage (bench/run.sh): HTTP/2 in cleartext with prior
// knowledge (h2c), served through nghttp2's server session, so cutover, HAProxy and nginx relay the
// same calls to a backend that costs little per call.
//
//   grpc_echo serve      listens on 127.0.0.1 (port printed on stdout) and runs until killed
//
// Every POST is a unary call: its body, once the request stream has ended, is answered with
// `:status 200`, `content-type: application/grpc`, the body sent back as one DATA message, and the
// trailers `grpc-status: 0` (gRPC over HTTP/2, "Responses"). A body that is not exactly one
// length-prefixed message (1-byte flag 0, 4-byte big-endian length, the message; gRPC over HTTP/2,
// "Length-Prefixed-Message") is answered with `grpc-status: 13` (INTERNAL) and counted as bad.
//
//   GET /calls           text/plain "ok N bad M reset R\n": N calls whose answer went out whole
//                        with grpc-status 0 (the stream closed without a reset), M bad ones (not
//                        one message, or over 1 MiB), R whole requests whose stream the peer reset
//                        before the answer was through (a proxy cancelling the calls of a client
//                        that went away: h2load's connections at the end of a run)
//
// bench/run.sh reads /calls before and after each measured run: every call the load tool counts as
// succeeded must have been answered here with grpc-status 0.
//
// One thread, one io_context; per connection one coroutine reading into nghttp2_session_mem_recv and
// writing what nghttp2_session_mem_send produces. Bounds: a request body of at most 1 MiB (the
// stream is reset past it), 1024 concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS),
// flow-control windows of 1 MiB per stream, and every write waits at most 10 s.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <nghttp2/nghttp2.h>

#include "load_common.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;

namespace {

constexpr std::size_t kMaxBody = 1 << 20;
constexpr std::uint32_t kMaxStreams = 1024;
constexpr std::int32_t kWindow = 1 << 20;
constexpr auto kWriteTimeout = std::chrono::seconds(10);
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Calls over the process's life, read by GET /calls.
std::uint64_t g_ok = 0;
std::uint64_t g_bad = 0;
std::uint64_t g_reset = 0;

struct Stream {
  std::string method;
  std::string path;
  std::string body;       // the request body, then the response body (the same bytes, or /calls' text)
  std::size_t sent = 0;   // response body bytes handed to nghttp2
  bool grpc = false;      // a POST: answered as a unary call, with trailers
  bool ok = false;        // its answer carries grpc-status 0
  bool too_large = false;
};

// A whole length-prefixed message and nothing else: flag 0 (uncompressed), length = what follows.
bool one_message(std::string_view b) {
  if (b.size() < 5 || b[0] != 0) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(b.data()) + 1;
  const std::uint32_t len = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
  return len == b.size() - 5;
}

nghttp2_nv nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
}

// Hands the stream's response body to nghttp2 as far as `length` allows; at its end, a gRPC call
// gets its trailers (the stream then ends with them, not with the last DATA frame).
ssize_t read_body(nghttp2_session* session, std::int32_t id, std::uint8_t* buf, std::size_t length,
                  std::uint32_t* flags, nghttp2_data_source* source, void*) {
  auto& s = *static_cast<Stream*>(source->ptr);
  const std::size_t n = std::min(length, s.body.size() - s.sent);
  std::memcpy(buf, s.body.data() + s.sent, n);
  s.sent += n;
  if (s.sent == s.body.size()) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s.grpc) {
      const nghttp2_nv trailers[] = {nv("grpc-status", s.ok ? "0" : "13")};
      if (nghttp2_submit_trailer(session, id, trailers, 1) == 0) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    }
  }
  return static_cast<ssize_t>(n);
}

class Connection {
 public:
  explicit Connection(tcp::socket s) : stream_(std::move(s)) {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_session_server_new(&session_, cb, this);
    nghttp2_session_callbacks_del(cb);
    const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxStreams},
                                               {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kWindow}};
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 2);
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, 16 * kWindow);
  }
  ~Connection() { nghttp2_session_del(session_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Reads and answers until the peer closes, the session fails, or a write stalls for 10 s.
  asio::awaitable<void> run() {
    std::uint8_t buf[16384];
    if (!co_await flush()) co_return;
    for (;;) {
      if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) co_return;
      stream_.expires_never();  // a proxy's pooled connection may idle between rounds
      auto [ec, n] = co_await stream_.async_read_some(asio::buffer(buf), kTuple);
      if (ec) co_return;
      if (nghttp2_session_mem_recv(session_, buf, n) < 0) co_return;
      if (!co_await flush()) co_return;
    }
  }

 private:
  // Everything nghttp2 has to send, in one write.
  asio::awaitable<bool> flush() {
    out_.clear();
    for (;;) {
      const std::uint8_t* data = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) co_return false;
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (out_.empty()) co_return true;
    stream_.expires_after(kWriteTimeout);
    auto [ec, w] = co_await asio::async_write(stream_, asio::buffer(out_), kTuple);
    co_return !ec;
  }

  static Connection& self(void* user) { return *static_cast<Connection*>(user); }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* f, void* user) {
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
      self(user).streams_.emplace(f->hd.stream_id, std::make_unique<Stream>());
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    auto* s = self(user).find(f->hd.stream_id);
    if (s == nullptr) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":method") s->method = v;
    else if (n == ":path") s->path = v;
    return 0;
  }

  static int on_data(nghttp2_session* session, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len,
                     void* user) {
    auto* s = self(user).find(id);
    if (s == nullptr || s->too_large) return 0;
    if (s->body.size() + len > kMaxBody) {
      s->too_large = true;
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    s->body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  // The request has ended (END_STREAM on its HEADERS or last DATA): answer it.
  static int on_frame(nghttp2_session* session, const nghttp2_frame* f, void* user) {
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
      return 0;
    auto* s = self(user).find(f->hd.stream_id);
    if (s == nullptr || s->too_large) return 0;
    nghttp2_data_provider body{};
    body.source.ptr = s;
    body.read_callback = read_body;
    if (s->method == "POST") {
      s->grpc = true;
      s->ok = one_message(s->body);
      const nghttp2_nv head[] = {nv(":status", "200"), nv("content-type", "application/grpc")};
      return nghttp2_submit_response(session, f->hd.stream_id, head, 2, &body) == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    const bool calls = s->method == "GET" && s->path == "/calls";
    s->body = calls ? "ok " + std::to_string(g_ok) + " bad " + std::to_string(g_bad) + " reset " + std::to_string(g_reset) + "\n" : "POST a gRPC call\n";
    const nghttp2_nv head[] = {nv(":status", calls ? "200" : "404"), nv("content-type", "text/plain")};
    return nghttp2_submit_response(session, f->hd.stream_id, head, 2, &body) == 0 ? 0 : NGHTTP2_ERR_CALLBACK_FAILURE;
  }

  static int on_close(nghttp2_session*, std::int32_t id, std::uint32_t error_code, void* user) {
    auto& c = self(user);
    const auto it = c.streams_.find(id);
    if (it == c.streams_.end()) return 0;
    const Stream& s = *it->second;
    if (s.too_large || (s.grpc && !s.ok)) ++g_bad;
    else if (s.grpc && error_code == NGHTTP2_NO_ERROR && s.sent == s.body.size()) ++g_ok;
    else if (s.grpc) ++g_reset;
    c.streams_.erase(it);
    return 0;
  }

  Stream* find(std::int32_t id) {
    const auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }

  beast::tcp_stream stream_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::unique_ptr<Stream>> streams_;
  std::string out_;
};

asio::awaitable<void> serve_connection(tcp::socket s) {
  Connection c(std::move(s));
  co_await c.run();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::string_view(argv[1]) != "serve") {
    std::fprintf(stderr, "usage: grpc_echo serve\n");
    return 2;
  }
  return bench::serve_forever(serve_connection);
}
