// Bearer tokens for mutating admin calls (SPEC "Admin API"): a file of "name:secret" lines.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cutover::admin {

class Tokens {
 public:
  // Reads `path`: one "name:secret" per line; blank lines and lines starting with '#' skipped.
  // Throws std::runtime_error naming the file and line for an unreadable file or a bad line.
  static Tokens load(const std::string& path);
  Tokens() = default;

  bool enabled() const { return !entries_.empty(); }
  // The token's name when `authorization` is "Bearer <secret>" for a known secret (compared in
  // constant time), std::nullopt otherwise.
  std::optional<std::string> authenticate(std::string_view authorization) const;

 private:
  struct Entry {
    std::string name;
    std::string secret;
  };
  std::vector<Entry> entries_;
};

}  // namespace cutover::admin
