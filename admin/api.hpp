// The admin API of ../shared/SPEC.md as one function from request to response (no I/O), so tests
// can call it directly. Runs on the admin thread only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include <boost/asio/awaitable.hpp>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "admin/control.hpp"

namespace cutover::admin {

using AdminRequest = boost::beast::http::request<boost::beast::http::string_body>;
using AdminResponse = boost::beast::http::response<boost::beast::http::string_body>;

// What the admin server does with a request: `response` is complete, unless `drain_route` is set
// (a write hold was raised): then the server waits until that route's in-flight writes are done or
// `drain_deadline` passed, and answers with finish_hold().
struct AdminReply {
  AdminResponse response;
  std::shared_ptr<const runtime::Snapshot> snapshot;  // keeps drain_route alive
  const runtime::Route* drain_route = nullptr;
  Control* control = nullptr;  // set with drain_route
  std::chrono::steady_clock::time_point drain_deadline{};
  std::int64_t in_flight_at_hold = 0;
  // Set when the answer needs the fleet (an etcd write, then the other nodes applying it): the
  // server co_awaits it on the admin thread instead of sending `response`. Bounded by the etcd
  // client's request timeout and fleet.apply_timeout.
  std::function<boost::asio::awaitable<AdminResponse>()> deferred;
};

// `client` is the admin client's address ("127.0.0.1:53412"), recorded in audit entries.
AdminReply route_admin_request(const AdminRequest& request, Control& control, std::string_view client = {});

// The answer to a hold call once its drain ended: route state plus "in_flight_at_hold",
// "in_flight_remaining" and "drained".
AdminResponse finish_hold(const AdminReply& pending);

// Answers one admin request without waiting (a hold answers at once with what is still in
// flight). Errors are JSON {"error": "..."} with 400 (malformed JSON or query),
// 401 (mutating call without a valid bearer token when tokens are configured), 404 (unknown route
// or endpoint), 405 (wrong method), 409 (if_generation mismatch) and 422 (well-formed but invalid
// values). Keep-alive and version are left for the caller to set.
// Every mutating body may carry "reason" (a string, recorded in the audit entry).
AdminResponse handle_admin_request(const AdminRequest& request, Control& control, std::string_view client = {});

}  // namespace cutover::admin
