// Path templates of the admin API: see routes.hpp.
#include "admin/routes.hpp"

namespace cutover::admin {

namespace {

// The segments of "/a/{b}/c": "a", "{b}", "c".
std::vector<std::string_view> template_segments(std::string_view path_template) {
  std::vector<std::string_view> out;
  if (!path_template.empty() && path_template.front() == '/') path_template.remove_prefix(1);
  for (;;) {
    auto slash = path_template.find('/');
    out.push_back(path_template.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    path_template.remove_prefix(slash + 1);
  }
}

// "route" for "{route}", nothing for a literal segment.
std::optional<std::string_view> param_name(std::string_view segment) {
  if (segment.size() < 2 || segment.front() != '{' || segment.back() != '}') return std::nullopt;
  return segment.substr(1, segment.size() - 2);
}

}  // namespace

bool match_path(std::string_view path_template, const std::vector<std::string>& segments, PathParams& params) {
  auto parts = template_segments(path_template);
  if (parts.size() != segments.size()) return false;
  PathParams found;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (auto name = param_name(parts[i]))
      found.emplace_back(*name, segments[i]);
    else if (parts[i] != segments[i])
      return false;
  }
  params = std::move(found);
  return true;
}

std::optional<std::string> scoped_param(std::string_view path_template, const std::vector<std::string>& segments,
                                        std::string_view name) {
  auto parts = template_segments(path_template);
  for (std::size_t i = 0; i < parts.size() && i < segments.size(); ++i) {
    auto param = param_name(parts[i]);
    if (param && *param == name) return segments[i];
    if (!param && parts[i] != segments[i]) return std::nullopt;
  }
  return std::nullopt;
}

std::string allow_value(const std::vector<boost::beast::http::verb>& methods) {
  std::string out;
  for (auto m : methods) {
    if (!out.empty()) out += ", ";
    out += boost::beast::http::to_string(m);
  }
  return out;
}

}  // namespace cutover::admin
