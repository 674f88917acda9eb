// The HTTP/1.1 upstream channel: see http1_channel.hpp.
#include "proxy/channel/http1_channel.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>

#include "proxy/codec/framing.hpp"
#include "proxy/codec/head_reader.hpp"
#include "proxy/codec/head_writer.hpp"

namespace cutover::channel {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using exchange::Outcome;

const codec::HeadLimits kResponseHeadLimits{kResponseHeaderLimit, kResponseHeaderLimit};

}  // namespace

exchange::ConnectResult Http1Channel::take(const runtime::Cluster& cluster, bool fresh, bool resendable) {
  cluster_ = &cluster;
  // A request that may be sent again skips the pool's look at the idle connection (a syscall).
  auto lease =
      pool_.take(cluster, fresh, nullptr, resendable ? upstream::ReuseCheck::retry_instead : upstream::ReuseCheck::peek);
  return adopt(std::move(lease));
}

exchange::ConnectResult Http1Channel::adopt(upstream::Lease lease) {
  exchange::ConnectResult out;
  out.endpoint = lease.endpoint;
  if (!lease.connection) {
    out.reason = std::move(lease.reason);
    out.tls_failed = lease.tls_failed;
    return out;
  }
  up_ = std::move(lease.connection);
  out.ok = true;
  out.reused = up_->reused;
  return out;
}

asio::awaitable<exchange::ConnectResult> Http1Channel::connect(const runtime::Endpoint& endpoint) {
  co_return adopt(co_await pool_.connect(*cluster_, endpoint));
}

asio::awaitable<codec::WriteOutcome> Http1Channel::send(const bhttp::request_header<>& head, bool chunked,
                                                        codec::BodySource* body, codec::HeadSentListener* on_head_sent) {
  // Not a coroutine itself: the head is serialized now, and the caller awaits the writer's frame.
  head_buffer_->clear();
  codec::append_head(head, *head_buffer_);
  return codec::write_message(up_->stream, *head_buffer_, chunked, body, cluster_->response_timeout, on_head_sent);
}

asio::awaitable<exchange::HeadResult> Http1Channel::read_head(bool head_request, exchange::InterimSink& interim) {
  exchange::HeadResult out;
  for (int interims = 0;; ++interims) {
    if (interims > kMaxInterimResponses) {  // each 1xx restarts response_timeout: bound them
      up_->stream.expires_never();
      out.outcome = Outcome::invalid_response;
      out.problem = "more than " + std::to_string(kMaxInterimResponses) + " interim (1xx) responses";
      co_return out;
    }
    auto& parser = parser_.emplace();
    parser.header_limit(kResponseHeaderLimit);
    parser.body_limit(boost::none);
    if (head_request) parser.skip(true);
    up_->stream.expires_after(cluster_->response_timeout);
    // The first read here and its parse without a read_head frame (parse_first_read).
    codec::HeadStep first{true, {}};
    if (up_->buffer.size() == 0) {
      const auto want = beast::read_size(up_->buffer, kResponseHeaderLimit);
      auto [ec, n] = co_await up_->stream.async_read_some(up_->buffer.prepare(want), asio::as_tuple(asio::use_awaitable));
      up_->buffer.commit(n);
      first = codec::parse_first_read(ec, up_->buffer, parser, kResponseHeadLimits);
    }
    codec::HeadRead got = first.result;
    if (first.need_more) got = co_await codec::read_head(up_->stream, up_->buffer, parser, kResponseHeadLimits);
    if (!got.ok()) {
      up_->stream.expires_never();
      const error_code ec = got.problem == codec::HeadRead::Problem::error      ? got.ec
                            : got.problem == codec::HeadRead::Problem::obs_fold ? error_code(bhttp::error::bad_field)
                                                                                : error_code(bhttp::error::header_limit);
      out.ec = ec;
      if (ec == beast::error::timeout)
        out.outcome = Outcome::response_timeout;
      else if (up_->buffer.size() == 0 && (ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset))
        out.outcome = Outcome::upstream_closed;
      else
        out.outcome = Outcome::invalid_response;
      co_return out;
    }
    if (auto problem = codec::check_response_framing(parser.get())) {
      up_->stream.expires_never();
      out.outcome = Outcome::invalid_response;
      out.problem = std::move(*problem);
      co_return out;
    }
    const unsigned status = parser.get().result_int();
    if (status < 100 || status >= 200 || status == 101) break;
    if (status != 100 && !co_await interim.send_interim(parser.get())) {
      up_->stream.expires_never();
      out.outcome = Outcome::client_gone;
      co_return out;
    }
  }
  up_->stream.expires_never();
  const auto& p = *parser_;
  framing_ = {p.chunked(), p.content_length().has_value(), p.get().keep_alive() && p.get().result_int() != 101};
  co_return out;
}

codec::BodySource* Http1Channel::response_body() {
  if (parser_->is_done()) return nullptr;
  return &body_.emplace(up_->stream, up_->buffer, *parser_, scratch_, cluster_->response_timeout);
}

void Http1Channel::finish(bool clean) {
  body_.reset();
  if (up_) {
    const bool reusable = clean && parser_ && framing_.keep_alive &&
                          (framing_.chunked || framing_.has_content_length) && parser_->is_done();
    if (reusable)
      pool_.release(std::move(up_));
    else
      up_.reset();  // closes it
  }
  parser_.reset();
  framing_ = {};
}

}  // namespace cutover::channel
