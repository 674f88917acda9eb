// The one rule for sending a request again after an attempt failed, for primary and shadow
// requests alike (pure, so unit tests call it directly).
#pragma once

#include <algorithm>
#include <cstddef>

#include "proxy/exchange/outcome.hpp"

namespace cutover::exchange {

enum class Resend : unsigned char {
  no,
  next_endpoint,   // nothing was sent: try the cluster's next available endpoint
  new_connection,  // a pooled connection turned out closed: the same request on a fresh one
};

// Connect attempts of one request or connection, at most (never more than the cluster has
// endpoints). A request waits for its answer meanwhile, so HTTP tries one more endpoint (Envoy's
// connect-failure retry, one attempt); a tcp route's client waits only for the connection to open
// and its protocol (a database's) has no retry of its own, so it gets one more.
inline constexpr int kHttpConnectAttempts = 2;
inline constexpr int kTcpConnectAttempts = 3;

struct AttemptFacts {
  Outcome outcome;           // how the attempt ended
  int attempt = 0;           // 0 for the first
  bool reused = false;       // the connection came from the pool
  bool resendable = false;   // idempotent (RFC 9110 §9.2.2) and without a body: may be sent twice
  std::size_t endpoints = 1; // endpoints of the cluster
  int connect_attempts = kHttpConnectAttempts;  // the budget for failed connects
};

// - A failed connect sent nothing, so it is tried again on the next endpoint while the budget and
//   the cluster's endpoints last.
// - A pooled connection the upstream closed while it sat idle fails the first write or ends
//   before any response byte; a request that may be sent twice goes once more on a new connection
//   (RFC 9112 §9.3.1). Any other request was sent on a connection the pool looked at first.
constexpr Resend resend(const AttemptFacts& f) {
  if (f.outcome == Outcome::connect_failed) {
    const auto budget = std::min(f.endpoints, static_cast<std::size_t>(f.connect_attempts));
    return static_cast<std::size_t>(f.attempt) + 1 < budget ? Resend::next_endpoint : Resend::no;
  }
  if (f.attempt != 0) return Resend::no;
  if ((f.outcome == Outcome::upstream_send_failed || f.outcome == Outcome::upstream_closed) && f.reused &&
      f.resendable)
    return Resend::new_connection;
  return Resend::no;
}

}  // namespace cutover::exchange
