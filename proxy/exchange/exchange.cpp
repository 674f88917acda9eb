// One request through routing, the hold, the upstream and back: see exchange.hpp.
#include "proxy/exchange/exchange.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/methods.hpp"
#include "common/text.hpp"
#include "proxy/codec/errors.hpp"
#include "proxy/codec/grpc.hpp"
#include "proxy/codec/headers.hpp"
#include "proxy/exchange/access_line.hpp"
#include "proxy/exchange/admission.hpp"
#include "proxy/exchange/assign.hpp"
#include "proxy/exchange/mirror.hpp"
#include "proxy/exchange/retry.hpp"
#include "proxy/exchange/upgrade.hpp"
#include "proxy/exchange/write_hold.hpp"
#include "proxy/router/route_match.hpp"
#include "proxy/router/ryw_cookie.hpp"
#include "proxy/upstream/failover.hpp"

namespace cutover::exchange {

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

// Ends the request deadline's watch however the exchange ends.
struct DeadlineScope {
  Downstream& down;
  ~DeadlineScope() {
    down.watch_upstream(nullptr);
    down.disarm_deadline();
  }
};

// Reports the primary part of a mirrored request as failed unless the exchange reported it first
// (every early end of an exchange: 502, 504, the client leaving).
struct MirrorPrimaryGuard {
  std::shared_ptr<shadow::MirrorExchange>& mirror;
  ~MirrorPrimaryGuard() {
    if (mirror) mirror->done(shadow::MirrorExchange::Part::primary, "no complete response");
  }
};

// Ends the upstream attempt: unless the exchange said the connection may be kept, it is closed.
struct ChannelScope {
  UpstreamChannel& channel;
  bool clean = false;
  ~ChannelScope() { channel.finish(clean); }
};

}  // namespace

bool Exchange::grpc_failed(const bhttp::response_header<>& head, const codec::BodySource* body,
                           std::uint32_t error_codes) {
  const auto* trailers = body ? body->trailers() : nullptr;
  const auto& fields = trailers ? *trailers : static_cast<const bhttp::fields&>(head);
  auto it = fields.find("grpc-status");
  return it != fields.end() && codec::grpc_status_in(it->value(), error_codes);
}

bool Exchange::request_complete() const { return req_->body == nullptr || req_->body->done(); }

void Exchange::record(unsigned status, stats::Outcome window) {
  const auto now = std::chrono::steady_clock::now();
  const auto took = now - started_;
  route_->metrics.record(worker_.id, side_, kind_, status, std::chrono::duration<double>(took).count());
  // A failed gRPC call is an HTTP 200: the windows (ramp gates, /v1/stats) count it as what it is.
  route_->runtime->windows.at(worker_.id, side_)
      .record(stats::steady_seconds(now), grpc_failed_ ? 500u : status,
              static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count()), window);
}

void Exchange::account_attempt(Outcome o, const runtime::Endpoint& endpoint, unsigned status) {
  const Verdict v = verdict(o);
  if (v.connect_error) cluster_->connect_errors->Increment();
  const auto now = runtime::steady_ms();
  switch (v.outlier) {
    case OutlierRecord::none:
      break;
    case OutlierRecord::connect_failure:
      upstream::note_outlier(*cluster_, endpoint, endpoint.health->record_connect_failure(cluster_->outlier, now));
      break;
    case OutlierRecord::status:
      upstream::note_outlier(*cluster_, endpoint,
                             endpoint.health->record_status(v.status ? v.status : status, cluster_->outlier, now));
      break;
  }
}

void Exchange::log_access(Outcome o, unsigned status, std::uint64_t bytes_out, std::string_view tunnel,
                          std::uint64_t tunnel_bytes_in) {
  const auto& head = req_->head;
  const ClientInfo& client = down_.client();
  observe::AccessRecord r;
  r.time = wall_started_;
  r.request_id = identity_.request_id;
  r.trace_id = identity_.trace_id;
  r.client_ip = client.ip;
  r.client_port = client.port;
  r.listener = listener_->name;
  if (route_) r.route = route_->name;
  r.method = head.method_string();
  r.target = head.target();
  r.protocol = !tunnel.empty()           ? tunnel
               : client_version_ >= 20  ? "HTTP/2"
               : client_version_ == 10 ? "HTTP/1.0"
                                        : "HTTP/1.1";
  r.status = status;
  if (route_ && cluster_) {
    r.side = router::name(side_);
    r.side_reason = side_reason_;
  }
  if (endpoint_) r.endpoint = endpoint_->text;
  r.held_ms = held_ms_;
  r.connect_ms = connect_ms_;
  r.upstream_ms = upstream_ms_;
  r.duration_ms = observe::ms_between(started_, std::chrono::steady_clock::now());
  r.bytes_in = !tunnel.empty() ? tunnel_bytes_in : req_->body ? req_->body->bytes() : 0;
  r.bytes_out = bytes_out;
  r.retries = attempts_ > 1 ? attempts_ - 1 : 0;
  r.result = name(o);
  r.mirror = mirrored_;
  write_access_line(*listener_, r);
}

asio::awaitable<bool> Exchange::conclude(Outcome o, std::string_view reason, unsigned status) {
  outcome_ = o;
  const Verdict v = verdict(o);
  const unsigned answered = v.status ? v.status : status;
  if (v.cluster_timeout && cluster_) cluster_->timeouts->Increment();
  if (v.recorded && route_) record(answered, v.window);
  if (v.listener_rejected && listener_)
    if (auto* c = listener_->rejected_counter(answered)) c->Increment();
  // A tunnel's line is written when it ends.
  const bool log_now = log_ && o != Outcome::tunnel;
  if (v.answer == Answer::none) {
    if (log_now) log_access(o, status, response_bytes_);
    co_return false;
  }
  Reply reply;
  reply.status = answered;
  reply.kind = v.answer;
  reply.reason = reason;
  reply.keep_alive = v.keep == Keep::if_request_complete && req_->keep_alive && request_complete();
  if (v.answer == Answer::held) {
    reply.route = route_->name;
    reply.code = o == Outcome::hold_timeout ? "hold_timeout" : "max_held";
  }
  if (o == Outcome::grpc_needs_http2) reply.code = codec::kGrpcNeedsHttp2;
  if (v.answer == Answer::maintenance && maintenance_) {
    reply.body = maintenance_->body;
    reply.content_type = maintenance_->content_type;
    reply.retry_after_s = maintenance_->retry_after_s;
  }
  if (!identity_.request_id.empty()) {
    reply.request_id_field = pinned_->snapshot->config.request_id.header;
    reply.request_id = identity_.request_id;
  }
  const bool keep = co_await down_.reply(reply);
  if (log_now) log_access(o, answered, down_.last_reply_bytes());
  co_return keep;
}

asio::awaitable<bool> Exchange::run(Request& req) {
  req_ = &req;
  client_version_ = req.head.version();
  started_ = std::chrono::steady_clock::now();
  const runtime::Snapshot& snap = *pinned_->snapshot;
  if (!snap.serves_listener(listener_index_))  // a reload removed the listener
    co_return co_await conclude(Outcome::listener_gone, "listener removed");
  listener_ = &snap.listeners[listener_index_];
  auto& head = req.head;
  if (listener_->access_log.writer) {
    log_ = access_logged(*listener_, worker_.random());
    wall_started_ = std::chrono::system_clock::now();
  }
  // The request id and trace context, before anything can answer: every answer carries the id.
  identity_ = identify_request(head, snap, down_.client().address, worker_.rng);

  // Admission, then routing: the route, the hold, the side.
  if (auto refusal = admit(head, req.content_length, snap.config.limits))
    co_return co_await conclude(refusal->outcome, refusal->reason);
  auto host_it = head.find(bhttp::field::host);
  const std::string_view host = host_it == head.end() ? std::string_view{} : router::host_without_port(host_it->value());
  // A gRPC call (gRPC's PROTOCOL-HTTP2.md): gRPC-only routes match it, and grpc-timeout bounds it.
  const bool grpc_call = codec::is_grpc_content_type(head[bhttp::field::content_type]);
  const int route_index =
      router::match_route(listener_->matches, host, router::path_of_target(head.target()), grpc_call);
  if (route_index < 0) co_return co_await conclude(Outcome::no_route, "no route for this host and path");
  route_ = listener_->routes[route_index];
  const runtime::Route& route = *route_;
  // A route in maintenance answers itself, before the write hold and any upstream; an allowed
  // tester's forced side passes (assign_side() sends it there).
  const std::uint32_t safety_flags = route.runtime->safety.flags();
  if (safety_flags & runtime::RouteSafety::kInMaintenance) {
    auto m = route.runtime->safety.maintenance();
    if (m && !forced_side(route, head, down_.client().address)) {
      maintenance_ = std::move(m);
      route.maintenance_responses->Increment();
      co_return co_await conclude(Outcome::maintenance, "route in maintenance", maintenance_->status);
    }
  }

  const bool has_body = req.chunked || (req.content_length && *req.content_length > 0);
  // An upgrade is write traffic: the tunnel that follows may carry writes of any kind.
  const std::optional<std::string> upgrade =
      req.upgrade && !route.upgrades.empty() ? requested_upgrade(head, route.upgrades, has_body) : std::nullopt;
  kind_ = upgrade || !common::is_safe_method(head.method()) ? router::Kind::write : router::Kind::read;
  std::optional<WriteInFlight> write_in_flight;
  ReleaseBaton baton;  // a released write passes it on once its request head is upstream
  if (kind_ == router::Kind::write) {
    const auto hold_started = stamp();
    const auto passed = co_await pass_write_hold(route, worker_.held_writes, worker_.executor, down_, write_in_flight, baton);
    held_ms_ = ms_since(hold_started);
    switch (passed) {
      case HoldOutcome::pass:
        break;
      case HoldOutcome::client_left:
        co_return co_await conclude(Outcome::hold_client_left);
      case HoldOutcome::expired: {
        const std::string reason = fmt::format(
            "writes are held for a write-path flip; not released within {} ms", route.writes.hold_timeout.count());
        co_return co_await conclude(Outcome::hold_timeout, reason);
      }
      case HoldOutcome::rejected: {
        const std::string reason =
            fmt::format("writes are held for a write-path flip and {} requests already wait", route.writes.max_held);
        co_return co_await conclude(Outcome::hold_full, reason);
      }
    }
  }

  // timeouts.request runs from here: a write hold's wait is bounded by its own hold_timeout. A
  // gRPC call's own deadline (grpc-timeout) ran from its arrival, and wins when it is sooner; the
  // upstream gets what is left of it.
  const auto& timeouts = snap.config.timeouts;
  deadline_ = timeouts.request;
  if (const auto grpc_timeout = grpc_call ? codec::parse_grpc_timeout(head["grpc-timeout"]) : std::nullopt) {
    const auto left_us = *grpc_timeout - std::chrono::duration_cast<std::chrono::microseconds>(
                                             std::chrono::steady_clock::now() - started_);
    // cutover's own wait in whole milliseconds, rounded up (under a millisecond left is not zero);
    // the upstream is told the microseconds left, rounded down: never more time than the caller has.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(left_us);
    if (deadline_.count() == 0 || left < deadline_) {
      deadline_ = left;
      deadline_key_ = "grpc-timeout";
      callers_deadline_ = true;
    }
    if (left_us.count() <= 0) {
      const std::string reason =
          fmt::format("grpc-timeout of {} ms expired before the call went upstream",
                      std::chrono::ceil<std::chrono::milliseconds>(*grpc_timeout).count());
      co_return co_await conclude(Outcome::request_timeout, reason);
    }
    head.set("grpc-timeout", codec::format_grpc_timeout(left_us));
  }
  if (deadline_.count()) {
    down_.arm_deadline(deadline_);
    deadline_at_ = std::chrono::steady_clock::now() + deadline_;
  }
  channel_.set_deadline(deadline_.count() ? std::optional(deadline_at_) : std::nullopt);
  DeadlineScope deadline_scope{down_};

  // The split: one atomic load of the route's weights, then force, segments, read-your-writes, the
  // sticky bucket or a random draw (assign.hpp).
  const ClientInfo& client = down_.client();
  // Segments are loaded only for a route that has some; the read-your-writes pin only for a route
  // with read_your_writes.
  std::shared_ptr<const router::Segments> segments;
  if (safety_flags & runtime::RouteSafety::kHasSegments) segments = route.runtime->safety.segments();
  RywPin ryw;
  if (route.ryw.enabled)
    ryw = ryw_pin(route, kind_, head, client.ip, std::chrono::steady_clock::now(),
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count());
  const auto assignment = assign_side(route, kind_, route.runtime->weights(), head, client.ip, client.address,
                                      worker_.random(), segments.get(), ryw.side);
  side_ = assignment.side;
  side_reason_ = name(assignment.reason);
  if (assignment.reason == Reason::read_your_writes) route.ryw_reads[static_cast<int>(side_)]->Increment();
  if (side_ == router::Side::target) side_ = upstream::fail_over_if_target_down(route);
  if (side_ != assignment.side) side_reason_ = "failover";
  if (assignment.forced) route.forced[static_cast<int>(side_)]->Increment();
  if (!route.force.header.empty()) head.erase(route.force.header);  // never forwarded, honoured or not
  cluster_ = &route.cluster(side_);
  const runtime::Cluster& cluster = *cluster_;
  // gRPC needs HTTP/2 end to end: an HTTP/1.1 upstream would lose the trailers holding the status.
  if (grpc_call && client_version_ >= 20 && !cluster.http2) {
    const std::string reason = fmt::format(
        "gRPC call routed to cluster {}, which speaks HTTP/1.1; gRPC needs 'protocol: http2'", cluster.name);
    co_return co_await conclude(Outcome::grpc_needs_http2, reason);
  }

  // The request head as the upstream sees it (RFC 9110 §7.6). Expect: 100-continue is answered
  // here, so the upstream gets a plain request.
  const bool expect_continue = common::iequals(head[bhttp::field::expect], "100-continue");
  codec::prepare_upstream_request(head, req.chunked, expect_continue, client.ip, client.tls ? "https" : "http");
  if (upgrade) forward_upgrade(head, *upgrade);
  const bool head_request = head.method() == bhttp::verb::head;

  // Shadow traffic: picked now, sent once the request body went through. Upgrades never are.
  std::shared_ptr<shadow::MirrorExchange> mirror =
      route.mirror && !upgrade
          ? pick_mirror(worker_, route, side_, pinned_, head, req.content_length, has_body, identity_)
          : nullptr;
  MirrorPrimaryGuard mirror_guard{mirror};
  bool mirror_launched = false;

  ChannelScope channel_scope{channel_};
  const bool resendable = req.body == nullptr && common::is_idempotent(head.method());
  bool sent_continue = false;
  const runtime::Endpoint* served_by = nullptr;
  for (int attempt = 0;; ++attempt) {
    attempts_ = attempt + 1;
    down_.watch_upstream(nullptr);  // the deadline must not reach for a connection about to close
    channel_.finish(false);         // a previous attempt's connection, if any
    auto connected = channel_.take(cluster, /*fresh=*/attempt > 0, resendable);
    if (!connected.ok) {
      const auto connect_started = stamp();
      connected = co_await channel_.connect(*connected.endpoint);
      connect_ms_ += ms_since(connect_started);
    }
    served_by = connected.endpoint;
    endpoint_ = served_by;
    if (!connected.ok) {
      spdlog::warn("route {}: cluster {} endpoint {}: {}{}", route.name, cluster.name, served_by->text,
                   connected.tls_failed ? "" : "connect failed: ", connected.reason);
      account_attempt(Outcome::connect_failed, *served_by);
      if (resend({Outcome::connect_failed, attempt, false, resendable, cluster.endpoints.size()}) ==
          Resend::next_endpoint) {
        cluster.retries->Increment();
        continue;
      }
      const std::string reason = fmt::format("upstream connect failed (cluster {}, endpoint {}): {}", cluster.name,
                                             served_by->text, connected.reason);
      co_return co_await conclude(Outcome::connect_failed, reason);
    }
    if (!connected.reused) served_by->health->record_connect_success();
    down_.watch_upstream(&channel_.stream());
    if (deadline_reached()) {  // the deadline ran out while connecting
      const std::string reason = fmt::format("request timeout: no response within {} ms ({}, cluster {})",
                                             deadline_.count(), deadline_key_, cluster.name);
      co_return co_await conclude(Outcome::request_timeout, reason);
    }

    if (expect_continue && req.body && !req.body->done() && !sent_continue) {
      if (!co_await down_.send_continue()) co_return co_await conclude(Outcome::client_gone);
      sent_continue = true;
    }

    if (req.body) req.body->set_tap(mirror && !mirror_launched ? &mirror->request_body : nullptr);
    const auto send_started = stamp();
    const auto sent = co_await channel_.send(head, req.chunked, req.body, baton.chain ? &baton : nullptr);
    if (req.body) req.body->set_tap(nullptr);
    if (sent.failed == codec::WriteOutcome::Failed::read) {
      // The client left mid-body, or its body broke the framing or the size limit: the upstream
      // connection (holding part of a request) is dropped either way.
      if (deadline_reached()) {
        const std::string reason =
            fmt::format("request timeout: not complete within {} ms ({})", deadline_.count(), deadline_key_);
        co_return co_await conclude(Outcome::request_body_timeout, reason);
      }
      if (codec::peer_gone(sent.ec) || codec::is_timeout(sent.ec)) co_return co_await conclude(Outcome::client_gone);
      if (sent.ec == bhttp::error::body_limit) {
        const std::string reason =
            fmt::format("request body over the limit of {} bytes", snap.config.limits.max_request_body);
        co_return co_await conclude(Outcome::request_body_too_large, reason);
      }
      const std::string reason = "malformed request body: " + sent.ec.message();
      co_return co_await conclude(Outcome::bad_request_body, reason);
    }
    if (sent.failed == codec::WriteOutcome::Failed::write) {
      if (deadline_reached()) {
        const std::string reason = fmt::format("request timeout: not sent upstream within {} ms ({}, cluster {})",
                                               deadline_.count(), deadline_key_, cluster.name);
        co_return co_await conclude(Outcome::request_timeout, reason);
      }
      if (resend({Outcome::upstream_send_failed, attempt, connected.reused, resendable, cluster.endpoints.size()}) ==
          Resend::new_connection) {
        cluster.stale_resends->Increment();
        continue;
      }
      const std::string reason = fmt::format("upstream write failed (cluster {}): {}", cluster.name, sent.ec.message());
      co_return co_await conclude(Outcome::upstream_send_failed, reason);
    }
    if (mirror && !mirror_launched) {
      mirror_launched = true;
      launch_mirror(worker_, mirror, route, side_, served_by);
      mirrored_ = mirror != nullptr;
    }

    // The response head, interim responses passed on, within response_timeout.
    const auto got = co_await channel_.read_head(head_request, down_);
    if (got.outcome == Outcome::response) {
      upstream_ms_ = ms_since(send_started);
      break;
    }
    if (got.outcome == Outcome::client_gone) co_return co_await conclude(Outcome::client_gone);
    if (got.outcome == Outcome::response_timeout || deadline_reached()) {
      // A caller's own short deadline says nothing about the endpoint: no outlier record for it.
      if (!(callers_deadline_ && deadline_reached())) account_attempt(Outcome::response_timeout, *served_by);
      const std::string reason =
          deadline_reached()
              ? fmt::format("request timeout: no response within {} ms ({}, cluster {})", deadline_.count(),
                            deadline_key_, cluster.name)
              : fmt::format("upstream response timeout after {} ms (cluster {})", cluster.response_timeout.count(),
                            cluster.name);
      co_return co_await conclude(Outcome::response_timeout, reason);
    }
    if (resend({got.outcome, attempt, connected.reused, resendable, cluster.endpoints.size()}) ==
        Resend::new_connection) {
      cluster.stale_resends->Increment();
      continue;  // closed while idle in the pool, before any response byte: safe to send again
    }
    if (!got.problem.empty()) {
      spdlog::warn("route {}: {} sent an invalid response: {}", route.name, cluster.name, got.problem);
      const std::string reason = fmt::format("invalid response from upstream (cluster {}): {}", cluster.name, got.problem);
      co_return co_await conclude(got.outcome, reason);
    }
    const std::string reason =
        fmt::format("invalid or no response from upstream (cluster {}): {}", cluster.name, got.ec.message());
    co_return co_await conclude(got.outcome, reason);
  }

  // The response head as the client sees it.
  auto& res = channel_.response();
  // The comparison sees the upstream's head as it came (upgrades are never mirrored); then the
  // request id, which the client gets on every answer, a 101 too.
  if (mirror) mirror->capture_primary_head(res);
  res.set(snap.config.request_id.header, identity_.request_id);
  const unsigned status = res.result_int();
  account_attempt(Outcome::response, *served_by, status);
  if (status == 101) {
    if (!upgrade || !switches_to(res, *upgrade)) {
      const std::string reason = fmt::format(
          "invalid response from upstream (cluster {}): 101 Switching Protocols to a protocol the request did not ask "
          "for",
          cluster.name);
      co_return co_await conclude(Outcome::invalid_response, reason);
    }
    // The switch is done: a tunnel from here, counted once, as the upgrade's success (its latency
    // is the time to the 101). The write in flight ended with the upgrade itself: a hold does not
    // wait for tunnels (it reports them), and timeouts.request does not bound one.
    co_await conclude(Outcome::tunnel, {}, status);
    write_in_flight.reset();
    baton.pass();
    down_.watch_upstream(nullptr);
    down_.disarm_deadline();
    const auto bytes =
        co_await down_.tunnel(res, channel_.stream(), channel_.buffered(), {route_, side_, timeouts.tunnel_idle});
    if (log_) log_access(Outcome::tunnel, status, bytes.to_downstream, *upgrade, bytes.to_upstream);
    co_return false;
  }
  const bool no_body = head_request || status == 204 || status == 304 || status < 200;
  // A write that reached a side pins the client's reads there for the window: in the table under
  // its sticky key, else in a signed cookie on this response.
  if (route.ryw.enabled && kind_ == router::Kind::write) {
    if (ryw.key_hash) {
      route.ryw_table->record(*ryw.key_hash, side_, std::chrono::steady_clock::now() + route.ryw.window);
    } else {
      const auto expires = std::chrono::duration_cast<std::chrono::milliseconds>(
                               (std::chrono::system_clock::now() + route.ryw.window).time_since_epoch()).count();
      res.insert(bhttp::field::set_cookie,
                 fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax{}", route.ryw.cookie,
                             router::ryw_cookie_value(router::ryw_process_key(), route.name, side_, expires),
                             (route.ryw.window.count() + 999) / 1000, client.tls ? "; Secure" : ""));
    }
  }
  if (assignment.pin_bucket)  // the bucket, not the side: later weight changes still apply to this client
    res.insert(bhttp::field::set_cookie,
               fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax", route.sticky.pin_cookie,
                           *assignment.pin_bucket, route.sticky.pin_max_age_s));
  Response response{res, channel_.framing(), no_body, no_body ? nullptr : channel_.response_body(),
                    req.keep_alive && !worker_.connections.draining() &&
                        worker_.snapshots.current()->snapshot->serves_listener(listener_index_)};
  if (response.body) response.body->set_tap(mirror ? &mirror->primary().body : nullptr);
  const auto sent = co_await down_.send_response(response);
  response_bytes_ = sent.body_bytes;
  if (sent.failed != codec::WriteOutcome::Failed::none) {
    const bool timed_out = codec::is_timeout(sent.ec);
    if (sent.failed == codec::WriteOutcome::Failed::read) {
      spdlog::warn("route {}: {} response body interrupted: {}", route.name, cluster.name, sent.ec.message());
      if (!sent.head_sent) {
        const std::string reason =
            fmt::format("upstream response failed (cluster {}): {}", cluster.name, sent.ec.message());
        co_return co_await conclude(timed_out ? Outcome::response_failed_timeout : Outcome::response_failed, reason);
      }
      // Mid-body: the connection closes without a final chunk, so the client sees the truncation.
      co_return co_await conclude(
          timed_out ? Outcome::response_cut_upstream_timeout : Outcome::response_cut_upstream, {}, status);
    }
    co_return co_await conclude(timed_out ? Outcome::response_cut_client_timeout : Outcome::response_cut_client, {},
                                status);
  }
  // A gRPC call's status is in its trailers, or in its head when it has no body (Trailers-Only).
  if (response.body ? response.body->trailers() != nullptr : res.count("grpc-status") > 0)
    grpc_failed_ = grpc_failed(res, response.body, route.grpc_error_codes);
  co_await conclude(Outcome::response, {}, status);
  if (mirror) {
    if (const auto* trailers = response.body ? response.body->trailers() : nullptr)
      mirror->capture_primary_trailers(*trailers);
    mirror->done(shadow::MirrorExchange::Part::primary, {});
    mirror.reset();
  }
  channel_scope.clean = true;
  co_return response.keep_alive;
}

}  // namespace cutover::exchange
