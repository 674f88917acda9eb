// Who made an admin change, as the audit log records it (time, token name, client address,
// route, before, after, reason), so a change can be traced to a person after the fact.
#pragma once

#include <string>

#include <boost/json/object.hpp>

namespace cutover::admin {

struct Actor {
  Actor() = default;
  // Changes cutover makes itself: Actor("ramp").
  Actor(const char* who) : name(who) {}  // NOLINT(google-explicit-constructor): internal actors by name
  Actor(std::string who, std::string client_address, std::string why)
      : name(std::move(who)), client(std::move(client_address)), reason(std::move(why)) {}

  // The token name from tokens_file; "anonymous" when no tokens are configured; for changes
  // cutover makes itself, what made them: "ramp", "hold_max", "SIGHUP".
  std::string name;
  // The admin client's address ("127.0.0.1:53412"); empty for changes cutover makes itself.
  std::string client;
  // The operator's free-text reason (the optional "reason" field of a request body, at most
  // kMaxReasonBytes); empty when none was given.
  std::string reason;

  static constexpr std::size_t kMaxReasonBytes = 1024;

  // Adds "actor", and "client" and "reason" when set, to an audit entry.
  void stamp(boost::json::object& entry) const {
    entry["actor"] = name;
    if (!client.empty()) entry["client"] = client;
    if (!reason.empty()) entry["reason"] = reason;
  }
};

}  // namespace cutover::admin
