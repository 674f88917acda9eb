// Shadow response comparison (see compare.hpp). JSON is parsed by Boost.JSON, never by hand; the
// byte-wise fallback uses the digests BodyCapture computed while the bodies streamed past.
#include "proxy/shadow/compare.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <boost/beast/core/string.hpp>
#include <boost/json/error.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "proxy/codec/grpc.hpp"

namespace cutover::shadow {
namespace {

namespace json = boost::json;

// Nesting bound for shadow bodies: deep enough for real APIs, shallow enough that the recursive
// comparison below stays small on the stack.
constexpr std::size_t kMaxJsonDepth = 64;

// Never compared: they describe the transfer, not the representation (RFC 9110 §7.6.1 hop-by-hop
// fields, RFC 9112 §6 framing), and differ legitimately between two upstreams.
constexpr std::array<std::string_view, 8> kFramingHeaders{
    "connection", "keep-alive",        "proxy-connection", "te",
    "trailer",    "transfer-encoding", "upgrade",          "content-length"};

char lower_char(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string_view view(json::string_view s) { return {s.data(), s.size()}; }

// Appends to the result until kMaxDifferences; the first one that does not fit sets `truncated`
// and returns false, which tells the caller to stop looking.
class Differences {
 public:
  explicit Differences(Comparison& out) : out_(out) {}

  bool add(std::string difference) {
    if (out_.differences.size() >= kMaxDifferences) {
      out_.truncated = true;
      return false;
    }
    out_.differences.push_back(std::move(difference));
    return true;
  }

 private:
  Comparison& out_;
};

// Header or trailer fields: `kind` ("header:" or "trailer:") prefixes each name that differs.
void compare_fields(const HeaderList& ha, const HeaderList& hb, std::string_view kind, const CompareOptions& options,
                    Differences& out) {
  // The common case first, without allocating: the same fields in the same order once framing and
  // ignored ones are left out, so no name can differ. (Names are lower-case as captured.)
  const auto skipped = [&](std::string_view name) {
    if (std::find(kFramingHeaders.begin(), kFramingHeaders.end(), name) != kFramingHeaders.end()) return true;
    return std::any_of(options.ignore_headers.begin(), options.ignore_headers.end(),
                       [&](const std::string& ignore) { return boost::beast::iequals(ignore, name); });
  };
  {
    std::size_t i = 0, j = 0;
    for (;;) {
      while (i < ha.size() && skipped(ha[i].name)) ++i;
      while (j < hb.size() && skipped(hb[j].name)) ++j;
      if (i == ha.size() || j == hb.size() || ha[i] != hb[j]) break;
      ++i, ++j;
    }
    if (i == ha.size() && j == hb.size()) return;
  }

  std::vector<std::string> ignored;
  ignored.reserve(options.ignore_headers.size());
  for (const auto& name : options.ignore_headers) ignored.push_back(lower(name));

  // name -> the values in a, the values in b, each in received order. std::map gives the sorted
  // order of the result. The names are lower-case as captured.
  std::map<std::string_view, std::array<std::vector<std::string_view>, 2>> values;
  auto collect = [&](const HeaderList& fields, std::size_t side) {
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const auto [name, value] = fields[i];
      if (std::find(kFramingHeaders.begin(), kFramingHeaders.end(), name) != kFramingHeaders.end()) continue;
      if (contains(ignored, name)) continue;
      values[name][side].push_back(value);
    }
  };
  collect(ha, 0);
  collect(hb, 1);
  for (const auto& [name, sides] : values) {
    if (sides[0] != sides[1] && !out.add(std::string(kind) + std::string(name))) return;
  }
}

// ---- JSON ------------------------------------------------------------------------------------

bool is_identifier(std::string_view key) {
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (key.empty() || !alpha(key.front())) return false;
  return std::all_of(key.begin() + 1, key.end(), [&](char c) { return alpha(c) || digit(c); });
}

void append_key(std::string& path, std::string_view key) {
  if (is_identifier(key)) {
    path += '.';
    path += key;
  } else {
    path += '[';
    path += json::serialize(json::string_view(key.data(), key.size()));
    path += ']';
  }
}

// Exact comparisons: a double equals an integer only when it is integral and in range, so large
// integers that round to the same double still differ.
constexpr double kTwoTo63 = 9223372036854775808.0;
constexpr double kTwoTo64 = 18446744073709551616.0;

bool equal(std::int64_t i, double d) {
  if (!std::isfinite(d) || d != std::trunc(d) || d < -kTwoTo63 || d >= kTwoTo63) return false;
  return static_cast<std::int64_t>(d) == i;
}

bool equal(std::uint64_t u, double d) {
  if (!std::isfinite(d) || d != std::trunc(d) || d < 0 || d >= kTwoTo64) return false;
  return static_cast<std::uint64_t>(d) == u;
}

bool equal(std::int64_t i, std::uint64_t u) { return i >= 0 && static_cast<std::uint64_t>(i) == u; }

bool numbers_equal(const json::value& x, const json::value& y) {
  switch (x.kind()) {
    case json::kind::int64:
      if (y.is_int64()) return x.get_int64() == y.get_int64();
      if (y.is_uint64()) return equal(x.get_int64(), y.get_uint64());
      return equal(x.get_int64(), y.get_double());
    case json::kind::uint64:
      if (y.is_int64()) return equal(y.get_int64(), x.get_uint64());
      if (y.is_uint64()) return x.get_uint64() == y.get_uint64();
      return equal(x.get_uint64(), y.get_double());
    default:
      if (y.is_int64()) return equal(y.get_int64(), x.get_double());
      if (y.is_uint64()) return equal(y.get_uint64(), x.get_double());
      // Boost.JSON reads an out-of-range number such as 0e400 as NaN: the same text on both
      // sides must still compare equal (found by fuzz/compare_fuzz.cpp).
      if (std::isnan(x.get_double()) && std::isnan(y.get_double())) return true;
      return x.get_double() == y.get_double();
  }
}

class JsonComparer {
 public:
  JsonComparer(const CompareOptions& options, Differences& out) : options_(options), out_(out) {}

  // Adds the differences beneath `path` (which it restores before returning); false once the
  // result is full.
  bool compare(const json::value& x, const json::value& y, std::string& path) {
    if (x.is_number() && y.is_number()) return numbers_equal(x, y) || out_.add(path);
    if (x.kind() != y.kind()) return out_.add(path);
    switch (x.kind()) {
      case json::kind::null:
        return true;
      case json::kind::bool_:
        return x.get_bool() == y.get_bool() || out_.add(path);
      case json::kind::string:
        return x.get_string() == y.get_string() || out_.add(path);
      case json::kind::array:
        return compare_arrays(x.get_array(), y.get_array(), path);
      case json::kind::object:
        return compare_objects(x.get_object(), y.get_object(), path);
      default:
        return true;  // numbers are handled above
    }
  }

 private:
  bool compare_arrays(const json::array& x, const json::array& y, std::string& path) {
    const std::size_t parent = path.size();
    const std::size_t n = std::max(x.size(), y.size());
    for (std::size_t i = 0; i < n; ++i) {
      path += '[';
      path += std::to_string(i);
      path += ']';
      const bool more = (i < x.size() && i < y.size()) ? compare(x[i], y[i], path) : out_.add(path);
      path.resize(parent);
      if (!more) return false;
    }
    return true;
  }

  bool compare_objects(const json::object& x, const json::object& y, std::string& path) {
    std::vector<std::string_view> keys;
    keys.reserve(x.size() + y.size());
    for (const auto& member : x) keys.push_back(view(member.key()));
    for (const auto& member : y) keys.push_back(view(member.key()));
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());

    const std::size_t parent = path.size();
    for (std::string_view key : keys) {
      if (contains(options_.ignore_json_fields, key)) continue;
      const json::string_view k(key.data(), key.size());
      const json::value* xv = x.if_contains(k);
      const json::value* yv = y.if_contains(k);
      append_key(path, key);
      const bool more = (xv && yv) ? compare(*xv, *yv, path) : out_.add(path);
      path.resize(parent);
      if (!more) return false;
    }
    return true;
  }

  const CompareOptions& options_;
  Differences& out_;
};

// The body as JSON, allocated from `arena`; `ok` false (and null returned) when it is not a JSON
// text (RFC 8259) or is nested deeper than kMaxJsonDepth.
json::value parse_json(std::string_view body, json::monotonic_resource& arena, bool& ok) {
  ok = false;
  if (body.empty()) return nullptr;
  json::parse_options opt;
  opt.max_depth = kMaxJsonDepth;
  json::error_code ec;
  json::value v = json::parse(json::string_view(body.data(), body.size()), ec, json::storage_ptr(&arena), opt);
  ok = !ec;
  return v;
}

void compare_bodies(const CapturedResponse& a, const CapturedResponse& b, const CompareOptions& options,
                    Comparison& result, Differences& out) {
  if (a.json && b.json && a.body.complete() && b.body.complete()) {
    // One arena per body: a parse allocates many small nodes, all freed together here.
    json::monotonic_resource arena_a;
    json::monotonic_resource arena_b;
    bool ok = false;
    const json::value x = parse_json(a.body.kept(), arena_a, ok);
    if (ok) {
      const json::value y = parse_json(b.body.kept(), arena_b, ok);
      if (ok) {
        result.json_compared = true;
        std::string path = "$";
        JsonComparer(options, out).compare(x, y, path);
        return;
      }
    }
  }
  if (a.body.size() != b.body.size() || a.body.digest() != b.body.digest()) out.add("body");
}

}  // namespace

Comparison compare(const CapturedResponse& a, const CapturedResponse& b, const CompareOptions& options) {
  Comparison result;
  Differences out(result);
  if (a.status != b.status) out.add("status");
  compare_fields(a.headers, b.headers, "header:", options, out);
  if (!result.truncated) compare_fields(a.trailers, b.trailers, "trailer:", options, out);
  if (!result.truncated) compare_bodies(a, b, options, result, out);
  return result;
}

std::vector<std::string> without_noise(const std::vector<std::string>& primary, const std::vector<std::string>& noise) {
  auto covers = [](std::string_view n, std::string_view p) {
    if (p == n) return true;
    // Only JSON paths have anything beneath them; a header name may itself contain '.'.
    return n.starts_with('$') && p.size() > n.size() && p.starts_with(n) &&
           (p[n.size()] == '.' || p[n.size()] == '[');
  };
  std::vector<std::string> kept;
  for (const auto& p : primary) {
    if (std::none_of(noise.begin(), noise.end(), [&](const std::string& n) { return covers(n, p); })) {
      kept.push_back(p);
    }
  }
  return kept;
}

bool is_json_media_type(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  const std::string media = lower(trim(type));
  if (media == "application/json") return true;
  constexpr std::string_view kPrefix = "application/";
  constexpr std::string_view kSuffix = "+json";
  if (!std::string_view(media).starts_with(kPrefix) || !std::string_view(media).ends_with(kSuffix)) return false;
  const std::string_view name = std::string_view(media).substr(
      kPrefix.size(), media.size() - kPrefix.size() - kSuffix.size());
  return !name.empty() && name.find('/') == std::string_view::npos;
}

namespace {

// The value of the first `name` field (lower-case), or nullopt.
std::optional<std::string_view> first_value(const HeaderList& headers, std::string_view name) {
  for (std::size_t i = 0; i < headers.size(); ++i)
    if (headers[i].name == name) return headers[i].value;
  return std::nullopt;
}

bool is_grpc_status_field(std::string_view name) {
  return name == "grpc-status" || name == "grpc-message" || name == "grpc-status-details-bin";
}

}  // namespace

bool has_json_content_type(const HeaderList& headers) {
  const auto type = first_value(headers, "content-type");
  return type && is_json_media_type(*type);
}

bool has_grpc_content_type(const HeaderList& headers) {
  const auto type = first_value(headers, "content-type");
  return type && codec::is_grpc_content_type(*type);
}

void trailers_only_status_as_trailers(CapturedResponse& r) {
  if (!r.trailers.empty() || r.body.size() != 0 || !first_value(r.headers, "grpc-status") ||
      !has_grpc_content_type(r.headers))
    return;
  HeaderList kept;
  for (std::size_t i = 0; i < r.headers.size(); ++i) {
    const auto [name, value] = r.headers[i];
    if (is_grpc_status_field(name))
      r.trailers.add(name, value);
    else
      kept.add(name, value);
  }
  r.headers = std::move(kept);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower_char);
  return out;
}

}  // namespace cutover::shadow
