// The admin listener: see server.hpp.
#include "admin/server.hpp"

#include <chrono>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "admin/api.hpp"

namespace cutover::admin {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using asio::ip::tcp;
using namespace std::chrono_literals;

constexpr std::size_t kBodyLimit = 1024 * 1024;  // bytes of an admin request body
constexpr std::size_t kHeaderLimit = 16 * 1024;

asio::awaitable<void> serve(tcp::socket socket, Control& control) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  std::string client;
  {
    boost::system::error_code ec;
    auto peer = stream.socket().remote_endpoint(ec);
    if (!ec) client = fmt::format("{}:{}", peer.address().to_string(), peer.port());
  }
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(kBodyLimit);
    stream.expires_after(30s);
    auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, as_tuple(use_awaitable));
    if (ec) {
      // A client that left or idled out gets nothing; a malformed or oversized request an answer.
      bool gone = ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
                  ec == beast::error::timeout || ec == bhttp::error::partial_message;
      if (!gone) {
        AdminResponse res{ec == bhttp::error::body_limit ? bhttp::status::payload_too_large : bhttp::status::bad_request, 11};
        res.set(bhttp::field::content_type, "application/json");
        res.body() = "{\"error\":\"malformed request: " + ec.message() + "\"}\n";
        res.keep_alive(false);
        res.prepare_payload();
        co_await bhttp::async_write(stream, res, as_tuple(use_awaitable));
      }
      break;
    }
    auto req = parser.release();
    AdminReply reply = route_admin_request(req, control, client);
    if (reply.drain_route && reply.response.result() == bhttp::status::ok) {
      // A write hold answers once the writes that passed before it are done (or at its deadline).
      asio::steady_timer poll(stream.get_executor());
      while (reply.drain_route->runtime->writes_in_flight.load() > 0 &&
             std::chrono::steady_clock::now() < reply.drain_deadline) {
        poll.expires_after(5ms);
        co_await poll.async_wait(as_tuple(use_awaitable));
      }
      reply.response = finish_hold(reply);
    }
    if (reply.deferred) reply.response = co_await reply.deferred();
    AdminResponse res = std::move(reply.response);
    res.set(bhttp::field::server, "cutover-admin");
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    if (req.method() != bhttp::verb::get || res.result_int() >= 400)
      spdlog::info("admin: {} {} -> {}", std::string_view(req.method_string()), std::string_view(req.target()),
                   res.result_int());
    auto [wec, wn] = co_await bhttp::async_write(stream, res, as_tuple(use_awaitable));
    if (wec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, Control& control) {
  asio::steady_timer backoff(acceptor.get_executor());
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(as_tuple(use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      spdlog::warn("admin: accept failed: {}; retrying in 100 ms", ec.message());
      backoff.expires_after(100ms);
      co_await backoff.async_wait(as_tuple(use_awaitable));
      continue;
    }
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), control), asio::detached);
  }
}

}  // namespace

void start_admin_server(asio::io_context& io, tcp::acceptor& acceptor, Control& control) {
  asio::co_spawn(io, accept_loop(acceptor, control), asio::detached);
}

}  // namespace cutover::admin
