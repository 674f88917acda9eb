// The upstream channel an exchange gets: HTTP/1.1 or HTTP/2 by the cluster's `protocol`, decided
// at take() (the first call of every attempt), when the exchange knows its cluster.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "proxy/channel/h2_channel.hpp"
#include "proxy/channel/http1_channel.hpp"
#include "proxy/exchange/upstream_channel.hpp"

namespace cutover::channel {

class ClusterChannel final : public exchange::UpstreamChannel {
 public:
  ClusterChannel(upstream::ConnectionPool& pool, const boost::asio::any_io_executor& ex)
      : pool_(pool), ex_(ex), h1_(pool) {}
  ClusterChannel(const ClusterChannel&) = delete;
  ClusterChannel& operator=(const ClusterChannel&) = delete;
  ~ClusterChannel() = default;

  // Http1Channel::begin(): the scratch buffer and head string lent for the exchange.
  void begin(std::span<char> scratch, std::string& head_buffer) { h1_.begin(scratch, head_buffer); }

  exchange::ConnectResult take(const runtime::Cluster& cluster, bool fresh, bool resendable) override {
    if (cluster.http2) {
      // Made on first use: an HTTP/1 exchange (the common case) pays nothing for it.
      if (!h2_) h2_.emplace(pool_, ex_);
      h2_->set_deadline(deadline_);
      active_ = &*h2_;
    } else {
      active_ = &h1_;
    }
    return active_->take(cluster, fresh, resendable);
  }
  boost::asio::awaitable<exchange::ConnectResult> connect(const runtime::Endpoint& endpoint) override {
    return active_->connect(endpoint);
  }
  boost::asio::awaitable<codec::WriteOutcome> send(const boost::beast::http::request_header<>& head, bool chunked,
                                                   codec::BodySource* body,
                                                   codec::HeadSentListener* on_head_sent) override {
    return active_->send(head, chunked, body, on_head_sent);
  }
  boost::asio::awaitable<exchange::HeadResult> read_head(bool head_request, exchange::InterimSink& interim) override {
    return active_->read_head(head_request, interim);
  }
  boost::beast::http::response_header<>& response() override { return active_->response(); }
  exchange::ResponseFraming framing() const override { return active_->framing(); }
  codec::BodySource* response_body() override { return active_->response_body(); }
  net::Stream& stream() override { return active_->stream(); }
  boost::beast::flat_buffer& buffered() override { return active_->buffered(); }
  void finish(bool clean) override { active_->finish(clean); }
  // The HTTP/1.1 channel's deadline is the downstream's cancelling stream(); only HTTP/2 needs it.
  void set_deadline(std::optional<std::chrono::steady_clock::time_point> at) override { deadline_ = at; }

 private:
  upstream::ConnectionPool& pool_;
  boost::asio::any_io_executor ex_;
  Http1Channel h1_;
  std::optional<H2Channel> h2_;
  exchange::UpstreamChannel* active_ = &h1_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
};

}  // namespace cutover::channel
