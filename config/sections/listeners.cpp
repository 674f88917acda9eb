// listeners: where cutover accepts connections, http or tcp, optionally terminating TLS; each
// listener's routes are read by routes.cpp.
#include "config/cross_checks.hpp"
#include "config/sections/sections.hpp"
#include "config/tls_files.hpp"

namespace cutover::config::detail {

namespace {

// ---- tls: {cert_file, key_file} or {certificates: [{cert_file, key_file}, ...]}

// cert_file and key_file of one certificate, both required, checked together with OpenSSL.
bool read_certificate(Reader& r, const std::vector<Entry>& es, Mark at, const std::string& label,
                      TlsCertificateConfig& c) {
  std::optional<Mark> cert_mark, key_mark;
  bool ok = true;
  for (const Entry& e : es) {
    auto v = r.read_path(e, label + "." + e.key);
    if (!v) {
      ok = false;
      continue;
    }
    if (e.key == "cert_file") {
      c.cert_file = *v;
      cert_mark = e.value_mark();
    } else {
      c.key_file = *v;
      key_mark = e.value_mark();
    }
  }
  if (!ok) return false;
  if (!cert_mark || !key_mark) {
    r.error(at, label + ": both cert_file and key_file are required");
    return false;
  }
  if (auto problem = check_certificate_pair(c.cert_file, c.key_file); !problem.empty()) {
    // Point at the file the problem is about.
    const bool about_cert = problem.find("cert_file '" + c.cert_file + "'") != std::string::npos &&
                            problem.find("key_file '") == std::string::npos;
    r.error(about_cert ? *cert_mark : *key_mark, label + ": " + problem);
    return false;
  }
  return true;
}

// The two files are read together once both are known, so their entries are only collected here.
void collect(Reader&, const Entry& e, std::vector<Entry>& files) { files.push_back(e); }

const Key<std::vector<Entry>> kCertificateKeys[] = {
    {"cert_file", collect},
    {"key_file", collect},
};

struct ListenerTls {
  ListenerTlsConfig& t;
  std::string context;                  // "tls of listener 'public'"
  std::optional<Mark> single{}, list{};  // where the one-certificate form and the list start
  std::vector<Entry> single_files{};    // cert_file and key_file of the one-certificate form
};

void collect_single(Reader& r, const Entry& e, ListenerTls& s) {
  if (!s.single) s.single = e.key_mark;
  collect(r, e, s.single_files);
}

void read_certificates(Reader& r, const Entry& e, ListenerTls& s) {
  s.list = e.key_mark;
  const std::string expected = "tls.certificates: expected a non-empty list of {cert_file, key_file}";
  if (!r.expect_items(e, expected, expected)) return;
  for (const YAML::Node& item : e.value) {
    const Mark m = item_mark(item, e.value_mark());
    if (!r.expect_map(item, m, "tls.certificates", " item with 'cert_file' and 'key_file'")) continue;
    TlsCertificateConfig c;
    c.mark = m;
    std::vector<Entry> files;
    r.read_keys(item, "certificate of " + s.context, kCertificateKeys, files);
    if (read_certificate(r, files, m, "tls.certificates", c)) s.t.certificates.push_back(std::move(c));
  }
}

const Key<ListenerTls> kListenerTlsKeys[] = {
    {"cert_file", collect_single},
    {"key_file", collect_single},
    {"certificates", read_certificates, keys_of<kCertificateKeys>(Nesting::list)},
};

// Several certificates are chosen by SNI, the first one being the default.
void read_listener_tls(Reader& r, const Entry& section, ListenerTlsConfig& t, const std::string& listener_context) {
  t.mark = section.key_mark;
  if (!r.expect_map(section.value, section.value_mark(), "tls", " with 'cert_file' and 'key_file', or 'certificates'"))
    return;
  t.enabled = true;
  ListenerTls s{t, "tls of " + listener_context};
  r.read_keys(section.value, s.context, kListenerTlsKeys, s);
  if (s.single && s.list) {
    r.error(*s.single, "tls: give either cert_file and key_file, or certificates, not both");
    return;
  }
  if (!s.single && !s.list) {
    r.error(section.key_mark, "tls needs cert_file and key_file (or a certificates list)");
    return;
  }
  TlsCertificateConfig one;
  one.mark = section.value_mark();
  if (s.single && read_certificate(r, s.single_files, section.value_mark(), "tls", one))
    t.certificates.push_back(std::move(one));
}

// ---- the listener

// More than a process has descriptors for: a larger max_connections is a typo.
constexpr std::uint64_t kMaxConnectionsLimit = 10'000'000;

struct Listener {
  ListenerConfig& l;
  ListenerMarks& marks;
  const std::string& context;  // "listener 'public'"
  bool have_name = false, have_address = false, have_routes = false;
  std::optional<Mark> idle_timeout_mark{};  // an error on an http listener, known only after the walk
  std::optional<Mark> http2_mark{};         // an error on a tcp listener, likewise
};

const Key<Listener> kListenerKeys[] = {
    {"name",
     [](Reader& r, const Entry& e, Listener& s) {
       s.have_name = true;
       s.marks.name = e.value_mark();
       if (auto v = r.read_name(e, "listener name")) s.l.name = *v;
     }},
    {"address",
     [](Reader& r, const Entry& e, Listener& s) {
       s.have_address = true;
       s.marks.address = e.value_mark();
       if (auto hp = r.read_host_port(e.value, e.value_mark(), "address", /*allow_port_zero=*/true))
         s.l.address = *hp;
     }},
    {"protocol",
     [](Reader& r, const Entry& e, Listener& s) {
       auto v = r.scalar(e, "protocol", "http or tcp");
       if (!v) return;
       if (*v == "http" || *v == "tcp")
         s.l.protocol = *v;
       else
         r.error(e.value_mark(), "protocol: expected http or tcp, got " + q(*v));
     }},
    {"idle_timeout",
     [](Reader& r, const Entry& e, Listener& s) {
       s.idle_timeout_mark = e.value_mark();
       if (auto v = r.read_long_duration(e, "idle_timeout", "a duration like 30s, 10m or 1h", /*allow_zero=*/false))
         s.l.idle_timeout = *v;
     }},
    {"routes",
     [](Reader& r, const Entry& e, Listener& s) {
       s.have_routes = true;
       if (!r.expect_items(e, "routes: expected a list of routes ('- name: ...')", s.context + " needs at least one route"))
         return;
       for (const YAML::Node& item : e.value) read_route(r, item, item_mark(item, e.value_mark()), s.l, s.marks);
     },
     {Nesting::list, list_route_keys}},
    {"max_connections",
     [](Reader& r, const Entry& e, Listener& s) {
       if (auto v = r.read_uint(e, "max_connections", 0, kMaxConnectionsLimit)) s.l.max_connections = *v;
     }},
    {"http2",
     [](Reader& r, const Entry& e, Listener& s) {
       s.http2_mark = e.value_mark();
       if (auto v = r.read_bool(e, "http2")) s.l.http2 = *v;
     }},
    {"tls", [](Reader& r, const Entry& e, Listener& s) { read_listener_tls(r, e, s.l.tls, s.context); },
     keys_of<kListenerTlsKeys>()},
    {"access_log", [](Reader& r, const Entry& e, Listener& s) { read_access_log(r, e, s.l.access_log); },
     {Nesting::map, list_access_log_keys}},
};

void read_listener(Reader& r, const YAML::Node& node, Mark at, Document& doc) {
  ListenerConfig l;
  ListenerMarks marks;
  l.mark = at;
  if (!r.expect_map(node, at, "listener", " with 'name', 'address' and 'routes'")) return;
  const std::string peeked = Reader::peek_name(node);
  const std::string context = peeked.empty() ? "listener" : "listener " + q(peeked);
  Listener s{l, marks, context};
  r.read_keys(node, context, kListenerKeys, s);
  if (!s.have_name) r.error(at, context + " is missing 'name'");
  if (!s.have_address) r.error(at, context + " is missing 'address'");
  if (!s.have_routes) r.error(at, context + " is missing 'routes' (at least one route is required)");
  if (l.tcp() && s.http2_mark)
    r.error(*s.http2_mark, "http2 applies to http listeners only (" + context + " is tcp)");
  if (l.tcp())
    check_tcp_routes(r, l, marks);
  else if (s.idle_timeout_mark)
    r.error(*s.idle_timeout_mark, "idle_timeout applies to tcp listeners only (" + context + " is http)");
  doc.config.listeners.push_back(std::move(l));
  doc.listeners.push_back(std::move(marks));
}

}  // namespace

void list_listener_keys(std::vector<std::string>& out, const std::string& prefix) {
  list_keys<kListenerKeys>(out, prefix);
}

void read_listeners(Reader& r, const Entry& section, Document& doc) {
  if (!r.expect_items(section, "listeners: expected a list of listeners ('- name: ...')",
                      "listeners: at least one listener is required"))
    return;
  for (const YAML::Node& item : section.value) read_listener(r, item, item_mark(item, section.value_mark()), doc);
}

}  // namespace cutover::config::detail
