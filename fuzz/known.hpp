// Findings of the fuzz targets that are bugs in the project code (or its libraries), reported in
// fuzz/crashes/README.md with their reproducers and not fixed yet. A target tolerates one only when
// CUTOVER_FUZZ_KNOWN names it, so by default a known bug keeps failing the run until it is fixed,
// and with the list set the target can go on looking for the next one.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>

namespace cutover::fuzz {

// Whether finding `id` is tolerated in this run: CUTOVER_FUZZ_KNOWN="id1,id2".
inline bool tolerated(std::string_view id) {
  static const std::string list = [] {
    const char* env = std::getenv("CUTOVER_FUZZ_KNOWN");
    return "," + std::string(env ? env : "") + ",";
  }();
  return list.find("," + std::string(id) + ",") != std::string::npos;
}

}  // namespace cutover::fuzz
