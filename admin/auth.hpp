// Bearer tokens for mutating admin calls (SPEC "Admin API"): a file of "name:secret" lines, each
// optionally ending in ":read" (a read-only token: it identifies its holder, e.g. to the console,
// and may change nothing) or ":admin" (the default). A secret is an RFC 6750 §2.1 b64token, which
// has no ':', so the role field cannot be mistaken for part of one.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cutover::admin {

class Tokens {
 public:
  // Reads `path`: one "name:secret[:read|:admin]" per line; blank lines and lines starting with
  // '#' skipped.
  // Throws std::runtime_error naming the file and line for an unreadable file or a bad line.
  static Tokens load(const std::string& path);
  Tokens() = default;

  bool enabled() const { return !entries_.empty(); }
  struct Identity {
    std::string name;
    bool read_only = false;
  };
  // The token's holder when `authorization` is "Bearer <secret>" for a known secret (compared in
  // constant time), std::nullopt otherwise.
  std::optional<Identity> authenticate(std::string_view authorization) const;

 private:
  struct Entry {
    std::string name;
    std::string secret;
    bool read_only = false;
  };
  std::vector<Entry> entries_;
};

}  // namespace cutover::admin
