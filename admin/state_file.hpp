// Runtime state that survives a restart (SPEC `state_file`): each route's weights and generation,
// written atomically (temp file, fsync, rename, fsync of the directory) after every change and read
// back at start-up.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <boost/json/value.hpp>

#include "proxy/router/split.hpp"

namespace cutover::admin {

struct RouteState {
  router::Weights weights;
  std::uint64_t generation = 0;
  bool writes_held = false;  // a write hold survives a restart: writes stay held until released
  boost::json::value ramp;   // RampController::saved(): the route's ramp, or null; a running ramp resumes
  // Fleet mode: these weights are a local override (a rollback made while etcd was unreachable)
  // not yet written to etcd; after a restart etcd's value does not undo them either.
  bool fleet_local_override = false;
  // safety_api.hpp: the tenant segments as PUT takes them (null: a file from before segments), and
  // the maintenance answer with its body (null: none).
  boost::json::value segments;
  boost::json::value maintenance;
};

using StateMap = std::map<std::string, RouteState>;  // by route name

// A missing file is an empty state. Throws std::runtime_error naming the file and the problem for
// unreadable or malformed content (the caller reports it and keeps the file aside).
StateMap read_state_file(const std::string& path);

// Replaces the file atomically. Returns false (and logs) when it could not be written.
bool write_state_file(const std::string& path, const StateMap& state);

}  // namespace cutover::admin
