// Loads the YAML config (SPEC "Config") into config::Config, collecting every problem with its
// FILE:LINE:COL so `cutover --check` can print them all in one pass. yaml-cpp does the parsing.
#include "config/loader.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>

#include "config/tls_files.hpp"
#include "config/units.hpp"

namespace cutover::config {

std::string Diagnostic::str() const {
  return file + ":" + std::to_string(mark.line) + ":" + std::to_string(mark.col) + ": " + message;
}

namespace {

namespace fs = std::filesystem;

// A config larger than this is certainly a mistake (a log file passed by accident); refuse it
// before handing it to the parser.
constexpr std::size_t kMaxConfigBytes = 16u << 20;
// More threads than this is a typo, not a machine; 0 means one per core anyway.
constexpr unsigned kMaxWorkers = 1024;

// yaml-cpp marks are 0-based with -1 for "none"; ours are 1-based with 0 for "none".
Mark to_mark(const YAML::Mark& m) {
  if (m.is_null() || m.line < 0 || m.column < 0) return {};
  return {m.line + 1, m.column + 1};
}

std::string where(Mark m) { return std::to_string(m.line) + ":" + std::to_string(m.col); }

std::string q(std::string_view s) { return "'" + std::string(s) + "'"; }

// Names appear in URLs (/v1/routes/{route}) and metric labels, so keep them to a safe alphabet.
bool valid_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Which keys a mapping accepts. `unsupported` are SPEC keys this build cannot honour yet: they
// are errors so a user never believes a health check or TLS is in effect when it is not.
struct Schema {
  std::string_view what;  // "route", "cluster", ... for messages
  std::vector<std::string_view> known;
  std::vector<std::string_view> unsupported;
};

const Schema kTopSchema{"the top level",
                        {"workers", "drain_timeout", "admin", "state_file", "audit_log",
                         "mirror_log", "limits", "timeouts", "clusters", "listeners"},
                        {}};
const Schema kAdminSchema{"admin", {"listen", "tokens_file"}, {}};
const Schema kLimitsSchema{"limits", {"max_request_line", "max_header_bytes", "max_request_body"}, {}};
const Schema kTimeoutsSchema{"timeouts", {"idle", "request_header", "body_idle", "request"}, {}};
const Schema kClusterSchema{"cluster",
                            {"endpoints", "connect_timeout", "response_timeout", "health_check", "outlier_detection",
                             "send_proxy_protocol", "tls"},
                            {}};
const Schema kClusterTlsSchema{"cluster tls", {"sni", "ca_file", "verify"}, {}};
const Schema kHealthCheckSchema{"health_check",
                                {"path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold"}, {}};
const Schema kOutlierSchema{"outlier_detection",
                            {"consecutive_5xx", "consecutive_connect_failures", "ejection_time", "max_ejection_time"},
                            {}};
const Schema kListenerSchema{"listener", {"name", "address", "protocol", "idle_timeout", "routes", "tls"}, {}};
const Schema kListenerTlsSchema{"listener tls", {"cert_file", "key_file", "certificates"}, {}};
const Schema kTlsCertificateSchema{"certificate", {"cert_file", "key_file"}, {}};
const Schema kRouteSchema{"route",
                          {"name", "match", "source", "target", "weight", "read_weight",
                           "write_weight", "sticky", "force", "writes", "mirror"},
                          {}};
const Schema kMatchSchema{"match", {"host", "path_prefix"}, {}};
const Schema kStickySchema{"sticky", {"header", "cookie", "client_ip", "pin_cookie", "pin_max_age"}, {}};
const Schema kForceSchema{"force", {"header", "cookie", "allow_cidrs"}, {}};
const Schema kWritesSchema{"writes", {"hold_timeout", "hold_max", "max_held"}, {}};
const Schema kMirrorSchema{"mirror",
                           {"percent", "methods", "max_body", "max_in_flight", "timeout", "compare"},
                           {}};
const Schema kCompareSchema{"mirror.compare", {"ignore_headers", "ignore_json_fields", "noise_sample"}, {}};
const Schema kMirrorLogSchema{"mirror_log", {"path", "max_size", "max_files"}, {}};

// Bounds for writes.max_held: at least one (0 would turn every hold into immediate 503s, which
// is what not holding does), and a ceiling well below what a proxy can buffer.
constexpr std::uint32_t kMaxHeldLimit = 1'000'000;
// Browsers cap cookie lifetimes at 400 days (RFC 6265bis §5.5); longer is silently shortened.
constexpr Millis kCookieMaxAgeCap{400LL * 24 * 3600 * 1000};
// Mirror bounds. A mirrored body is buffered in full to be compared, so max_body bounds memory per
// shadow request (times max_in_flight); a shadow exchange longer than 10m is a stuck upstream.
constexpr std::uint64_t kMirrorMaxBodyLimit = std::uint64_t{1} << 30;
constexpr std::uint32_t kMirrorMaxInFlightLimit = 1'000'000;
constexpr Millis kMirrorTimeoutLimit{10 * 60 * 1000};
// mirror_log rotation: a file smaller than a page of mismatches rotates on every line.
constexpr std::uint64_t kMirrorLogMinSize = 4 * 1024;
constexpr unsigned kMirrorLogMaxFilesLimit = 100;

// RFC 9110 §5.6.2 token: header field names. RFC 6265 §4.1.1 cookie-name is the RFC 2616 token,
// which is the same set of characters.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// A duration for messages: the largest unit that divides it exactly.
std::string duration_text(Millis d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// A size for messages: the largest binary unit that divides it exactly.
std::string size_text(std::uint64_t bytes) {
  if (bytes != 0 && bytes % (std::uint64_t{1} << 30) == 0) return std::to_string(bytes >> 30) + "GiB";
  if (bytes != 0 && bytes % (std::uint64_t{1} << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
  if (bytes != 0 && bytes % (std::uint64_t{1} << 10) == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes);
}

// One key: value pair of a mapping, with positions for messages.
struct Entry {
  std::string key;
  Mark key_mark;
  YAML::Node value;
  // yaml-cpp gives an empty value the position of the *next* token, often the next line, so
  // problems with a missing value are reported at the key instead.
  Mark value_mark() const {
    const Mark m = to_mark(value.Mark());
    return (value.IsNull() || m.line == 0) ? key_mark : m;
  }
};

// The position of a sequence item; yaml-cpp may have none for it, then the sequence's is used.
Mark item_mark(const YAML::Node& item, Mark fallback) {
  const Mark m = to_mark(item.Mark());
  return m.line ? m : fallback;
}

// RFC 9110 §9.2.1: the methods whose copies change nothing on the side that receives them.
bool is_safe_method(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE";
}

// Positions the model does not keep but the cross-checks need.
struct RouteMarks {
  Mark name, source, target;
  Mark noise_sample;  // of mirror.compare.noise_sample's value; line 0 when not given
  // Keys only an http listener's route may have ("read_weight", "sticky.header", ...), where they
  // were written: a tcp listener's routes are checked once the listener's protocol is known.
  std::vector<std::pair<std::string, Mark>> http_only;
};
struct ListenerMarks {
  Mark name, address;
  std::vector<RouteMarks> routes;
};

// Records where each YAML document starts; ignores everything else (the document count pass).
struct DocumentStarts : YAML::EventHandler {
  YAML::Mark last;
  void OnDocumentStart(const YAML::Mark& m) override { last = m; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

class Loader {
 public:
  Loader(std::string file, fs::path base_dir) : file_(std::move(file)), base_dir_(std::move(base_dir)) {
    cfg_.path = file_;
  }

  LoadResult run(std::string_view yaml) {
    try {
      // Count the documents with the event parser first, stopping at the second: yaml-cpp 0.7's
      // LoadAll() loops forever, allocating, on some inputs (a lone ',' is one: yaml-cpp issue
      // 1040, found by fuzz/config_fuzz.cpp), producing empty documents without end.
      const std::string text(yaml);
      std::optional<Mark> second;
      {
        std::istringstream in(text);
        YAML::Parser parser(in);
        DocumentStarts starts;
        for (std::size_t docs = 0; docs < 2 && parser.HandleNextDocument(starts);)
          if (++docs == 2) second = to_mark(starts.last);
      }
      const YAML::Node doc = second ? YAML::Node() : YAML::Load(text);
      if (second) {
        error(*second, "config must be a single YAML document (a second one starts here)");
      } else if (doc.IsNull()) {
        error({1, 1}, "config is empty: expected a mapping with 'clusters' and 'listeners'");
      } else {
        parse_top(doc);
        cross_check();
      }
    } catch (const YAML::DeepRecursion& e) {
      // yaml-cpp's own message for this is a bare "bad file".
      error(to_mark(e.mark), "nesting is too deep (more than " + std::to_string(e.depth()) + " levels)");
    } catch (const YAML::Exception& e) {
      // ParserException (syntax) and anything else yaml-cpp raises while building nodes.
      error(to_mark(e.mark), e.msg);
    } catch (const std::exception& e) {
      error({}, std::string("internal error while loading config: ") + e.what());
    } catch (...) {
      error({}, "internal error while loading config");
    }
    auto by_position = [](const Diagnostic& a, const Diagnostic& b) {
      return std::tie(a.mark.line, a.mark.col) < std::tie(b.mark.line, b.mark.col);
    };
    std::stable_sort(result_.errors.begin(), result_.errors.end(), by_position);
    std::stable_sort(result_.warnings.begin(), result_.warnings.end(), by_position);
    if (result_.errors.empty()) result_.config = std::move(cfg_);
    return std::move(result_);
  }

 private:
  void error(Mark m, std::string msg) { result_.errors.push_back({file_, m, std::move(msg)}); }
  void warn(Mark m, std::string msg) { result_.warnings.push_back({file_, m, std::move(msg)}); }

  // ---- mappings and keys -------------------------------------------------------------------

  // The pairs of `map`, with non-string keys and second occurrences of a key reported and
  // dropped. yaml-cpp 0.7 keeps duplicates in iteration order, which is what lets us see them.
  std::vector<Entry> entries(const YAML::Node& map, const std::string& context) {
    std::vector<Entry> out;
    std::map<std::string, Mark> seen;
    // Iterate by value: yaml-cpp's iterator-> hands out a proxy, so a reference to
    // `it->first` would dangle.
    for (const auto& kv : map) {
      const YAML::Node k = kv.first;
      const Mark km = to_mark(k.Mark());
      if (!k.IsScalar()) {
        error(km, "keys in " + context + " must be plain strings");
        continue;
      }
      auto [pos, inserted] = seen.emplace(k.Scalar(), km);
      if (!inserted) {
        error(km, "duplicate key " + q(k.Scalar()) + " in " + context + " (first at " +
                      where(pos->second) + ")");
        continue;
      }
      out.push_back({k.Scalar(), km, kv.second});
    }
    return out;
  }

  // Reports a key that `schema` does not handle; the caller has already dealt with known keys.
  void reject_key(const Entry& e, const Schema& schema, const std::string& context) {
    if (std::find(schema.unsupported.begin(), schema.unsupported.end(), e.key) !=
        schema.unsupported.end()) {
      error(e.key_mark, q(e.key) + " is not supported by this build yet");
      return;
    }
    if (e.key == "<<") {
      error(e.key_mark, "YAML merge keys ('<<') are not supported; repeat the settings instead");
      return;
    }
    std::string msg = "unknown key " + q(e.key) + " in " + context;
    std::string_view best;
    std::size_t best_d = 3;  // suggest only close misspellings
    for (const auto* list : {&schema.known, &schema.unsupported}) {
      for (auto k : *list) {
        const std::size_t d = edit_distance(e.key, k);
        if (d < best_d && d < k.size() / 2 + 1) {
          best_d = d;
          best = k;
        }
      }
    }
    if (!best.empty()) msg += " (did you mean " + q(best) + "?)";
    error(e.key_mark, std::move(msg));
  }

  // Callers pass Entry::value_mark() as `at`, so an empty section is reported on its key's line.
  bool expect_map(const YAML::Node& n, Mark at, const std::string& label, std::string_view hint) {
    if (n.IsMap()) return true;
    error(at, label + ": expected a mapping" + std::string(hint));
    return false;
  }

  // A name given inside a mapping ("name: app"), for messages, before the mapping is walked.
  static std::string peek_name(const YAML::Node& map) {
    for (const auto& kv : map)
      if (kv.first.IsScalar() && kv.first.Scalar() == "name" && kv.second.IsScalar())
        return kv.second.Scalar();
    return {};
  }

  // ---- scalar readers: each reports at the value's position and returns nullopt on error ----

  std::optional<std::string> scalar(const Entry& e, const std::string& label,
                                    std::string_view expected) {
    if (!e.value.IsScalar()) {
      error(e.value_mark(), label + ": expected " + std::string(expected));
      return std::nullopt;
    }
    return e.value.Scalar();
  }

  std::optional<std::string> read_name(const Entry& e, const std::string& label) {
    auto s = scalar(e, label, "a name");
    if (!s) return std::nullopt;
    if (!valid_name(*s)) {
      error(e.value_mark(), label + ": " + q(*s) +
                                " is not a valid name (use letters, digits, '_', '.', '-')");
      return std::nullopt;
    }
    return s;
  }

  std::optional<unsigned> read_workers(const Entry& e) {
    constexpr std::string_view kExpect = "a non-negative integer";
    auto s = scalar(e, "workers", kExpect);
    if (!s) return std::nullopt;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (s->empty() || ec != std::errc{} || p != s->data() + s->size()) {
      error(e.value_mark(), "workers: expected " + std::string(kExpect));
      return std::nullopt;
    }
    if (v > kMaxWorkers) {
      error(e.value_mark(), "workers: at most " + std::to_string(kMaxWorkers) + " (0 = one per core)");
      return std::nullopt;
    }
    return v;
  }

  std::optional<Millis> read_duration(const Entry& e, const std::string& label, bool allow_zero) {
    constexpr std::string_view kExpect = "a duration like 500ms, 5s or 1m";
    auto s = scalar(e, label, kExpect);
    if (!s) return std::nullopt;
    auto d = parse_duration(*s);
    if (!d) {
      error(e.value_mark(), label + ": expected " + std::string(kExpect));
      return std::nullopt;
    }
    if (!allow_zero && d->count() == 0) {
      error(e.value_mark(), label + ": must be greater than 0");
      return std::nullopt;
    }
    return d;
  }

  std::optional<HostPort> read_host_port(const YAML::Node& value, Mark at, const std::string& label,
                                         bool allow_port_zero) {
    constexpr std::string_view kExpect = "host:port like 127.0.0.1:8080 or [::1]:8080";
    if (!value.IsScalar()) {
      error(at, label + ": expected " + std::string(kExpect));
      return std::nullopt;
    }
    auto hp = parse_host_port(value.Scalar());
    if (!hp) {
      error(at, label + ": " + q(value.Scalar()) + " is not a valid " + std::string(kExpect));
      return std::nullopt;
    }
    if (hp->port == 0 && !allow_port_zero) {
      error(at, label + ": port must be 1..65535 in " + q(value.Scalar()));
      return std::nullopt;
    }
    hp->mark = at;
    return hp;
  }

  // A header or cookie name (an RFC 9110 token), kept as written.
  std::optional<std::string> read_token(const Entry& e, const std::string& label, std::string_view what) {
    auto s = scalar(e, label, what);
    if (!s) return std::nullopt;
    if (!is_token(*s)) {
      error(e.value_mark(), label + ": " + q(*s) + " is not a valid " + std::string(what) +
                                " (letters, digits and !#$%&'*+-.^_`|~ only)");
      return std::nullopt;
    }
    return s;
  }

  // YAML 1.2 core booleans only: "yes"/"on" are strings there, so they are not guessed at here.
  std::optional<bool> read_bool(const Entry& e, const std::string& label) {
    auto s = scalar(e, label, "true or false");
    if (!s) return std::nullopt;
    if (*s == "true" || *s == "True" || *s == "TRUE") return true;
    if (*s == "false" || *s == "False" || *s == "FALSE") return false;
    error(e.value_mark(), label + ": expected true or false, got " + q(*s));
    return std::nullopt;
  }

  // A percentage 0..100 in 0.01 steps, as basis points: weights, mirror.percent,
  // mirror.compare.noise_sample. `what` names the values in the step message.
  std::optional<std::uint32_t> read_percent(const Entry& e, const std::string& label,
                                            std::string_view what) {
    const std::string expect = "a percentage from 0 to 100";
    auto s = scalar(e, label, expect);
    if (!s) return std::nullopt;
    double v = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v, std::chars_format::fixed);
    if (s->empty() || ec != std::errc{} || p != s->data() + s->size() || !(v >= 0.0 && v <= 100.0)) {
      error(e.value_mark(), label + ": expected " + expect + ", got " + q(*s));
      return std::nullopt;
    }
    auto bp = percent_to_bp(v);
    if (!bp) {
      error(e.value_mark(), label + ": " + q(*s) + " is finer than the 0.01 step " +
                                std::string(what) + " allow");
      return std::nullopt;
    }
    return bp;
  }

  std::optional<std::uint32_t> parse_weight(const Entry& e) { return read_percent(e, e.key, "weights"); }

  // A plain decimal integer in [min, max].
  std::optional<std::uint64_t> read_uint(const Entry& e, const std::string& label, std::uint64_t min,
                                         std::uint64_t max) {
    const std::string expect = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    auto s = scalar(e, label, expect);
    if (!s) return std::nullopt;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
    if (s->empty() || ec != std::errc{} || p != s->data() + s->size() || v < min || v > max) {
      error(e.value_mark(), label + ": expected " + expect + ", got " + q(*s));
      return std::nullopt;
    }
    return v;
  }

  // A size in bytes ("512", "64KiB", "1MiB") in [min, max]; bounds are shown as written sizes.
  std::optional<std::uint64_t> read_size(const Entry& e, const std::string& label, std::uint64_t min,
                                         std::uint64_t max) {
    constexpr std::string_view kExpect = "a size like 512, 64KiB or 1MiB";
    auto s = scalar(e, label, kExpect);
    if (!s) return std::nullopt;
    auto v = parse_size(*s);
    if (!v) {
      error(e.value_mark(), label + ": expected " + std::string(kExpect) + ", got " + q(*s));
      return std::nullopt;
    }
    if (*v < min) {
      error(e.value_mark(), label + ": must be at least " + size_text(min) + ", got " + q(*s));
      return std::nullopt;
    }
    if (*v > max) {
      error(e.value_mark(), label + ": must be at most " + size_text(max) + ", got " + q(*s));
      return std::nullopt;
    }
    return v;
  }

  // A file path; relative paths are taken from the config file's directory, so the config means
  // the same thing whatever directory the proxy was started from.
  std::optional<std::string> read_path(const Entry& e, const std::string& label) {
    auto s = scalar(e, label, "a file path");
    if (!s) return std::nullopt;
    if (s->empty()) {
      error(e.value_mark(), label + ": expected a file path, got an empty string");
      return std::nullopt;
    }
    fs::path p(*s);
    if (p.is_relative() && !base_dir_.empty()) p = (base_dir_ / p).lexically_normal();
    return p.string();
  }

  // ---- sections ----------------------------------------------------------------------------

  void parse_top(const YAML::Node& root) {
    const Mark root_mark = to_mark(root.Mark()).line ? to_mark(root.Mark()) : Mark{1, 1};
    if (!root.IsMap()) {
      error(root_mark, "the config must be a mapping with 'clusters' and 'listeners' at the top level");
      return;
    }
    bool have_listeners = false;
    for (const Entry& e : entries(root, std::string(kTopSchema.what))) {
      if (e.key == "workers") {
        if (auto v = read_workers(e)) cfg_.workers = *v;
      } else if (e.key == "drain_timeout") {
        if (auto v = read_duration(e, e.key, /*allow_zero=*/true)) cfg_.drain_timeout = *v;
      } else if (e.key == "admin") {
        parse_admin(e);
      } else if (e.key == "state_file") {
        if (auto v = read_path(e, e.key)) cfg_.state_file = *v;
      } else if (e.key == "audit_log") {
        if (auto v = read_path(e, e.key)) cfg_.audit_log = *v;
      } else if (e.key == "mirror_log") {
        parse_mirror_log(e);
      } else if (e.key == "limits") {
        parse_limits(e);
      } else if (e.key == "timeouts") {
        parse_timeouts(e);
      } else if (e.key == "clusters") {
        have_clusters_ = true;
        parse_clusters(e);
      } else if (e.key == "listeners") {
        have_listeners = true;
        parse_listeners(e);
      } else {
        reject_key(e, kTopSchema, std::string(kTopSchema.what));
      }
    }
    if (!have_clusters_) error(root_mark, "missing 'clusters': routes need a source and a target cluster");
    if (!have_listeners) error(root_mark, "missing 'listeners': at least one listener is required");
  }

  void parse_admin(const Entry& section) {
    if (!expect_map(section.value, section.value_mark(), "admin", " with 'listen' and 'tokens_file'"))
      return;
    Mark listen_mark = section.value_mark();
    for (const Entry& e : entries(section.value, "admin")) {
      if (e.key == "listen") {
        listen_mark = e.value_mark();
        if (auto hp = read_host_port(e.value, e.value_mark(), "admin.listen", /*allow_port_zero=*/true))
          cfg_.admin.listen = *hp;
      } else if (e.key == "tokens_file") {
        if (auto v = read_path(e, "admin.tokens_file")) {
          cfg_.admin.tokens_file = *v;
          cfg_.admin.tokens_file_mark = e.value_mark();  // the file itself is read at start-up
        }
      } else {
        reject_key(e, kAdminSchema, "admin");
      }
    }
    // SPEC: without tokens, mutating calls are unauthenticated, so only this machine may reach them.
    if (cfg_.admin.tokens_file.empty() && !is_loopback_host(cfg_.admin.listen.host))
      error(listen_mark, "admin.listen must be loopback when no tokens_file is set");
  }

  // limits: {max_request_line: 8KiB, max_header_bytes: 64KiB, max_request_body: 0}.
  void parse_limits(const Entry& section) {
    if (!expect_map(section.value, section.value_mark(), "limits",
                    " with 'max_request_line', 'max_header_bytes' or 'max_request_body'"))
      return;
    LimitsConfig& l = cfg_.limits;
    std::optional<Mark> line_mark;
    for (const Entry& e : entries(section.value, "limits")) {
      if (e.key == "max_request_line") {
        line_mark = e.value_mark();
        if (auto v = read_size(e, "limits.max_request_line", 256, 1024 * 1024)) l.max_request_line = *v;
      } else if (e.key == "max_header_bytes") {
        if (auto v = read_size(e, "limits.max_header_bytes", 1024, 1024 * 1024)) l.max_header_bytes = *v;
      } else if (e.key == "max_request_body") {
        if (auto v = read_size(e, "limits.max_request_body", 0, std::numeric_limits<std::uint64_t>::max() / 2))
          l.max_request_body = *v;
      } else {
        reject_key(e, kLimitsSchema, "limits");
      }
    }
    if (l.max_request_line > l.max_header_bytes)
      error(line_mark.value_or(section.key_mark), "limits.max_request_line must not be larger than limits.max_header_bytes");
  }

  // timeouts: {idle: 60s, request_header: 30s, body_idle: 60s, request: 0s}.
  void parse_timeouts(const Entry& section) {
    if (!expect_map(section.value, section.value_mark(), "timeouts",
                    " with 'idle', 'request_header', 'body_idle' or 'request'"))
      return;
    TimeoutsConfig& t = cfg_.timeouts;
    for (const Entry& e : entries(section.value, "timeouts")) {
      Millis* field = e.key == "idle"             ? &t.idle
                      : e.key == "request_header" ? &t.request_header
                      : e.key == "body_idle"      ? &t.body_idle
                      : e.key == "request"        ? &t.request
                                                  : nullptr;
      if (!field) {
        reject_key(e, kTimeoutsSchema, "timeouts");
        continue;
      }
      const std::string label = "timeouts." + e.key;
      if (auto v = read_duration(e, label, /*allow_zero=*/field == &t.request)) *field = *v;
    }
  }

  // mirror_log: {path: cutover-mirror.jsonl, max_size: 10MiB, max_files: 3}.
  void parse_mirror_log(const Entry& section) {
    if (!expect_map(section.value, section.value_mark(), "mirror_log",
                    " with 'path' and optionally 'max_size' and 'max_files'"))
      return;
    MirrorLogConfig& ml = cfg_.mirror_log;
    mirror_log_mark_ = section.key_mark;
    bool have_path = false;
    for (const Entry& e : entries(section.value, "mirror_log")) {
      if (e.key == "path") {
        have_path = true;  // a bad value is reported by read_path; don't also call it missing
        if (auto v = read_path(e, "mirror_log.path")) ml.path = *v;
      } else if (e.key == "max_size") {
        if (auto v = read_size(e, "mirror_log.max_size", kMirrorLogMinSize,
                               std::numeric_limits<std::uint64_t>::max())) ml.max_size = *v;
      } else if (e.key == "max_files") {
        if (auto v = read_uint(e, "mirror_log.max_files", 1, kMirrorLogMaxFilesLimit))
          ml.max_files = static_cast<unsigned>(*v);
      } else {
        reject_key(e, kMirrorLogSchema, "mirror_log");
      }
    }
    if (!have_path)
      error(section.key_mark, "mirror_log.path is required (the file mismatches are written to)");
  }

  void parse_clusters(const Entry& section) {
    if (!expect_map(section.value, section.value_mark(), "clusters",
                    " of cluster name to settings, e.g. 'legacy: {endpoints: [...]}'"))
      return;
    if (section.value.size() == 0) {
      error(section.value_mark(), "clusters: at least one cluster is required");
      return;
    }
    for (const Entry& e : entries(section.value, "clusters")) parse_cluster(e);
  }

  void parse_cluster(const Entry& def) {
    ClusterConfig c;
    c.name = def.key;
    c.mark = def.key_mark;
    const std::string context = "cluster " + q(def.key);
    if (!valid_name(def.key))
      error(def.key_mark, "cluster name " + q(def.key) +
                              " is not a valid name (use letters, digits, '_', '.', '-')");
    if (expect_map(def.value, def.value_mark(), context, " with 'endpoints'")) {
      bool have_endpoints = false;
      for (const Entry& e : entries(def.value, context)) {
        if (e.key == "endpoints") {
          have_endpoints = true;
          parse_endpoints(e, c);
        } else if (e.key == "connect_timeout" || e.key == "response_timeout") {
          auto v = read_duration(e, e.key, /*allow_zero=*/false);
          if (v) (e.key == "connect_timeout" ? c.connect_timeout : c.response_timeout) = *v;
        } else if (e.key == "health_check") {
          parse_health_check(e, c.health_check);
        } else if (e.key == "outlier_detection") {
          parse_outlier(e, c.outlier_detection);
        } else if (e.key == "send_proxy_protocol") {
          auto v = scalar(e, "send_proxy_protocol", "v1 or v2");
          if (!v) continue;
          if (*v == "v1" || *v == "v2") {
            c.send_proxy_protocol = *v == "v1" ? ProxyProtocol::v1 : ProxyProtocol::v2;
            c.send_proxy_protocol_mark = e.value_mark();
          } else {
            error(e.value_mark(), "send_proxy_protocol: expected v1 or v2, got " + q(*v));
          }
        } else if (e.key == "tls") {
          parse_cluster_tls(e, c);
        } else {
          reject_key(e, kClusterSchema, context);
        }
      }
      if (!have_endpoints) error(def.key_mark, context + " is missing 'endpoints'");
    }
    cfg_.clusters.push_back(std::move(c));
  }

  // health_check: {path: /healthz, interval: 2s, timeout: 1s, healthy_threshold: 2, unhealthy_threshold: 3}
  void parse_health_check(const Entry& section, HealthCheckConfig& h) {
    if (!expect_map(section.value, section.value_mark(), "health_check", " with 'path', 'interval', ..."))
      return;
    h.enabled = true;
    std::optional<Mark> timeout_mark;
    for (const Entry& e : entries(section.value, "health_check")) {
      if (e.key == "path") {
        if (auto s = scalar(e, "health_check.path", "a path starting with '/'")) {
          if (s->empty() || s->front() != '/' || s->find_first_of(" \t\r\n") != std::string::npos)
            error(e.value_mark(), "health_check.path must start with '/' and contain no whitespace");
          else
            h.path = *s;
        }
      } else if (e.key == "interval") {
        if (auto v = read_duration(e, "health_check.interval", false)) h.interval = *v;
      } else if (e.key == "timeout") {
        timeout_mark = e.value_mark();
        if (auto v = read_duration(e, "health_check.timeout", false)) h.timeout = *v;
      } else if (e.key == "healthy_threshold") {
        if (auto v = read_uint(e, "health_check.healthy_threshold", 1, 100)) h.healthy_threshold = static_cast<std::uint32_t>(*v);
      } else if (e.key == "unhealthy_threshold") {
        if (auto v = read_uint(e, "health_check.unhealthy_threshold", 1, 100)) h.unhealthy_threshold = static_cast<std::uint32_t>(*v);
      } else {
        reject_key(e, kHealthCheckSchema, "health_check");
      }
    }
    if (h.timeout > h.interval)
      error(timeout_mark.value_or(section.key_mark), "health_check.timeout must not be longer than its interval");
  }

  // outlier_detection: {consecutive_5xx: 5, consecutive_connect_failures: 3, ejection_time: 30s}
  void parse_outlier(const Entry& section, OutlierConfig& o) {
    if (!expect_map(section.value, section.value_mark(), "outlier_detection",
                    " with 'consecutive_5xx', 'consecutive_connect_failures', 'ejection_time'"))
      return;
    o.enabled = true;
    for (const Entry& e : entries(section.value, "outlier_detection")) {
      if (e.key == "consecutive_5xx") {
        if (auto v = read_uint(e, "outlier_detection.consecutive_5xx", 1, 1000)) o.consecutive_5xx = static_cast<std::uint32_t>(*v);
      } else if (e.key == "consecutive_connect_failures") {
        if (auto v = read_uint(e, "outlier_detection.consecutive_connect_failures", 1, 1000))
          o.consecutive_connect_failures = static_cast<std::uint32_t>(*v);
      } else if (e.key == "ejection_time") {
        if (auto v = read_duration(e, "outlier_detection.ejection_time", false)) o.ejection_time = *v;
      } else if (e.key == "max_ejection_time") {
        if (auto v = read_duration(e, "outlier_detection.max_ejection_time", false)) o.max_ejection_time = *v;
      } else {
        reject_key(e, kOutlierSchema, "outlier_detection");
      }
    }
    if (o.max_ejection_time < o.ejection_time) o.max_ejection_time = o.ejection_time;
  }

  // Upstream TLS: tls: {sni: app.internal, ca_file: ca.pem, verify: true}. The CA file is read
  // here so a missing or empty one is a config error, not a failure at the first connect.
  void parse_cluster_tls(const Entry& section, ClusterConfig& c) {
    ClusterTlsConfig& t = c.tls;
    t.mark = section.key_mark;
    if (!expect_map(section.value, section.value_mark(), "tls", " with 'sni', 'ca_file' and/or 'verify' (or {})"))
      return;
    t.enabled = true;
    const std::string context = "tls of cluster " + q(c.name);
    for (const Entry& e : entries(section.value, context)) {
      if (e.key == "sni") {
        auto s = scalar(e, "tls.sni", "a host name");
        if (!s) continue;
        check_sni(e, *s, t);
      } else if (e.key == "ca_file") {
        auto v = read_path(e, "tls.ca_file");
        if (!v) continue;
        if (auto problem = check_ca_file(*v); !problem.empty())
          error(e.value_mark(), "tls.ca_file: " + problem);
        else
          t.ca_file = *v;
      } else if (e.key == "verify") {
        if (auto v = read_bool(e, "tls.verify")) {
          t.verify = *v;
          if (!*v)
            warn(e.value_mark(), "tls.verify is false for cluster " + q(c.name) +
                                     ": upstream certificates are not checked, so anyone on the path can "
                                     "impersonate the upstream");
        }
      } else {
        reject_key(e, kClusterTlsSchema, context);
      }
    }
  }

  // RFC 6066 §3: a server name is a DNS host name; IP literals are not allowed in SNI.
  void check_sni(const Entry& e, const std::string& s, ClusterTlsConfig& t) {
    const bool ip_literal = s.find(':') != std::string::npos ||
                            (!s.empty() && s.find_first_not_of("0123456789.") == std::string::npos);
    const bool bad_chars = s.empty() || s.size() > 253 ||
                           s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
                               std::string::npos;
    if (ip_literal)
      error(e.value_mark(), "tls.sni: " + q(s) + " is an IP address; SNI carries host names only (RFC 6066 section 3)");
    else if (bad_chars)
      error(e.value_mark(), "tls.sni: " + q(s) + " is not a valid host name");
    else
      t.sni = lower(s);
  }

  // TLS termination: tls: {cert_file: c.pem, key_file: k.pem}, or several certificates chosen by
  // SNI: tls: {certificates: [{cert_file: a.pem, key_file: a.key}, ...]} (the first is the default).
  void parse_listener_tls(const Entry& section, ListenerTlsConfig& t, const std::string& listener_context) {
    t.mark = section.key_mark;
    if (!expect_map(section.value, section.value_mark(), "tls",
                    " with 'cert_file' and 'key_file', or 'certificates'"))
      return;
    t.enabled = true;
    const std::string context = "tls of " + listener_context;
    std::optional<Mark> single, list;
    TlsCertificateConfig one;
    one.mark = section.value_mark();
    std::vector<Entry> single_entries;
    for (const Entry& e : entries(section.value, context)) {
      if (e.key == "cert_file" || e.key == "key_file") {
        if (!single) single = e.key_mark;
        single_entries.push_back(e);
      } else if (e.key == "certificates") {
        list = e.key_mark;
        if (!e.value.IsSequence() || e.value.size() == 0) {
          error(e.value_mark(), "tls.certificates: expected a non-empty list of {cert_file, key_file}");
          continue;
        }
        for (const YAML::Node& item : e.value) {
          const Mark m = item_mark(item, e.value_mark());
          if (!expect_map(item, m, "tls.certificates", " item with 'cert_file' and 'key_file'")) continue;
          TlsCertificateConfig c;
          c.mark = m;
          std::vector<Entry> es;
          for (const Entry& ce : entries(item, "certificate of " + context)) {
            if (ce.key == "cert_file" || ce.key == "key_file")
              es.push_back(ce);
            else
              reject_key(ce, kTlsCertificateSchema, "certificate of " + context);
          }
          if (read_certificate(es, m, "tls.certificates", c)) t.certificates.push_back(std::move(c));
        }
      } else {
        reject_key(e, kListenerTlsSchema, context);
      }
    }
    if (single && list) {
      error(*single, "tls: give either cert_file and key_file, or certificates, not both");
      return;
    }
    if (!single && !list) {
      error(section.key_mark, "tls needs cert_file and key_file (or a certificates list)");
      return;
    }
    if (single && read_certificate(single_entries, section.value_mark(), "tls", one))
      t.certificates.push_back(std::move(one));
  }

  // cert_file and key_file of one certificate, both required, checked together with OpenSSL.
  bool read_certificate(const std::vector<Entry>& es, Mark at, const std::string& label, TlsCertificateConfig& c) {
    std::optional<Mark> cert_mark, key_mark;
    bool ok = true;
    for (const Entry& e : es) {
      auto v = read_path(e, label + "." + e.key);
      if (!v) {
        ok = false;
        continue;
      }
      if (e.key == "cert_file") {
        c.cert_file = *v;
        cert_mark = e.value_mark();
      } else {
        c.key_file = *v;
        key_mark = e.value_mark();
      }
    }
    if (!ok) return false;
    if (!cert_mark || !key_mark) {
      error(at, label + ": both cert_file and key_file are required");
      return false;
    }
    if (auto problem = check_certificate_pair(c.cert_file, c.key_file); !problem.empty()) {
      // Point at the file the problem is about.
      const bool about_cert = problem.find("cert_file '" + c.cert_file + "'") != std::string::npos &&
                              problem.find("key_file '") == std::string::npos;
      error(about_cert ? *cert_mark : *key_mark, label + ": " + problem);
      return false;
    }
    return true;
  }

  void parse_endpoints(const Entry& e, ClusterConfig& c) {
    if (!e.value.IsSequence()) {
      error(e.value_mark(), "endpoints: expected a list of host:port, e.g. [\"127.0.0.1:9001\"]");
      return;
    }
    if (e.value.size() == 0) {
      error(e.value_mark(), "endpoints: must list at least one host:port");
      return;
    }
    for (const YAML::Node& item : e.value) {
      const Mark m = item_mark(item, e.value_mark());
      auto hp = read_host_port(item, m, "endpoints", /*allow_port_zero=*/false);
      if (!hp) continue;
      for (const auto& prev : c.endpoints)
        if (lower(prev.host) == lower(hp->host) && prev.port == hp->port)
          warn(m, "endpoint " + q(hp->text) + " is listed twice in cluster " + q(c.name) +
                      "; it will get a double share of requests");
      c.endpoints.push_back(std::move(*hp));
    }
  }

  void parse_listeners(const Entry& section) {
    if (!section.value.IsSequence()) {
      error(section.value_mark(), "listeners: expected a list of listeners ('- name: ...')");
      return;
    }
    if (section.value.size() == 0) {
      error(section.value_mark(), "listeners: at least one listener is required");
      return;
    }
    for (const YAML::Node& item : section.value) {
      const Mark m = item_mark(item, section.value_mark());
      parse_listener(item, m);
    }
  }

  void parse_listener(const YAML::Node& node, Mark at) {
    ListenerConfig l;
    ListenerMarks marks;
    l.mark = at;
    if (!expect_map(node, at, "listener", " with 'name', 'address' and 'routes'")) return;
    const std::string peeked = peek_name(node);
    const std::string context = peeked.empty() ? "listener" : "listener " + q(peeked);
    bool have_name = false, have_address = false, have_routes = false;
    std::optional<Mark> idle_timeout_mark;
    for (const Entry& e : entries(node, context)) {
      if (e.key == "name") {
        have_name = true;
        marks.name = e.value_mark();
        if (auto v = read_name(e, "listener name")) l.name = *v;
      } else if (e.key == "address") {
        have_address = true;
        marks.address = e.value_mark();
        if (auto hp = read_host_port(e.value, e.value_mark(), "address", /*allow_port_zero=*/true))
          l.address = *hp;
      } else if (e.key == "protocol") {
        auto v = scalar(e, "protocol", "http or tcp");
        if (!v) continue;
        if (*v == "http" || *v == "tcp") {
          l.protocol = *v;
        } else {
          error(e.value_mark(), "protocol: expected http or tcp, got " + q(*v));
        }
      } else if (e.key == "idle_timeout") {
        idle_timeout_mark = e.value_mark();
        constexpr std::string_view kExpect = "a duration like 30s, 10m or 1h";
        auto v = scalar(e, "idle_timeout", kExpect);
        if (!v) continue;
        auto d = parse_long_duration(*v);
        if (!d)
          error(e.value_mark(), "idle_timeout: expected " + std::string(kExpect));
        else if (d->count() < 1)
          error(e.value_mark(), "idle_timeout: must be greater than 0");
        else
          l.idle_timeout = *d;
      } else if (e.key == "tls") {
        parse_listener_tls(e, l.tls, context);
      } else if (e.key == "routes") {
        have_routes = true;
        if (!e.value.IsSequence()) {
          error(e.value_mark(), "routes: expected a list of routes ('- name: ...')");
        } else if (e.value.size() == 0) {
          error(e.value_mark(), context + " needs at least one route");
        } else {
          for (const YAML::Node& item : e.value) {
            const Mark m = item_mark(item, e.value_mark());
            parse_route(item, m, l, marks);
          }
        }
      } else {
        reject_key(e, kListenerSchema, context);
      }
    }
    if (!have_name) error(at, context + " is missing 'name'");
    if (!have_address) error(at, context + " is missing 'address'");
    if (!have_routes) error(at, context + " is missing 'routes' (at least one route is required)");
    if (l.tcp())
      check_tcp_routes(l, marks);
    else if (idle_timeout_mark)
      error(*idle_timeout_mark, "idle_timeout applies to tcp listeners only (" + context + " is http)");
    cfg_.listeners.push_back(std::move(l));
    listener_marks_.push_back(std::move(marks));
  }

  // A tcp listener has nothing to match on: one route, and none of the HTTP-only keys.
  void check_tcp_routes(const ListenerConfig& l, const ListenerMarks& marks) {
    const std::string listener = l.name.empty() ? "this tcp listener" : "tcp listener " + q(l.name);
    for (std::size_t i = 0; i < l.routes.size(); ++i) {
      const RouteConfig& r = l.routes[i];
      const std::string route = r.name.empty() ? "a route" : "route " + q(r.name);
      if (i == 1)
        error(r.mark, listener + " takes exactly one route (a connection has no host or path to match on)");
      for (const auto& [key, at] : marks.routes[i].http_only)
        error(at, "'" + key + "' is HTTP-only and not allowed in " + route + " of " + listener +
                      "; a tcp route takes name, source, target, weight and sticky: {client_ip: true}");
    }
  }

  void parse_match(const Entry& section, RouteConfig& r, const std::string& route_context) {
    if (!expect_map(section.value, section.value_mark(), "match", " with 'host' and/or 'path_prefix'"))
      return;
    const std::string context = "match of " + route_context;
    for (const Entry& e : entries(section.value, context)) {
      if (e.key == "host") {
        auto v = scalar(e, "match.host", "a host name or \"*\"");
        if (!v) continue;
        // Host headers compare case-insensitively (RFC 9110 §4.2.3), so store the lower-case form.
        std::string h = lower(*v);
        const bool ok = h == "*" || (!h.empty() && std::all_of(h.begin(), h.end(), [](char c) {
                          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
                        }));
        if (!ok) {
          error(e.value_mark(), "match.host: " + q(*v) +
                                    " is not a host name without a port, or \"*\"");
          continue;
        }
        r.host = std::move(h);
      } else if (e.key == "path_prefix") {
        auto v = scalar(e, "match.path_prefix", "a path starting with '/'");
        if (!v) continue;
        if (!v->starts_with('/')) {
          error(e.value_mark(), "match.path_prefix: must start with '/', got " + q(*v));
          continue;
        }
        r.path_prefix = *v;
      } else {
        reject_key(e, kMatchSchema, context);
      }
    }
  }

  void parse_route(const YAML::Node& node, Mark at, ListenerConfig& l, ListenerMarks& lmarks) {
    RouteConfig r;
    RouteMarks marks;
    r.mark = at;
    if (!expect_map(node, at, "route", " with 'name', 'source' and 'target'")) return;
    const std::string peeked = peek_name(node);
    const std::string context = peeked.empty() ? "route" : "route " + q(peeked);
    bool have_name = false;
    std::optional<std::uint32_t> weight, read_weight, write_weight;
    for (const Entry& e : entries(node, context)) {
      if (e.key == "name") {
        have_name = true;
        marks.name = e.value_mark();
        if (auto v = read_name(e, "route name")) r.name = *v;
      } else if (e.key == "match") {
        marks.http_only.emplace_back(e.key, e.key_mark);
        parse_match(e, r, context);
      } else if (e.key == "source" || e.key == "target") {
        const bool is_source = e.key == "source";
        (is_source ? marks.source : marks.target) = e.value_mark();
        if (auto v = scalar(e, e.key, "a cluster name")) (is_source ? r.source : r.target) = *v;
      } else if (e.key == "weight") {
        weight = read_weight_or_zero(e);
      } else if (e.key == "read_weight") {
        marks.http_only.emplace_back(e.key, e.key_mark);
        read_weight = read_weight_or_zero(e);
      } else if (e.key == "write_weight") {
        marks.http_only.emplace_back(e.key, e.key_mark);
        write_weight = read_weight_or_zero(e);
      } else if (e.key == "sticky") {
        if (e.value.IsMap())
          for (const auto& kv : e.value)
            if (kv.first.IsScalar() && kv.first.Scalar() != "client_ip")
              marks.http_only.emplace_back("sticky." + kv.first.Scalar(), item_mark(kv.first, e.key_mark));
        parse_sticky(e, r.sticky, context);
      } else if (e.key == "force" || e.key == "writes" || e.key == "mirror") {
        marks.http_only.emplace_back(e.key, e.key_mark);
        if (e.key == "force")
          parse_force(e, r.force, context);
        else if (e.key == "writes")
          parse_writes(e, r.writes, context);
        else
          parse_mirror(e, r.mirror, marks, context);
      } else {
        reject_key(e, kRouteSchema, context);
      }
    }
    if (!have_name) error(at, context + " is missing 'name'");
    if (marks.source.line == 0) error(at, context + " is missing 'source' (the cluster serving today)");
    if (marks.target.line == 0) error(at, context + " is missing 'target' (the cluster to move to)");
    // `weight` is shorthand for both; the specific keys win wherever they appear.
    r.read_weight_bp = read_weight.value_or(weight.value_or(0));
    r.write_weight_bp = write_weight.value_or(weight.value_or(0));
    l.routes.push_back(std::move(r));
    lmarks.routes.push_back(marks);
  }

  // sticky: {header: X-User-Id, cookie: uid, client_ip: true, pin_cookie: b, pin_max_age: 30d}.
  // The key sources keep the order they are written in: the first one present in a request wins.
  void parse_sticky(const Entry& section, StickyConfig& st, const std::string& route_context) {
    if (!expect_map(section.value, section.value_mark(), "sticky",
                    " with 'header', 'cookie' and/or 'client_ip: true'"))
      return;
    const std::string context = "sticky of " + route_context;
    bool bad_source = false;  // a source with a bad value: already reported
    std::optional<Mark> max_age_mark;
    for (const Entry& e : entries(section.value, context)) {
      if (e.key == "header" || e.key == "cookie") {
        const bool header = e.key == "header";
        auto v = read_token(e, "sticky." + e.key, header ? "header name" : "cookie name");
        if (!v) {
          bad_source = true;
          continue;
        }
        st.sources.push_back({header ? StickySource::Kind::header : StickySource::Kind::cookie, *v});
      } else if (e.key == "client_ip") {
        auto v = read_bool(e, "sticky.client_ip");
        if (!v) {
          bad_source = true;
          continue;
        }
        if (*v) st.sources.push_back({StickySource::Kind::client_ip, {}});
      } else if (e.key == "pin_cookie") {
        if (auto v = read_token(e, "sticky.pin_cookie", "cookie name")) st.pin_cookie = *v;
      } else if (e.key == "pin_max_age") {
        constexpr std::string_view kExpect = "a duration like 12h, 30d or 3600s";
        auto v = scalar(e, "sticky.pin_max_age", kExpect);
        if (!v) continue;
        auto d = parse_long_duration(*v);
        if (!d) {
          error(e.value_mark(), "sticky.pin_max_age: expected " + std::string(kExpect));
        } else if (d->count() < 1000) {
          // Max-Age is in whole seconds; 0 would delete the cookie as it is set.
          error(e.value_mark(), "sticky.pin_max_age: must be at least 1s");
        } else {
          st.pin_max_age = *d;
          max_age_mark = e.value_mark();
          if (*d > kCookieMaxAgeCap)
            warn(e.value_mark(), "sticky.pin_max_age: browsers cap cookie lifetimes at 400d");
        }
      } else {
        reject_key(e, kStickySchema, context);
      }
    }
    if (st.sources.empty() && !bad_source)
      error(section.value_mark(),
            "sticky: needs at least one key source: 'header', 'cookie' or 'client_ip: true'");
    if (max_age_mark && st.pin_cookie.empty())
      warn(*max_age_mark, "sticky.pin_max_age has no effect without sticky.pin_cookie");
  }

  // force: {header: X-Cutover-Side, cookie: cutover_force, allow_cidrs: [127.0.0.0/8, "::1/128"]}.
  void parse_force(const Entry& section, ForceConfig& f, const std::string& route_context) {
    if (!expect_map(section.value, section.value_mark(), "force",
                    " with 'header' and/or 'cookie', and 'allow_cidrs'"))
      return;
    const std::string context = "force of " + route_context;
    bool bad_name = false, bad_cidr = false;
    std::optional<Mark> cidrs_mark;
    for (const Entry& e : entries(section.value, context)) {
      if (e.key == "header" || e.key == "cookie") {
        const bool header = e.key == "header";
        auto v = read_token(e, "force." + e.key, header ? "header name" : "cookie name");
        if (!v) {
          bad_name = true;
          continue;
        }
        (header ? f.header : f.cookie) = *v;
      } else if (e.key == "allow_cidrs") {
        cidrs_mark = e.value_mark();
        bad_cidr = !parse_allow_cidrs(e, f);
      } else {
        reject_key(e, kForceSchema, context);
      }
    }
    if (!f.enabled() && !bad_name)
      error(section.value_mark(), "force: needs 'header' and/or 'cookie' to read the side from");
    if (f.allow_cidrs.empty() && f.enabled() && !bad_cidr)
      warn(cidrs_mark.value_or(section.value_mark()),
           "force is never honoured: allow_cidrs is empty");
  }

  // False when something was reported as an error.
  bool parse_allow_cidrs(const Entry& e, ForceConfig& f) {
    constexpr std::string_view kExample = " like [127.0.0.0/8, \"::1/128\"]";
    if (e.value.IsNull()) return true;  // same as an empty list: warned about by the caller
    if (!e.value.IsSequence()) {
      error(e.value_mark(), "force.allow_cidrs: expected a list of CIDRs" + std::string(kExample));
      return false;
    }
    bool ok = true;
    for (const YAML::Node& item : e.value) {
      const Mark m = item_mark(item, e.value_mark());
      if (!item.IsScalar()) {
        error(m, "force.allow_cidrs: expected a CIDR such as 10.0.0.0/8 or \"::1/128\"");
        ok = false;
        continue;
      }
      const std::string& text = item.Scalar();
      auto c = parse_cidr(text);
      if (!c) {
        error(m, "force.allow_cidrs: " + q(text) +
                     " is not a valid CIDR (an IPv4 or IPv6 address, optionally /PREFIX)");
        ok = false;
        continue;
      }
      if (c->host_bits_set) {
        // An allow list that silently means something else is worse than an error.
        error(m, "force.allow_cidrs: " + q(text) + " has bits set after the /" +
                     std::to_string(c->prefix) + " prefix (did you mean " + q(c->canonical) + "?)");
        ok = false;
        continue;
      }
      if (std::find(f.allow_cidrs.begin(), f.allow_cidrs.end(), c->canonical) != f.allow_cidrs.end()) {
        warn(m, "force.allow_cidrs: " + q(text) + " is listed twice");
        continue;
      }
      if (c->prefix == 0)
        warn(m, "force.allow_cidrs: " + q(text) + " allows every " +
                    std::string(c->ipv6 ? "IPv6" : "IPv4") + " client to force a side");
      f.allow_cidrs.push_back(c->canonical);
    }
    return ok;
  }

  // writes: {hold_timeout: 5s, hold_max: 60s, max_held: 10000}.
  void parse_writes(const Entry& section, WritesConfig& w, const std::string& route_context) {
    if (!expect_map(section.value, section.value_mark(), "writes",
                    " with 'hold_timeout', 'hold_max' and/or 'max_held'"))
      return;
    const std::string context = "writes of " + route_context;
    std::optional<Mark> timeout_mark, max_mark;
    bool bad_duration = false;
    for (const Entry& e : entries(section.value, context)) {
      if (e.key == "hold_timeout" || e.key == "hold_max") {
        const bool is_timeout = e.key == "hold_timeout";
        auto v = read_duration(e, "writes." + e.key, /*allow_zero=*/false);
        if (!v) {
          bad_duration = true;
          continue;
        }
        (is_timeout ? w.hold_timeout : w.hold_max) = *v;
        (is_timeout ? timeout_mark : max_mark) = e.value_mark();
      } else if (e.key == "max_held") {
        if (auto v = read_uint(e, "writes.max_held", 1, kMaxHeldLimit))
          w.max_held = static_cast<std::uint32_t>(*v);
      } else {
        reject_key(e, kWritesSchema, context);
      }
    }
    // A held request times out with 503 before the hold itself would release it; the other way
    // round, hold_timeout would never fire. Reported at whichever of the two was written.
    if (!bad_duration && w.hold_timeout > w.hold_max) {
      const Mark at = timeout_mark ? *timeout_mark : max_mark.value_or(section.value_mark());
      auto shown = [&](Millis d, bool written) { return duration_text(d) + (written ? "" : ", the default"); };
      error(at, "writes.hold_timeout (" + shown(w.hold_timeout, timeout_mark.has_value()) +
                    ") must not exceed writes.hold_max (" + shown(w.hold_max, max_mark.has_value()) + ")");
    }
  }

  // mirror: {percent: 5, methods: [GET, HEAD], max_body: 1MiB, max_in_flight: 1000, timeout: 5s,
  //          compare: {ignore_headers: [date], ignore_json_fields: [ts], noise_sample: 1}}.
  void parse_mirror(const Entry& section, MirrorConfig& m, RouteMarks& marks,
                    const std::string& route_context) {
    m.enabled = true;
    m.mark = section.key_mark;
    if (!expect_map(section.value, section.value_mark(), "mirror",
                    " with 'percent' and optionally 'methods', 'max_body', 'max_in_flight', "
                    "'timeout' and 'compare'"))
      return;
    const std::string context = "mirror of " + route_context;
    bool have_percent = false;
    for (const Entry& e : entries(section.value, context)) {
      if (e.key == "percent") {
        have_percent = true;  // a bad value is reported as such, not as missing
        if (auto v = read_percent(e, "mirror.percent", "percentages")) m.percent_bp = *v;
      } else if (e.key == "methods") {
        parse_mirror_methods(e, m);
      } else if (e.key == "max_body") {
        if (auto v = read_size(e, "mirror.max_body", 0, kMirrorMaxBodyLimit)) m.max_body = *v;
      } else if (e.key == "max_in_flight") {
        if (auto v = read_uint(e, "mirror.max_in_flight", 1, kMirrorMaxInFlightLimit))
          m.max_in_flight = static_cast<std::uint32_t>(*v);
      } else if (e.key == "timeout") {
        auto v = read_duration(e, "mirror.timeout", /*allow_zero=*/false);
        if (!v) continue;
        if (*v > kMirrorTimeoutLimit) {
          error(e.value_mark(), "mirror.timeout: must be at most " + duration_text(kMirrorTimeoutLimit) +
                                    ", got " + duration_text(*v));
          continue;
        }
        m.timeout = *v;
      } else if (e.key == "compare") {
        parse_compare(e, m.compare, marks, route_context);
      } else {
        reject_key(e, kMirrorSchema, context);
      }
    }
    // No default: how much traffic is copied to the other side is the one choice not to guess.
    if (!have_percent)
      error(section.key_mark, "mirror.percent is required (the share of requests mirrored, 0 to 100)");
  }

  // methods: [GET, HEAD]. Method names are case-sensitive (RFC 9110 §9.1), so "get" is not GET;
  // rather than guess, lower-case letters are an error.
  void parse_mirror_methods(const Entry& e, MirrorConfig& m) {
    if (!e.value.IsSequence()) {
      error(e.value_mark(), "mirror.methods: expected a list of methods like [GET, HEAD]");
      return;
    }
    if (e.value.size() == 0) {
      error(e.value_mark(),
            "mirror.methods: must list at least one method (remove 'mirror' to mirror nothing)");
      return;
    }
    std::vector<std::string> methods;
    for (const YAML::Node& item : e.value) {
      const Mark at = item_mark(item, e.value_mark());
      if (!item.IsScalar()) {
        error(at, "mirror.methods: expected a method name such as GET");
        continue;
      }
      const std::string& name = item.Scalar();
      if (!is_token(name)) {
        error(at, "mirror.methods: " + q(name) +
                      " is not a valid method name (letters, digits and !#$%&'*+-.^_`|~ only)");
        continue;
      }
      if (std::any_of(name.begin(), name.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
        std::string upper = name;
        for (auto& c : upper) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
        error(at, "mirror.methods: " + q(name) + ": methods are case-sensitive (RFC 9110 §9.1); write " +
                      upper + ", not " + name);
        continue;
      }
      if (std::find(methods.begin(), methods.end(), name) != methods.end()) {
        warn(at, "mirror.methods: " + name + " is listed twice");
        continue;
      }
      if (!is_safe_method(name))
        warn(at, "mirror.methods: " + name + " is not safe (RFC 9110 §9.2.1): every mirrored " + name +
                     " is executed a second time on the other side");
      methods.push_back(name);
    }
    m.methods = std::move(methods);
  }

  // compare: {ignore_headers: [date, server], ignore_json_fields: [timestamp], noise_sample: 1}.
  void parse_compare(const Entry& section, CompareConfig& c, RouteMarks& marks,
                     const std::string& route_context) {
    if (!expect_map(section.value, section.value_mark(), "mirror.compare",
                    " with 'ignore_headers', 'ignore_json_fields' and/or 'noise_sample'"))
      return;
    const std::string context = "mirror.compare of " + route_context;
    for (const Entry& e : entries(section.value, context)) {
      if (e.key == "ignore_headers") {
        // Header names compare case-insensitively (RFC 9110 §5.1): stored lower-case.
        if (auto v = read_string_list(e, "mirror.compare.ignore_headers", "header name",
                                      " like [date, server]", /*token=*/true))
          c.ignore_headers = std::move(*v);
      } else if (e.key == "ignore_json_fields") {
        if (auto v = read_string_list(e, "mirror.compare.ignore_json_fields", "field name",
                                      " like [timestamp, request_id]", /*token=*/false))
          c.ignore_json_fields = std::move(*v);
      } else if (e.key == "noise_sample") {
        if (auto v = read_percent(e, "mirror.compare.noise_sample", "percentages")) {
          c.noise_sample_bp = *v;
          marks.noise_sample = e.value_mark();
        }
      } else {
        reject_key(e, kCompareSchema, context);
      }
    }
  }

  // A list of names: header names (RFC 9110 tokens, lower-cased) or any non-empty strings. An
  // empty list is allowed (nothing ignored); a name given twice is a warning. nullopt on errors.
  std::optional<std::vector<std::string>> read_string_list(const Entry& e, const std::string& label,
                                                           const std::string& what,
                                                           std::string_view example, bool token) {
    if (!e.value.IsSequence()) {
      error(e.value_mark(), label + ": expected a list of " + what + "s" + std::string(example));
      return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (const YAML::Node& item : e.value) {
      const Mark at = item_mark(item, e.value_mark());
      if (!item.IsScalar()) {
        error(at, label + ": expected a " + what);
        ok = false;
        continue;
      }
      std::string name = item.Scalar();
      if (token && !is_token(name)) {
        error(at, label + ": " + q(name) + " is not a valid " + what +
                      " (letters, digits and !#$%&'*+-.^_`|~ only)");
        ok = false;
        continue;
      }
      if (name.empty()) {
        error(at, label + ": expected a " + what + ", got an empty string");
        ok = false;
        continue;
      }
      if (token) name = lower(std::move(name));
      if (std::find(out.begin(), out.end(), name) != out.end()) {
        warn(at, label + ": " + q(item.Scalar()) + " is listed twice");
        continue;
      }
      out.push_back(std::move(name));
    }
    if (!ok) return std::nullopt;
    return out;
  }

  // A bad weight is already reported; 0 keeps the later cross-checks quiet.
  std::optional<std::uint32_t> read_weight_or_zero(const Entry& e) {
    return parse_weight(e).value_or(0);
  }

  // ---- checks that span sections -----------------------------------------------------------

  void cross_check() {
    std::map<std::string, Mark> listener_names;
    std::map<std::string, std::pair<std::string, Mark>> route_names;  // name -> (listener, mark)
    std::set<std::string> used_clusters;
    bool any_mirror = false;

    for (std::size_t i = 0; i < cfg_.listeners.size(); ++i) {
      const ListenerConfig& l = cfg_.listeners[i];
      const ListenerMarks& lm = listener_marks_[i];
      if (!l.name.empty()) {
        auto [pos, inserted] = listener_names.emplace(l.name, lm.name);
        if (!inserted)
          error(lm.name, "duplicate listener name " + q(l.name) + " (first at " +
                             where(pos->second) + ")");
      }
      for (std::size_t j = 0; j < l.routes.size(); ++j) {
        const RouteConfig& r = l.routes[j];
        const RouteMarks& rm = lm.routes[j];
        if (!r.name.empty()) {
          // Route names are global: the admin API addresses /v1/routes/{route} without a listener.
          auto [pos, inserted] = route_names.emplace(r.name, std::pair{l.name, rm.name});
          if (!inserted)
            error(rm.name, "duplicate route name " + q(r.name) + " (first at " +
                               where(pos->second.second) + " in listener " + q(pos->second.first) +
                               "); route names must be unique across all listeners");
        }
        check_cluster_ref(r.source, rm.source, used_clusters);
        check_cluster_ref(r.target, rm.target, used_clusters);
        if (!l.tcp()) {
          check_no_proxy_protocol(r.source, r.name);
          check_no_proxy_protocol(r.target, r.name);
        } else {
          check_no_upstream_tls(r.source, r.name);
          check_no_upstream_tls(r.target, r.name);
        }
        if (r.mirror.enabled) any_mirror = true;
        check_noise_sample(r, rm);
        if (!r.source.empty() && r.source == r.target)
          error(rm.target, "source and target are the same cluster " + q(r.source));
        for (std::size_t k = 0; k < j; ++k) {
          const RouteConfig& earlier = l.routes[k];
          if (earlier.host == r.host && earlier.path_prefix == r.path_prefix)
            warn(r.mark, "route " + q(r.name) + " can never match: route " +
                             q(earlier.name) + " before it has the same host and path_prefix");
        }
      }
    }

    check_addresses();

    if (mirror_log_mark_.line != 0 && !any_mirror)
      warn(mirror_log_mark_, "mirror_log has no effect: no route has a 'mirror' block");

    if (have_clusters_) {
      for (const auto& c : cfg_.clusters)
        if (!used_clusters.contains(c.name))
          warn(c.mark, "cluster " + q(c.name) + " is not used by any route");
    }
  }

  // A noise sample sends a mirrored request to a second source endpoint as well; with only one
  // there is nothing to compare against.
  void check_noise_sample(const RouteConfig& r, const RouteMarks& rm) {
    if (!r.mirror.enabled || r.mirror.compare.noise_sample_bp == 0 || rm.noise_sample.line == 0) return;
    const ClusterConfig* source = cfg_.find_cluster(r.source);
    if (source == nullptr || source->endpoints.empty()) return;  // already an error
    // An endpoint listed twice (warned about) is still one server: it cannot measure noise.
    std::set<std::pair<std::string, std::uint16_t>> distinct;
    for (const auto& ep : source->endpoints) distinct.emplace(lower(ep.host), ep.port);
    if (distinct.size() >= 2) return;
    warn(rm.noise_sample, "mirror.compare.noise_sample needs two or more source endpoints; cluster " +
                              q(source->name) + " has " + std::to_string(distinct.size()));
  }

  // A PROXY protocol header describes one client; a pooled HTTP connection carries many.
  void check_no_proxy_protocol(const std::string& cluster, const std::string& route) {
    const ClusterConfig* c = cfg_.find_cluster(cluster);
    if (c == nullptr || c->send_proxy_protocol == ProxyProtocol::none) return;
    if (!proxy_protocol_reported_.insert(c->name).second) return;
    error(c->send_proxy_protocol_mark, "send_proxy_protocol is for clusters of tcp routes only; cluster " +
                                           q(c->name) + " serves http route " + q(route));
  }

  // The L4 relay connects plain TCP to upstreams: a cluster `tls` block would be ignored there.
  void check_no_upstream_tls(const std::string& cluster, const std::string& route) {
    const ClusterConfig* c = cfg_.find_cluster(cluster);
    if (c == nullptr || !c->tls.enabled) return;
    if (!upstream_tls_reported_.insert(c->name).second) return;
    error(c->tls.mark, "cluster " + q(c->name) + " serves tcp route " + q(route) +
                           ", which relays plain TCP to its endpoints: upstream tls is for http routes only");
  }

  void check_cluster_ref(const std::string& name, Mark at, std::set<std::string>& used) {
    if (name.empty()) return;
    used.insert(name);
    // With no 'clusters' section at all that one error says it; don't repeat it for every route.
    if (have_clusters_ && cfg_.find_cluster(name) == nullptr)
      error(at, "unknown cluster " + q(name));
  }

  // Two sockets on the same port collide when the hosts match or either is the any-address.
  // Port 0 asks the kernel for a free port, so it never collides.
  void check_addresses() {
    struct Bound {
      std::string host;
      std::uint16_t port;
      std::string owner;
    };
    std::vector<Bound> bound;
    auto collides = [](const Bound& a, const std::string& host, std::uint16_t port) {
      return a.port == port &&
             (a.host == host || is_wildcard_host(a.host) || is_wildcard_host(host));
    };
    if (cfg_.admin.listen.port != 0)
      bound.push_back({lower(cfg_.admin.listen.host), cfg_.admin.listen.port, "the admin API"});
    for (std::size_t i = 0; i < cfg_.listeners.size(); ++i) {
      const HostPort& a = cfg_.listeners[i].address;
      if (a.text.empty() || a.port == 0) continue;
      const std::string host = lower(a.host);
      for (const Bound& b : bound) {
        if (collides(b, host, a.port)) {
          error(listener_marks_[i].address,
                "listener address " + q(a.text) + " is already used by " + b.owner);
          break;
        }
      }
      bound.push_back({host, a.port, "listener " + q(cfg_.listeners[i].name)});
    }
  }

  std::string file_;
  fs::path base_dir_;
  Config cfg_;
  LoadResult result_;
  bool have_clusters_ = false;
  Mark mirror_log_mark_;  // of the `mirror_log` key; line 0 when absent
  std::set<std::string> upstream_tls_reported_;  // clusters already reported by check_no_upstream_tls
  std::set<std::string> proxy_protocol_reported_;  // clusters already reported by check_no_proxy_protocol
  std::vector<ListenerMarks> listener_marks_;  // parallel to cfg_.listeners
};

LoadResult load_impl(std::string_view yaml, const std::string& file_name, fs::path base_dir) {
  try {
    return Loader(file_name, std::move(base_dir)).run(yaml);
  } catch (...) {
    // Only allocation failure can get here; still honour "no exceptions escape".
    LoadResult r;
    r.errors.push_back({file_name, {}, "internal error while loading config"});
    return r;
  }
}

}  // namespace

LoadResult load_string(std::string_view yaml, const std::string& file_name) {
  return load_impl(yaml, file_name, fs::path(file_name).parent_path());
}

LoadResult load_file(const std::string& path) {
  auto fail = [&](std::string msg) {
    LoadResult r;
    r.errors.push_back({path, {}, std::move(msg)});
    return r;
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return fail(std::string("cannot read config file: ") + std::strerror(errno));
  std::string data;
  std::array<char, 64 * 1024> buf;
  for (;;) {
    const std::size_t n = std::fread(buf.data(), 1, buf.size(), f.get());
    data.append(buf.data(), n);
    if (data.size() > kMaxConfigBytes)
      return fail("cannot read config file: larger than " + std::to_string(kMaxConfigBytes >> 20) + " MiB");
    if (n < buf.size()) {
      if (std::ferror(f.get())) return fail(std::string("cannot read config file: ") + std::strerror(errno));
      break;
    }
  }
  // Resolve relative paths against an absolute directory so a later chdir cannot change them;
  // diagnostics keep the path as the user gave it.
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(path), ec);
  fs::path base = ec ? fs::path(path).parent_path() : abs.lexically_normal().parent_path();
  return load_impl(data, path, std::move(base));
}

}  // namespace cutover::config
