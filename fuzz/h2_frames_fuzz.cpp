// libFuzzer target: the HTTP/2 input path. The input is what a client sends after the connection
// preface (frames, well-formed or not); it goes over a real loopback connection into the real
// server connection (proxy/h2/server_connection.cpp) on a worker context of its own, whose streams
// run the real exchange: routes that answer 404, and one whose clusters refuse connections (502),
// so heads, bodies, resets and answers all pass through cutover's callbacks and buffers. What it
// checks: no memory error or undefined behaviour (ASan+UBSan), and that the connection ends once
// the client has said everything (no wait of it outlives the bounded timeouts: libFuzzer's
// -timeout catches one that does).
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "config/loader.hpp"
#include "proxy/exchange/worker_context.hpp"
#include "proxy/h2/server_connection.hpp"
#include "proxy/runtime/snapshot.hpp"
#include "proxy/stats/metrics.hpp"

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace cutover;

// Short timeouts: an input that leaves a stream waiting must still end quickly.
constexpr std::string_view kConfig =
    "workers: 1\n"
    "admin: {listen: 127.0.0.1:0}\n"
    "clusters:\n"
    "  a: {endpoints: [\"127.0.0.1:1\"], connect_timeout: 100ms}\n"
    "  b: {endpoints: [\"127.0.0.1:2\"], connect_timeout: 100ms}\n"
    "timeouts: {idle: 1s, request_header: 1s, body_idle: 200ms}\n"
    "limits: {max_request_line: 2KiB, max_header_bytes: 4KiB, max_request_body: 64KiB, http2_max_concurrent_streams: 8,\n"
    "         http2_stream_buffer: 64KiB, http2_connection_buffer: 128KiB, http2_max_resets_per_second: 10}\n"
    "listeners:\n"
    "  - name: public\n"
    "    address: 127.0.0.1:0\n"
    "    routes:\n"
    "      - {name: up, match: {host: \"*\", path_prefix: /up/}, source: a, target: b, weight: 50}\n"
    "      - {name: only, match: {host: only.test, path_prefix: /}, source: a, target: b}\n";

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct World {
  World() {
    auto loaded = config::load_string(std::string(kConfig), "fuzz.yaml");
    if (!loaded.config) {
      std::fprintf(stderr, "fuzz config: %s\n", loaded.errors.front().str().c_str());
      std::abort();
    }
    source.publish(runtime::compile(*loaded.config, registry, metrics));
    acceptor.open(tcp::v4());
    acceptor.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor.listen();
  }

  stats::Metrics metrics;
  runtime::RuntimeRegistry registry{1};
  runtime::SnapshotSource source;
  asio::io_context io;
  runtime::SnapshotCache snapshots{source};
  runtime::BufferLender buffers;
  runtime::ConnectionSet connections{io};
  runtime::HeldWrites held{io};
  upstream::ConnectionPool pool{io.get_executor()};
  std::mt19937_64 rng{7};
  exchange::WorkerContext context{0, io.get_executor(), snapshots, buffers, connections, held, pool, rng};
  tcp::acceptor acceptor{io};
};

// The client's side: everything at once, then its half-close; what the server sends is read and
// dropped, so the server never waits on a full socket buffer.
asio::awaitable<void> client(tcp::socket& s, std::string bytes, bool& done) {
  // A write that fails (cutover closed first) ends nothing here: the reads below see the close.
  [[maybe_unused]] auto [ec, n] = co_await asio::async_write(s, asio::buffer(bytes), asio::as_tuple(asio::use_awaitable));
  boost::system::error_code ignored;
  s.shutdown(tcp::socket::shutdown_send, ignored);
  char sink[16384];
  for (;;) {
    auto [rec, got] = co_await s.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
    if (rec) break;
  }
  done = true;
}

asio::awaitable<void> server(net::Stream& stream, exchange::WorkerContext& context, bool& done) {
  exchange::ClientInfo info;
  info.address = asio::ip::make_address("127.0.0.1");
  info.ip = "127.0.0.1";
  boost::beast::flat_buffer received;
  runtime::Drainable* hook = nullptr;
  co_await h2::serve(stream, received, info, context, 0, &hook);
  boost::system::error_code ignored;
  // A reset, not a FIN: 2,000 connections a second would otherwise fill the ephemeral ports
  // with TIME_WAIT.
  stream.socket().set_option(asio::socket_base::linger(true, 0), ignored);
  stream.socket().close(ignored);
  done = true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World* world = new World();  // one for the process, like a worker
  World& w = *world;
  tcp::socket c(w.io);
  boost::system::error_code ec;
  c.connect(w.acceptor.local_endpoint(), ec);
  if (ec) return 0;  // the harness's trouble, not the input's
  c.set_option(asio::socket_base::linger(true, 0), ec);
  net::Stream stream(w.acceptor.accept(ec));
  if (ec) return 0;
  std::string bytes(kPreface);
  bytes.append(reinterpret_cast<const char*>(data), size);
  bool client_done = false, server_done = false;
  asio::co_spawn(w.io, client(c, std::move(bytes), client_done), asio::detached);
  asio::co_spawn(w.io, server(stream, w.context, server_done), asio::detached);
  // Until both ends are done, not until the io_context runs out of work: the sockets' deadlines
  // are re-armed lazily, so their timers may still be pending. A connection that never ends is
  // libFuzzer's -timeout.
  while (!client_done || !server_done) w.io.run_one();
  return 0;
}
