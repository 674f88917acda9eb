// Unit tests for config::documented_keys(): the key paths come from the loader's own tables, so
// each one is accepted by the loader where the path puts it, and nothing is listed twice.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "config/loader.hpp"

namespace cutover::config {
namespace {

// A config (YAML flow syntax) holding only the key at `path`, with a null value, each level the
// shape the path gives it: "a.b" a mapping, "a[].b" a list of mappings, "a.<name>.b" a mapping
// of a chosen name ("c1") to a mapping.
std::string config_at(const std::string& path) {
  std::vector<std::string> segments;
  for (std::size_t start = 0;;) {
    const auto dot = path.find('.', start);
    segments.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  std::string open, close;
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    std::string key = segments[i] == "<name>" ? "c1" : segments[i];
    const bool list = key.ends_with("[]");
    if (list) key.resize(key.size() - 2);
    open += "{\"" + key + "\": ";
    close = "}" + close;
    if (list) {
      open += "[";
      close = "]" + close;
    }
  }
  return open + "{\"" + segments.back() + "\": null}" + close;
}

bool reported_unknown(const LoadResult& r) {
  return std::any_of(r.errors.begin(), r.errors.end(),
                     [](const Diagnostic& d) { return d.message.find("unknown key") != std::string::npos; });
}

TEST(DocumentedKeys, ListsEachKeyOnce) {
  const auto keys = documented_keys();
  const std::set<std::string> unique(keys.begin(), keys.end());
  EXPECT_EQ(unique.size(), keys.size());
}

TEST(DocumentedKeys, WritesNestingIntoThePath) {
  const auto keys = documented_keys();
  const std::set<std::string> have(keys.begin(), keys.end());
  for (const char* expected :
       {"workers", "admin.tokens_file", "clusters", "clusters.<name>.endpoints", "clusters.<name>.health_check.interval",
        "clusters.<name>.tls.sni", "listeners[].routes[].mirror.compare.noise_sample",
        "listeners[].tls.certificates[].key_file", "listeners[].access_log.sample", "timeouts.tunnel_idle"})
    EXPECT_TRUE(have.contains(expected)) << expected;
}

TEST(DocumentedKeys, EveryPathIsAKeyTheLoaderKnowsThere) {
  for (const auto& path : documented_keys()) {
    const auto r = load_string(config_at(path), "keys.yaml");
    EXPECT_FALSE(reported_unknown(r)) << path << " in " << config_at(path);
  }
}

TEST(DocumentedKeys, AKeyNotListedIsUnknownToTheLoader) {
  // The check above would pass for a loader that reports nothing: this is the same check failing.
  for (const char* path : {"listeners[].routes[].mirror.compare.no_such_key", "clusters.<name>.no_such_key"})
    EXPECT_TRUE(reported_unknown(load_string(config_at(path), "keys.yaml"))) << config_at(path);
}

}  // namespace
}  // namespace cutover::config
