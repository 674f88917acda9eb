// Unit tests for access log lines (proxy/observe/access_record.hpp): the compiled field list, the
// JSON line (parsed back with Boost.JSON: keys in the configured order, nulls, plain decimal
// numbers, escaped strings, one line), the logged path and the RFC 3339 time.
#include "proxy/observe/access_record.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace cutover::observe {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using std::chrono::system_clock;

// 2023-11-14T22:13:20Z (`date -u -d @1700000000`).
constexpr std::int64_t kEpoch = 1'700'000'000;

system_clock::time_point at(std::int64_t seconds, std::int64_t micros = 0) {
  return system_clock::time_point(std::chrono::duration_cast<system_clock::duration>(
      std::chrono::seconds(seconds) + std::chrono::microseconds(micros)));
}

AccessLogFormat all_fields(bool log_query = false) {
  config::AccessLogConfig c;
  c.log_query = log_query;
  return compile_format(c);
}

AccessLogFormat only(std::vector<std::string> fields) {
  config::AccessLogConfig c;
  c.fields = std::move(fields);
  return compile_format(c);
}

// A record with every field set.
AccessRecord full_record() {
  AccessRecord r;
  r.time = at(kEpoch, 123456);
  r.request_id = "0123456789abcdef0123456789abcdef";
  r.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  r.client_ip = "192.0.2.7";
  r.client_port = 51234;
  r.listener = "public";
  r.route = "app";
  r.method = "POST";
  r.target = "/orders/42?token=secret";
  r.protocol = "HTTP/1.1";
  r.status = 201;
  r.side = "target";
  r.side_reason = "sticky";
  r.endpoint = "10.0.0.5:8443";
  r.held_ms = 1.5;
  r.connect_ms = 0.25;
  r.upstream_ms = 12.125;
  r.duration_ms = 1234567.891;
  r.bytes_in = 512;
  r.bytes_out = 18446744073709551615ULL;
  r.retries = 2;
  r.result = "response";
  r.mirror = true;
  return r;
}

// The line parsed back, after checking it is one line ending in '\n'.
json::object parse_line(const std::string& line) {
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n') << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "more than one line: " << line;
  json::value v = json::parse(std::string_view(line).substr(0, line.size() - 1));
  EXPECT_TRUE(v.is_object()) << line;
  return v.is_object() ? v.as_object() : json::object{};
}

std::vector<std::string> keys_of(const json::object& o) {
  std::vector<std::string> out;
  for (const auto& kv : o) out.emplace_back(kv.key());
  return out;
}

// ---- compile_format ---------------------------------------------------------------------------

TEST(CompileFormat, NoFieldsMeansEveryFieldInTheDefaultOrder) {
  const AccessLogFormat f = all_fields();
  ASSERT_EQ(f.fields.size(), config::kAccessLogFields.size());
  for (std::size_t i = 0; i < f.fields.size(); ++i) EXPECT_EQ(f.fields[i], i);
  EXPECT_FALSE(f.log_query);
  EXPECT_TRUE(all_fields(true).log_query);
}

TEST(CompileFormat, ListedFieldsKeepTheirOrder) {
  const AccessLogFormat f = only({"status", "time", "mirror", "request_id"});
  EXPECT_EQ(f.fields, (std::vector<std::uint8_t>{10, 0, 22, 1}));
  EXPECT_EQ(config::kAccessLogFields[10], "status");
  EXPECT_EQ(config::kAccessLogFields[22], "mirror");
}

// ---- to_json_line -------------------------------------------------------------------------------

TEST(ToJsonLine, EveryFieldInTheDefaultOrderWithItsValue) {
  const std::string line = to_json_line(full_record(), all_fields());
  const json::object o = parse_line(line);
  std::vector<std::string> expected_keys(config::kAccessLogFields.begin(), config::kAccessLogFields.end());
  EXPECT_EQ(keys_of(o), expected_keys);

  EXPECT_EQ(o.at("time"), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(o.at("request_id"), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(o.at("trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(o.at("client_ip"), "192.0.2.7");
  EXPECT_EQ(o.at("client_port").to_number<std::uint64_t>(), 51234u);
  EXPECT_EQ(o.at("listener"), "public");
  EXPECT_EQ(o.at("route"), "app");
  EXPECT_EQ(o.at("method"), "POST");
  EXPECT_EQ(o.at("path"), "/orders/42");  // the query (a token here) is not logged by default
  EXPECT_EQ(o.at("protocol"), "HTTP/1.1");
  EXPECT_EQ(o.at("status").to_number<std::uint64_t>(), 201u);
  EXPECT_EQ(o.at("side"), "target");
  EXPECT_EQ(o.at("side_reason"), "sticky");
  EXPECT_EQ(o.at("endpoint"), "10.0.0.5:8443");
  EXPECT_DOUBLE_EQ(o.at("held_ms").to_number<double>(), 1.5);
  EXPECT_DOUBLE_EQ(o.at("connect_ms").to_number<double>(), 0.25);
  EXPECT_DOUBLE_EQ(o.at("upstream_ms").to_number<double>(), 12.125);
  EXPECT_DOUBLE_EQ(o.at("duration_ms").to_number<double>(), 1234567.891);
  EXPECT_EQ(o.at("bytes_in").to_number<std::uint64_t>(), 512u);
  EXPECT_EQ(o.at("bytes_out").to_number<std::uint64_t>(), 18446744073709551615ULL);
  EXPECT_EQ(o.at("retries").to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(o.at("result"), "response");
  EXPECT_EQ(o.at("mirror"), true);
}

TEST(ToJsonLine, NumbersArePlainDecimalsWithThreeDecimalsForMilliseconds) {
  AccessRecord r = full_record();
  r.held_ms = 0;
  r.connect_ms = 1e-7;  // below the microsecond: 0.000
  r.upstream_ms = 123456789.5;
  r.duration_ms = 0.0015;
  const std::string line = to_json_line(r, all_fields());
  EXPECT_NE(line.find("\"held_ms\":0.000,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"connect_ms\":0.000,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"upstream_ms\":123456789.500,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"duration_ms\":0.002,"), std::string::npos) << line;  // rounded to the microsecond
  EXPECT_NE(line.find("\"client_port\":51234,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"status\":201,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"bytes_out\":18446744073709551615,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"retries\":2,"), std::string::npos) << line;
  EXPECT_NE(line.find("\"mirror\":true}"), std::string::npos) << line;
  // No exponent anywhere (Boost.JSON's own serializer would write 1.5E0).
  EXPECT_FALSE(std::regex_search(line, std::regex(":-?[0-9.]+[eE]"))) << line;
  for (const char* k : {"held_ms", "connect_ms", "upstream_ms", "duration_ms"})
    EXPECT_TRUE(std::regex_search(line, std::regex(std::string("\"") + k + "\":[0-9]+\\.[0-9]{3}[,}]"))) << k << ": " << line;
  parse_line(line);
}

TEST(ToJsonLine, NegativeDurationsAndRetriesAreWrittenAsZero) {
  AccessRecord r = full_record();
  r.held_ms = -3.0;
  r.connect_ms = -0.0004;
  r.upstream_ms = -1.0;
  r.duration_ms = -10.0;
  r.retries = -1;
  const std::string line = to_json_line(r, only({"held_ms", "connect_ms", "upstream_ms", "duration_ms", "retries"}));
  EXPECT_EQ(line, "{\"held_ms\":0.000,\"connect_ms\":0.000,\"upstream_ms\":0.000,\"duration_ms\":0.000,\"retries\":0}\n");
}

TEST(ToJsonLine, EmptyValuesAreNulls) {
  AccessRecord r;  // nothing set: a tcp connection refused before anything was known
  r.time = at(0);
  const json::object o = parse_line(to_json_line(r, all_fields()));
  for (const char* k : {"request_id", "trace_id", "client_ip", "listener", "route", "method", "path", "protocol",
                        "side", "side_reason", "endpoint", "upstream_ms", "result"})
    EXPECT_TRUE(o.at(k).is_null()) << k;
  EXPECT_EQ(o.at("time"), "1970-01-01T00:00:00.000000Z");
  for (const char* k : {"client_port", "status", "bytes_in", "bytes_out", "retries"})
    EXPECT_EQ(o.at(k).to_number<std::uint64_t>(), 0u) << k;
  for (const char* k : {"held_ms", "connect_ms", "duration_ms"}) EXPECT_EQ(o.at(k).to_number<double>(), 0.0) << k;
  EXPECT_EQ(o.at("mirror"), false);

  // upstream_ms 0 (a response in under a microsecond) is a number, not null.
  r.upstream_ms = 0.0;
  EXPECT_EQ(to_json_line(r, only({"upstream_ms", "route"})), "{\"upstream_ms\":0.000,\"route\":null}\n");
}

TEST(ToJsonLine, OnlyTheListedFieldsInTheListedOrder) {
  const AccessRecord r = full_record();
  EXPECT_EQ(to_json_line(r, only({"status", "method", "side"})), "{\"status\":201,\"method\":\"POST\",\"side\":\"target\"}\n");
  const json::object o = parse_line(to_json_line(r, only({"mirror", "time", "path", "request_id"})));
  EXPECT_EQ(keys_of(o), (std::vector<std::string>{"mirror", "time", "path", "request_id"}));
  // No fields at all is still a JSON object on one line.
  EXPECT_EQ(to_json_line(r, AccessLogFormat{}), "{}\n");
}

TEST(ToJsonLine, StringsWithQuotesBackslashesAndControlCharactersAreEscaped) {
  AccessRecord r;
  const std::string nasty = "a\"b\\c\nd\re\tf\x01g\x1fh/</script>";
  const std::string with_nul("x\0y", 3);
  r.listener = nasty;
  r.route = "\"},{\"status\":999";
  r.result = with_nul;
  r.endpoint = "caf\xc3\xa9:80";  // valid UTF-8 passes through
  const std::string line = to_json_line(r, only({"listener", "route", "result", "endpoint"}));
  // One line, and no raw control character in it.
  ASSERT_EQ(line.back(), '\n');
  for (std::size_t i = 0; i + 1 < line.size(); ++i)
    EXPECT_GE(static_cast<unsigned char>(line[i]), 0x20) << "raw control byte at " << i << ": " << line;
  EXPECT_NE(line.find("a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fh"), std::string::npos) << line;
  const json::object o = parse_line(line);
  EXPECT_EQ(o.size(), 4u);
  EXPECT_EQ(o.at("listener").as_string(), nasty);
  EXPECT_EQ(o.at("route").as_string(), "\"},{\"status\":999");
  EXPECT_EQ(std::string(o.at("result").as_string()), with_nul);
  EXPECT_EQ(o.at("endpoint").as_string(), "caf\xc3\xa9:80");
  EXPECT_FALSE(o.contains("status"));
}

TEST(ToJsonLine, PathDropsTheQueryUnlessLogQueryAndEncodesRawBytes) {
  AccessRecord r;
  r.target = "/caf\xc3\xa9 menu?q=a b&key=\xff";
  const json::object plain = parse_line(to_json_line(r, only({"path"})));
  EXPECT_EQ(plain.at("path"), "/caf%C3%A9%20menu");
  config::AccessLogConfig c;
  c.fields = {"path"};
  c.log_query = true;
  const json::object with_query = parse_line(to_json_line(r, compile_format(c)));
  EXPECT_EQ(with_query.at("path"), "/caf%C3%A9%20menu?q=a%20b&key=%FF");
}

TEST(ToJsonLine, LongLineIsWholeAndParses) {
  // Longer than the 512-byte chunks the string escaper is read in.
  AccessRecord r;
  std::string target = "/";
  for (int i = 0; i < 3000; ++i) target += static_cast<char>('a' + i % 26);
  std::string listener(2000, '"');
  r.target = target;
  r.listener = listener;
  const json::object o = parse_line(to_json_line(r, only({"path", "listener"})));
  EXPECT_EQ(o.at("path").as_string(), target);
  EXPECT_EQ(o.at("listener").as_string(), listener);
}

// ---- log_path ---------------------------------------------------------------------------------

// "%XX" with upper-case hex digits.
std::string fmt_percent(int byte) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return {'%', kHex[byte >> 4], kHex[byte & 15]};
}

TEST(LogPath, QueryIsDroppedUnlessKept) {
  EXPECT_EQ(log_path("/orders?id=1&token=s", false), "/orders");
  EXPECT_EQ(log_path("/orders?id=1&token=s", true), "/orders?id=1&token=s");
  EXPECT_EQ(log_path("/a?b?c", false), "/a");
  EXPECT_EQ(log_path("/orders", false), "/orders");
  EXPECT_EQ(log_path("?only", false), "");
  EXPECT_EQ(log_path("*", false), "*");
  EXPECT_EQ(log_path("http://example.com/x?y=1", false), "http://example.com/x");
}

TEST(LogPath, BytesOutsidePrintableAsciiArePercentEncoded) {
  EXPECT_EQ(log_path("/a b", false), "/a%20b");
  EXPECT_EQ(log_path("/\t\r\n", false), "/%09%0D%0A");
  EXPECT_EQ(log_path(std::string_view("/\0x", 3), false), "/%00x");
  EXPECT_EQ(log_path("/\x1f\x7f\x80\xff", false), "/%1F%7F%80%FF");
  EXPECT_EQ(log_path("/caf\xc3\xa9", false), "/caf%C3%A9");
  // The printable edges are kept, and '%' is left alone (no double encoding of "%20").
  EXPECT_EQ(log_path("/!~\"\\", false), "/!~\"\\");
  EXPECT_EQ(log_path("/a%20b%zz", false), "/a%20b%zz");
  // In the query too when it is kept.
  EXPECT_EQ(log_path("/p?q=a b\xff", true), "/p?q=a%20b%FF");
  // Every byte: what is kept is exactly 0x21..0x7e.
  for (int c = 0; c < 256; ++c) {
    if (c == '?') continue;
    const char ch = static_cast<char>(c);
    const std::string out = log_path(std::string_view(&ch, 1), false);
    if (c > 0x20 && c < 0x7f)
      EXPECT_EQ(out, std::string(1, ch)) << c;
    else
      EXPECT_EQ(out, fmt_percent(c)) << c;
  }
}

// ---- rfc3339_micros -------------------------------------------------------------------------

TEST(Rfc3339Micros, KnownInstants) {
  EXPECT_EQ(rfc3339_micros(at(0)), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(rfc3339_micros(at(kEpoch, 123456)), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(rfc3339_micros(at(951782400, 999999)), "2000-02-29T00:00:00.999999Z");  // a leap day
  EXPECT_EQ(rfc3339_micros(at(4102444799, 1)), "2099-12-31T23:59:59.000001Z");
  const std::regex shape("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z");
  EXPECT_TRUE(std::regex_match(rfc3339_micros(system_clock::now()), shape));
}

TEST(Rfc3339Micros, SubMicrosecondsAreTruncatedNotRounded) {
  const auto t = at(kEpoch, 999999) + std::chrono::duration_cast<system_clock::duration>(999ns);
  EXPECT_EQ(rfc3339_micros(t), "2023-11-14T22:13:20.999999Z");
}

TEST(Rfc3339Micros, TheCachedSecondNeverLeaksIntoAnotherInstant) {
  // The date part is cached per thread: alternate seconds, and repeat one with other microseconds.
  EXPECT_EQ(rfc3339_micros(at(kEpoch, 1)), "2023-11-14T22:13:20.000001Z");
  EXPECT_EQ(rfc3339_micros(at(kEpoch, 2)), "2023-11-14T22:13:20.000002Z");
  EXPECT_EQ(rfc3339_micros(at(kEpoch + 1, 0)), "2023-11-14T22:13:21.000000Z");
  EXPECT_EQ(rfc3339_micros(at(kEpoch, 3)), "2023-11-14T22:13:20.000003Z");
  EXPECT_EQ(rfc3339_micros(at(kEpoch + 86400, 4)), "2023-11-15T22:13:20.000004Z");
  std::string other;
  std::thread([&] { other = rfc3339_micros(at(kEpoch + 1, 5)); }).join();
  EXPECT_EQ(other, "2023-11-14T22:13:21.000005Z");
  EXPECT_EQ(rfc3339_micros(at(kEpoch + 86400, 6)), "2023-11-15T22:13:20.000006Z");
}

TEST(MsBetween, MicrosecondPrecision) {
  const auto t0 = std::chrono::steady_clock::time_point{};
  EXPECT_DOUBLE_EQ(ms_between(t0, t0 + 1500us), 1.5);
  EXPECT_DOUBLE_EQ(ms_between(t0, t0 + 1999ns), 0.001);
  EXPECT_DOUBLE_EQ(ms_between(t0, t0 + 2s), 2000.0);
}

}  // namespace
}  // namespace cutover::observe
