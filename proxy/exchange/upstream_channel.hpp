// What an exchange needs of the upstream side for one request: a connection to one endpoint of a
// cluster, the request sent on it, the response head read from it, then the response body (or,
// after a 101, the raw connection for a tunnel). The exchange decides what a failure means
// (outcome.hpp) and whether to try again (retry.hpp); a channel only reports what happened. The
// HTTP/1 channel over the worker's pool is proxy/channel/http1_channel.hpp; tests drive the exchange
// with a scripted one.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>

#include "proxy/codec/body.hpp"
#include "proxy/codec/message_writer.hpp"
#include "proxy/exchange/outcome.hpp"
#include "proxy/net/stream.hpp"
#include "proxy/runtime/snapshot.hpp"

namespace cutover::exchange {

// Receives the interim (1xx) responses that come before the final one, except 100 Continue
// (cutover answers Expect: 100-continue itself). Returns false when the client is gone.
class InterimSink {
 public:
  virtual boost::asio::awaitable<bool> send_interim(boost::beast::http::response_header<>& head) = 0;

 protected:
  ~InterimSink() = default;
};

struct ConnectResult {
  bool ok = false;
  const runtime::Endpoint* endpoint = nullptr;  // the endpoint tried (always set)
  bool reused = false;                          // a pooled connection
  // Of a failure, for logs and the 502 body: "connect timeout", "Connection refused",
  // "TLS handshake failed: certificate verify failed: ...".
  std::string reason;
  bool tls_failed = false;  // the TCP connect worked, the TLS handshake did not
};

// The response head's outcome: Outcome::response, or response_timeout, upstream_closed (closed or
// reset before any response byte) or invalid_response (with `problem`).
struct HeadResult {
  Outcome outcome = Outcome::response;
  boost::system::error_code ec;  // the read's error, when there was one
  std::string problem;           // what was invalid, for logs and the 502 body
};

// How the response's body is framed on the upstream connection.
struct ResponseFraming {
  bool chunked = false;
  bool has_content_length = false;
  bool keep_alive = false;  // the upstream keeps the connection open after it
};

class UpstreamChannel {
 public:
  // A connection to the cluster's next available endpoint, in two steps so that the common case
  // (a pooled connection) awaits nothing: take() picks the endpoint and takes an idle connection to
  // it unless `fresh` (ok, or not ok with only `endpoint` set); connect() then opens a new one to
  // that endpoint within connect_timeout. `resendable`: the request may be sent again if a pooled
  // connection turns out closed, so the pool need not look at it first (pool.hpp, ReuseCheck).
  virtual ConnectResult take(const runtime::Cluster& cluster, bool fresh, bool resendable) = 0;
  virtual boost::asio::awaitable<ConnectResult> connect(const runtime::Endpoint& endpoint) = 0;
  // Sends `head` and the body from `body` (null: none), re-chunked when `chunked` (the head says
  // so: codec::prepare_upstream_request); writes wait at most the cluster's response_timeout.
  // `on_head_sent` is told when the head went out.
  virtual boost::asio::awaitable<codec::WriteOutcome> send(const boost::beast::http::request_header<>& head,
                                                           bool chunked, codec::BodySource* body,
                                                           codec::HeadSentListener* on_head_sent) = 0;
  // Reads the response head within response_timeout; interim responses go to `interim`.
  // `head_request`: the response has no body whatever its head says.
  virtual boost::asio::awaitable<HeadResult> read_head(bool head_request, InterimSink& interim) = 0;

  // After read_head() gave a response:
  virtual boost::beast::http::response_header<>& response() = 0;
  virtual ResponseFraming framing() const = 0;
  // The response body (null when it has none), each read within response_timeout.
  virtual codec::BodySource* response_body() = 0;
  // The connection itself, for a tunnel after a 101, and the bytes read past the head.
  virtual net::Stream& stream() = 0;
  virtual boost::beast::flat_buffer& buffered() = 0;

  // The exchange's deadline (timeouts.request, grpc-timeout), for a channel whose waits the
  // downstream's deadline cannot end by cancelling stream(): a stream of a shared HTTP/2 session.
  // Its waits end at `at` as at a response_timeout (none: response_timeout alone). Every exchange
  // sets it before take(): the channel may outlive one (a keep-alive connection's).
  virtual void set_deadline(std::optional<std::chrono::steady_clock::time_point> at) { (void)at; }

  // Ends the attempt: the connection goes back to the pool when `clean` (the exchange completed)
  // and the response allows reuse, else it is closed. Safe to call with no connection.
  virtual void finish(bool clean) = 0;

 protected:
  ~UpstreamChannel() = default;
};

}  // namespace cutover::exchange
