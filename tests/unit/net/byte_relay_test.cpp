// Unit tests for the byte relay template of tcp routes and tunnels (proxy/net/byte_relay.hpp) over real loopback sockets, with
// a beast::tcp_stream downstream (not the tcp::socket the tcp listener uses) to show the template
// takes other stream types: half-close both ways, byte counts, errors and the idle timeout.
#include "proxy/net/byte_relay.hpp"

#include <gtest/gtest.h>

#include <array>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>

namespace cutover::net {
namespace {

using asio::ip::tcp;

// A connected pair on 127.0.0.1: `far` (blocking, for the test thread) and `near` on `io`.
std::pair<tcp::socket, tcp::socket> socket_pair(asio::io_context& io, asio::io_context& blocking) {
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::socket far(blocking);
  far.connect(a.local_endpoint());
  tcp::socket near = a.accept();
  return {std::move(far), std::move(near)};
}

std::string read_to_eof(tcp::socket& s) {
  std::string out;
  std::array<char, 4096> buf;
  for (;;) {
    error_code ec;
    const std::size_t n = s.read_some(asio::buffer(buf), ec);
    out.append(buf.data(), n);
    if (ec) return out;
  }
}

struct RelayRun {
  asio::io_context io{1};
  asio::io_context blocking{1};
  tcp::socket client{blocking}, server{blocking};
  std::optional<boost::beast::tcp_stream> down;
  tcp::socket up{io};
  std::vector<char> b1 = std::vector<char>(1024), b2 = std::vector<char>(1024);
  RelayBytes bytes;
  std::uint64_t observed = 0;
  std::promise<RelayEnd> end;

  RelayRun() {
    auto [c, d] = socket_pair(io, blocking);
    client = std::move(c);
    down.emplace(std::move(d));
    auto [s, u] = socket_pair(io, blocking);
    server = std::move(s);
    up = std::move(u);
  }
  std::future<RelayEnd> start(std::chrono::milliseconds idle) {
    asio::co_spawn(
        io,
        [this, idle]() -> asio::awaitable<void> {
          auto observe = [this](bool, std::size_t n) { observed += n; };
          end.set_value(co_await relay(*down, up, std::span(b1), std::span(b2), idle, bytes, observe));
        },
        asio::detached);
    return end.get_future();
  }
};

TEST(Relay, HalfCloseEachWayAndCounts) {
  RelayRun r;
  auto done = r.start(std::chrono::seconds(10));
  std::thread io([&] { r.io.run(); });
  const std::string up_data(5000, 'u');  // more than one buffer
  asio::write(r.client, asio::buffer(up_data));
  r.client.shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(read_to_eof(r.server), up_data);  // the client's FIN arrived as EOF
  asio::write(r.server, asio::buffer(std::string("after the client's FIN")));
  r.server.shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(read_to_eof(r.client), "after the client's FIN");
  ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(done.get(), RelayEnd::closed);
  io.join();
  EXPECT_EQ(r.bytes.to_upstream, 5000u);
  EXPECT_EQ(r.bytes.to_downstream, 22u);
  EXPECT_EQ(r.observed, 5022u);
}

TEST(Relay, ResetOnOneSideClosesTheOther) {
  RelayRun r;
  auto done = r.start(std::chrono::seconds(10));
  std::thread io([&] { r.io.run(); });
  r.server.set_option(asio::socket_base::linger(true, 0));
  r.server.close();  // RST towards the relay
  read_to_eof(r.client);  // returns once the relay closed the client's connection
  ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(done.get(), RelayEnd::error);
  io.join();
}

TEST(Relay, IdleTimeoutClosesBothSides) {
  RelayRun r;
  const auto t0 = std::chrono::steady_clock::now();
  auto done = r.start(std::chrono::milliseconds(200));
  std::thread io([&] { r.io.run(); });
  asio::write(r.client, asio::buffer(std::string("x")));  // activity restarts the wait
  ASSERT_EQ(done.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(done.get(), RelayEnd::idle);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(200));
  io.join();
  EXPECT_EQ(read_to_eof(r.server), "x");
  EXPECT_EQ(read_to_eof(r.client), "");
}

}  // namespace
}  // namespace cutover::net
