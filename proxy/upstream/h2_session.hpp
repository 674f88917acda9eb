// An HTTP/2 client connection to one upstream endpoint (RFC 9113: prior knowledge in cleartext,
// or over TLS after ALPN selected h2; the session is the same either way), multiplexed:
// many exchanges of a worker each hold one stream on it (an H2Call). nghttp2 is the frame layer;
// the session owns the I/O (a reader and a writer coroutine on the worker's io_context) and keeps
// itself alive until both ended. Used by the HTTP/2 upstream channel (proxy/channel/h2_channel).
//
// Bounds: the streams the peer allows (SETTINGS_MAX_CONCURRENT_STREAMS; usable() says no beyond
// it and the caller opens another session), request bytes queued per call (kCallBuffer: the call
// waits for room), response bytes buffered per call (the stream window we advertise: the caller
// gives it back with consume() as it relays them). After a GOAWAY the streams in flight finish and
// the session takes no new ones. A session without streams for `ping_interval` sends a PING
// (§6.7) and ends when its ACK does not come within `ping_timeout`: the pool then drops it, so a
// connection that died without a FIN (a NAT or firewall forgot it) is not handed the next request.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <nghttp2/nghttp2.h>

#include "proxy/net/signal.hpp"
#include "proxy/net/stream.hpp"
#include "proxy/net/tls_context.hpp"

namespace cutover::upstream {

// One request and its response on a session; owned by the caller, which keeps it until the call
// ended or was cancelled.
struct H2Call {
  explicit H2Call(const boost::asio::any_io_executor& ex) : signal(ex) {}
  H2Call(const H2Call&) = delete;
  H2Call& operator=(const H2Call&) = delete;

  net::Signal signal;  // notified on every change below
  std::int32_t id = -1;

  // The request body queued for DATA frames (the caller appends, the session takes).
  std::string out;
  std::size_t out_at = 0;
  bool out_end = false;   // the last byte is queued
  bool out_done = false;  // the last DATA frame was framed

  // The response as it arrives.
  boost::beast::http::response_header<> head;
  bool head_done = false;  // a final (non-1xx) head arrived
  std::string in;          // body bytes not yet taken
  bool in_end = false;     // END_STREAM arrived
  boost::beast::http::fields trailers;
  bool has_trailers = false;
  bool closed = false;        // the stream is gone (ended both ways, reset, or the session ended)
  std::uint32_t error = 0;    // its RST_STREAM or GOAWAY error code
};

struct H2SessionOptions {
  std::chrono::milliseconds ping_interval{0};  // idle (no streams) this long: a PING; 0: never
  std::chrono::milliseconds ping_timeout{5000};  // no ACK within this: the session ends
  // A TLS stream's session slot (TlsSessionSlot): the SSL may store a ticket into it while the
  // session lives, so the session keeps it. Null in cleartext.
  std::shared_ptr<net::TlsSessionSlot> tls_session;
};

class H2Session : public std::enable_shared_from_this<H2Session> {
 public:
  // Request bytes queued per call before the caller waits.
  static constexpr std::size_t kCallBuffer = 64 * 1024;
  // The stream window advertised to the upstream: response bytes buffered per call at most.
  static constexpr std::uint32_t kStreamWindow = 256 * 1024;

  // Starts a session on `stream` (connected; TLS handshaken with h2 selected when it is TLS): the
  // preface and SETTINGS go out first. Null when nghttp2 could not set one up.
  static std::shared_ptr<H2Session> start(net::Stream stream, H2SessionOptions options = {});

  ~H2Session();
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // Whether a new stream may be opened: the connection is up, no GOAWAY came, and fewer streams
  // are open than the peer allows.
  bool usable() const;
  // Whether the connection is over (its calls closed); the pool drops it.
  bool ended() const { return gone_; }
  // Opens a stream for `call` with the request's fields (pseudo-header fields first); its body
  // comes from call.out when `has_body`. Returns false when the session cannot take it.
  bool open(H2Call& call, const std::vector<nghttp2_nv>& fields, bool has_body);
  // More of call.out is queued (or its end).
  void resume(H2Call& call);
  // `n` response body bytes of `call` were taken: its window opens by as much.
  void consume(H2Call& call, std::size_t n);
  // The caller is done with `call`: reset its stream if it is still open (CANCEL), forget it.
  void release(H2Call& call);
  // Takes no new stream from now on: a GOAWAY (NO_ERROR) goes out, the streams in flight finish,
  // then the connection closes (the pool's answer to a bumped pool epoch: a rollback's
  // close_target_connections).
  void retire();

 private:
  H2Session(net::Stream stream, H2SessionOptions options);
  bool init();
  void want_write() { write_signal_.notify(); }
  H2Call* find(std::int32_t id);
  void end();  // the socket is done: every call is closed
  boost::asio::awaitable<void> reader(std::shared_ptr<H2Session> self);
  boost::asio::awaitable<void> writer(std::shared_ptr<H2Session> self);
  // PINGs the session while it has no streams (only when options_.ping_interval is set).
  boost::asio::awaitable<void> keepalive(std::shared_ptr<H2Session> self);

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t flags, void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id, const std::uint8_t* data,
                                std::size_t len, void* user);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user);

  H2SessionOptions options_;  // before stream_: its TLS session slot outlives the SSL
  net::Stream stream_;
  nghttp2_session* session_ = nullptr;
  std::unordered_set<H2Call*> calls_;  // opened and not released: the streams counted against the peer's limit
  net::Signal write_signal_;
  net::Signal ping_signal_;  // a PING ACK came, or the session ended
  boost::asio::steady_timer ping_timer_;  // until the next PING is due; cancelled when the session ends
  std::chrono::steady_clock::time_point idle_since_;  // when the last stream was released (or the start)
  std::string out_;
  bool gone_ = false;
  bool goaway_ = false;   // the peer's GOAWAY came
  bool retired_ = false;  // ours went out (retire())
  bool ping_acked_ = false;
};

}  // namespace cutover::upstream
