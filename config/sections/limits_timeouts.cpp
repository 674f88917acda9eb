// limits: and timeouts: of the downstream HTTP side, shared by every http listener.
#include <limits>

#include "config/sections/sections.hpp"

namespace cutover::config::detail {

namespace {

struct Limits {
  LimitsConfig& limits;
  std::optional<Mark> line_mark{};  // of max_request_line, where its bound against the head is reported
};

const Key<Limits> kLimitsKeys[] = {
    {"max_request_line",
     [](Reader& r, const Entry& e, Limits& l) {
       l.line_mark = e.value_mark();
       if (auto v = r.read_size(e, "limits.max_request_line", 256, 1024 * 1024)) l.limits.max_request_line = *v;
     }},
    {"max_header_bytes",
     [](Reader& r, const Entry& e, Limits& l) {
       if (auto v = r.read_size(e, "limits.max_header_bytes", 1024, 1024 * 1024)) l.limits.max_header_bytes = *v;
     }},
    {"max_request_body",
     [](Reader& r, const Entry& e, Limits& l) {
       if (auto v = r.read_size(e, "limits.max_request_body", 0, std::numeric_limits<std::uint64_t>::max() / 2))
         l.limits.max_request_body = *v;
     }},
    {"http2_max_concurrent_streams",
     [](Reader& r, const Entry& e, Limits& l) {
       if (auto v = r.read_uint(e, "limits.http2_max_concurrent_streams", 1, 10000))
         l.limits.http2_max_concurrent_streams = static_cast<std::uint32_t>(*v);
     }},
    // The windows: at least the protocol's default 65535 bytes, at most its 2^31-1.
    {"http2_stream_buffer",
     [](Reader& r, const Entry& e, Limits& l) {
       if (auto v = r.read_size(e, "limits.http2_stream_buffer", 65535, 0x7fffffff))
         l.limits.http2_stream_buffer = static_cast<std::uint32_t>(*v);
     }},
    {"http2_connection_buffer",
     [](Reader& r, const Entry& e, Limits& l) {
       if (auto v = r.read_size(e, "limits.http2_connection_buffer", 65535, 0x7fffffff))
         l.limits.http2_connection_buffer = static_cast<std::uint32_t>(*v);
     }},
    {"http2_max_resets_per_second",
     [](Reader& r, const Entry& e, Limits& l) {
       if (auto v = r.read_uint(e, "limits.http2_max_resets_per_second", 1, 1000000))
         l.limits.http2_max_resets_per_second = static_cast<std::uint32_t>(*v);
     }},
};

// timeouts.KEY into `field` (no hours); only `request` may be 0 (no total timeout).
void read_timeout(Reader& r, const Entry& e, Millis& field, bool allow_zero) {
  if (auto v = r.read_duration(e, "timeouts." + e.key, allow_zero)) field = *v;
}

const Key<TimeoutsConfig> kTimeoutsKeys[] = {
    {"idle", [](Reader& r, const Entry& e, TimeoutsConfig& t) { read_timeout(r, e, t.idle, false); }},
    {"request_header", [](Reader& r, const Entry& e, TimeoutsConfig& t) { read_timeout(r, e, t.request_header, false); }},
    {"body_idle", [](Reader& r, const Entry& e, TimeoutsConfig& t) { read_timeout(r, e, t.body_idle, false); }},
    {"request", [](Reader& r, const Entry& e, TimeoutsConfig& t) { read_timeout(r, e, t.request, true); }},
    // A tunnel idles for long stretches by design (a WebSocket waiting for events), so this one
    // timeout takes hours: "1h" is its default, where "5h" for the others is a typo.
    {"tunnel_idle",
     [](Reader& r, const Entry& e, TimeoutsConfig& t) {
       if (auto v = r.read_long_duration(e, "timeouts.tunnel_idle", "a duration like 30s, 10m or 1h",
                                         /*allow_zero=*/false))
         t.tunnel_idle = *v;
     }},
};

}  // namespace

void list_limits_keys(std::vector<std::string>& out, const std::string& prefix) { list_keys<kLimitsKeys>(out, prefix); }
void list_timeouts_keys(std::vector<std::string>& out, const std::string& prefix) {
  list_keys<kTimeoutsKeys>(out, prefix);
}

// limits: {max_request_line: 8KiB, max_header_bytes: 64KiB, max_request_body: 0}.
void read_limits(Reader& r, const Entry& section, LimitsConfig& limits) {
  if (!r.expect_map(section.value, section.value_mark(), "limits",
                    " with 'max_request_line', 'max_header_bytes' or 'max_request_body'"))
    return;
  Limits l{limits};
  r.read_keys(section.value, "limits", kLimitsKeys, l);
  if (limits.max_request_line > limits.max_header_bytes)
    r.error(l.line_mark.value_or(section.key_mark),
            "limits.max_request_line must not be larger than limits.max_header_bytes");
}

// timeouts: {idle: 60s, request_header: 30s, body_idle: 60s, request: 0s, tunnel_idle: 1h}.
void read_timeouts(Reader& r, const Entry& section, TimeoutsConfig& timeouts) {
  if (!r.expect_map(section.value, section.value_mark(), "timeouts",
                    " with 'idle', 'request_header', 'body_idle', 'request' or 'tunnel_idle'"))
    return;
  r.read_keys(section.value, "timeouts", kTimeoutsKeys, timeouts);
}

}  // namespace cutover::config::detail
