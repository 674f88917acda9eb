// A ramp gate on the team's own Prometheus: an instant query through its HTTP API
// (`GET /api/v1/query?query=...`, Prometheus docs "HTTP API: Instant queries") whose answer must
// be one number — a scalar, or a vector of exactly one sample — within `max` or `min`. Anything
// else (an error answer, no sample, several, NaN, no answer in time) fails the gate with the
// reason: a gate that cannot be measured never lets a ramp go on.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace cutover::admin {

struct PrometheusGate {
  std::string url;    // the server's base URL, http:// ("http://prometheus:9090", a path prefix kept)
  std::string query;  // PromQL, e.g. sum(rate(http_requests_total{code=~"5.."}[1m]))
  std::optional<double> max;  // the value must be <= max ...
  std::optional<double> min;  // ... or >= min: exactly one of the two
  std::chrono::milliseconds timeout{5000};  // the whole query, connect included
};

// Parses one entry of a ramp's `gates.prometheus` list: {"url", "query", "max" | "min", "timeout"}.
// nullopt with `error` naming the field ("gates.prometheus[1].query must be ...") on bad input.
std::optional<PrometheusGate> parse_prometheus_gate(const boost::json::value& v, std::size_t index,
                                                    std::string& error);
// The inverse, as a ramp's view and the state file show it.
boost::json::object prometheus_gate_json(const PrometheusGate& g);

// The instant-query URL: base URL + /api/v1/query with the query percent-encoded.
std::string prometheus_query_url(const PrometheusGate& g);

// What one query came to: the number, or why there is none.
struct PrometheusValue {
  std::optional<double> value;
  std::string error;  // set when value is empty: "HTTP 400: bad_data: parse error ...", "2 samples, expected one", ...
};
// Pure: the answer (HTTP status and body) of an instant query.
PrometheusValue parse_prometheus_answer(unsigned status, std::string_view body);

// Runs the gate's query once on `io` (bounded by its timeout) and parses the answer.
boost::asio::awaitable<PrometheusValue> query_prometheus_once(boost::asio::io_context& io, const PrometheusGate& g);

}  // namespace cutover::admin
