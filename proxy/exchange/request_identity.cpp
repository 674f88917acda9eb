// Request IDs and trace context on the request head: see request_identity.hpp.
#include "proxy/exchange/request_identity.hpp"

#include "proxy/observe/trace_context.hpp"
#include "proxy/router/sticky.hpp"

namespace cutover::exchange {

namespace {

namespace bhttp = boost::beast::http;

// The one value of field `name`, or nullopt when absent or given more than once.
std::optional<std::string_view> single_value(const bhttp::request_header<>& head, std::string_view name) {
  auto range = head.equal_range(name);
  if (range.first == range.second || std::next(range.first) != range.second) return std::nullopt;
  return std::string_view(range.first->value());
}

}  // namespace

RequestIdentity identify_request(bhttp::request_header<>& head, const runtime::Snapshot& snap,
                                 const boost::asio::ip::address& client, std::mt19937_64& random) {
  RequestIdentity id;
  const std::string& field = snap.config.request_id.header;
  bool keep = false;
  if (!snap.request_id_trust_v4.empty() || !snap.request_id_trust_v6.empty())
    if (auto v = single_value(head, field); v && observe::valid_request_id(*v) &&
                                            router::allowed({snap.request_id_trust_v4, snap.request_id_trust_v6}, client)) {
      id.request_id = std::string(*v);
      keep = true;
    }
  if (!keep) {
    const auto high = random();
    id.request_id = observe::make_request_id(high, random());
    head.set(field, id.request_id);
  }

  // One lookup when there is no traceparent (most requests without tracing): erase() finds the
  // tracestate itself.
  const auto range = head.equal_range("traceparent");
  const bool present = range.first != range.second;
  const auto parsed = present && std::next(range.first) == range.second
                          ? observe::parse_traceparent(range.first->value())
                          : std::nullopt;
  if (parsed) {
    id.trace_id = std::string(parsed->trace_id);
    id.trace_flags = std::string(parsed->flags);
  } else {
    if (present) head.erase("traceparent");
    head.erase("tracestate");
    if (snap.config.tracing.generate) {
      const auto high = random();
      const auto low = random();
      const std::string fresh = observe::new_traceparent(high, low, random());
      head.insert("traceparent", fresh);
      id.trace_id = fresh.substr(3, 32);
      id.trace_flags = fresh.substr(53, 2);
    }
  }
  return id;
}

std::string shadow_traceparent(const RequestIdentity& id, std::uint64_t span_bits) {
  if (id.trace_id.empty()) return {};
  return observe::make_traceparent(id.trace_id, span_bits, id.trace_flags);
}

}  // namespace cutover::exchange
