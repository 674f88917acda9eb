// The console's files: see console.hpp.
#include "admin/console.hpp"

#include <string_view>

#include "admin/console_assets.hpp"

namespace cutover::admin {

namespace bhttp = boost::beast::http;

namespace {

struct Asset {
  std::string_view path;
  std::string_view content_type;
  std::string_view (*body)();
};

constexpr Asset kAssets[] = {
    {"/ui/", "text/html; charset=utf-8", &console_index_html},
    {"/ui/console.js", "text/javascript; charset=utf-8", &console_js},
    {"/ui/console.css", "text/css; charset=utf-8", &console_css},
    {"/ui/chart.js", "text/javascript; charset=utf-8", &console_chart_js},
    {"/ui/licenses.txt", "text/plain; charset=utf-8", &console_chart_js_license},
};

// Scripts, styles and API calls from this origin only; no inline script or style, no plugins,
// no framing, no form posts elsewhere. Chart.js sizes its canvases through the CSSOM, which
// style-src does not govern.
constexpr std::string_view kPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

AdminResponse answer(bhttp::status status, unsigned version, std::string_view content_type, std::string body) {
  AdminResponse res{status, version};
  res.set(bhttp::field::content_type, content_type);
  res.set("Content-Security-Policy", kPolicy);
  res.set("X-Frame-Options", "DENY");
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set(bhttp::field::cache_control, "no-cache");
  res.body() = std::move(body);
  return res;
}

}  // namespace

std::optional<AdminResponse> console_response(const AdminRequest& request) {
  std::string_view target = request.target();
  const std::string_view path = target.substr(0, target.find_first_of("?#"));
  if (path != "/ui" && !path.starts_with("/ui/")) return std::nullopt;
  const auto method = request.method();
  if (method != bhttp::verb::get) {
    auto res = answer(bhttp::status::method_not_allowed, request.version(), "text/plain; charset=utf-8",
                      "the console takes GET\n");
    res.set(bhttp::field::allow, "GET");
    return res;
  }
  if (path == "/ui") {
    auto res = answer(bhttp::status::permanent_redirect, request.version(), "text/plain; charset=utf-8", "/ui/\n");
    res.set(bhttp::field::location, "/ui/");
    return res;
  }
  for (const auto& a : kAssets) {
    if (path == a.path || (a.path == "/ui/" && path == "/ui/index.html"))
      return answer(bhttp::status::ok, request.version(), a.content_type, std::string(a.body()));
  }
  return answer(bhttp::status::not_found, request.version(), "text/plain; charset=utf-8", "no such console file\n");
}

}  // namespace cutover::admin
