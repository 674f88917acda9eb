// For docs_drift.py: without arguments, prints every config key path the loader accepts, one a
// line (config::documented_keys()); with FILE, loads it and prints its errors and warnings as
// `cutover --check` does, exiting 1 on errors (the page's example must load).
#include <iostream>

#include "config/loader.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    for (const auto& key : cutover::config::documented_keys()) std::cout << key << '\n';
    return 0;
  }
  const auto loaded = cutover::config::load_file(argv[1]);
  for (const auto& w : loaded.warnings) std::cout << w.str() << " (warning)\n";
  for (const auto& e : loaded.errors) std::cout << e.str() << '\n';
  return loaded.errors.empty() ? 0 : 1;
}
