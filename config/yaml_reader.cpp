// The config's YAML walking and scalar readers (see yaml_reader.hpp). Every message names the
// key as the user wrote it (the label) and points at the value, or at the key when the value is empty.
#include "config/yaml_reader.hpp"

#include <charconv>
#include <map>

#include "common/text.hpp"
#include "config/units.hpp"

namespace cutover::config::detail {

namespace {

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

constexpr std::string_view kTokenChars = " (letters, digits and !#$%&'*+-.^_`|~ only)";

}  // namespace

Mark to_mark(const YAML::Mark& m) {
  if (m.is_null() || m.line < 0 || m.column < 0) return {};
  return {m.line + 1, m.column + 1};
}

std::string where(Mark m) { return std::to_string(m.line) + ":" + std::to_string(m.col); }

std::string q(std::string_view s) { return "'" + std::string(s) + "'"; }

// Names appear in URLs and metric labels, so they keep to an alphabet that needs no escaping there.
bool valid_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!common::is_alnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

std::string duration_text(Millis d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string size_text(std::uint64_t bytes) {
  if (bytes != 0 && bytes % (std::uint64_t{1} << 30) == 0) return std::to_string(bytes >> 30) + "GiB";
  if (bytes != 0 && bytes % (std::uint64_t{1} << 20) == 0) return std::to_string(bytes >> 20) + "MiB";
  if (bytes != 0 && bytes % (std::uint64_t{1} << 10) == 0) return std::to_string(bytes >> 10) + "KiB";
  return std::to_string(bytes);
}

Mark Entry::value_mark() const {
  const Mark m = to_mark(value.Mark());
  return (value.IsNull() || m.line == 0) ? key_mark : m;
}

Mark item_mark(const YAML::Node& item, Mark fallback) {
  const Mark m = to_mark(item.Mark());
  return m.line ? m : fallback;
}

Reader::Reader(std::string file, std::filesystem::path base_dir)
    : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

void Reader::error(Mark m, std::string msg) { result_.errors.push_back({file_, m, std::move(msg)}); }
void Reader::warn(Mark m, std::string msg) { result_.warnings.push_back({file_, m, std::move(msg)}); }

// ---- mappings and keys ---------------------------------------------------------------------------

std::vector<Entry> Reader::entries(const YAML::Node& map, const std::string& context) {
  std::vector<Entry> out;
  std::map<std::string, Mark> seen;
  // yaml-cpp 0.7 keeps duplicate keys in iteration order, which is what lets us see them.
  // Iterate by value: yaml-cpp's iterator-> hands out a proxy, so a reference to `it->first`
  // would dangle.
  for (const auto& kv : map) {
    const YAML::Node k = kv.first;
    const Mark km = to_mark(k.Mark());
    if (!k.IsScalar()) {
      error(km, "keys in " + context + " must be plain strings");
      continue;
    }
    auto [pos, inserted] = seen.emplace(k.Scalar(), km);
    if (!inserted) {
      error(km, "duplicate key " + q(k.Scalar()) + " in " + context + " (first at " + where(pos->second) + ")");
      continue;
    }
    out.push_back({k.Scalar(), km, kv.second});
  }
  return out;
}

void Reader::reject_key(const Entry& e, std::span<const std::string_view> known, const std::string& context) {
  if (e.key == "<<") {
    error(e.key_mark, "YAML merge keys ('<<') are not supported; repeat the settings instead");
    return;
  }
  std::string msg = "unknown key " + q(e.key) + " in " + context;
  std::string_view best;
  std::size_t best_d = 3;  // suggest only close misspellings
  for (auto k : known) {
    const std::size_t d = edit_distance(e.key, k);
    if (d < best_d && d < k.size() / 2 + 1) {
      best_d = d;
      best = k;
    }
  }
  if (!best.empty()) msg += " (did you mean " + q(best) + "?)";
  error(e.key_mark, std::move(msg));
}

bool Reader::expect_map(const YAML::Node& n, Mark at, const std::string& label, std::string_view hint) {
  if (n.IsMap()) return true;
  error(at, label + ": expected a mapping" + std::string(hint));
  return false;
}

bool Reader::expect_items(const Entry& e, const std::string& not_a_list, const std::string& empty) {
  if (!e.value.IsSequence()) {
    error(e.value_mark(), not_a_list);
    return false;
  }
  if (e.value.size() == 0) {
    error(e.value_mark(), empty);
    return false;
  }
  return true;
}

std::string Reader::peek_name(const YAML::Node& map) {
  for (const auto& kv : map)
    if (kv.first.IsScalar() && kv.first.Scalar() == "name" && kv.second.IsScalar()) return kv.second.Scalar();
  return {};
}

// ---- scalar readers ------------------------------------------------------------------------------

std::optional<std::string> Reader::scalar(const Entry& e, const std::string& label, std::string_view expected) {
  if (!e.value.IsScalar()) {
    error(e.value_mark(), label + ": expected " + std::string(expected));
    return std::nullopt;
  }
  return e.value.Scalar();
}

std::optional<std::string> Reader::read_name(const Entry& e, const std::string& label) {
  auto s = scalar(e, label, "a name");
  if (!s) return std::nullopt;
  if (!valid_name(*s)) {
    error(e.value_mark(), label + ": " + q(*s) + " is not a valid name (use letters, digits, '_', '.', '-')");
    return std::nullopt;
  }
  return s;
}

std::optional<Millis> Reader::read_duration(const Entry& e, const std::string& label, bool allow_zero) {
  return duration(e, label, "a duration like 500ms, 5s or 1m", allow_zero, parse_duration);
}

std::optional<Millis> Reader::read_long_duration(const Entry& e, const std::string& label,
                                                 std::string_view expected, bool allow_zero) {
  return duration(e, label, expected, allow_zero, parse_long_duration);
}

std::optional<Millis> Reader::duration(const Entry& e, const std::string& label, std::string_view expected,
                                       bool allow_zero, std::optional<Millis> (*parse)(std::string_view)) {
  auto s = scalar(e, label, expected);
  if (!s) return std::nullopt;
  auto d = parse(*s);
  if (!d) {
    error(e.value_mark(), label + ": expected " + std::string(expected));
    return std::nullopt;
  }
  if (!allow_zero && d->count() == 0) {
    error(e.value_mark(), label + ": must be greater than 0");
    return std::nullopt;
  }
  return d;
}

std::optional<HostPort> Reader::read_host_port(const YAML::Node& value, Mark at, const std::string& label,
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

std::optional<std::string> Reader::read_token(const Entry& e, const std::string& label, std::string_view what) {
  auto s = scalar(e, label, what);
  if (!s) return std::nullopt;
  if (!common::is_token(*s)) {
    error(e.value_mark(), label + ": " + q(*s) + " is not a valid " + std::string(what) + std::string(kTokenChars));
    return std::nullopt;
  }
  return s;
}

std::optional<bool> Reader::read_bool(const Entry& e, const std::string& label) {
  auto s = scalar(e, label, "true or false");
  if (!s) return std::nullopt;
  if (*s == "true" || *s == "True" || *s == "TRUE") return true;
  if (*s == "false" || *s == "False" || *s == "FALSE") return false;
  error(e.value_mark(), label + ": expected true or false, got " + q(*s));
  return std::nullopt;
}

std::optional<std::uint32_t> Reader::read_percent(const Entry& e, const std::string& label, std::string_view what) {
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
    error(e.value_mark(), label + ": " + q(*s) + " is finer than the 0.01 step " + std::string(what) + " allow");
    return std::nullopt;
  }
  return bp;
}

std::optional<std::uint64_t> Reader::read_uint(const Entry& e, const std::string& label, std::uint64_t min,
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

std::optional<std::uint64_t> Reader::read_size(const Entry& e, const std::string& label, std::uint64_t min,
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

std::optional<std::string> Reader::read_path(const Entry& e, const std::string& label) {
  auto s = scalar(e, label, "a file path");
  if (!s) return std::nullopt;
  if (s->empty()) {
    error(e.value_mark(), label + ": expected a file path, got an empty string");
    return std::nullopt;
  }
  std::filesystem::path p(*s);
  if (p.is_relative() && !base_dir_.empty()) p = (base_dir_ / p).lexically_normal();
  return p.string();
}

std::optional<std::vector<std::string>> Reader::read_string_list(const Entry& e, const std::string& label,
                                                                 const NameList& how) {
  if (!e.value.IsSequence()) {
    error(e.value_mark(), label + ": expected a list of " + how.what + "s" + std::string(how.example));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  for (const YAML::Node& item : e.value) {
    const Mark at = item_mark(item, e.value_mark());
    if (!item.IsScalar()) {
      error(at, label + ": expected a " + how.what);
      ok = false;
      continue;
    }
    std::string name = item.Scalar();
    if (how.token && !common::is_token(name)) {
      error(at, label + ": " + q(name) + " is not a valid " + how.what + std::string(kTokenChars));
      ok = false;
      continue;
    }
    if (name.empty()) {
      error(at, label + ": expected a " + how.what + ", got an empty string");
      ok = false;
      continue;
    }
    if (how.token) name = common::to_lower(name);
    if (const char* why = how.refuse ? how.refuse(name) : nullptr) {
      error(at, label + ": " + why);
      ok = false;
      continue;
    }
    if (std::find(out.begin(), out.end(), name) != out.end()) {
      warn(at, label + ": " + q(item.Scalar()) + " is listed twice");
      continue;
    }
    out.push_back(std::move(name));
  }
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace cutover::config::detail
