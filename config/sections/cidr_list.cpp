// Lists of networks (force.allow_cidrs, request_id.trust_cidrs): each item an IPv4 or IPv6 address
// with an optional /PREFIX, stored canonical.
#include <algorithm>

#include "config/sections/sections.hpp"
#include "config/units.hpp"

namespace cutover::config::detail {

bool read_cidr_list(Reader& r, const Entry& e, const std::string& label, std::string_view allows,
                    std::vector<std::string>& out) {
  constexpr std::string_view kExample = " like [127.0.0.0/8, \"::1/128\"]";
  if (e.value.IsNull()) return true;  // same as an empty list
  if (!e.value.IsSequence()) {
    r.error(e.value_mark(), label + ": expected a list of CIDRs" + std::string(kExample));
    return false;
  }
  bool ok = true;
  for (const YAML::Node& item : e.value) {
    const Mark m = item_mark(item, e.value_mark());
    if (!item.IsScalar()) {
      r.error(m, label + ": expected a CIDR such as 10.0.0.0/8 or \"::1/128\"");
      ok = false;
      continue;
    }
    const std::string& text = item.Scalar();
    auto c = parse_cidr(text);
    if (!c) {
      r.error(m, label + ": " + q(text) + " is not a valid CIDR (an IPv4 or IPv6 address, optionally /PREFIX)");
      ok = false;
      continue;
    }
    if (c->host_bits_set) {
      // An allow list that silently means something else is worse than an error.
      r.error(m, label + ": " + q(text) + " has bits set after the /" + std::to_string(c->prefix) +
                     " prefix (did you mean " + q(c->canonical) + "?)");
      ok = false;
      continue;
    }
    if (std::find(out.begin(), out.end(), c->canonical) != out.end()) {
      r.warn(m, label + ": " + q(text) + " is listed twice");
      continue;
    }
    if (c->prefix == 0)
      r.warn(m, label + ": " + q(text) + " allows every " + std::string(c->ipv6 ? "IPv6" : "IPv4") + " client " +
                    std::string(allows));
    out.push_back(c->canonical);
  }
  return ok;
}

}  // namespace cutover::config::detail
