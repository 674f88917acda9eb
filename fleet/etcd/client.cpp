// The etcd client's unary calls, endpoint failover, TLS and authentication: see client.hpp.
#include "fleet/etcd/client.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <openssl/ssl.h>

#include "fleet/etcd/codec.hpp"
#include "fleet/etcd/connection.hpp"

namespace cutover::fleet::etcd {

using namespace detail;

namespace {

constexpr int kGrpcUnauthenticated = 16;

std::string ms_text(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

// What one request-answer exchange on a connected stream gave.
struct Exchange {
  boost::system::error_code ec;
  unsigned status = 0;
  std::string body;
};

template <class Stream>
asio::awaitable<Exchange> exchange(Stream& stream, http::request<http::string_body> req, std::size_t max_body) {
  Exchange out;
  auto [wec, wn] = co_await http::async_write(stream, req, as_tuple(use_awaitable));
  if (wec) {
    out.ec = wec;
    co_return out;
  }
  beast::flat_buffer buffer(64 * 1024);  // bounds the head
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  auto [rec, rn] = co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
  if (rec) {
    out.ec = rec;
    co_return out;
  }
  out.status = parser.get().result_int();
  out.body = std::move(parser.get().body());
  co_return out;
}

}  // namespace

Result<Endpoint> parse_endpoint(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Error{ErrorKind::config, "etcd endpoint \"" + std::string(text) + "\": " + std::string(why), 0, 0};
  };
  auto u = boost::urls::parse_uri(text);
  if (!u) return bad("not a URL");
  Endpoint ep;
  if (u->scheme() == "https")
    ep.tls = true;
  else if (u->scheme() != "http")
    return bad("the scheme must be http or https");
  if (u->host().empty()) return bad("no host");
  if (!u->encoded_path().empty() && u->encoded_path() != "/") return bad("a path is not allowed");
  if (u->has_query() || u->has_userinfo()) return bad("a query or user info is not allowed");
  ep.host = std::string(u->host_address());  // an IPv6 literal without its brackets, as the resolver wants it
  ep.port = u->has_port() ? std::string(u->port()) : std::string("2379");
  ep.text = std::string(text);
  return ep;
}

WatchOptions WatchOptions::prefix(std::string prefix, std::int64_t start_revision) {
  std::string end = prefix_range_end(prefix);
  return WatchOptions{std::move(prefix), std::move(end), start_revision};
}

Result<std::unique_ptr<Client>> Client::create(asio::io_context& io, ClientConfig config) {
  if (config.endpoints.empty()) return Error{ErrorKind::config, "no etcd endpoint", 0, 0};
  std::vector<Endpoint> endpoints;
  bool any_tls = false;
  for (const std::string& text : config.endpoints) {
    auto ep = parse_endpoint(text);
    if (!ep) return ep.error();
    any_tls = any_tls || ep->tls;
    endpoints.push_back(std::move(*ep));
  }
  std::unique_ptr<asio::ssl::context> tls;
  if (any_tls) {
    tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    boost::system::error_code ec;
    auto fail = [&](std::string_view what, const std::string& file) {
      return Error{ErrorKind::config, std::string(what) + " " + file + ": " + ec.message(), 0, 0};
    };
    SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
    tls->set_verify_mode(asio::ssl::verify_peer, ec);
    if (config.ca_file.empty())
      tls->set_default_verify_paths(ec);
    else
      tls->load_verify_file(config.ca_file, ec);
    if (ec) return fail("etcd CA file", config.ca_file);
    if (!config.cert_file.empty()) {
      tls->use_certificate_chain_file(config.cert_file, ec);
      if (ec) return fail("etcd client certificate", config.cert_file);
      tls->use_private_key_file(config.key_file, asio::ssl::context::pem, ec);
      if (ec) return fail("etcd client key", config.key_file);
    }
  }
  return std::unique_ptr<Client>(new Client(io, std::move(config), std::move(endpoints), std::move(tls)));
}

Client::Client(asio::io_context& io, ClientConfig config, std::vector<Endpoint> endpoints,
               std::unique_ptr<asio::ssl::context> tls)
    : io_(io), config_(std::move(config)), endpoints_(std::move(endpoints)), tls_(std::move(tls)) {}

asio::awaitable<Result<std::unique_ptr<detail::Connection>>> Client::connect(std::size_t index,
                                                                             Clock::time_point deadline) {
  const Endpoint& ep = endpoints_[index];
  auto fail = [&](const std::string& why) {
    return Error{ErrorKind::connect, "connect to " + ep.text + ": " + why, 0, 0};
  };
  const auto until = std::min(deadline, Clock::now() + config_.connect_timeout);
  auto ex = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(ex);
  asio::steady_timer guard(ex, until);  // bounds the resolve, which has no timeout of its own
  guard.async_wait([&resolver](const boost::system::error_code& ec) {
    if (!ec) resolver.cancel();
  });
  auto [rec, results] = co_await resolver.async_resolve(ep.host, ep.port, as_tuple(use_awaitable));
  guard.cancel();
  if (rec) co_return fail("resolve: " + rec.message());

  auto conn = std::make_unique<detail::Connection>();
  conn->plain.emplace(ex);
  conn->plain->expires_at(until);
  auto [cec, peer] = co_await conn->plain->async_connect(results, as_tuple(use_awaitable));
  if (cec) co_return fail(cec == beast::error::timeout ? "timeout after " + ms_text(config_.connect_timeout) : cec.message());
  if (!ep.tls) co_return conn;

  conn->tls.emplace(std::move(*conn->plain), *tls_);
  conn->plain.reset();
  boost::system::error_code addr_ec;
  asio::ip::make_address(ep.host, addr_ec);
  if (addr_ec) {  // a name, not an address literal: send it as SNI
    SSL_set_tlsext_host_name(conn->tls->native_handle(), ep.host.c_str());
  }
  conn->tls->set_verify_callback(asio::ssl::host_name_verification(ep.host));
  auto [hec] = co_await conn->tls->async_handshake(asio::ssl::stream_base::client, as_tuple(use_awaitable));
  if (hec) co_return fail("TLS handshake: " + hec.message());
  co_return conn;
}

bool Client::token_rejected(const Error& error) const {
  if (config_.username.empty() || error.kind != ErrorKind::server) return false;
  // An expired or unknown simple token; or one minted before the auth store changed.
  return error.grpc_code == kGrpcUnauthenticated || error.message.find("auth store is old") != std::string::npos;
}

asio::awaitable<Result<std::string>> Client::token(std::optional<std::size_t> pin, Clock::time_point deadline) {
  if (config_.username.empty() || !token_.empty()) co_return token_;
  auto answer = co_await send("/v3/auth/authenticate", auth_request(config_.username, config_.password), pin, deadline);
  if (!answer) co_return answer.error();
  auto token = parse_auth(*answer);
  if (!token) co_return token.error();
  token_ = *token;
  co_return token_;
}

asio::awaitable<Result<json::object>> Client::call(std::string path, std::string body, std::optional<std::size_t> pin) {
  const auto deadline = Clock::now() + config_.request_timeout;
  for (int round = 0;; ++round) {
    auto token = co_await this->token(pin, deadline);
    if (!token) co_return token.error();
    auto answer = co_await send(path, body, pin, deadline);
    // etcd rejected the token before doing anything, so the request may be repeated.
    if (!answer && round == 0 && token_rejected(answer.error())) {
      token_.clear();
      continue;
    }
    co_return answer;
  }
}

asio::awaitable<Result<json::object>> Client::send(std::string path, std::string body, std::optional<std::size_t> pin,
                                                   Clock::time_point deadline) {
  const std::size_t n = endpoints_.size();
  const std::size_t first = pin ? *pin : preferred_;
  const std::size_t tries = pin ? 1 : n;
  Error last{ErrorKind::connect, "no endpoint tried", 0, 0};
  for (std::size_t i = 0; i < tries; ++i) {
    if (Clock::now() >= deadline) break;
    const std::size_t index = (first + i) % n;
    auto conn = co_await connect(index, deadline);
    if (!conn) {
      last = conn.error();
      continue;
    }
    if (!pin) preferred_ = index;
    const Endpoint& ep = endpoints_[index];
    (*conn)->lowest().expires_at(deadline);
    // The authenticate call itself goes without a token.
    const std::string_view token = path == "/v3/auth/authenticate" ? std::string_view() : std::string_view(token_);
    auto req = detail::post_request(ep, path, std::move(body), token);
    const std::size_t limit = config_.max_answer_bytes;
    Exchange ex = co_await (*conn)->visit([&](auto& stream) { return exchange(stream, std::move(req), limit); });
    boost::system::error_code ignored;
    (*conn)->lowest().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    if (ex.ec == beast::error::timeout)
      co_return Error{ErrorKind::timeout,
                      path + " on " + ep.text + ": no answer within " + ms_text(config_.request_timeout), 0, 0};
    if (ex.ec == http::error::body_limit)
      co_return Error{ErrorKind::too_large,
                      path + " on " + ep.text + ": answer larger than " + std::to_string(limit) + " bytes", 0, 0};
    if (ex.ec) co_return Error{ErrorKind::transport, path + " on " + ep.text + ": " + ex.ec.message(), 0, 0};
    if (ex.status != 200) {
      Error e = parse_error_answer(ex.status, ex.body);
      e.message = path + " on " + ep.text + ": " + e.message;
      co_return e;
    }
    co_return parse_object(ex.body, limit);
  }
  if (last.kind == ErrorKind::connect && Clock::now() >= deadline)
    last.message += " (request timeout " + ms_text(config_.request_timeout) + " ran out)";
  co_return last;
}

template <class T>
asio::awaitable<Result<T>> Client::call_as(std::string path, std::string body, Result<T> (*parse)(const json::object&)) {
  auto answer = co_await call(std::move(path), std::move(body));
  if (!answer) co_return answer.error();
  co_return parse(*answer);
}

asio::awaitable<Result<RangeResult>> Client::range(std::string key, RangeOptions options, std::string range_end) {
  co_return co_await call_as("/v3/kv/range", range_request(key, range_end, options), parse_range);
}

asio::awaitable<Result<RangeResult>> Client::range_prefix(std::string prefix, RangeOptions options) {
  std::string end = prefix_range_end(prefix);
  co_return co_await range(std::move(prefix), options, std::move(end));
}

asio::awaitable<Result<PutResult>> Client::put(std::string key, std::string value, std::int64_t lease, bool prev_kv) {
  co_return co_await call_as("/v3/kv/put", put_request(key, value, lease, prev_kv), parse_put);
}

asio::awaitable<Result<DeleteResult>> Client::delete_range(std::string key, std::string range_end, bool prev_kv) {
  co_return co_await call_as("/v3/kv/deleterange", delete_request(key, range_end, prev_kv), parse_delete);
}

asio::awaitable<Result<TxnResult>> Client::txn(TxnRequest request) {
  co_return co_await call_as("/v3/kv/txn", txn_request(request), parse_txn);
}

asio::awaitable<Result<LeaseGrant>> Client::lease_grant(std::int64_t ttl_s) {
  co_return co_await call_as("/v3/lease/grant", lease_grant_request(ttl_s), parse_lease_grant);
}

asio::awaitable<Result<LeaseTtl>> Client::lease_keepalive(std::int64_t id) {
  co_return co_await call_as("/v3/lease/keepalive", lease_id_request(id), parse_lease_ttl);
}

asio::awaitable<Result<LeaseTtl>> Client::lease_time_to_live(std::int64_t id) {
  co_return co_await call_as("/v3/lease/timetolive", lease_id_request(id), parse_lease_ttl);
}

asio::awaitable<Result<Header>> Client::lease_revoke(std::int64_t id) {
  co_return co_await call_as("/v3/lease/revoke", lease_id_request(id), parse_header);
}

std::shared_ptr<Watch> Client::watch(WatchOptions options, WatchHandler on_events, WatchNoticeHandler on_notice) {
  return std::make_shared<Watch>(*this, std::move(options), std::move(on_events), std::move(on_notice));
}

}  // namespace cutover::fleet::etcd
