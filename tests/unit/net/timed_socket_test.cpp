// net::TimedSocket: the deadline of reads, writes and connect, re-armed lazily (timed_socket.hpp).
// Real loopback sockets on one io_context. The checks are about order, not speed: a deadline never
// ends an operation early (elapsed time is only bounded from below), and the loops that wait for an
// event are bounded in seconds, so a slow or loaded machine (sanitizers) delays them, never fails them.
#include "proxy/net/timed_socket.hpp"

#include <array>
#include <chrono>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

namespace cutover::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;

// A connected pair: `client` is a TimedSocket, `server` a plain socket that writes when told.
struct Pair {
  asio::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::optional<TimedSocket> client;
  tcp::socket server{io};

  Pair() {
    client.emplace(io.get_executor());
    client->socket().connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
};

// Runs `io` until `done()` or for at most `bound`: a bound for a hung test, not a timing claim.
template <class Done>
void run_until(asio::io_context& io, Done done, std::chrono::steady_clock::duration bound = 5s) {
  const auto end = std::chrono::steady_clock::now() + bound;
  while (!done() && std::chrono::steady_clock::now() < end) {
    if (io.stopped()) io.restart();
    io.run_one_for(10ms);
  }
}

TEST(TimedSocket, ReadPastTheDeadlineEndsWithTimeoutAndClosesTheSocket) {
  Pair p;
  std::array<char, 16> buf{};
  std::optional<error_code> got;
  const auto start = std::chrono::steady_clock::now();
  p.client->expires_after(50ms);
  p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) { got = ec; });
  run_until(p.io, [&] { return got.has_value(); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, boost::beast::error::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  EXPECT_FALSE(p.client->socket().is_open());
}

TEST(TimedSocket, DataBeforeTheDeadlineCompletesTheRead) {
  Pair p;
  std::array<char, 16> buf{};
  std::optional<error_code> got;
  std::size_t n = 0;
  p.client->expires_after(5s);
  p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t k) { got = ec, n = k; });
  asio::write(p.server, asio::buffer("hi", 2));
  run_until(p.io, [&] { return got.has_value(); });
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(*got);
  EXPECT_EQ(n, 2u);
}

// The timer armed for an early deadline fires before a later one set meanwhile: it must wait again
// instead of ending the read.
TEST(TimedSocket, AMovedDeadlineIsHonouredWhenTheTimerFiresEarly) {
  Pair p;
  std::array<char, 16> buf{};
  std::optional<error_code> first, second;
  p.client->expires_after(30ms);
  p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) { first = ec; });
  asio::write(p.server, asio::buffer("a", 1));
  run_until(p.io, [&] { return first.has_value(); });  // the read completes; the 30 ms wait stays armed
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(*first);
  const auto armed = std::chrono::steady_clock::now();
  p.client->expires_after(300ms);
  std::chrono::steady_clock::time_point ended;
  p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) {
    second = ec;
    ended = std::chrono::steady_clock::now();
  });
  run_until(p.io, [&] { return second.has_value(); });
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, boost::beast::error::timeout);
  // Ended at the new deadline, not at the old one (30 ms), however late the machine ran it.
  EXPECT_GE(ended - armed, 300ms) << "timed out at the old deadline";
}

// An earlier deadline than the one the timer waits for re-arms it.
TEST(TimedSocket, AnEarlierDeadlineReArms) {
  Pair p;
  std::array<char, 16> buf{};
  std::optional<error_code> first, second;
  p.client->expires_after(30s);
  p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) { first = ec; });
  asio::write(p.server, asio::buffer("a", 1));
  run_until(p.io, [&] { return first.has_value(); });
  ASSERT_TRUE(first.has_value());
  p.client->expires_after(40ms);
  p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) { second = ec; });
  // Within the bound (5 s), far before the old deadline (30 s): the timer was re-armed.
  run_until(p.io, [&] { return second.has_value(); });
  ASSERT_TRUE(second.has_value()) << "still waiting for the old deadline";
  EXPECT_EQ(*second, boost::beast::error::timeout);
}

// expires_never() leaves the armed wait to fire by itself; when it does, it must find no deadline
// and leave the pending read alone.
TEST(TimedSocket, NoDeadlineNoTimeoutWhenTheOldWaitFires) {
  Pair p;
  std::array<char, 16> buf{};
  std::optional<error_code> first, second;
  p.client->expires_after(30ms);
  p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) { first = ec; });
  asio::write(p.server, asio::buffer("a", 1));
  run_until(p.io, [&] { return first.has_value(); });
  ASSERT_TRUE(first.has_value());
  p.client->expires_never();
  p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) { second = ec; });
  p.io.run_for(150ms);  // the wait armed for 30 ms fires meanwhile
  EXPECT_FALSE(second.has_value());
  EXPECT_TRUE(p.client->socket().is_open());
  p.client->socket().cancel();
  run_until(p.io, [&] { return second.has_value(); });
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, asio::error::operation_aborted);  // a cancel is not a timeout
}

TEST(TimedSocket, DestroyedWithAReadPendingTheReadEndsAborted) {
  Pair p;
  std::array<char, 16> buf{};
  std::optional<error_code> got;
  p.client->expires_after(10s);
  p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) { got = ec; });
  p.client.reset();
  run_until(p.io, [&] { return got.has_value(); });
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, asio::error::operation_aborted);
}

}  // namespace
}  // namespace cutover::net
