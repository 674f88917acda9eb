// The console's files, built into the binary (see admin/CMakeLists.txt): the page, its script and
// style from admin/ui/, and Chart.js with its licence from Debian's libjs-chart.js, checked
// against a pinned SHA-256 at build time.
#pragma once

#include <string_view>

namespace cutover::admin {

std::string_view console_index_html();
std::string_view console_js();
std::string_view console_css();
std::string_view console_chart_js();
std::string_view console_chart_js_license();

}  // namespace cutover::admin
