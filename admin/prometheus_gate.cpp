// Prometheus gates of a ramp: see prometheus_gate.hpp.
#include "admin/prometheus_gate.hpp"

#include <charconv>
#include <cmath>

#include <memory>

#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <fmt/format.h>

#include "admin/http_call.hpp"
#include "common/json_number.hpp"
#include "config/units.hpp"

namespace cutover::admin {

namespace json = boost::json;

namespace {

constexpr std::size_t kMaxQuery = 4096;  // bytes of PromQL
constexpr std::chrono::milliseconds kMaxTimeout{60000};

PrometheusValue none(std::string error) { return PrometheusValue{std::nullopt, std::move(error)}; }

// A sample's value: Prometheus sends numbers as strings ("0.25", "NaN", "+Inf").
PrometheusValue sample_value(const json::value& pair) {
  if (!pair.is_array() || pair.as_array().size() != 2 || !pair.as_array()[1].is_string())
    return none("a sample is not [time, \"value\"]");
  std::string_view text(pair.as_array()[1].as_string());
  std::string_view digits = text;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);  // from_chars takes no '+'
  double v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || end != digits.data() + digits.size())
    return none(fmt::format("the sample value \"{}\" is not a number", text));
  if (std::isnan(v)) return none("the query answered NaN");
  return PrometheusValue{v, {}};
}

}  // namespace

std::optional<PrometheusGate> parse_prometheus_gate(const json::value& v, std::size_t index, std::string& error) {
  const std::string at = fmt::format("gates.prometheus[{}]", index);
  if (!v.is_object()) {
    error = at + " must be an object {\"url\", \"query\", \"max\" or \"min\"}";
    return std::nullopt;
  }
  const auto& o = v.as_object();
  for (const auto& kv : o) {
    const std::string_view k = kv.key();
    if (k != "url" && k != "query" && k != "max" && k != "min" && k != "timeout") {
      error = fmt::format("unknown field '{}' in {}", k, at);
      return std::nullopt;
    }
  }
  PrometheusGate g;
  const auto* url = o.if_contains("url");
  const std::string_view url_text = url && url->is_string() ? std::string_view(url->as_string()) : std::string_view();
  auto parsed = boost::urls::parse_absolute_uri(url_text);
  if (!parsed || parsed->scheme() != "http" || parsed->host().empty() || parsed->has_query() || parsed->has_fragment()) {
    error = at + ".url must be the server's http:// base URL (\"http://prometheus:9090\"), without a query";
    return std::nullopt;
  }
  g.url = std::string(url_text);
  const auto* q = o.if_contains("query");
  if (!q || !q->is_string() || q->as_string().empty() || q->as_string().size() > kMaxQuery) {
    error = fmt::format("{}.query must be a PromQL expression of 1 to {} bytes", at, kMaxQuery);
    return std::nullopt;
  }
  g.query = std::string(q->as_string());
  for (const char* key : {"max", "min"}) {
    if (const auto* b = o.if_contains(key)) {
      auto d = common::json_number(*b);
      if (!d || !std::isfinite(*d)) {
        error = fmt::format("{}.{} must be a number", at, key);
        return std::nullopt;
      }
      (std::string_view(key) == "max" ? g.max : g.min) = *d;
    }
  }
  if (g.max.has_value() == g.min.has_value()) {
    error = at + " must have exactly one of \"max\" and \"min\"";
    return std::nullopt;
  }
  if (const auto* t = o.if_contains("timeout")) {
    auto d = t->is_string() ? config::parse_duration(std::string_view(t->as_string())) : std::nullopt;
    if (!d || d->count() <= 0 || *d > kMaxTimeout) {
      error = at + ".timeout must be a duration from 1ms to 60s (\"5s\")";
      return std::nullopt;
    }
    g.timeout = *d;
  }
  return g;
}

json::object prometheus_gate_json(const PrometheusGate& g) {
  json::object o{{"url", g.url}, {"query", g.query}};
  if (g.max) o["max"] = *g.max;
  if (g.min) o["min"] = *g.min;
  o["timeout"] = fmt::format("{}ms", g.timeout.count());
  return o;
}

std::string prometheus_query_url(const PrometheusGate& g) {
  boost::urls::url u(g.url);
  std::string path(u.encoded_path());
  while (!path.empty() && path.back() == '/') path.pop_back();
  u.set_encoded_path(path + "/api/v1/query");
  u.params().set("query", g.query);
  return std::string(u.buffer());
}

PrometheusValue parse_prometheus_answer(unsigned status, std::string_view body) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  const json::object* o = !ec && doc.is_object() ? &doc.as_object() : nullptr;
  if (o && o->contains("status") && o->at("status") == "error") {
    const auto* type = o->if_contains("errorType");
    const auto* text = o->if_contains("error");
    return none(fmt::format("HTTP {}: {}: {}", status, type && type->is_string() ? std::string_view(type->as_string()) : "error",
                            text && text->is_string() ? std::string_view(text->as_string()) : ""));
  }
  if (status != 200) return none(fmt::format("HTTP {}: {}", status, body.substr(0, 200)));
  if (!o) return none("the answer is not a JSON object");
  const auto* data = o->if_contains("data");
  if (!(o->contains("status") && o->at("status") == "success") || !data || !data->is_object())
    return none("the answer has no \"status\": \"success\" with \"data\"");
  const auto* type = data->as_object().if_contains("resultType");
  const auto* result = data->as_object().if_contains("result");
  if (!type || !type->is_string() || !result) return none("the answer's data has no resultType and result");
  const std::string_view kind(type->as_string());
  if (kind == "scalar") return sample_value(*result);
  if (kind == "vector") {
    if (!result->is_array()) return none("a vector result that is not a list");
    const auto& samples = result->as_array();
    if (samples.size() != 1)
      return none(samples.empty() ? std::string("no sample (an empty vector; end the query with `or vector(0)` when no series means zero)")
                                  : fmt::format("{} samples, expected one (aggregate the query, e.g. sum(...))", samples.size()));
    const auto* value = samples[0].is_object() ? samples[0].as_object().if_contains("value") : nullptr;
    if (!value) return none("a vector sample without a value");
    return sample_value(*value);
  }
  return none(fmt::format("a {} result, expected a scalar or a one-sample vector", kind));
}

boost::asio::awaitable<PrometheusValue> query_prometheus_once(boost::asio::io_context& io, const PrometheusGate& g) {
  HttpCall call{boost::beast::http::verb::get, prometheus_query_url(g), {}, g.timeout};
  auto result = co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(HttpCallResult)>(
      [&io, &call](auto handler) {
        // std::function wants a copyable callable; the coroutine's handler moves only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        http_call(io, std::move(call), [shared](HttpCallResult r) { (*shared)(std::move(r)); });
      },
      boost::asio::use_awaitable);
  if (!result.answered) co_return PrometheusValue{std::nullopt, std::move(result.error)};
  co_return parse_prometheus_answer(result.status, result.body);
}

}  // namespace cutover::admin
