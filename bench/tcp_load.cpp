// TCP load for the bench "tcp" stage (bench/run.sh): an echo backend and two load runs, so cutover
// and HAProxy `mode tcp` are measured on the same job with no tool of their own in the way.
//
//   tcp_load serve                      echo server on 127.0.0.1, port printed on stdout; runs until killed
//   tcp_load throughput HOST:PORT C MIB C connections at once, each writing MIB MiB and reading
//                                       the echo back concurrently; prints "MiB/s seconds errors"
//                                       (MiB/s counts both directions)
//   tcp_load rate HOST:PORT C SECONDS   C loops, each: connect, 64-byte round trip, close, again,
//                                       for SECONDS; prints "connections/s connections errors"
//
// One thread, one io_context, Asio coroutines; every read or write has a 10 s timeout.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>

#include "load_common.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

constexpr std::size_t kBuf = 64 * 1024;
constexpr auto kTimeout = std::chrono::seconds(10);

// The first byte the backend sends is its greeting in the tests' backends; this one only echoes.
asio::awaitable<void> echo(tcp::socket s) {
  std::vector<char> buf(kBuf);
  for (;;) {
    auto [ec, n] = co_await s.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    if (n) {
      auto [wec, w] = co_await asio::async_write(s, asio::buffer(buf.data(), n), asio::as_tuple(asio::use_awaitable));
      if (wec) co_return;
    }
    if (ec == asio::error::eof) {
      error_code ignored;
      s.shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
    if (ec) co_return;
  }
}

// An operation with a timeout: the timer closes the socket.
struct Deadline {
  asio::steady_timer timer;
  explicit Deadline(tcp::socket& s) : timer(s.get_executor()) { arm(s); }
  void arm(tcp::socket& s) {
    timer.expires_after(kTimeout);
    timer.async_wait([&s](error_code ec) {
      if (!ec) s.close(ec);
    });
  }
};

struct Totals {
  std::uint64_t bytes = 0;
  std::uint64_t connections = 0;
  std::uint64_t errors = 0;
};

asio::awaitable<void> one_transfer(tcp::endpoint ep, std::uint64_t bytes, Totals& t) {
  tcp::socket s(co_await asio::this_coro::executor);
  Deadline d(s);
  auto [ec] = co_await s.async_connect(ep, asio::as_tuple(asio::use_awaitable));
  if (ec) {
    ++t.errors;
    co_return;
  }
  s.set_option(tcp::no_delay(true), ec);
  std::vector<char> out(kBuf, 'x'), in(kBuf);
  std::uint64_t got = 0;
  auto writer = [&]() -> asio::awaitable<void> {
    std::uint64_t sent = 0;
    while (sent < bytes) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kBuf, bytes - sent));
      d.arm(s);
      auto [wec, w] = co_await asio::async_write(s, asio::buffer(out.data(), n), asio::as_tuple(asio::use_awaitable));
      if (wec) co_return;
      sent += w;
    }
    error_code ignored;
    s.shutdown(tcp::socket::shutdown_send, ignored);
  };
  auto reader = [&]() -> asio::awaitable<void> {
    for (;;) {
      auto [rec, n] = co_await s.async_read_some(asio::buffer(in), asio::as_tuple(asio::use_awaitable));
      got += n;
      if (rec) co_return;
    }
  };
  co_await (writer() && reader());
  d.timer.cancel();
  t.bytes += 2 * got;
  if (got != bytes) ++t.errors;
}

asio::awaitable<void> rate_loop(tcp::endpoint ep, Clock::time_point until, Totals& t) {
  auto ex = co_await asio::this_coro::executor;
  char msg[64] = {}, back[64];
  while (Clock::now() < until) {
    tcp::socket s(ex);
    Deadline d(s);
    auto [ec] = co_await s.async_connect(ep, asio::as_tuple(asio::use_awaitable));
    if (!ec) {
      s.set_option(tcp::no_delay(true), ec);
      auto [wec, w] = co_await asio::async_write(s, asio::buffer(msg), asio::as_tuple(asio::use_awaitable));
      ec = wec;
    }
    if (!ec) {
      auto [rec, r] = co_await asio::async_read(s, asio::buffer(back), asio::as_tuple(asio::use_awaitable));
      ec = rec;
    }
    d.timer.cancel();
    if (ec) {
      ++t.errors;
    } else {
      ++t.connections;
    }
    // RST instead of FIN: no TIME_WAIT on this side, so thousands of connections a second do not
    // run the ephemeral ports out.
    s.set_option(asio::socket_base::linger(true, 0), ec);
    s.close(ec);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tcp_load serve | throughput HOST:PORT C MIB | rate HOST:PORT C SECONDS\n");
    return 2;
  }
  const std::string mode = argv[1];
  if (mode == "serve") return bench::serve_forever(echo);
  if (argc != 5) return 2;
  asio::io_context io{1};
  const auto ep = bench::parse_endpoint(argv[2]);
  const int conns = std::atoi(argv[3]);
  Totals t;
  const auto start = Clock::now();
  if (mode == "throughput") {
    const std::uint64_t bytes = std::strtoull(argv[4], nullptr, 10) << 20;
    for (int i = 0; i < conns; ++i) asio::co_spawn(io, one_transfer(ep, bytes, t), asio::detached);
    io.run();
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("%.0f %.2f %llu\n", t.bytes / s / (1 << 20), s, static_cast<unsigned long long>(t.errors));
    return 0;
  }
  if (mode == "rate") {
    const auto until = start + std::chrono::seconds(std::atoi(argv[4]));
    for (int i = 0; i < conns; ++i) asio::co_spawn(io, rate_loop(ep, until, t), asio::detached);
    io.run();
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("%.0f %llu %llu\n", t.connections / s, static_cast<unsigned long long>(t.connections),
                static_cast<unsigned long long>(t.errors));
    return 0;
  }
  return 2;
}
