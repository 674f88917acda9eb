// Persisted runtime state: see state_file.hpp.
#include "admin/state_file.hpp"

#include "admin/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "common/json_number.hpp"

namespace cutover::admin {

namespace json = boost::json;

namespace {

std::uint16_t weight_field(const json::object& o, std::string_view key, const std::string& where) {
  auto* v = o.if_contains(key);
  auto bp = v ? common::json_int(*v, 0, router::kWeightScale) : std::nullopt;
  if (!bp) throw std::runtime_error(where + ": '" + std::string(key) + "' must be an integer 0..10000");
  return static_cast<std::uint16_t>(*bp);
}

}  // namespace

StateMap read_state_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return {};
    throw std::runtime_error("state_file " + path + ": " + std::strerror(errno));
  }
  std::stringstream text;
  text << in.rdbuf();
  boost::system::error_code ec;
  auto doc = json::parse(text.str(), ec);
  if (ec) throw std::runtime_error("state_file " + path + ": invalid JSON: " + ec.message() + " (fix or remove the file)");
  auto* routes = doc.is_object() ? doc.as_object().if_contains("routes") : nullptr;
  if (!routes || !routes->is_object()) throw std::runtime_error("state_file " + path + ": expected {\"routes\": {...}}");
  StateMap out;
  for (const auto& [name, value] : routes->as_object()) {
    std::string where = "state_file " + path + ": route " + std::string(name);
    if (!value.is_object()) throw std::runtime_error(where + ": expected an object");
    const auto& o = value.as_object();
    RouteState s;
    s.weights.read_bp = weight_field(o, "read_weight_bp", where);
    s.weights.write_bp = weight_field(o, "write_weight_bp", where);
    auto* g = o.if_contains("generation");
    auto generation = g ? common::json_int(*g, 0) : std::nullopt;
    if (!generation) throw std::runtime_error(where + ": 'generation' must be a non-negative integer");
    s.generation = static_cast<std::uint64_t>(*generation);
    if (auto* h = o.if_contains("writes_held")) {  // absent in files from before holds existed
      if (!h->is_bool()) throw std::runtime_error(where + ": 'writes_held' must be a boolean");
      s.writes_held = h->as_bool();
    }
    if (auto* r = o.if_contains("ramp")) {  // absent in files from before ramps existed
      if (!r->is_null() && !r->is_object()) throw std::runtime_error(where + ": 'ramp' must be an object or null");
      s.ramp = *r;
    }
    if (auto* f = o.if_contains("fleet_local_override")) {  // absent outside fleet mode
      if (!f->is_bool()) throw std::runtime_error(where + ": 'fleet_local_override' must be a boolean");
      s.fleet_local_override = f->as_bool();
    }
    if (auto* v = o.if_contains("segments")) {  // absent in files from before segments existed
      if (!v->is_null() && !v->is_array()) throw std::runtime_error(where + ": 'segments' must be a list or null");
      s.segments = *v;
    }
    if (auto* v = o.if_contains("maintenance")) {
      if (!v->is_null() && !v->is_object()) throw std::runtime_error(where + ": 'maintenance' must be an object or null");
      s.maintenance = *v;
    }
    out.emplace(std::string(name), s);
  }
  return out;
}

bool write_state_file(const std::string& path, const StateMap& state) {
  json::object routes;
  for (const auto& [name, s] : state) {
    json::object route{{"read_weight_bp", s.weights.read_bp},
                       {"write_weight_bp", s.weights.write_bp},
                       {"generation", static_cast<std::int64_t>(s.generation)},
                       {"writes_held", s.writes_held},
                       {"ramp", s.ramp},
                       {"segments", s.segments},
                       {"maintenance", s.maintenance}};
    if (s.fleet_local_override) route["fleet_local_override"] = true;
    routes[name] = std::move(route);
  }
  std::string text = json::serialize(json::object{{"version", 1}, {"routes", std::move(routes)}}) + "\n";

  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0;
  if (ok) ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (ok) ok = ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  if (ok) ok = ::rename(tmp.c_str(), path.c_str()) == 0;
  if (ok) ok = fsync_parent_directory(path);  // the rename itself, so a crash of the machine keeps it
  if (!ok) spdlog::error("state_file {}: write failed: {}", path, std::strerror(errno));
  return ok;
}

}  // namespace cutover::admin
