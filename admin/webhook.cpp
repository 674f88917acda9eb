// The ramp webhook client: see webhook.hpp.
#include "admin/webhook.hpp"

#include <fmt/format.h>

#include "admin/http_call.hpp"

namespace cutover::admin {

void call_webhook(boost::asio::io_context& io, const std::string& url, const std::string& json_body,
                  std::chrono::milliseconds timeout, std::function<void(WebhookResult)> done) {
  HttpCall call{boost::beast::http::verb::post, url, json_body, timeout};
  http_call(io, std::move(call), [done = std::move(done)](HttpCallResult r) {
    if (!r.answered) return done(WebhookResult{false, std::move(r.error)});
    if (r.status >= 200 && r.status < 300) return done(WebhookResult{true, fmt::format("HTTP {}", r.status)});
    done(WebhookResult{false, fmt::format("HTTP {}: {}", r.status, r.body.substr(0, 200))});
  });
}

}  // namespace cutover::admin
