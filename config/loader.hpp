// Loads and validates the YAML config, collecting every problem as FILE:LINE:COL: message.
// Exceptions stay inside: callers get a LoadResult either way.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/model.hpp"

namespace cutover::config {

struct Diagnostic {
  std::string file;
  Mark mark;
  std::string message;
  // "FILE:LINE:COL: message" (the form `cutover --check` prints).
  std::string str() const;
};

struct LoadResult {
  std::optional<Config> config;        // set only when errors is empty
  std::vector<Diagnostic> errors;
  std::vector<Diagnostic> warnings;
};

// Reads FILE; an unreadable file is one error at 0:0.
LoadResult load_file(const std::string& path);
// Parses `yaml` as if read from `file_name` (used by tests and by load_file).
LoadResult load_string(std::string_view yaml, const std::string& file_name);

// Every key the loader accepts, as a path from the top level, in the order of the sections'
// tables: "drain_timeout", "clusters.<name>.health_check.interval" (<name>: a key the user picks),
// "listeners[].routes[].mirror.compare.noise_sample" ([]: an item of a list). Listed from the same
// tables the loader reads with, so a key added there is listed too (docs/configuration.md is
// checked against it).
std::vector<std::string> documented_keys();

}  // namespace cutover::config
