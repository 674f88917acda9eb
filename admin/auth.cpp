// Bearer tokens for the admin API: see auth.hpp.
#include "admin/auth.hpp"

#include <fstream>
#include <stdexcept>

#include <openssl/crypto.h>

namespace cutover::admin {

Tokens Tokens::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("tokens_file " + path + ": cannot open");
  Tokens t;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    auto colon = line.find(':');
    if (colon == 0 || colon == std::string::npos || colon + 1 == line.size())
      throw std::runtime_error("tokens_file " + path + ":" + std::to_string(n) + ": expected name:secret");
    Entry e{line.substr(0, colon), line.substr(colon + 1)};
    if (auto role = e.secret.rfind(':'); role != std::string::npos) {
      const std::string_view r = std::string_view(e.secret).substr(role + 1);
      if (r != "read" && r != "admin")
        throw std::runtime_error("tokens_file " + path + ":" + std::to_string(n) +
                                 ": the role after the secret must be 'read' or 'admin' (a secret has no ':')");
      e.read_only = r == "read";
      e.secret.resize(role);
      if (e.secret.empty())
        throw std::runtime_error("tokens_file " + path + ":" + std::to_string(n) + ": expected name:secret[:role]");
    }
    t.entries_.push_back(std::move(e));
  }
  if (t.entries_.empty()) throw std::runtime_error("tokens_file " + path + ": no tokens");
  return t;
}

std::optional<Tokens::Identity> Tokens::authenticate(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (!authorization.starts_with(kBearer)) return std::nullopt;
  auto secret = authorization.substr(kBearer.size());
  for (const auto& e : entries_) {
    if (e.secret.size() == secret.size() && CRYPTO_memcmp(e.secret.data(), secret.data(), secret.size()) == 0)
      return Identity{e.name, e.read_only};
  }
  return std::nullopt;
}

}  // namespace cutover::admin
