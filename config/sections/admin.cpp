// admin: {listen: 127.0.0.1:9901, tokens_file: tokens.txt}, the admin API's address and credentials.
#include "config/sections/sections.hpp"
#include "config/units.hpp"

namespace cutover::config::detail {

namespace {

struct Admin {
  AdminConfig& admin;
  Mark listen_mark;  // where the loopback rule is reported: the listen value, else the section
};

const Key<Admin> kAdminKeys[] = {
    {"listen",
     [](Reader& r, const Entry& e, Admin& a) {
       a.listen_mark = e.value_mark();
       if (auto hp = r.read_host_port(e.value, e.value_mark(), "admin.listen", /*allow_port_zero=*/true))
         a.admin.listen = *hp;
     }},
    {"tokens_file",
     [](Reader& r, const Entry& e, Admin& a) {
       if (auto v = r.read_path(e, "admin.tokens_file")) {
         a.admin.tokens_file = *v;
         a.admin.tokens_file_mark = e.value_mark();  // the file itself is read at start-up
       }
     }},
};

}  // namespace

void list_admin_keys(std::vector<std::string>& out, const std::string& prefix) { list_keys<kAdminKeys>(out, prefix); }

void read_admin(Reader& r, const Entry& section, AdminConfig& admin) {
  if (!r.expect_map(section.value, section.value_mark(), "admin", " with 'listen' and 'tokens_file'")) return;
  Admin a{admin, section.value_mark()};
  r.read_keys(section.value, "admin", kAdminKeys, a);
  // SPEC: without tokens, mutating calls are unauthenticated, so only this machine may reach them.
  if (admin.tokens_file.empty() && !is_loopback_host(admin.listen.host))
    r.error(a.listen_mark, "admin.listen must be loopback when no tokens_file is set");
}

}  // namespace cutover::config::detail
