// One request, from admission to the end of its response or tunnel, whatever the protocol on
// either side: admission (framing and limits) → routing (route match, the write-hold gate, the
// side) → upstream attempts under one retry policy (retry.hpp), each ending in a typed outcome →
// one mapping of the outcome to the client's status, the metrics and the outlier record
// (outcome.hpp) → the response relayed, or a tunnel after a 101. The protocol lives in the
// Downstream (the client's connection or stream) and the UpstreamChannel; the exchange only
// decides (Envoy's router filter, for which a stream is just another request).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>

#include "proxy/codec/body.hpp"
#include "proxy/exchange/downstream.hpp"
#include "proxy/exchange/outcome.hpp"
#include "proxy/exchange/request_identity.hpp"
#include "proxy/observe/access_record.hpp"
#include "proxy/exchange/upstream_channel.hpp"
#include "proxy/exchange/worker_context.hpp"
#include "proxy/router/split.hpp"
#include "proxy/runtime/pinned_snapshot.hpp"

namespace cutover::exchange {

// The request as the downstream parsed it.
struct Request {
  boost::beast::http::request_header<>& head;  // rewritten in place for the upstream
  codec::BodySource* body = nullptr;  // null: no body, or all of it read with the head (none to send)
  bool chunked = false;               // the body has no Content-Length (it is re-framed chunked upstream)
  std::optional<std::uint64_t> content_length;
  bool keep_alive = false;            // the client asked to keep the connection open
  bool upgrade = false;               // Connection lists "upgrade" (an upgrade may be asked for)
};

class Exchange {
 public:
  // `pinned`: the snapshot the exchange runs on to its end (a reload meanwhile applies to the
  // next one); `listener_index` indexes its listeners.
  Exchange(WorkerContext& worker, std::shared_ptr<const runtime::PinnedSnapshot> pinned, std::size_t listener_index,
           Downstream& down, UpstreamChannel& channel)
      : worker_(worker), pinned_(std::move(pinned)), listener_index_(listener_index), down_(down), channel_(channel) {}
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // Runs the request to its end. Returns whether the client connection stays open. Never throws
  // for network errors.
  boost::asio::awaitable<bool> run(Request& req);

  // How it ended (for logs and tests); set when run() returns.
  Outcome outcome() const { return outcome_; }
  // Attempts at an upstream endpoint (0 when it ended before any).
  int attempts() const { return attempts_; }
  // The side that served it (meaningful once a route was found).
  router::Side side() const { return side_; }
  // The request id (request_identity.hpp) sent upstream and to the client; empty when the
  // exchange ended before it was given one (a removed listener).
  const std::string& request_id() const { return identity_.request_id; }

 private:
  // Applies the exchange part of `o`'s verdict (metrics, window statistics, rejection counter),
  // sends cutover's answer when it has one, and returns whether the connection stays open.
  // `status`: the upstream's status for outcomes that relay one.
  boost::asio::awaitable<bool> conclude(Outcome o, std::string_view reason = {}, unsigned status = 0);
  // The attempt part of `o`'s verdict for `endpoint` (connect error counter, outlier record).
  void account_attempt(Outcome o, const runtime::Endpoint& endpoint, unsigned status = 0);
  void record(unsigned status, stats::Outcome window);
  // Whether the relayed response is a gRPC call that failed (its grpc-status is one of
  // `error_codes`, the route's grpc_error_codes; from its trailers or, Trailers-Only, its head):
  // the window statistics count it as a 5xx.
  static bool grpc_failed(const boost::beast::http::response_header<>& head, const codec::BodySource* body,
                          std::uint32_t error_codes);
  bool request_complete() const;
  // The access log line of this exchange (when the listener writes one): `status` the client got
  // (0: none), `bytes_out` the body bytes sent; for a tunnel its protocol and the bytes it carried
  // from the client (else the request body's count).
  void log_access(Outcome o, unsigned status, std::uint64_t bytes_out, std::string_view tunnel = {},
                  std::uint64_t tunnel_bytes_in = 0);
  // The access log's timings cost a clock read each only when this exchange writes a line.
  std::chrono::steady_clock::time_point stamp() const {
    return log_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  }
  double ms_since(std::chrono::steady_clock::time_point from) const {
    return log_ ? observe::ms_between(from, std::chrono::steady_clock::now()) : 0.0;
  }

  WorkerContext& worker_;
  std::shared_ptr<const runtime::PinnedSnapshot> pinned_;
  std::size_t listener_index_;
  Downstream& down_;
  UpstreamChannel& channel_;

  Request* req_ = nullptr;
  unsigned client_version_ = 11;  // of the request as received (Beast's 10, 11, 20): the head is rewritten
  std::chrono::steady_clock::time_point started_{};
  const runtime::Listener* listener_ = nullptr;
  const runtime::Route* route_ = nullptr;
  const runtime::Cluster* cluster_ = nullptr;
  router::Kind kind_ = router::Kind::read;
  router::Side side_ = router::Side::source;
  Outcome outcome_ = Outcome::client_gone;
  int attempts_ = 0;
  bool grpc_failed_ = false;  // the response relayed was a failed gRPC call
  // The deadline armed once the request may go upstream (0: none), and the setting it came from.
  std::chrono::milliseconds deadline_{0};
  std::chrono::steady_clock::time_point deadline_at_{};
  std::string_view deadline_key_ = "timeouts.request";
  bool callers_deadline_ = false;  // the deadline is the caller's own (grpc-timeout)
  // Whether the deadline ran out: the downstream's timer says so, or (for an upstream whose wait
  // ended on its own at the deadline, an HTTP/2 stream) the clock does before that timer ran.
  bool deadline_reached() const {
    return down_.deadline_passed() || (deadline_.count() && std::chrono::steady_clock::now() >= deadline_at_);
  }

  // For the access log.
  bool log_ = false;  // the listener writes a line for this exchange
  std::chrono::system_clock::time_point wall_started_{};
  RequestIdentity identity_;
  std::string_view side_reason_;
  const runtime::Endpoint* endpoint_ = nullptr;  // of the last attempt
  double held_ms_ = 0;
  double connect_ms_ = 0;
  std::optional<double> upstream_ms_;
  bool mirrored_ = false;
  std::uint64_t response_bytes_ = 0;  // body bytes of the relayed response sent to the client
  std::shared_ptr<const runtime::Maintenance> maintenance_;  // set when the route's maintenance answered
};

}  // namespace cutover::exchange
