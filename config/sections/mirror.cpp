// Shadow traffic: a route's mirror block with its comparison settings, and the top-level
// mirror_log where mismatches are written.
#include <limits>

#include "common/methods.hpp"
#include "common/text.hpp"
#include "config/sections/sections.hpp"

namespace cutover::config::detail {

namespace {

// Mirror bounds. A mirrored body is buffered in full to be compared, so max_body bounds memory per
// shadow request (times max_in_flight); a shadow exchange longer than 10m is a stuck upstream.
constexpr std::uint64_t kMirrorMaxBodyLimit = std::uint64_t{1} << 30;
constexpr std::uint32_t kMirrorMaxInFlightLimit = 1'000'000;
constexpr Millis kMirrorTimeoutLimit{10 * 60 * 1000};
// mirror_log rotation: a file smaller than a page of mismatches rotates on every line.
constexpr std::uint64_t kMirrorLogMinSize = 4 * 1024;
constexpr unsigned kMirrorLogMaxFilesLimit = 100;

// ---- compare: {ignore_headers: [date, server], ignore_json_fields: [timestamp], noise_sample: 1}

struct Compare {
  CompareConfig& c;
  RouteMarks& marks;
};

const Key<Compare> kCompareKeys[] = {
    {"ignore_headers",
     [](Reader& r, const Entry& e, Compare& s) {
       // Header names compare case-insensitively (RFC 9110 §5.1): stored lower-case.
       if (auto v = r.read_string_list(e, "mirror.compare.ignore_headers",
                                       {.what = "header name", .example = " like [date, server]", .token = true}))
         s.c.ignore_headers = std::move(*v);
     }},
    {"ignore_json_fields",
     [](Reader& r, const Entry& e, Compare& s) {
       if (auto v = r.read_string_list(e, "mirror.compare.ignore_json_fields",
                                       {.what = "field name", .example = " like [timestamp, request_id]"}))
         s.c.ignore_json_fields = std::move(*v);
     }},
    {"noise_sample",
     [](Reader& r, const Entry& e, Compare& s) {
       if (auto v = r.read_percent(e, "mirror.compare.noise_sample", "percentages")) {
         s.c.noise_sample_bp = *v;
         s.marks.noise_sample = e.value_mark();
       }
     }},
};

// ---- methods: [GET, HEAD]
// Method names are case-sensitive (RFC 9110 §9.1), so "get" is not GET; rather than guess,
// lower-case letters are an error.

void read_mirror_methods(Reader& r, const Entry& e, MirrorConfig& m) {
  if (!r.expect_items(e, "mirror.methods: expected a list of methods like [GET, HEAD]",
                      "mirror.methods: must list at least one method (remove 'mirror' to mirror nothing)"))
    return;
  std::vector<std::string> methods;
  for (const YAML::Node& item : e.value) {
    const Mark at = item_mark(item, e.value_mark());
    if (!item.IsScalar()) {
      r.error(at, "mirror.methods: expected a method name such as GET");
      continue;
    }
    const std::string& name = item.Scalar();
    if (!common::is_token(name)) {
      r.error(at, "mirror.methods: " + q(name) +
                      " is not a valid method name (letters, digits and !#$%&'*+-.^_`|~ only)");
      continue;
    }
    if (std::any_of(name.begin(), name.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
      std::string upper = name;
      for (auto& c : upper) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
      r.error(at, "mirror.methods: " + q(name) + ": methods are case-sensitive (RFC 9110 §9.1); write " + upper +
                      ", not " + name);
      continue;
    }
    if (std::find(methods.begin(), methods.end(), name) != methods.end()) {
      r.warn(at, "mirror.methods: " + name + " is listed twice");
      continue;
    }
    if (!common::is_safe_method(name))
      r.warn(at, "mirror.methods: " + name + " is not safe (RFC 9110 §9.2.1): every mirrored " + name +
                     " is executed a second time on the other side");
    methods.push_back(name);
  }
  m.methods = std::move(methods);
}

// ---- mirror: {percent: 5, methods: [GET, HEAD], max_body: 1MiB, max_in_flight: 1000, timeout: 5s, compare: {...}}

struct Mirror {
  MirrorConfig& m;
  RouteMarks& marks;
  const std::string& route_context;
  bool have_percent = false;
};

const Key<Mirror> kMirrorKeys[] = {
    {"percent",
     [](Reader& r, const Entry& e, Mirror& s) {
       s.have_percent = true;  // a bad value is reported as such, not as missing
       if (auto v = r.read_percent(e, "mirror.percent", "percentages")) s.m.percent_bp = *v;
     }},
    {"methods", [](Reader& r, const Entry& e, Mirror& s) { read_mirror_methods(r, e, s.m); }},
    {"max_body",
     [](Reader& r, const Entry& e, Mirror& s) {
       if (auto v = r.read_size(e, "mirror.max_body", 0, kMirrorMaxBodyLimit)) s.m.max_body = *v;
     }},
    {"max_in_flight",
     [](Reader& r, const Entry& e, Mirror& s) {
       if (auto v = r.read_uint(e, "mirror.max_in_flight", 1, kMirrorMaxInFlightLimit))
         s.m.max_in_flight = static_cast<std::uint32_t>(*v);
     }},
    {"timeout",
     [](Reader& r, const Entry& e, Mirror& s) {
       auto v = r.read_duration(e, "mirror.timeout", /*allow_zero=*/false);
       if (!v) return;
       if (*v > kMirrorTimeoutLimit) {
         r.error(e.value_mark(), "mirror.timeout: must be at most " + duration_text(kMirrorTimeoutLimit) + ", got " +
                                     duration_text(*v));
         return;
       }
       s.m.timeout = *v;
     }},
    {"compare",
     [](Reader& r, const Entry& e, Mirror& s) {
       if (!r.expect_map(e.value, e.value_mark(), "mirror.compare",
                         " with 'ignore_headers', 'ignore_json_fields' and/or 'noise_sample'"))
         return;
       Compare c{s.m.compare, s.marks};
       r.read_keys(e.value, "mirror.compare of " + s.route_context, kCompareKeys, c);
     },
     keys_of<kCompareKeys>()},
};

// ---- mirror_log: {path: cutover-mirror.jsonl, max_size: 10MiB, max_files: 3}

struct MirrorLog {
  MirrorLogConfig& log;
  bool have_path = false;
};

const Key<MirrorLog> kMirrorLogKeys[] = {
    {"path",
     [](Reader& r, const Entry& e, MirrorLog& s) {
       s.have_path = true;  // a bad value is reported by read_path; don't also call it missing
       if (auto v = r.read_path(e, "mirror_log.path")) s.log.path = *v;
     }},
    {"max_size",
     [](Reader& r, const Entry& e, MirrorLog& s) {
       if (auto v = r.read_size(e, "mirror_log.max_size", kMirrorLogMinSize, std::numeric_limits<std::uint64_t>::max()))
         s.log.max_size = *v;
     }},
    {"max_files",
     [](Reader& r, const Entry& e, MirrorLog& s) {
       if (auto v = r.read_uint(e, "mirror_log.max_files", 1, kMirrorLogMaxFilesLimit))
         s.log.max_files = static_cast<unsigned>(*v);
     }},
};

}  // namespace

void list_mirror_keys(std::vector<std::string>& out, const std::string& prefix) { list_keys<kMirrorKeys>(out, prefix); }
void list_mirror_log_keys(std::vector<std::string>& out, const std::string& prefix) {
  list_keys<kMirrorLogKeys>(out, prefix);
}

void read_mirror(Reader& r, const Entry& section, MirrorConfig& m, RouteMarks& marks,
                 const std::string& route_context) {
  m.enabled = true;
  m.mark = section.key_mark;
  if (!r.expect_map(section.value, section.value_mark(), "mirror",
                    " with 'percent' and optionally 'methods', 'max_body', 'max_in_flight', 'timeout' and 'compare'"))
    return;
  Mirror s{m, marks, route_context};
  r.read_keys(section.value, "mirror of " + route_context, kMirrorKeys, s);
  // No default: how much traffic is copied to the other side is the one choice not to guess.
  if (!s.have_percent)
    r.error(section.key_mark, "mirror.percent is required (the share of requests mirrored, 0 to 100)");
}

bool read_mirror_log(Reader& r, const Entry& section, MirrorLogConfig& log) {
  if (!r.expect_map(section.value, section.value_mark(), "mirror_log",
                    " with 'path' and optionally 'max_size' and 'max_files'"))
    return false;
  MirrorLog s{log};
  r.read_keys(section.value, "mirror_log", kMirrorLogKeys, s);
  if (!s.have_path) r.error(section.key_mark, "mirror_log.path is required (the file mismatches are written to)");
  return true;
}

}  // namespace cutover::config::detail
