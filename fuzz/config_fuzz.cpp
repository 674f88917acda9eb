// libFuzzer target: config::load_string() over any bytes as YAML. It must never crash nor throw
// (an exception escaping it reaches libFuzzer as a crash), report every problem with a position
// that is not negative, never fall back to its "internal error" catch-all (that is an exception it
// did not expect: a bug), hand out only configs that keep the model's promises, and give the
// same answer for the same text (a reload of an unchanged file must not change anything).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <sstream>

#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include "config/loader.hpp"

namespace {

using namespace cutover;

[[noreturn]] void fail(const std::string& what, std::string_view yaml) {
  std::fprintf(stderr, "\n*** cutover fuzz invariant broken: %s\n--- yaml (%zu bytes) ---\n%.*s\n---\n", what.c_str(),
               yaml.size(), static_cast<int>(std::min<std::size_t>(yaml.size(), 4096)), yaml.data());
  std::abort();
}

void check_diagnostics(const std::vector<config::Diagnostic>& ds, std::string_view yaml) {
  for (const auto& d : ds) {
    if (d.mark.line < 0 || d.mark.col < 0) fail("negative position: " + d.str(), yaml);
    if (d.file != "fuzz.yaml") fail("diagnostic names another file: " + d.str(), yaml);
    if (d.message.empty()) fail("diagnostic without a message: " + d.str(), yaml);
    if (d.message.starts_with("internal error")) fail("unexpected exception inside the loader: " + d.str(), yaml);
    if (!d.str().starts_with("fuzz.yaml:")) fail("diagnostic text not FILE:LINE:COL: " + d.str(), yaml);
  }
}

// What a loaded config promises to the snapshot compiler (config/model.hpp).
void check_config(const config::Config& c, std::string_view yaml) {
  for (const auto& cl : c.clusters) {
    if (cl.name.empty()) fail("cluster without a name", yaml);
    if (cl.endpoints.empty()) fail("cluster '" + cl.name + "' without endpoints", yaml);
  }
  for (const auto& l : c.listeners) {
    for (const auto& r : l.routes) {
      const std::string where = "route '" + r.name + "': ";
      if (!c.find_cluster(r.source) || !c.find_cluster(r.target)) fail(where + "unknown cluster", yaml);
      if (r.read_weight_bp > 10000 || r.write_weight_bp > 10000) fail(where + "weight over 100 %", yaml);
      if (r.mirror.percent_bp > 10000) fail(where + "mirror percent over 100 %", yaml);
      if (r.mirror.compare.noise_sample_bp > 10000) fail(where + "noise_sample over 100 %", yaml);
      if (r.path_prefix.empty() || r.path_prefix.front() != '/') fail(where + "path_prefix not starting with /", yaml);
      if (r.host != "*")
        for (char ch : r.host)
          if (ch >= 'A' && ch <= 'Z') fail(where + "host not lower-case", yaml);
      // "Validated and canonical ... so make_network_v4/v6 take them as they are".
      for (const auto& cidr : r.force.allow_cidrs) {
        boost::system::error_code ec4, ec6;
        (void)boost::asio::ip::make_network_v4(cidr, ec4);
        if (ec4) (void)boost::asio::ip::make_network_v6(cidr, ec6);
        if (ec4 && ec6) fail(where + "allow_cidrs entry '" + cidr + "' does not parse", yaml);
      }
    }
  }
}

// The fields a reload compares, as text: equal texts, equal configs.
std::string summary(const config::LoadResult& r) {
  std::string s;
  for (const auto& d : r.errors) s += "E " + d.str() + "\n";
  for (const auto& d : r.warnings) s += "W " + d.str() + "\n";
  if (!r.config) return s;
  const auto& c = *r.config;
  s += "workers " + std::to_string(c.workers) + " drain " + std::to_string(c.drain_timeout.count()) + " admin " +
       c.admin.listen.text + " state " + c.state_file + " audit " + c.audit_log + " limits " +
       std::to_string(c.limits.max_request_line) + "/" + std::to_string(c.limits.max_header_bytes) + "/" +
       std::to_string(c.limits.max_request_body) + "\n";
  for (const auto& cl : c.clusters) {
    s += "cluster " + cl.name + " " + std::to_string(cl.connect_timeout.count()) + " " +
         std::to_string(cl.response_timeout.count());
    for (const auto& e : cl.endpoints) s += " " + e.text + "=" + e.host + ":" + std::to_string(e.port);
    s += "\n";
  }
  for (const auto& l : c.listeners) {
    s += "listener " + l.name + " " + l.address.text + " " + l.protocol + "\n";
    for (const auto& r : l.routes)
      s += " route " + r.name + " " + r.host + r.path_prefix + " " + r.source + "->" + r.target + " " +
           std::to_string(r.read_weight_bp) + "/" + std::to_string(r.write_weight_bp) + " sticky " +
           std::to_string(r.sticky.sources.size()) + r.sticky.pin_cookie + " force " + r.force.header +
           r.force.cookie + std::to_string(r.force.allow_cidrs.size()) + " mirror " +
           std::to_string(r.mirror.enabled) + "/" + std::to_string(r.mirror.percent_bp) + "\n";
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  const auto first = config::load_string(yaml, "fuzz.yaml");
  check_diagnostics(first.errors, yaml);
  check_diagnostics(first.warnings, yaml);
  if (first.config.has_value() != first.errors.empty()) fail("a config together with errors, or neither", yaml);
  if (first.config) check_config(*first.config, yaml);
  const auto second = config::load_string(yaml, "fuzz.yaml");
  if (summary(first) != summary(second))
    fail("not deterministic:\n" + summary(first) + "-- then --\n" + summary(second), yaml);
  return 0;
}
