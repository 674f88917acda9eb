// libFuzzer target: the bytes a client sends, through what cutover does with a request before and
// while it goes upstream (proxy/http/connection.cpp and the exchange): read the head as head_reader.hpp does,
// refuse unsafe framing, match a route, read the sticky/force inputs, rewrite the head, relay the
// body; then the bytes the upstream would get must parse as exactly that one request.
// Pipelined requests after the first are handled the same way, as the connection's loop does.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <boost/beast/core/string.hpp>

#include "fuzz/fuzz_http.hpp"
#include "proxy/codec/headers.hpp"
#include "proxy/codec/request_target.hpp"
#include "proxy/router/route_match.hpp"
#include "proxy/router/sticky.hpp"

namespace {

using namespace cutover;
using namespace cutover::fuzz;

// A listener with exact hosts, a wildcard and nested prefixes, and no catch-all (so 404 happens).
const std::array<router::RouteMatch, 4> kRoutes{{
    {"example.com", "/api/"},
    {"example.com", "/"},
    {"*", "/static/"},
    {"*", "/v2/"},
}};

constexpr std::uint64_t kMaxBody = 1 << 20;  // limits.max_request_body: over it, 413
constexpr std::string_view kClientIp = "192.0.2.10";

void check_raw_helpers(std::string_view raw) {
  const auto end = codec::head_end(raw);
  if (end != std::string_view::npos && (end < 4 || raw.substr(end - 4, 4) != "\r\n\r\n"))
    fail("head_end: not just past an empty line", raw);
  const auto line = codec::first_line_length(raw);
  if (line != std::string_view::npos && (line >= raw.size() || (raw[line] != '\r' && raw[line] != '\n')))
    fail("first_line_length: not at a line end", raw);
  (void)codec::has_obs_fold(raw);
  (void)codec::has_bare_lf(raw);
}

void check_route(std::string_view host, std::string_view target, std::string_view path) {
  if (!path.empty() && (path.data() < target.data() || path.data() + path.size() > target.data() + target.size()) &&
      path != "/")
    fail("path_of_target: not a part of the target", target);
  const int r = router::match_route(kRoutes, host, path);
  if (r < -1 || r >= static_cast<int>(kRoutes.size())) fail("match_route: index out of range");
  if (r >= 0) {
    const auto& m = kRoutes[static_cast<std::size_t>(r)];
    if (m.host != "*" && !boost::beast::iequals(m.host, host)) fail("match_route: host does not match", host);
    if (!path.starts_with(m.path_prefix)) fail("match_route: prefix does not match", path);
  }
}

// What assign_side() reads from a request (proxy/exchange/assign.cpp): cheap, pure, so all of it.
void check_assignment_inputs(const bhttp::fields& req) {
  const std::string_view cookies = req[bhttp::field::cookie];
  for (std::string_view name : {"uid", "cutover_bucket", "cutover_force"}) {
    auto v = router::cookie_value(cookies, name);
    if (!v) continue;
    if (v->data() < cookies.data() || v->data() + v->size() > cookies.data() + cookies.size())
      fail("cookie_value: not a part of the header", cookies);
    if (router::sticky_bucket(*v) >= 10000) fail("sticky_bucket: out of range");
    if (auto b = router::pinned_bucket(*v); b && *b >= 10000) fail("pinned_bucket: out of range");
    (void)router::parse_side(*v);
  }
  if (router::sticky_bucket(req["X-User-Id"]) >= 10000) fail("sticky_bucket: out of range");
  (void)router::parse_side(req["X-Cutover-Side"]);
  // The allow list with an address from the request (the connection uses the socket's).
  static const std::array<boost::asio::ip::network_v4, 2> v4{boost::asio::ip::make_network_v4("127.0.0.0/8"),
                                                             boost::asio::ip::make_network_v4("10.1.2.0/23")};
  static const std::array<boost::asio::ip::network_v6, 2> v6{boost::asio::ip::make_network_v6("::1/128"),
                                                             boost::asio::ip::make_network_v6("fd00::/7")};
  boost::system::error_code ec;
  const auto addr = boost::asio::ip::make_address(std::string(req["X-Real-IP"]), ec);
  if (!ec) (void)router::allowed({v4, v6}, addr);
}

// One request as exchange() handles it. Returns whether the connection would go on to the next.
bool exchange(InputStream& stream, boost::beast::flat_buffer& buffer,
              bhttp::request_parser<bhttp::buffer_body>& parser) {
  auto& req = parser.get();
  const bool req_keep_alive = req.keep_alive();
  const bool body_pending = !parser.is_done();
  const bool keep_after_error = req_keep_alive && !body_pending;
  if (codec::check_request_framing(req)) return false;  // 400 and close
  const bool absolute_form = req.target().find("://") != std::string_view::npos && !req.target().starts_with("/");
  if (codec::absolute_form_to_origin_form(req)) return false;  // 400 and close
  if (absolute_form && !req.target().starts_with("/")) fail("absolute-form target not made origin-form", req.target());

  const auto host_it = req.find(bhttp::field::host);
  const std::string original_host = host_it == req.end() ? std::string() : std::string(host_it->value());
  const std::string_view host = host_it == req.end() ? std::string_view{} : router::host_without_port(host_it->value());
  if (host_it != req.end() && !host_it->value().starts_with(host))
    fail("host_without_port: not a prefix", host_it->value());
  const std::string_view path = router::path_of_target(req.target());
  check_route(host, req.target(), path);
  if (router::match_route(kRoutes, host, path) < 0) return keep_after_error;  // 404
  check_assignment_inputs(req);
  req.erase("X-Cutover-Side");  // the route's force header, never forwarded

  const std::string method(req.method_string());
  const std::string target(req.target());
  const bool expect_continue = boost::beast::iequals(req[bhttp::field::expect], "100-continue");
  const bool chunked_body = parser.chunked();
  codec::prepare_upstream_request(req, chunked_body, expect_continue, kClientIp, "http");

  std::array<char, 256> scratch;  // the relay's 64 KiB buffer, small so the loop turns
  const Relayed sent = relay_body(stream, buffer, parser, scratch);
  // Stopped mid-body (400/413, or the client left): the proxy drops both connections.
  if (!sent.complete) return false;

  // The upstream's view: one request, the same body, sound framing, and what the rewrite promises.
  const auto up = expect_one_message<true>(sent.wire, sent.body, false, false, "request");
  if (auto problem = codec::check_request_framing(up))
    fail(("forwarded request fails the proxy's own framing check: " + *problem).c_str(), sent.wire);
  if (up.method_string() != method || up.target() != target) fail("request line changed", sent.wire);
  if (!original_host.empty() && up[bhttp::field::host] != original_host) fail("Host not kept", sent.wire);
  if (up.count(bhttp::field::connection) || up.count(bhttp::field::te) || up.count(bhttp::field::upgrade) ||
      up.count(bhttp::field::trailer) || up.count(bhttp::field::keep_alive) || up.count(bhttp::field::proxy_connection))
    fail("hop-by-hop field forwarded", sent.wire);
  if (expect_continue && up.count(bhttp::field::expect)) fail("Expect forwarded", sent.wire);
  if (!up["X-Forwarded-For"].ends_with(kClientIp)) fail("X-Forwarded-For lacks the client", sent.wire);
  if (up["X-Cutover-Side"] != "") fail("force header forwarded", sent.wire);
  const std::string_view head(sent.wire.data(), codec::head_end(sent.wire));
  if (codec::has_obs_fold(head) || codec::has_bare_lf(head)) fail("forwarded head breaks the raw checks", head);
  return req_keep_alive;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  check_raw_helpers(input);

  InputStream stream(input, segment_for(input));
  boost::beast::flat_buffer buffer;
  const codec::HeadLimits limits;  // the config defaults: 64 KiB head, 8 KiB request line
  for (int message = 0; message < 4; ++message) {
    bhttp::request_parser<bhttp::buffer_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
    parser.body_limit(kMaxBody);
    const auto head = read_head(stream, buffer, parser, limits);
    if (!head.ok()) break;  // 400/414/431/413, or the client left: the connection closes
    if (!exchange(stream, buffer, parser)) break;
  }
  return 0;
}
