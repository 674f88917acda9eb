// The upstream side of an exchange over HTTP/1.1 (RFC 9112): a connection from the worker's pool,
// the request head serialized and its body streamed (re-chunked when it came chunked), the
// response head read past interim responses and checked for unsafe framing, then the body read
// through the exchange's scratch buffer.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "proxy/codec/body.hpp"
#include "proxy/exchange/upstream_channel.hpp"
#include "proxy/upstream/pool.hpp"

namespace cutover::channel {

// Bounds of an upstream response head.
inline constexpr std::size_t kResponseHeaderLimit = 64 * 1024;  // bytes
inline constexpr int kMaxInterimResponses = 16;                 // 1xx before the final response

class Http1Channel final : public exchange::UpstreamChannel {
 public:
  explicit Http1Channel(upstream::ConnectionPool& pool) : pool_(pool) {}
  Http1Channel(const Http1Channel&) = delete;
  Http1Channel& operator=(const Http1Channel&) = delete;
  ~Http1Channel() { finish(false); }

  // Before each exchange: the scratch buffer response bodies are read through and the string heads
  // are serialized into, both lent for the exchange.
  void begin(std::span<char> scratch, std::string& head_buffer) {
    scratch_ = scratch;
    head_buffer_ = &head_buffer;
  }

  exchange::ConnectResult take(const runtime::Cluster& cluster, bool fresh, bool resendable) override;
  boost::asio::awaitable<exchange::ConnectResult> connect(const runtime::Endpoint& endpoint) override;
  boost::asio::awaitable<codec::WriteOutcome> send(const boost::beast::http::request_header<>& head, bool chunked,
                                                   codec::BodySource* body,
                                                   codec::HeadSentListener* on_head_sent) override;
  boost::asio::awaitable<exchange::HeadResult> read_head(bool head_request, exchange::InterimSink& interim) override;
  boost::beast::http::response_header<>& response() override { return parser_->get(); }
  exchange::ResponseFraming framing() const override { return framing_; }
  codec::BodySource* response_body() override;
  net::Stream& stream() override { return up_->stream; }
  boost::beast::flat_buffer& buffered() override { return up_->buffer; }
  void finish(bool clean) override;

 private:
  using ResponseParser = boost::beast::http::response_parser<boost::beast::http::buffer_body>;
  exchange::ConnectResult adopt(upstream::Lease lease);

  upstream::ConnectionPool& pool_;
  std::span<char> scratch_;
  std::string* head_buffer_ = nullptr;
  const runtime::Cluster* cluster_ = nullptr;
  std::unique_ptr<upstream::Connection> up_;
  std::optional<ResponseParser> parser_;
  std::optional<codec::Http1BodyReader<false>> body_;
  exchange::ResponseFraming framing_;
};

}  // namespace cutover::channel
