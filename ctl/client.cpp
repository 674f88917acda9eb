// The admin API client: see client.hpp. Beast's tcp_stream timeouts apply to asynchronous
// operations only, so each call runs a small coroutine on its own io_context until it is done.
#include "ctl/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <fmt/format.h>

namespace cutover::ctl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

constexpr std::uint64_t kMaxResponseBody = 64ull << 20;

struct Exchange {
  const AdminEndpoint& endpoint;
  bhttp::request<bhttp::string_body> request;
  std::chrono::milliseconds timeout;
  std::optional<AdminResponse> response;
  std::string failure;
  bool done = false;
};

std::string describe(const boost::system::error_code& ec, std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout || ec == asio::error::timed_out)
    return fmt::format("timed out after {} s", timeout.count() / 1000.0);
  return ec.message();
}

asio::awaitable<void> run_exchange(Exchange& x) {
  constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  auto [rec, results] = co_await resolver.async_resolve(x.endpoint.host, x.endpoint.port, tuple);
  if (rec) {
    x.failure = "cannot resolve " + x.endpoint.host + ": " + rec.message();
    co_return;
  }
  beast::tcp_stream stream(ex);
  stream.expires_after(x.timeout);
  auto [cec, ep] = co_await stream.async_connect(results, tuple);
  if (cec) {
    x.failure = describe(cec, x.timeout);
    co_return;
  }
  auto [wec, wn] = co_await bhttp::async_write(stream, x.request, tuple);
  if (wec) {
    x.failure = "sending the request: " + describe(wec, x.timeout);
    co_return;
  }
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  auto [rdec, rn] = co_await bhttp::async_read(stream, buffer, parser, tuple);
  if (rdec) {
    x.failure = "reading the response: " + describe(rdec, x.timeout);
    co_return;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);

  auto res = parser.release();
  AdminResponse out;
  out.status = res.result_int();
  out.body = std::move(res.body());
  if (out.body.find_first_not_of(" \t\r\n") != std::string::npos) {
    boost::system::error_code jec;
    auto v = json::parse(out.body, jec);
    if (!jec) out.json = std::move(v);
  }
  x.response = std::move(out);
}

}  // namespace

std::optional<AdminEndpoint> parse_admin_url(std::string_view text, std::string& error) {
  std::string url(text);
  if (url.find("://") == std::string::npos) url = "http://" + url;
  auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) {
    error = fmt::format("invalid admin URL '{}': {}", text, parsed.error().message());
    return std::nullopt;
  }
  const auto& u = *parsed;
  if (u.scheme_id() != boost::urls::scheme::http) {
    error = fmt::format("invalid admin URL '{}': the admin API speaks http:// only", text);
    return std::nullopt;
  }
  if (u.host_address().empty()) {
    error = fmt::format("invalid admin URL '{}': no host", text);
    return std::nullopt;
  }
  if (u.has_query() || u.has_fragment()) {
    error = fmt::format("invalid admin URL '{}': no query or fragment allowed", text);
    return std::nullopt;
  }
  AdminEndpoint e;
  e.url = url;
  e.host = u.host_address();
  e.port = u.has_port() ? std::string(u.port()) : "80";
  if (e.port.empty()) e.port = "80";
  e.base_path = std::string(u.encoded_path());
  while (!e.base_path.empty() && e.base_path.back() == '/') e.base_path.pop_back();
  return e;
}

std::string api_target(const std::vector<std::string>& segments,
                       const std::vector<std::pair<std::string, std::string>>& params) {
  boost::urls::url u;
  u.set_path_absolute(true);
  for (const auto& s : segments) u.segments().push_back(s);
  for (const auto& [k, v] : params) u.params().append({k, v});
  return std::string(u.encoded_resource());
}

std::string AdminResponse::error_text() const {
  if (json.is_object())
    if (const auto* e = json.as_object().if_contains("error")) {
      if (e->is_string()) return std::string(e->as_string());
      return json::serialize(*e);
    }
  auto end = body.find_first_of("\r\n");
  auto line = body.substr(0, end);
  if (!line.empty()) return line;
  return std::string(bhttp::obsolete_reason(static_cast<bhttp::status>(status)));
}

AdminClient::AdminClient(AdminEndpoint endpoint, std::string token, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), token_(std::move(token)), timeout_(timeout) {}

CallResult AdminClient::call(bhttp::verb method, const std::string& target, const json::value* body) const {
  return call(method, target, body, timeout_);
}

CallResult AdminClient::call(bhttp::verb method, const std::string& target, const json::value* body,
                             std::chrono::milliseconds timeout) const {
  Exchange x{endpoint_, {method, endpoint_.base_path + target, 11}, timeout, std::nullopt, {}};
  auto& req = x.request;
  // Host as in RFC 9112 §3.2: the authority, IPv6 in brackets.
  std::string host = endpoint_.host.find(':') != std::string::npos ? "[" + endpoint_.host + "]" : endpoint_.host;
  req.set(bhttp::field::host, endpoint_.port == "80" ? host : host + ":" + endpoint_.port);
  req.set(bhttp::field::user_agent, "cutoverctl/" CUTOVER_VERSION);
  req.set(bhttp::field::accept, "application/json");
  req.set(bhttp::field::connection, "close");
  if (!token_.empty()) req.set(bhttp::field::authorization, "Bearer " + token_);
  if (body) {
    req.set(bhttp::field::content_type, "application/json");
    req.body() = json::serialize(*body);
  }
  req.prepare_payload();

  asio::io_context ioc(1);
  asio::co_spawn(ioc, run_exchange(x), [&x](std::exception_ptr e) {
    x.done = true;
    if (e && x.failure.empty() && !x.response) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& err) {
        x.failure = err.what();
      }
    }
  });
  // The stream's own timer bounds connect, write and read; name resolution has none, so the
  // whole exchange gets one more second than that before it is given up.
  ioc.run_for(timeout + std::chrono::seconds(1));
  if (x.response) return {std::move(x.response), {}};
  if (!x.done && x.failure.empty()) x.failure = fmt::format("timed out after {} s", timeout.count() / 1000.0);
  return {std::nullopt, x.failure.empty() ? "no response" : x.failure};
}

}  // namespace cutover::ctl
