// The resend rule (retry.hpp) and the outcome table (outcome.hpp) as pure functions.
#include "proxy/exchange/retry.hpp"

#include <gtest/gtest.h>

namespace cutover::exchange {
namespace {

TEST(Retry, AFailedConnectMovesToTheNextEndpointWithinTheBudget) {
  EXPECT_EQ(resend({Outcome::connect_failed, 0, false, false, 2}), Resend::next_endpoint);
  EXPECT_EQ(resend({Outcome::connect_failed, 1, false, false, 5}), Resend::no) << "HTTP: one retry";
  EXPECT_EQ(resend({Outcome::connect_failed, 0, false, false, 1}), Resend::no) << "no other endpoint";
  EXPECT_EQ(resend({Outcome::connect_failed, 1, false, false, 5, kTcpConnectAttempts}), Resend::next_endpoint);
  EXPECT_EQ(resend({Outcome::connect_failed, 2, false, false, 5, kTcpConnectAttempts}), Resend::no);
  EXPECT_EQ(resend({Outcome::connect_failed, 1, false, false, 2, kTcpConnectAttempts}), Resend::no)
      << "never more attempts than endpoints";
}

TEST(Retry, OnlyAResendableRequestOnAPooledConnectionGoesAgain) {
  for (auto o : {Outcome::upstream_send_failed, Outcome::upstream_closed}) {
    EXPECT_EQ(resend({o, 0, true, true, 1}), Resend::new_connection);
    EXPECT_EQ(resend({o, 0, false, true, 1}), Resend::no) << "a new connection failed: the upstream did";
    EXPECT_EQ(resend({o, 0, true, false, 1}), Resend::no) << "a POST or a body: never twice";
    EXPECT_EQ(resend({o, 1, true, true, 1}), Resend::no) << "once";
  }
  for (auto o : {Outcome::response_timeout, Outcome::invalid_response, Outcome::response})
    EXPECT_EQ(resend({o, 0, true, true, 3}), Resend::no);
}

TEST(Outcome, EachAnswerHasTheStatusOfItsCause) {
  EXPECT_EQ(verdict(Outcome::connect_failed).status, 502u);
  EXPECT_EQ(verdict(Outcome::connect_failed).window, stats::Outcome::connect_error);
  EXPECT_EQ(verdict(Outcome::response_timeout).status, 504u);
  EXPECT_TRUE(verdict(Outcome::response_timeout).cluster_timeout);
  EXPECT_EQ(verdict(Outcome::request_body_timeout).status, 408u);
  EXPECT_TRUE(verdict(Outcome::request_body_timeout).listener_rejected);
  EXPECT_EQ(verdict(Outcome::hold_timeout).answer, Answer::held);
  EXPECT_FALSE(verdict(Outcome::no_route).recorded) << "no route: no route's metrics";
  EXPECT_EQ(verdict(Outcome::client_gone).answer, Answer::none);
  EXPECT_EQ(verdict(Outcome::response).status, 0u) << "the upstream's own status";
  EXPECT_EQ(name(Outcome::upstream_closed), "upstream_closed");
}

}  // namespace
}  // namespace cutover::exchange
