// fleet: {node, etcd: {...}, apply_timeout}, the nodes sharing route weights through etcd.
#include "config/sections/sections.hpp"

namespace cutover::config::detail {

namespace {

// The longest lease etcd grants is far longer, but a node gone for more than a minute before the
// fleet notices is a typo, not a choice.
constexpr Millis kMaxLeaseTtl{60 * 1000};

struct Etcd {
  FleetConfig& f;
  bool have_endpoints = false;  // the key was given (its items may all have been errors)
};

// "http://host:port" or "https://host:port" (the etcd client parses the rest at start-up).
void read_etcd_endpoints(Reader& r, const Entry& e, Etcd& s) {
  s.have_endpoints = true;
  if (!r.expect_items(e, "fleet.etcd.endpoints: expected a list of URLs, e.g. [\"http://127.0.0.1:2379\"]",
                      "fleet.etcd.endpoints: must list at least one URL"))
    return;
  for (const YAML::Node& item : e.value) {
    const Mark m = item_mark(item, e.value_mark());
    const std::string text = item.IsScalar() ? item.Scalar() : std::string();
    if (!text.starts_with("http://") && !text.starts_with("https://")) {
      r.error(m, "fleet.etcd.endpoints: expected an http:// or https:// URL, e.g. \"http://127.0.0.1:2379\"");
      continue;
    }
    s.f.endpoints.push_back(text);
  }
}

// A file of fleet.etcd (password, CA, client certificate and key) into `Field`.
template <std::string FleetConfig::*Field>
void read_etcd_path(Reader& r, const Entry& e, Etcd& s) {
  if (auto v = r.read_path(e, "fleet.etcd." + e.key)) s.f.*Field = *v;
}

const Key<Etcd> kEtcdKeys[] = {
    {"endpoints", read_etcd_endpoints},
    {"prefix",
     [](Reader& r, const Entry& e, Etcd& s) {
       auto v = r.scalar(e, "fleet.etcd.prefix", "a key prefix like /cutover/");
       if (!v) return;
       if (v->empty() || v->back() != '/') {
         r.error(e.value_mark(), "fleet.etcd.prefix: must end with '/', like /cutover/");
         return;
       }
       s.f.prefix = *v;
     }},
    {"lease_ttl",
     [](Reader& r, const Entry& e, Etcd& s) {
       auto v = r.read_duration(e, "fleet.etcd.lease_ttl", /*allow_zero=*/false);
       if (!v) return;
       if (*v < Millis{1000} || *v > kMaxLeaseTtl) {
         r.error(e.value_mark(), "fleet.etcd.lease_ttl: from 1s to 60s (etcd leases count whole seconds)");
         return;
       }
       s.f.lease_ttl = *v;
     }},
    {"username",
     [](Reader& r, const Entry& e, Etcd& s) {
       if (auto v = r.scalar(e, "fleet.etcd.username", "a user name")) s.f.username = *v;
     }},
    {"password_file", read_etcd_path<&FleetConfig::password_file>},
    {"ca_file", read_etcd_path<&FleetConfig::ca_file>},
    {"cert_file", read_etcd_path<&FleetConfig::cert_file>},
    {"key_file", read_etcd_path<&FleetConfig::key_file>},
};

struct Fleet {
  FleetConfig& f;
  bool have_node = false, have_endpoints = false;
};

const Key<Fleet> kFleetKeys[] = {
    {"node",
     [](Reader& r, const Entry& e, Fleet& s) {
       s.have_node = true;
       if (auto v = r.read_name(e, "fleet.node")) s.f.node = *v;
     }},
    {"etcd",
     [](Reader& r, const Entry& e, Fleet& s) {
       // A fleet.etcd that is not a mapping is reported here, not again as missing endpoints.
       s.have_endpoints = true;
       if (!r.expect_map(e.value, e.value_mark(), "fleet.etcd", " with 'endpoints'")) return;
       Etcd etcd{s.f};
       r.read_keys(e.value, "fleet.etcd", kEtcdKeys, etcd);
       s.have_endpoints = etcd.have_endpoints;
     },
     keys_of<kEtcdKeys>()},
    {"apply_timeout",
     [](Reader& r, const Entry& e, Fleet& s) {
       if (auto v = r.read_duration(e, "fleet.apply_timeout", /*allow_zero=*/false)) s.f.apply_timeout = *v;
     }},
};

}  // namespace

void list_fleet_keys(std::vector<std::string>& out, const std::string& prefix) { list_keys<kFleetKeys>(out, prefix); }

void read_fleet(Reader& r, const Entry& section, FleetConfig& fleet) {
  if (!r.expect_map(section.value, section.value_mark(), "fleet", " with 'node' and 'etcd'")) return;
  Fleet s{fleet};
  r.read_keys(section.value, "fleet", kFleetKeys, s);
  if (!s.have_node) r.error(section.value_mark(), "fleet: missing 'node' (this node's name in the fleet)");
  if (!s.have_endpoints)
    r.error(section.value_mark(), "fleet: missing 'etcd.endpoints' (the etcd cluster the fleet shares)");
  if ((fleet.cert_file.empty()) != (fleet.key_file.empty()))
    r.error(section.value_mark(), "fleet.etcd: cert_file and key_file go together");
  // A node of a fleet with errors must not join it half-configured.
  if (!s.have_node || fleet.endpoints.empty()) fleet.node.clear();
}

}  // namespace cutover::config::detail
