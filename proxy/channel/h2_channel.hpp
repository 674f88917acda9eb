// The upstream side of an exchange over HTTP/2 (RFC 9113: prior knowledge in cleartext, ALPN h2
// over the cluster's tls, where a connect without h2 selected fails like any other): one stream on a
// session of the worker's pool to the endpoint (more sessions when the peer's stream limit is
// reached), the request head sent as a header list and its body as DATA, the response head, body
// and trailers read from the stream. For clusters with `protocol: http2` (gRPC services).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "proxy/codec/body.hpp"
#include "proxy/exchange/upstream_channel.hpp"
#include "proxy/upstream/h2_session.hpp"
#include "proxy/upstream/pool.hpp"

namespace cutover::channel {

class H2Channel final : public exchange::UpstreamChannel, private codec::BodySource {
 public:
  explicit H2Channel(upstream::ConnectionPool& pool, const boost::asio::any_io_executor& ex)
      : pool_(pool), ex_(ex), unused_stream_(ex) {}
  H2Channel(const H2Channel&) = delete;
  H2Channel& operator=(const H2Channel&) = delete;
  ~H2Channel() { finish(false); }

  exchange::ConnectResult take(const runtime::Cluster& cluster, bool fresh, bool resendable) override;
  boost::asio::awaitable<exchange::ConnectResult> connect(const runtime::Endpoint& endpoint) override;
  boost::asio::awaitable<codec::WriteOutcome> send(const boost::beast::http::request_header<>& head, bool chunked,
                                                   codec::BodySource* body,
                                                   codec::HeadSentListener* on_head_sent) override;
  boost::asio::awaitable<exchange::HeadResult> read_head(bool head_request, exchange::InterimSink& interim) override;
  boost::beast::http::response_header<>& response() override { return call_->head; }
  exchange::ResponseFraming framing() const override;
  codec::BodySource* response_body() override;
  // A stream of the session is no connection of its own: the exchange's deadline must not cancel
  // the session's socket (every stream on it would go), and no tunnel runs over HTTP/2. The
  // deadline reaches the stream through set_deadline() instead.
  net::Stream& stream() override { return unused_stream_; }
  boost::beast::flat_buffer& buffered() override { return unused_buffer_; }
  void finish(bool clean) override;
  void set_deadline(std::optional<std::chrono::steady_clock::time_point> at) override { deadline_ = at; }

 private:
  // Waits for the call's signal within response_timeout and the exchange's deadline; false when
  // either ran out.
  boost::asio::awaitable<bool> wait();

  // ---- codec::BodySource: the response body from the stream
  boost::asio::awaitable<codec::BodyPiece> next() override;
  std::optional<codec::BodyPiece> try_next() override;
  bool done() const override { return body_done_; }
  void set_tap(codec::BodyTap* tap) override { tap_ = tap; }
  std::uint64_t bytes() const override { return body_bytes_; }
  const boost::beast::http::fields* trailers() const override {
    return call_ && call_->has_trailers ? &call_->trailers : nullptr;
  }

  upstream::ConnectionPool& pool_;
  boost::asio::any_io_executor ex_;
  const runtime::Cluster* cluster_ = nullptr;
  std::shared_ptr<upstream::H2Session> session_;
  std::unique_ptr<upstream::H2Call> call_;
  std::string handed_;  // the body piece handed out
  bool body_done_ = false;
  std::uint64_t body_bytes_ = 0;
  codec::BodyTap* tap_ = nullptr;
  net::Stream unused_stream_;
  boost::beast::flat_buffer unused_buffer_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
};

}  // namespace cutover::channel
