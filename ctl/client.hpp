// The admin API client of cutoverctl: one HTTP/1.1 exchange per call with the admin listener,
// bounded by a timeout, answering with the status and the parsed JSON body.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/beast/http/verb.hpp>
#include <boost/json/value.hpp>

namespace cutover::ctl {

// Where the admin API listens, from a URL like "http://127.0.0.1:9901" (Boost.URL). Only the
// http scheme is served by the admin listener; a bare "HOST:PORT" is read as http://HOST:PORT.
struct AdminEndpoint {
  std::string url;        // as given (normalized with the scheme), for messages
  std::string host;       // name or address, IPv6 without brackets
  std::string port;       // "9901"; 80 when the URL has none
  std::string base_path;  // "" or a prefix without the trailing slash ("/cutover")
};

// std::nullopt with `error` set when the URL is not an http URL with a host.
std::optional<AdminEndpoint> parse_admin_url(std::string_view url, std::string& error);

// "/v1/routes/app%2Fx/ramp?window=60s": segments percent-encoded, parameters query-encoded.
std::string api_target(const std::vector<std::string>& segments,
                       const std::vector<std::pair<std::string, std::string>>& params = {});

// An answer from the admin API: any HTTP status.
struct AdminResponse {
  unsigned status = 0;
  std::string body;          // the raw body, as the server sent it
  boost::json::value json;   // the parsed body; null when it is empty or not JSON

  bool ok() const { return status >= 200 && status < 300; }
  // The text of {"error": "..."}, else the body's first line, else the reason phrase.
  std::string error_text() const;
};

// The result of one call: a response, or why no response came (could not resolve, connect,
// write, read, or the timeout passed).
struct CallResult {
  std::optional<AdminResponse> response;
  std::string unreachable;  // the reason when `response` is empty
};

class AdminClient {
 public:
  // `token`: sent as "Authorization: Bearer TOKEN" when not empty. `timeout` bounds each call as
  // a whole (resolve, connect, request, response).
  AdminClient(AdminEndpoint endpoint, std::string token, std::chrono::milliseconds timeout);

  // `target` from api_target(); `body` is sent as application/json when given. Response bodies
  // are limited to 64 MiB.
  CallResult call(boost::beast::http::verb method, const std::string& target,
                  const boost::json::value* body = nullptr) const;
  // The same with a different bound for this call (a write hold waits for its drain).
  CallResult call(boost::beast::http::verb method, const std::string& target, const boost::json::value* body,
                  std::chrono::milliseconds timeout) const;

  const AdminEndpoint& endpoint() const { return endpoint_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  AdminEndpoint endpoint_;
  std::string token_;
  std::chrono::milliseconds timeout_;
};

}  // namespace cutover::ctl
