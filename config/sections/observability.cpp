// What cutover writes about the traffic it carries: a listener's access_log, and the top-level
// request_id and tracing sections.
#include <algorithm>

#include "config/sections/sections.hpp"

namespace cutover::config::detail {

namespace {

// ---- access_log: {path: FILE | stdout, format: json, fields: [...], log_query: false, sample: 100}

// A queue smaller than a few lines drops under any burst; one over 1 GiB is a typo.
constexpr std::uint64_t kMinBuffer = 4 * 1024;
constexpr std::uint64_t kMaxBuffer = std::uint64_t{1} << 30;

struct AccessLog {
  AccessLogConfig& log;
  bool have_path = false;
};

const char* refuse_unknown_field(std::string_view name) {
  if (std::find(kAccessLogFields.begin(), kAccessLogFields.end(), name) != kAccessLogFields.end()) return nullptr;
  static const std::string message = [] {
    std::string m = "not an access log field (one of:";
    for (auto f : kAccessLogFields) m.append(" ").append(f);
    return m + ")";
  }();
  return message.c_str();
}

const Key<AccessLog> kAccessLogKeys[] = {
    {"path",
     [](Reader& r, const Entry& e, AccessLog& s) {
       s.have_path = true;
       if (e.value.IsScalar() && e.value.Scalar() == "stdout") {
         s.log.path = "stdout";
         return;
       }
       if (auto v = r.read_path(e, "access_log.path")) s.log.path = *v;
     }},
    {"format",
     [](Reader& r, const Entry& e, AccessLog&) {
       auto v = r.scalar(e, "access_log.format", "json");
       if (v && *v != "json") r.error(e.value_mark(), "access_log.format: only json is supported, got " + q(*v));
     }},
    {"fields",
     [](Reader& r, const Entry& e, AccessLog& s) {
       auto v = r.read_string_list(e, "access_log.fields",
                                   {.what = "field name", .example = " like [time, request_id, status, side]",
                                    .refuse = refuse_unknown_field});
       if (!v) return;
       if (v->empty()) {
         r.error(e.value_mark(), "access_log.fields: list at least one field (leave 'fields' out for all of them)");
         return;
       }
       s.log.fields = std::move(*v);
     }},
    {"log_query",
     [](Reader& r, const Entry& e, AccessLog& s) {
       if (auto v = r.read_bool(e, "access_log.log_query")) s.log.log_query = *v;
     }},
    {"buffer",
     [](Reader& r, const Entry& e, AccessLog& s) {
       if (auto v = r.read_size(e, "access_log.buffer", kMinBuffer, kMaxBuffer)) s.log.buffer = *v;
     }},
    {"sample",
     [](Reader& r, const Entry& e, AccessLog& s) {
       if (auto v = r.read_percent(e, "access_log.sample", "samples")) s.log.sample_bp = *v;
     }},
};

// ---- request_id: {header: X-Request-Id, trust_cidrs: [10.0.0.0/8]}

const Key<RequestIdConfig> kRequestIdKeys[] = {
    {"header",
     [](Reader& r, const Entry& e, RequestIdConfig& id) {
       if (auto v = r.read_token(e, "request_id.header", "header name")) id.header = *v;
     }},
    {"trust_cidrs",
     [](Reader& r, const Entry& e, RequestIdConfig& id) {
       read_cidr_list(r, e, "request_id.trust_cidrs", "to choose its request id", id.trust_cidrs);
     }},
};

// ---- tracing: {generate: false}

const Key<TracingConfig> kTracingKeys[] = {
    {"generate",
     [](Reader& r, const Entry& e, TracingConfig& t) {
       if (auto v = r.read_bool(e, "tracing.generate")) t.generate = *v;
     }},
};

}  // namespace

void list_access_log_keys(std::vector<std::string>& out, const std::string& prefix) {
  list_keys<kAccessLogKeys>(out, prefix);
}
void list_request_id_keys(std::vector<std::string>& out, const std::string& prefix) {
  list_keys<kRequestIdKeys>(out, prefix);
}
void list_tracing_keys(std::vector<std::string>& out, const std::string& prefix) { list_keys<kTracingKeys>(out, prefix); }

void read_access_log(Reader& r, const Entry& section, AccessLogConfig& log) {
  log.mark = section.key_mark;
  if (!r.expect_map(section.value, section.value_mark(), "access_log",
                    " with 'path' and optionally 'format', 'fields', 'log_query', 'sample' and 'buffer'"))
    return;
  log.enabled = true;
  AccessLog s{log};
  r.read_keys(section.value, "access_log", kAccessLogKeys, s);
  if (!s.have_path) r.error(section.key_mark, "access_log.path is required (a file, or stdout)");
}

void read_request_id(Reader& r, const Entry& section, RequestIdConfig& id) {
  if (!r.expect_map(section.value, section.value_mark(), "request_id", " with 'header' and/or 'trust_cidrs'")) return;
  r.read_keys(section.value, "request_id", kRequestIdKeys, id);
}

void read_tracing(Reader& r, const Entry& section, TracingConfig& tracing) {
  if (!r.expect_map(section.value, section.value_mark(), "tracing", " with 'generate'")) return;
  r.read_keys(section.value, "tracing", kTracingKeys, tracing);
}

}  // namespace cutover::config::detail
