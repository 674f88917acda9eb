// The YAML walking and scalar reading the config sections share: mappings walked key by key with
// duplicate and unknown keys reported, values read with FILE:LINE:COL diagnostics. Internal to
// config/ (the public API is loader.hpp).
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/loader.hpp"
#include "config/model.hpp"

namespace cutover::config::detail {

// yaml-cpp marks are 0-based with -1 for "none"; ours are 1-based with 0 for "none".
Mark to_mark(const YAML::Mark& m);
// "LINE:COL", for messages that point at a second place ("first at 3:7").
std::string where(Mark m);
// `s` in single quotes, as messages show values and keys.
std::string q(std::string_view s);
// A name for URLs (/v1/routes/{route}) and metric labels: letters, digits, '_', '.', '-'.
bool valid_name(std::string_view s);
// A duration for messages: the largest unit (d, h, m, s, ms) that divides it exactly.
std::string duration_text(Millis d);
// A size in bytes for messages: the largest binary unit (GiB, MiB, KiB) that divides it exactly.
std::string size_text(std::uint64_t bytes);

// One key: value pair of a mapping, with positions for messages.
struct Entry {
  std::string key;
  Mark key_mark;
  YAML::Node value;
  // yaml-cpp gives an empty value the position of the *next* token, often the next line, so
  // problems with a missing value are reported at the key instead.
  Mark value_mark() const;
};

// The position of a sequence item; yaml-cpp may have none for it, then `fallback` (the sequence's).
Mark item_mark(const YAML::Node& item, Mark fallback);

class Reader;

// How the keys of a key's value are written after it in a key path (config::documented_keys()):
// `map` "tls.sni", `list` (a list of mappings) "routes[].name", `named` (a mapping of names the
// user picks to mappings) "clusters.<name>.endpoints".
enum class Nesting { map, list, named };

// Appends the paths of a table's keys to `out`, each written after `prefix`.
using ListKeys = void(std::vector<std::string>& out, const std::string& prefix);

// The keys a key's value has when a table of its own reads it: their nesting and the function
// that lists them (list_keys<kTable>, or a section's list_*_keys).
struct Below {
  Nesting nesting = Nesting::map;
  ListKeys* list = nullptr;
};

// One key a mapping accepts and how its value is read into `Target` (the section's model plus
// whatever the section checks after the walk). A section's table of these is the only place its
// key names are written: unknown keys, "did you mean" suggestions and the key paths of
// config::documented_keys() come from it.
template <class Target>
struct Key {
  std::string_view name;
  void (*read)(Reader&, const Entry&, Target&);
  Below below{};  // set when the value is read by a table of its own
};

// Appends the path of every key of `Table` to `out`, PREFIX + name, each followed by the keys
// below it; the table's order is kept.
template <const auto& Table>
void list_keys(std::vector<std::string>& out, const std::string& prefix) {
  for (const auto& k : Table) {
    std::string path = prefix + std::string(k.name);
    out.push_back(path);
    if (!k.below.list) continue;
    switch (k.below.nesting) {
      case Nesting::map: path += "."; break;
      case Nesting::list: path += "[]."; break;
      case Nesting::named: path += ".<name>."; break;
    }
    k.below.list(out, path);
  }
}

// The Below of a key whose value `Table` reads, within one section file.
template <const auto& Table>
constexpr Below keys_of(Nesting nesting = Nesting::map) {
  return {nesting, list_keys<Table>};
}

// Reads one config file's values, collecting errors and warnings with their positions. Every
// read_* reports at the value's position and returns std::nullopt when it reported an error.
class Reader {
 public:
  // `base_dir` resolves relative paths (read_path); empty leaves them as written.
  Reader(std::string file, std::filesystem::path base_dir);

  void error(Mark m, std::string msg);
  void warn(Mark m, std::string msg);
  LoadResult& result() { return result_; }

  // ---- mappings and keys ----

  // The pairs of `map`, with non-string keys and second occurrences of a key reported and
  // dropped; `context` names the mapping in messages ("route 'app'").
  std::vector<Entry> entries(const YAML::Node& map, const std::string& context);
  // Walks `map`, handing each entry to its row of `keys` (a range of Key<Target>); a key with no
  // row is reported as unknown, with the closest row's name as a suggestion.
  template <class Keys, class Target>
  void read_keys(const YAML::Node& map, const std::string& context, const Keys& keys, Target& target) {
    for (const Entry& e : entries(map, context)) {
      const auto row = std::find_if(std::begin(keys), std::end(keys), [&](const auto& k) { return k.name == e.key; });
      if (row != std::end(keys)) {
        row->read(*this, e, target);
        continue;
      }
      std::vector<std::string_view> known;
      for (const auto& k : keys) known.push_back(k.name);
      reject_key(e, known, context);
    }
  }
  // Reports `e` as an unknown key of `context`, suggesting the closest of `known` if any is close.
  void reject_key(const Entry& e, std::span<const std::string_view> known, const std::string& context);
  // False (and an error at `at`: "LABEL: expected a mapping HINT") unless `n` is a mapping.
  // Callers pass Entry::value_mark() as `at`, so an empty section is reported on its key's line.
  bool expect_map(const YAML::Node& n, Mark at, const std::string& label, std::string_view hint);
  // False (and `not_a_list` or `empty`, whole messages, reported at the value) unless e's value
  // is a non-empty sequence.
  bool expect_items(const Entry& e, const std::string& not_a_list, const std::string& empty);
  // The `name` given inside a mapping ("name: app"), for messages before the mapping is walked;
  // empty when there is none.
  static std::string peek_name(const YAML::Node& map);

  // ---- scalar readers ----

  // Any scalar; `expected` completes "LABEL: expected ..." otherwise.
  std::optional<std::string> scalar(const Entry& e, const std::string& label, std::string_view expected);
  // A name for URLs and metric labels: letters, digits, '_', '.', '-'.
  std::optional<std::string> read_name(const Entry& e, const std::string& label);
  // "500ms", "5s", "1m" (parse_duration: no hours, so a timeout of "5h" is caught as a typo).
  std::optional<Millis> read_duration(const Entry& e, const std::string& label, bool allow_zero);
  // As read_duration plus hours and days (parse_long_duration), for lifetimes and idle timeouts
  // that are long on purpose; `expected` shows examples ("a duration like 30s, 10m or 1h").
  std::optional<Millis> read_long_duration(const Entry& e, const std::string& label, std::string_view expected,
                                           bool allow_zero);
  // "host:port" or "[v6]:port" from `value` (a mapping's value or a list item), reported at `at`;
  // the result's mark is `at`. Port 0 (a free port) only where `allow_port_zero`.
  std::optional<HostPort> read_host_port(const YAML::Node& value, Mark at, const std::string& label,
                                         bool allow_port_zero);
  // An RFC 9110 §5.6.2 token (a header or cookie name), kept as written; `what` names it in messages.
  std::optional<std::string> read_token(const Entry& e, const std::string& label, std::string_view what);
  // YAML 1.2 core booleans only (true/True/TRUE, false/False/FALSE): "yes" and "on" are errors.
  std::optional<bool> read_bool(const Entry& e, const std::string& label);
  // A percentage 0..100 in 0.01 steps, as basis points 0..10000; `what` names the values in the
  // step message ("weights", "percentages").
  std::optional<std::uint32_t> read_percent(const Entry& e, const std::string& label, std::string_view what);
  // A plain decimal integer in [min, max].
  std::optional<std::uint64_t> read_uint(const Entry& e, const std::string& label, std::uint64_t min,
                                         std::uint64_t max);
  // A size in bytes ("512", "64KiB", "1MiB") in [min, max]; bounds are shown as written sizes.
  std::optional<std::uint64_t> read_size(const Entry& e, const std::string& label, std::uint64_t min,
                                         std::uint64_t max);
  // A file path; a relative one is taken from the config file's directory, so the config means
  // the same thing whatever directory the proxy was started from.
  std::optional<std::string> read_path(const Entry& e, const std::string& label);

  // How read_string_list treats its items.
  struct NameList {
    std::string what;          // one item in messages: "header name"
    std::string_view example;  // completes "expected a list of WHATs": " like [date, server]"
    bool token = false;        // items are RFC 9110 tokens, compared and stored lower-case
    // For items that are valid names but not allowed: the message after "LABEL: " for `item`
    // (lower-cased when `token`), or nullptr to accept it.
    const char* (*refuse)(std::string_view item) = nullptr;
  };
  // A list of names. An empty list is allowed; a name given twice is a warning and kept once;
  // std::nullopt when any item was an error.
  std::optional<std::vector<std::string>> read_string_list(const Entry& e, const std::string& label,
                                                           const NameList& how);

 private:
  std::optional<Millis> duration(const Entry& e, const std::string& label, std::string_view expected,
                                 bool allow_zero, std::optional<Millis> (*parse)(std::string_view));

  std::string file_;
  std::filesystem::path base_dir_;
  LoadResult result_;
};

}  // namespace cutover::config::detail
