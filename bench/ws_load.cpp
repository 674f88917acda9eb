// WebSocket load for the bench "websocket" stage (bench/run.sh): an echo backend and a ping-pong
// client, so cutover, HAProxy and nginx relay the same tunnels with no tool of their own in the way.
//
//   ws_load serve                                echo server on 127.0.0.1 (every message back as it
//                                                came), port printed on stdout; runs until killed
//   ws_load run HOST:PORT PATH C SECONDS BYTES   C WebSocket connections (handshake GET PATH), each
//                                                sending a BYTES-byte binary message and waiting for
//                                                its echo, again, for SECONDS; prints
//                                                "messages/s p50_us p99_us messages errors"
//
// One message in flight per connection, so messages/s is round trips a second and p50/p99 are the
// round-trip times (µs) of every message. A failed connect, handshake, read or write, or an echo
// that differs, is an error (and ends that connection's loop). One thread, one io_context, Beast's
// websocket stream on Asio coroutines; every handshake, read and write has a 10 s timeout.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "load_common.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Stream = websocket::stream<beast::tcp_stream>;

namespace {

constexpr auto kTimeout = std::chrono::seconds(10);
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Handshakes and silence both bounded; no pings of our own, so the bytes on the wire are the load's.
void bound(Stream& ws) {
  websocket::stream_base::timeout t{};
  t.handshake_timeout = kTimeout;
  t.idle_timeout = kTimeout;
  t.keep_alive_pings = false;
  ws.set_option(t);
}

asio::awaitable<void> echo(tcp::socket s) {
  Stream ws(std::move(s));
  bound(ws);
  ws.read_message_max(64 * 1024 * 1024);
  if (auto [aec] = co_await ws.async_accept(kTuple); aec) co_return;
  beast::flat_buffer buf;
  for (;;) {
    auto [rec, n] = co_await ws.async_read(buf, kTuple);
    if (rec) co_return;  // closed by the peer, or the proxy went away
    ws.binary(ws.got_binary());
    auto [wec, w] = co_await ws.async_write(buf.data(), kTuple);
    if (wec) co_return;
    buf.consume(buf.size());
  }
}

struct Totals {
  std::uint64_t messages = 0;
  std::uint64_t errors = 0;
  std::vector<std::uint32_t> rtt_us;  // every round trip
  Clock::time_point last;             // when the last echo arrived
};

asio::awaitable<void> ping_pong(tcp::endpoint ep, std::string host, std::string path, std::size_t bytes,
                                Clock::time_point until, Totals& t) {
  Stream ws(co_await asio::this_coro::executor);
  auto& sock = beast::get_lowest_layer(ws);
  sock.expires_after(kTimeout);
  if (auto [ec] = co_await sock.async_connect(ep, kTuple); ec) {
    ++t.errors;
    co_return;
  }
  sock.expires_never();  // the websocket timeouts take over from here
  beast::error_code ignored;
  sock.socket().set_option(tcp::no_delay(true), ignored);
  bound(ws);
  if (auto [ec] = co_await ws.async_handshake(host, path, kTuple); ec) {
    ++t.errors;
    co_return;
  }
  ws.binary(true);
  const std::string msg(bytes, 'm');
  beast::flat_buffer buf;
  while (Clock::now() < until) {
    const auto t0 = Clock::now();
    auto [wec, w] = co_await ws.async_write(asio::buffer(msg), kTuple);
    if (wec) {
      ++t.errors;
      co_return;
    }
    auto [rec, n] = co_await ws.async_read(buf, kTuple);
    if (rec || buf.size() != bytes ||
        !std::equal(msg.begin(), msg.end(), static_cast<const char*>(buf.cdata().data()))) {
      ++t.errors;
      co_return;
    }
    buf.consume(buf.size());
    const auto t1 = Clock::now();
    ++t.messages;
    t.last = std::max(t.last, t1);
    t.rtt_us.push_back(static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()));
  }
  co_await ws.async_close(websocket::close_code::normal, kTuple);
}

// The q-quantile (0..1) of v, reordering v; 0 when empty.
std::uint32_t quantile(std::vector<std::uint32_t>& v, double q) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "serve" && argc == 2) return bench::serve_forever(echo);
  if (mode != "run" || argc != 7) {
    std::fprintf(stderr, "usage: ws_load serve | run HOST:PORT PATH CONNECTIONS SECONDS BYTES\n");
    return 2;
  }
  asio::io_context io{1};
  const auto ep = bench::parse_endpoint(argv[2]);
  const std::string host = argv[2], path = argv[3];
  const int conns = std::atoi(argv[4]);
  const auto bytes = static_cast<std::size_t>(std::strtoull(argv[6], nullptr, 10));
  Totals t;
  const auto start = Clock::now();
  const auto until = start + std::chrono::seconds(std::atoi(argv[5]));
  for (int i = 0; i < conns; ++i) asio::co_spawn(io, ping_pong(ep, host, path, bytes, until, t), asio::detached);
  io.run();
  // Up to the last echo: the closing handshakes after it are not load.
  const double secs = std::max(1e-3, std::chrono::duration<double>(t.last - start).count());
  const auto p50 = quantile(t.rtt_us, 0.50), p99 = quantile(t.rtt_us, 0.99);
  std::printf("%.0f %u %u %llu %llu\n", static_cast<double>(t.messages) / secs, p50, p99,
              static_cast<unsigned long long>(t.messages), static_cast<unsigned long long>(t.errors));
  return 0;
}
