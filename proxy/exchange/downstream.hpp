// What an exchange needs of the client side: who the client is, the request's body, ways to
// answer (cutover's own answers, 100 Continue, interim responses, the upstream's response, a
// tunnel after a 101), whether the client left, and the request deadline. The HTTP/1 connection
// (proxy/http/connection.cpp) implements it; an HTTP/2 stream will too; tests use a recording one.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>

#include "proxy/codec/body.hpp"
#include "proxy/codec/message_writer.hpp"
#include "proxy/exchange/outcome.hpp"
#include "proxy/exchange/upstream_channel.hpp"
#include "proxy/net/byte_relay.hpp"
#include "proxy/net/stream.hpp"
#include "proxy/router/split.hpp"

namespace cutover::runtime {
struct Route;
}

namespace cutover::exchange {

struct ClientInfo {
  boost::asio::ip::address address;  // as accept() gave it
  std::string ip;                    // the address as text (X-Forwarded-For, sticky client_ip)
  unsigned port = 0;                 // the client's port (the access log)
  bool tls = false;                  // the connection is TLS (X-Forwarded-Proto: https)
};

// An answer cutover makes itself (verdict(): a status and a kind).
struct Reply {
  unsigned status = 500;
  Answer kind = Answer::text;
  std::string_view reason;  // text: the body after "cutover: "; held: the "error" member
  std::string_view route;   // held: the route
  std::string_view code;    // held: "hold_timeout", "max_held"; text: codec::kGrpcNeedsHttp2 or empty
  bool keep_alive = false;
  std::string_view request_id_field;  // with request_id: the response carries it (empty: not)
  std::string_view request_id;
  // maintenance: the answer's body and content type, and Retry-After in seconds.
  std::string_view body;
  std::string_view content_type;
  std::int64_t retry_after_s = 0;
};

// The upstream's final response as the exchange relays it.
struct Response {
  boost::beast::http::response_header<>& head;  // as received; the downstream rewrites it for its protocol
  ResponseFraming framing;
  bool no_body = false;              // HEAD, 204, 304 (and 1xx)
  codec::BodySource* body = nullptr; // null: no body
  // In: the exchange's wish (the client asked; not draining). Out, set by send_response() before
  // it writes: whether the connection stays open (what the response's framing allowed).
  bool keep_alive = false;
};

// A tunnel's settings (the route and side it counts under, its idle timeout).
struct TunnelSpec {
  const runtime::Route* route = nullptr;
  router::Side side = router::Side::source;
  std::chrono::milliseconds idle{};
};

class Downstream : public InterimSink {
 public:
  virtual const ClientInfo& client() const = 0;

  // Cutover's own answer. Returns whether the connection stays open (reply.keep_alive and the
  // write worked).
  virtual boost::asio::awaitable<bool> reply(const Reply& reply) = 0;
  // "100 Continue" (RFC 9110 §10.1.1), once an upstream connection is ready for the body.
  // Returns false when the client is gone.
  virtual boost::asio::awaitable<bool> send_continue() = 0;
  // The response head, rewritten for the client, and its body (sets response.keep_alive).
  virtual boost::asio::awaitable<codec::WriteOutcome> send_response(Response& response) = 0;
  // After a 101 to an upgrade: the 101 `head` goes to the client as received, then bytes flow both
  // ways between the client and `upstream` (`upstream_buffered` first: bytes read past the head)
  // until both closed, an error, the idle timeout or a close from a rollback or release. Returns
  // the bytes relayed each way.
  virtual boost::asio::awaitable<net::RelayBytes> tunnel(boost::beast::http::response_header<>& head, net::Stream& upstream,
                                              boost::beast::flat_buffer& upstream_buffered,
                                              const TunnelSpec& spec) = 0;

  // Body bytes of the last reply() written (the access log; send_response() reports its own).
  virtual std::uint64_t last_reply_bytes() const = 0;

  // Whether the client closed or reset its side (looked at without reading what it sent).
  virtual bool closed() = 0;

  // The request deadline (timeouts.request): when it passes, pending reads and writes of the
  // client and of the watched upstream stream end (operation_aborted) and deadline_passed() says so.
  virtual void arm_deadline(std::chrono::milliseconds after) = 0;
  virtual void disarm_deadline() = 0;
  virtual bool deadline_passed() const = 0;
  virtual void watch_upstream(net::Stream* upstream) = 0;

 protected:
  ~Downstream() = default;
};

}  // namespace cutover::exchange
