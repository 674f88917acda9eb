// Access log lines: see access_record.hpp.
#include "proxy/observe/access_record.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <ctime>

#include <boost/json/serializer.hpp>
#include <fmt/format.h>

namespace cutover::observe {

namespace {

namespace json = boost::json;

enum Field : std::uint8_t {
  time_f, request_id, trace_id, client_ip, client_port, listener, route, method, path, protocol, status, side,
  side_reason, endpoint, held_ms, connect_ms, upstream_ms, duration_ms, bytes_in, bytes_out, retries, result, mirror,
  kFieldCount
};
static_assert(kFieldCount == config::kAccessLogFields.size(), "one Field per name in kAccessLogFields");

// The line is written field by field: Boost.JSON escapes every string (its serializer, fed the
// string alone), and numbers are written here, as Boost.JSON writes every double with an exponent
// ("1.5E0"), which a reader of a log should not have to decode.
class LineWriter {
 public:
  explicit LineWriter(std::string& out) : out_(out) {}

  void key(std::string_view name) {
    out_.push_back(first_ ? '{' : ',');
    first_ = false;
    string(name);
    out_.push_back(':');
  }
  void string(std::string_view s) {
    serializer_.reset(json::string_view(s.data(), s.size()));
    std::array<char, 512> chunk;
    while (!serializer_.done()) {
      const auto part = serializer_.read(chunk.data(), chunk.size());
      out_.append(part.data(), part.size());
    }
  }
  void string_or_null(std::string_view s) {
    if (s.empty())
      out_.append("null");
    else
      string(s);
  }
  void number(std::uint64_t v) { fmt::format_to(std::back_inserter(out_), "{}", v); }
  // Milliseconds with microsecond precision.
  void millis(double ms) { fmt::format_to(std::back_inserter(out_), "{:.3f}", ms < 0 ? 0.0 : ms); }
  void boolean(bool v) { out_.append(v ? "true" : "false"); }
  void null() { out_.append("null"); }
  void end() { out_.append(first_ ? "{}\n" : "}\n"); }

 private:
  std::string& out_;
  json::serializer serializer_;
  bool first_ = true;
};

}  // namespace

AccessLogFormat compile_format(const config::AccessLogConfig& config) {
  AccessLogFormat f;
  f.log_query = config.log_query;
  const auto& names = config::kAccessLogFields;
  if (config.fields.empty()) {
    for (std::uint8_t i = 0; i < names.size(); ++i) f.fields.push_back(i);
    return f;
  }
  for (const auto& name : config.fields) {
    auto it = std::find(names.begin(), names.end(), name);
    if (it != names.end()) f.fields.push_back(static_cast<std::uint8_t>(it - names.begin()));
  }
  return f;
}

std::string log_path(std::string_view target, bool keep_query) {
  if (!keep_query) target = target.substr(0, target.find('?'));
  std::string out;
  out.reserve(target.size());
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : target) {
    if (c > 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string rfc3339_micros(std::chrono::system_clock::time_point time) {
  // The date part changes once a second: each thread keeps the last one it formatted.
  thread_local std::time_t last_second = -1;
  thread_local std::array<char, 32> last_text{};
  const auto since = std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(since / 1'000'000);
  const long long fraction = since % 1'000'000;
  if (seconds != last_second) {
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    std::strftime(last_text.data(), last_text.size(), "%Y-%m-%dT%H:%M:%S", &tm);
    last_second = seconds;
  }
  return fmt::format("{}.{:06d}Z", last_text.data(), fraction);
}

std::string to_json_line(const AccessRecord& r, const AccessLogFormat& format) {
  std::string line;
  line.reserve(512);
  LineWriter w(line);
  const auto& names = config::kAccessLogFields;
  for (std::uint8_t f : format.fields) {
    w.key(names[f]);
    switch (static_cast<Field>(f)) {
      case time_f: w.string(rfc3339_micros(r.time)); break;
      case request_id: w.string_or_null(r.request_id); break;
      case trace_id: w.string_or_null(r.trace_id); break;
      case client_ip: w.string_or_null(r.client_ip); break;
      case client_port: w.number(r.client_port); break;
      case listener: w.string_or_null(r.listener); break;
      case route: w.string_or_null(r.route); break;
      case method: w.string_or_null(r.method); break;
      case path:
        if (r.target.empty())
          w.null();
        else
          w.string(log_path(r.target, format.log_query));
        break;
      case protocol: w.string_or_null(r.protocol); break;
      case status: w.number(r.status); break;
      case side: w.string_or_null(r.side); break;
      case side_reason: w.string_or_null(r.side_reason); break;
      case endpoint: w.string_or_null(r.endpoint); break;
      case held_ms: w.millis(r.held_ms); break;
      case connect_ms: w.millis(r.connect_ms); break;
      case upstream_ms:
        if (r.upstream_ms)
          w.millis(*r.upstream_ms);
        else
          w.null();
        break;
      case duration_ms: w.millis(r.duration_ms); break;
      case bytes_in: w.number(r.bytes_in); break;
      case bytes_out: w.number(r.bytes_out); break;
      case retries: w.number(static_cast<std::uint64_t>(r.retries < 0 ? 0 : r.retries)); break;
      case result: w.string_or_null(r.result); break;
      case mirror: w.boolean(r.mirror); break;
      case kFieldCount: break;
    }
  }
  w.end();
  return line;
}

}  // namespace cutover::observe
