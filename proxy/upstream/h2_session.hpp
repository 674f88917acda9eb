// An HTTP/2 client connection to one upstream endpoint (RFC 9113, prior knowledge), multiplexed:
// many exchanges of a worker each hold one stream on it (an H2Call). nghttp2 is the frame layer;
// the session owns the I/O (a reader and a writer coroutine on the worker's io_context) and keeps
// itself alive until both ended. Used by the HTTP/2 upstream channel (proxy/channel/h2_channel).
//
// Bounds: the streams the peer allows (SETTINGS_MAX_CONCURRENT_STREAMS; usable() says no beyond
// it and the caller opens another session), request bytes queued per call (kCallBuffer: the call
// waits for room), response bytes buffered per call (the stream window we advertise: the caller
// gives it back with consume() as it relays them). After a GOAWAY the streams in flight finish and
// the session takes no new ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <nghttp2/nghttp2.h>

#include "proxy/net/signal.hpp"
#include "proxy/net/stream.hpp"

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

class H2Session : public std::enable_shared_from_this<H2Session> {
 public:
  // Request bytes queued per call before the caller waits.
  static constexpr std::size_t kCallBuffer = 64 * 1024;
  // The stream window advertised to the upstream: response bytes buffered per call at most.
  static constexpr std::uint32_t kStreamWindow = 256 * 1024;

  // Starts a session on `stream` (connected): the preface and SETTINGS go out first. Null when
  // nghttp2 could not set one up.
  static std::shared_ptr<H2Session> start(net::Stream stream);

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

 private:
  explicit H2Session(net::Stream stream);
  bool init();
  void want_write() { write_signal_.notify(); }
  H2Call* find(std::int32_t id);
  void end();  // the socket is done: every call is closed
  boost::asio::awaitable<void> reader(std::shared_ptr<H2Session> self);
  boost::asio::awaitable<void> writer(std::shared_ptr<H2Session> self);

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t flags, void* user);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t flags, std::int32_t stream_id, const std::uint8_t* data,
                                std::size_t len, void* user);
  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user);

  net::Stream stream_;
  nghttp2_session* session_ = nullptr;
  std::unordered_set<H2Call*> calls_;  // opened and not released: the streams counted against the peer's limit
  net::Signal write_signal_;
  std::string out_;
  bool gone_ = false;
  bool goaway_ = false;
};

}  // namespace cutover::upstream
