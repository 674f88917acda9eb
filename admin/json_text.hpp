// JSON text for people as well as programs: Boost.JSON 1.81 serializes doubles in scientific form
// ("5.05E1"), which operators read by eye in curl output and audit lines. This prints the same
// value tree with doubles in their shortest plain form ("50.5"); everything else is Boost.JSON's.
#pragma once

#include <string>

#include <boost/json/value.hpp>

namespace cutover::admin {

std::string to_json_text(const boost::json::value& v);

}  // namespace cutover::admin
