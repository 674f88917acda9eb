// net::TimedSocket: the deadline of reads, writes and connect, re-armed lazily (timed_socket.hpp).
// Real loopback sockets on one io_context; waits are tens of milliseconds, bounded by run_for().
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

TEST(TimedSocket, ReadPastTheDeadlineEndsWithTimeoutAndClosesTheSocket) {
  Pair p;
  std::array<char, 16> buf{};
  std::optional<error_code> got;
  const auto start = std::chrono::steady_clock::now();
  p.client->expires_after(50ms);
  p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) { got = ec; });
  p.io.run_for(2s);
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
  p.io.run_for(1s);
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
  p.io.run_for(10ms);  // the read completes; the wait for 30 ms stays armed
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(*first);
  p.client->expires_after(300ms);
  p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) { second = ec; });
  p.io.run_for(150ms);  // past the first deadline, before the second
  EXPECT_FALSE(second.has_value()) << "timed out at the old deadline";
  p.io.run_for(2s);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, boost::beast::error::timeout);
}

// An earlier deadline than the one the timer waits for re-arms it.
TEST(TimedSocket, AnEarlierDeadlineReArms) {
  Pair p;
  std::array<char, 16> buf{};
  std::optional<error_code> first, second;
  p.client->expires_after(10s);
  p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) { first = ec; });
  asio::write(p.server, asio::buffer("a", 1));
  p.io.run_for(10ms);
  ASSERT_TRUE(first.has_value());
  p.client->expires_after(40ms);
  const auto start = std::chrono::steady_clock::now();
  p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) { second = ec; });
  p.io.run_for(2s);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, boost::beast::error::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
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
  p.io.run_for(10ms);
  ASSERT_TRUE(first.has_value());
  p.client->expires_never();
  p.client->async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t) { second = ec; });
  p.io.run_for(150ms);  // the wait armed for 30 ms fires meanwhile
  EXPECT_FALSE(second.has_value());
  EXPECT_TRUE(p.client->socket().is_open());
  p.client->socket().cancel();
  p.io.run_for(1s);
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
  p.io.run_for(1s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, asio::error::operation_aborted);
}

}  // namespace
}  // namespace cutover::net
