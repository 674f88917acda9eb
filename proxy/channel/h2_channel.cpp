// The upstream side of an exchange over HTTP/2: see h2_channel.hpp.
#include "proxy/channel/h2_channel.hpp"

#include <algorithm>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>

#include "common/text.hpp"

namespace cutover::channel {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;

nghttp2_nv nv(std::string_view name, std::string_view value) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
                    NGHTTP2_NV_FLAG_NONE};
}

// Fields HTTP/2 forbids (RFC 9113 §8.2.2), or that its pseudo-header fields carry.
bool connection_specific(bhttp::field f) {
  switch (f) {
    case bhttp::field::connection:
    case bhttp::field::keep_alive:
    case bhttp::field::proxy_connection:
    case bhttp::field::transfer_encoding:
    case bhttp::field::upgrade:
    case bhttp::field::host:
    case bhttp::field::te:
      return true;
    default:
      return false;
  }
}

}  // namespace

exchange::ConnectResult H2Channel::take(const runtime::Cluster& cluster, bool fresh, bool) {
  cluster_ = &cluster;
  exchange::ConnectResult out;
  const runtime::Endpoint& endpoint = pool_.next_endpoint(cluster);
  out.endpoint = &endpoint;
  if (!fresh) session_ = pool_.h2_session(cluster, endpoint);
  if (session_) {
    out.ok = true;
    out.reused = true;
  }
  return out;
}

asio::awaitable<exchange::ConnectResult> H2Channel::connect(const runtime::Endpoint& endpoint) {
  exchange::ConnectResult out;
  out.endpoint = &endpoint;
  auto lease = co_await pool_.connect(*cluster_, endpoint);
  if (!lease.connection) {
    out.reason = std::move(lease.reason);
    out.tls_failed = lease.tls_failed;
    co_return out;
  }
  session_ = pool_.start_h2_session(*cluster_, endpoint, std::move(lease.connection));
  if (!session_) {
    out.reason = "HTTP/2 session setup failed";
    co_return out;
  }
  out.ok = true;
  co_return out;
}

asio::awaitable<codec::WriteOutcome> H2Channel::send(const bhttp::request_header<>& head, bool,
                                                     codec::BodySource* body, codec::HeadSentListener* on_head_sent) {
  codec::WriteOutcome out;
  call_ = std::make_unique<upstream::H2Call>(ex_);
  body_done_ = false;
  body_bytes_ = 0;
  // The header list: pseudo-header fields first (§8.3.1), names lowercased into one string sized
  // first, so no view into it moves.
  std::size_t need = 0;
  for (const auto& f : head) need += f.name_string().size();
  std::string names;
  names.reserve(need);
  std::vector<nghttp2_nv> fields;
  fields.reserve(8 + static_cast<std::size_t>(std::distance(head.begin(), head.end())));
  const auto host = head[bhttp::field::host];
  fields.push_back(nv(":method", head.method_string()));
  fields.push_back(nv(":scheme", cluster_->tls ? "https" : "http"));
  fields.push_back(nv(":authority", host));
  fields.push_back(nv(":path", head.target()));
  bool grpc = false;
  for (const auto& f : head) {
    if (connection_specific(f.name())) continue;
    if (f.name() == bhttp::field::content_type && f.value().starts_with("application/grpc")) grpc = true;
    const std::size_t at = names.size();
    for (char c : f.name_string()) names += common::ascii_lower(c);
    fields.push_back(nv(std::string_view(names.data() + at, f.name_string().size()), f.value()));
  }
  if (grpc) fields.push_back(nv("te", "trailers"));  // what a gRPC server requires of a call
  const bool has_body = body != nullptr && !body->done();
  if (!session_->open(*call_, fields, has_body)) {
    out.failed = codec::WriteOutcome::Failed::write;
    out.ec = asio::error::connection_reset;
    co_return out;
  }
  out.head_sent = true;
  if (on_head_sent) on_head_sent->head_sent();
  if (!has_body) co_return out;
  for (;;) {
    std::optional<codec::BodyPiece> ready = body->try_next();
    codec::BodyPiece piece = ready ? *ready : co_await body->next();
    if (piece.ec) {
      out.failed = codec::WriteOutcome::Failed::read;
      out.ec = piece.ec;
      co_return out;
    }
    call_->out.append(piece.data.data(), piece.data.size());
    out.body_bytes += piece.data.size();
    if (piece.last) call_->out_end = true;
    session_->resume(*call_);
    // Room for more (or, at the end, the last byte framed), within response_timeout a wait.
    for (;;) {
      const bool room = piece.last ? call_->out_done : call_->out.size() - call_->out_at < upstream::H2Session::kCallBuffer;
      if (room) break;
      if (call_->closed) {
        out.failed = codec::WriteOutcome::Failed::write;
        out.ec = asio::error::connection_reset;
        co_return out;
      }
      if (!co_await wait()) {
        out.failed = codec::WriteOutcome::Failed::write;
        out.ec = beast::error::timeout;
        co_return out;
      }
    }
    if (piece.last) co_return out;
  }
}

asio::awaitable<exchange::HeadResult> H2Channel::read_head(bool, exchange::InterimSink&) {
  exchange::HeadResult out;
  for (;;) {
    if (call_->head_done) co_return out;
    if (call_->closed) {
      out.outcome = exchange::Outcome::upstream_closed;
      out.ec = asio::error::connection_reset;
      co_return out;
    }
    if (!co_await wait()) {
      out.outcome = exchange::Outcome::response_timeout;
      out.ec = beast::error::timeout;
      co_return out;
    }
  }
}

exchange::ResponseFraming H2Channel::framing() const {
  exchange::ResponseFraming f;
  f.has_content_length = call_->head.count(bhttp::field::content_length) > 0;
  f.keep_alive = true;
  return f;
}

codec::BodySource* H2Channel::response_body() {
  // A response that ended with its head (gRPC's Trailers-Only among them) has no body to relay:
  // the client gets the head with END_STREAM as the upstream sent it.
  if (call_->in_end && call_->in.empty() && !call_->has_trailers) return nullptr;
  return this;
}

std::optional<codec::BodyPiece> H2Channel::try_next() {
  if (body_done_) return codec::BodyPiece{{}, true, {}};
  if (!call_->in.empty()) {
    handed_.swap(call_->in);
    call_->in.clear();
    session_->consume(*call_, handed_.size());
    body_bytes_ += handed_.size();
    if (tap_) tap_->append({handed_.data(), handed_.size()});
    body_done_ = call_->in_end;
    return codec::BodyPiece{{handed_.data(), handed_.size()}, body_done_, {}};
  }
  if (call_->in_end) {
    body_done_ = true;
    return codec::BodyPiece{{}, true, {}};
  }
  if (call_->closed) {
    body_done_ = true;
    return codec::BodyPiece{{}, false, asio::error::connection_reset};
  }
  return std::nullopt;
}

asio::awaitable<codec::BodyPiece> H2Channel::next() {
  for (;;) {
    if (auto piece = try_next()) co_return *piece;
    const bool notified = co_await wait();
    if (!notified) {
      body_done_ = true;
      co_return codec::BodyPiece{{}, false, beast::error::timeout};
    }
  }
}

asio::awaitable<bool> H2Channel::wait() {
  std::chrono::steady_clock::duration limit = cluster_->response_timeout;
  if (deadline_) {
    const auto left = *deadline_ - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) co_return false;
    limit = std::min(limit, left);
  }
  co_return co_await call_->signal.wait_for(limit);
}

void H2Channel::finish(bool) {
  if (call_ && session_) session_->release(*call_);
  call_.reset();
  session_.reset();
}

}  // namespace cutover::channel
