// What the bench load tools (tcp_load.cpp, ws_load.cpp) share: the echo server's listening socket
// and accept loop, and their HOST:PORT arguments.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include <boost/asio.hpp>

namespace bench {

namespace asio = boost::asio;
using asio::ip::tcp;

// Accepts on `a` for ever, one `session(socket)` coroutine per connection (TCP_NODELAY set); after
// an accept error (out of descriptors, say) it waits 50 ms instead of spinning.
template <class Session>
asio::awaitable<void> accept_loop(tcp::acceptor& a, Session session) {
  for (;;) {
    auto [ec, s] = co_await a.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      asio::steady_timer t(a.get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    s.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(a.get_executor(), session(std::move(s)), asio::detached);
  }
}

// The `serve` mode of a load tool: listens on 127.0.0.1 with a port the kernel picks, prints the port
// (bench/run.sh reads it), then serves `session` until killed.
template <class Session>
int serve_forever(Session session) {
  asio::io_context io{1};
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  std::printf("%u\n", a.local_endpoint().port());
  std::fflush(stdout);
  asio::co_spawn(io, accept_loop(a, session), asio::detached);
  io.run();
  return 0;
}

// "127.0.0.1:8080" -> its endpoint (an IP address, not a name).
inline tcp::endpoint parse_endpoint(const std::string& hp) {
  const auto colon = hp.rfind(':');
  return {asio::ip::make_address(hp.substr(0, colon)), static_cast<unsigned short>(std::stoi(hp.substr(colon + 1)))};
}

}  // namespace bench
