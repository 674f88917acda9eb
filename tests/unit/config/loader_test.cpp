// Unit tests for the YAML config loader: good configs load into the model, every bad config in
// bad/ gives one error at an exact LINE:COL, and several problems are all reported at once.
#include "config/loader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace cutover::config {
namespace {

namespace fs = std::filesystem;

const std::string kTestData = CUTOVER_TEST_DATA;
const std::string kBadDir = kTestData + "/config/bad";
const std::string kExample = kTestData + "/../../config/examples/cutover.yaml";

std::string dump(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += "\n  " + d.str();
  return out.empty() ? " (none)" : out;
}

std::string pos(const Diagnostic& d) {
  return std::to_string(d.mark.line) + ":" + std::to_string(d.mark.col);
}

// A valid config to build variations on; `route_extra` is appended to the one route's mapping.
std::string config_with(const std::string& route_extra, const std::string& top_extra = "") {
  return top_extra +
         "clusters:\n"
         "  legacy: {endpoints: [\"127.0.0.1:9001\"]}\n"
         "  cloud: {endpoints: [\"127.0.0.1:9002\"]}\n"
         "listeners:\n"
         "  - name: public\n"
         "    address: 127.0.0.1:8080\n"
         "    routes:\n"
         "      - name: app\n"
         "        source: legacy\n"
         "        target: cloud\n" +
         route_extra;
}

Config must_load(const std::string& yaml, const std::string& name = "test.yaml") {
  LoadResult r = load_string(yaml, name);
  EXPECT_TRUE(r.errors.empty()) << "errors:" << dump(r.errors);
  EXPECT_TRUE(r.config.has_value());
  return r.config.value_or(Config{});
}

// ---- bad configs: one file, one error, exact position -----------------------------------------

struct BadCase {
  const char* file;      // in tests/unit/config/bad/
  const char* position;  // "LINE:COL", 1-based
  const char* message;   // a substring of the error
};

std::ostream& operator<<(std::ostream& os, const BadCase& c) { return os << c.file; }

const BadCase kBadCases[] = {
    {"unknown_key.yaml", "16:9", "unknown key 'colour' in route 'app'"},
    {"unknown_top_key.yaml", "9:1", "unknown key 'drain_timout' in the top level (did you mean 'drain_timeout'?)"},
    {"bad_duration.yaml", "9:22", "connect_timeout: expected a duration like 500ms, 5s or 1m"},
    {"weight_range.yaml", "16:17", "weight: expected a percentage from 0 to 100, got '101'"},
    {"weight_negative.yaml", "16:23", "write_weight: expected a percentage from 0 to 100"},
    {"weight_precision.yaml", "16:22", "'10.255' is finer than the 0.01 step"},
    {"unknown_cluster.yaml", "15:17", "unknown cluster 'clod'"},
    {"duplicate_route_name.yaml", "19:16", "duplicate route name 'app' (first at 13:15 in listener 'public')"},
    {"duplicate_listener_name.yaml", "16:11", "duplicate listener name 'public' (first at 10:11)"},
    {"duplicate_address.yaml", "17:14", "'127.0.0.1:8080' is already used by listener 'public'"},
    {"missing_endpoints.yaml", "7:3", "cluster 'cloud' is missing 'endpoints'"},
    {"empty_endpoints.yaml", "8:16", "endpoints: must list at least one host:port"},
    {"endpoint_port_zero.yaml", "8:17", "port must be 1..65535"},
    {"unbracketed_ipv6.yaml", "8:17", "'::1:9002' is not a valid host:port"},
    {"admin_not_loopback.yaml", "3:11", "admin.listen must be loopback when no tokens_file is set"},
    {"syntax_error.yaml", "9:1", "end of sequence flow not found"},
    {"duplicate_key.yaml", "17:9", "duplicate key 'weight' in route 'app' (first at 16:9)"},
    {"bad_address.yaml", "11:14", "address: '127.0.0.1:99999' is not a valid host:port"},
    {"health_check_path.yaml", "7:26", "health_check.path must start with '/'"},
    {"tcp_read_weight.yaml", "16:9",
     "'read_weight' is HTTP-only and not allowed in route 'pg' of tcp listener 'db'; a tcp route takes name, source, "
     "target, weight and sticky: {client_ip: true}"},
    {"tcp_sticky_header.yaml", "15:35", "'sticky.header' is HTTP-only and not allowed in route 'pg'"},
    {"tcp_two_routes.yaml", "13:9", "tcp listener 'db' takes exactly one route"},
    {"tcp_mirror.yaml", "16:9", "'mirror' is HTTP-only and not allowed in route 'pg'"},
    {"idle_timeout_http.yaml", "10:19", "idle_timeout applies to tcp listeners only (listener 'public' is http)"},
    {"http2_tcp.yaml", "11:12", "http2 applies to http listeners only (listener 'db' is tcp)"},
    {"cluster_protocol.yaml", "5:15", "protocol: expected http1 or http2, got 'h2'"},
    {"http2_ping_interval_http1.yaml", "5:5",
     "cluster 'legacy': http2_ping_interval applies to clusters with protocol http2 only"},
    {"http2_ping_timeout_http1.yaml", "8:5",
     "cluster 'cloud': http2_ping_timeout applies to clusters with protocol http2 only"},
    {"http2_ping_timeout_zero.yaml", "6:25", "http2_ping_timeout: must be greater than 0"},
    {"http2_cluster_tcp.yaml", "5:15", "cluster 'legacy' serves tcp route 'pg': protocol http2 is for clusters of http routes only"},
    {"grpc_route_http1.yaml", "13:43",
     "route 'rpc' matches gRPC calls, but cluster 'cloud' speaks HTTP/1.1; gRPC needs 'protocol: http2' on both clusters"},
    {"grpc_error_codes.yaml", "14:35", "grpc_error_codes: expected an integer from 0 to 16, got '17'"},
    {"proxy_protocol_http.yaml", "7:26",
     "send_proxy_protocol is for clusters of tcp routes only; cluster 'cloud' serves http route 'app'"},
    {"proxy_protocol_value.yaml", "5:26", "send_proxy_protocol: expected v1 or v2, got 'v3'"},
    {"tcp_idle_timeout_bad.yaml", "11:19", "idle_timeout: expected a duration like 30s, 10m or 1h"},
    {"bad_workers.yaml", "9:10", "workers: expected a non-negative integer"},
    {"bad_worker_cpu_affinity.yaml", "9:22", "worker_cpu_affinity: expected none or auto, not 'spread'"},
    {"path_prefix.yaml", "16:30", "match.path_prefix: must start with '/'"},
    {"source_is_target.yaml", "15:17", "source and target are the same cluster 'legacy'"},
    {"bad_route_name.yaml", "13:15", "'my app' is not a valid name"},
    {"missing_target.yaml", "13:9", "route 'app' is missing 'target'"},
    {"no_listeners.yaml", "2:1", "missing 'listeners'"},
    {"no_routes.yaml", "12:13", "listener 'public' needs at least one route"},
    {"not_a_mapping.yaml", "2:1", "the config must be a mapping"},
    {"sticky_unknown_key.yaml", "18:11", "unknown key 'cookies' in sticky of route 'app' (did you mean 'cookie'?)"},
    {"sticky_empty.yaml", "16:17", "sticky: needs at least one key source: 'header', 'cookie' or 'client_ip: true'"},
    {"sticky_bad_header.yaml", "16:26", "sticky.header: 'X User Id' is not a valid header name"},
    {"force_bad_cidr.yaml", "18:38", "force.allow_cidrs: '10.0.0.0/33' is not a valid CIDR"},
    {"force_host_bits.yaml", "19:15", "force.allow_cidrs: '10.1.2.3/8' has bits set after the /8 prefix (did you mean '10.0.0.0/8'?)"},
    {"force_no_source.yaml", "16:16", "force: needs 'header' and/or 'cookie'"},
    {"writes_bad_duration.yaml", "16:32", "writes.hold_timeout: expected a duration like 500ms, 5s or 1m"},
    {"writes_timeout_exceeds_max.yaml", "18:25", "writes.hold_timeout (2m) must not exceed writes.hold_max (30s)"},
    {"writes_max_held.yaml", "16:28", "writes.max_held: expected an integer from 1 to 1000000, got '0'"},
    {"mirror_percent_precision.yaml", "17:20", "mirror.percent: '5.555' is finer than the 0.01 step percentages allow"},
    {"mirror_missing_percent.yaml", "16:9", "mirror.percent is required"},
    {"mirror_unknown_key.yaml", "18:11", "unknown key 'method' in mirror of route 'app' (did you mean 'methods'?)"},
    {"mirror_lowercase_method.yaml", "16:45", "mirror.methods: 'post': methods are case-sensitive (RFC 9110 §9.1); write POST, not post"},
    {"mirror_max_in_flight.yaml", "18:26", "mirror.max_in_flight: expected an integer from 1 to 1000000, got '0'"},
    {"mirror_compare_unknown_key.yaml", "18:21",
     "unknown key 'ignore_header' in mirror.compare of route 'app' (did you mean 'ignore_headers'?)"},
    {"mirror_log_no_path.yaml", "2:1", "mirror_log.path is required"},
    {"upgrade_h2c.yaml", "16:13", "upgrade: h2c is not supported as an upgrade (RFC 9113 deprecates it)"},
    {"tcp_upgrade.yaml", "15:9", "'upgrade' is HTTP-only and not allowed in route 'pg' of tcp listener 'db'"},
    {"tunnel_idle_zero.yaml", "3:16", "timeouts.tunnel_idle: must be greater than 0"},
    {"access_log_no_path.yaml", "12:5", "access_log.path is required (a file, or stdout)"},
    {"access_log_unknown_field.yaml", "14:34", "access_log.fields: not an access log field (one of: time request_id"},
    {"request_id_host_bits.yaml", "6:7",
     "request_id.trust_cidrs: '192.168.1.1/16' has bits set after the /16 prefix (did you mean '192.168.0.0/16'?)"},
};

class BadConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, ReportsOneErrorAtItsPosition) {
  const BadCase& c = GetParam();
  const std::string path = kBadDir + "/" + c.file;
  LoadResult r = load_file(path);
  EXPECT_FALSE(r.config.has_value());
  ASSERT_EQ(r.errors.size(), 1u) << "errors:" << dump(r.errors);
  const Diagnostic& d = r.errors[0];
  EXPECT_EQ(d.file, path);
  EXPECT_EQ(pos(d), c.position) << d.str();
  EXPECT_NE(d.message.find(c.message), std::string::npos) << d.str();
  EXPECT_EQ(d.str(), path + ":" + c.position + ": " + d.message);
}

INSTANTIATE_TEST_SUITE_P(Files, BadConfig, ::testing::ValuesIn(kBadCases),
                         [](const ::testing::TestParamInfo<BadCase>& param_info) {
                           std::string n = fs::path(param_info.param.file).stem().string();
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// A file dropped into bad/ without a row in the table would silently go untested.
TEST(BadConfigTable, CoversEveryFileInBadDir) {
  std::set<std::string> in_table;
  for (const auto& c : kBadCases) in_table.insert(c.file);
  std::set<std::string> on_disk;
  for (const auto& e : fs::directory_iterator(kBadDir))
    if (e.path().extension() == ".yaml") on_disk.insert(e.path().filename().string());
  EXPECT_EQ(in_table, on_disk);
  EXPECT_GE(on_disk.size(), 12u);
}

// ---- several problems at once --------------------------------------------------------------------

TEST(LoadFile, ReportsEveryProblemInFileOrder) {
  const std::string path = kTestData + "/config/many_errors.yaml";
  LoadResult r = load_file(path);
  EXPECT_FALSE(r.config.has_value());
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"2:10", "workers: expected a non-negative integer"},
      {"4:11", "admin.listen must be loopback"},
      {"7:35", "port must be 1..65535"},
      {"8:22", "connect_timeout: expected a duration"},
      {"10:16", "endpoints: must list at least one"},
      {"17:17", "unknown cluster 'clod'"},
      {"18:17", "weight: expected a percentage from 0 to 100, got '150'"},
      {"19:22", "finer than the 0.01 step"},
      {"20:42", "mirror.methods: 'get': methods are case-sensitive"},
      {"21:9", "unknown key 'colour' in route 'app'"},
      {"22:9", "route 'app' is missing 'target'"},
      {"22:15", "duplicate route name 'app'"},
      {"23:30", "match.path_prefix: must start with '/'"},
  };
  ASSERT_EQ(r.errors.size(), expected.size()) << "errors:" << dump(r.errors);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(pos(r.errors[i]), expected[i].first) << r.errors[i].str();
    EXPECT_NE(r.errors[i].message.find(expected[i].second), std::string::npos) << r.errors[i].str();
  }
}

// ---- file-level failures -------------------------------------------------------------------------

TEST(LoadFile, MissingFileIsOneErrorAtZeroZeroNamingTheOsError) {
  const std::string path = kTestData + "/config/does-not-exist.yaml";
  LoadResult r = load_file(path);
  EXPECT_FALSE(r.config.has_value());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, path);
  EXPECT_EQ(r.errors[0].mark.line, 0);
  EXPECT_EQ(r.errors[0].mark.col, 0);
  EXPECT_NE(r.errors[0].message.find("No such file or directory"), std::string::npos) << r.errors[0].str();
  EXPECT_EQ(r.errors[0].str().rfind(path + ":0:0: ", 0), 0u) << r.errors[0].str();
}

TEST(LoadFile, DirectoryIsUnreadable) {
  LoadResult r = load_file(kTestData);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(pos(r.errors[0]), "0:0");
  EXPECT_NE(r.errors[0].message.find("Is a directory"), std::string::npos) << r.errors[0].str();
}

TEST(LoadString, EmptyAndCommentOnlyConfigsAreErrors) {
  for (const char* yaml : {"", "# nothing here\n", "~\n"}) {
    LoadResult r = load_string(yaml, "empty.yaml");
    EXPECT_FALSE(r.config.has_value()) << yaml;
    ASSERT_EQ(r.errors.size(), 1u) << yaml << dump(r.errors);
    EXPECT_NE(r.errors[0].message.find("config is empty"), std::string::npos);
  }
}

TEST(LoadString, SecondDocumentIsAnError) {
  LoadResult r = load_string(config_with("") + "---\nworkers: 2\n", "two.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_EQ(r.errors[0].mark.line, 11);  // the '---' that starts it
  EXPECT_NE(r.errors[0].message.find("single YAML document"), std::string::npos);
}

// yaml-cpp 0.7's LoadAll() never returns on these (upstream bug jbeder/yaml-cpp#1040, found by
// fuzz/config_fuzz.cpp): the loader must answer with an error instead.
TEST(LoadString, InputsThatHangYamlCppLoadAllAreErrors) {
  for (const char* text : {",", "a: 1\n,", "[1]\n,\n"}) {
    LoadResult r = load_string(text, "hang.yaml");
    EXPECT_FALSE(r.errors.empty()) << text;
  }
}

TEST(Diagnostic, StrIsFileLineColMessage) {
  Diagnostic d{"etc/cutover.yaml", {3, 7}, "unknown key 'x' in route"};
  EXPECT_EQ(d.str(), "etc/cutover.yaml:3:7: unknown key 'x' in route");
}

// ---- good configs ----------------------------------------------------------------------------------

TEST(GoodConfig, ExampleFileLoads) {
  LoadResult r = load_file(kExample);
  ASSERT_TRUE(r.errors.empty()) << dump(r.errors);
  EXPECT_TRUE(r.warnings.empty()) << dump(r.warnings);
  ASSERT_TRUE(r.config);
  const Config& c = *r.config;
  EXPECT_EQ(c.path, kExample);
  EXPECT_EQ(c.workers, 0u);
  EXPECT_EQ(c.drain_timeout, Millis(30000));
  EXPECT_EQ(c.admin.listen.host, "127.0.0.1");
  EXPECT_EQ(c.admin.listen.port, 9901);
  EXPECT_TRUE(c.admin.tokens_file.empty());

  // Relative paths resolve against the example's directory, as an absolute path.
  const fs::path dir = fs::absolute(fs::path(kExample)).lexically_normal().parent_path();
  EXPECT_EQ(c.state_file, (dir / "cutover-state.json").string());
  EXPECT_EQ(c.audit_log, (dir / "cutover-audit.jsonl").string());

  ASSERT_EQ(c.clusters.size(), 2u);
  EXPECT_EQ(c.clusters[0].name, "legacy");
  ASSERT_EQ(c.clusters[0].endpoints.size(), 1u);
  EXPECT_EQ(c.clusters[0].endpoints[0].port, 9001);
  EXPECT_EQ(c.clusters[1].name, "cloud");
  EXPECT_EQ(c.clusters[1].endpoints[0].port, 9002);
  ASSERT_NE(c.find_cluster("cloud"), nullptr);

  ASSERT_EQ(c.listeners.size(), 1u);
  const ListenerConfig& l = c.listeners[0];
  EXPECT_EQ(l.name, "public");
  EXPECT_EQ(l.address.text, "127.0.0.1:8080");
  EXPECT_EQ(l.address.port, 8080);
  EXPECT_EQ(l.protocol, "http");
  ASSERT_EQ(l.routes.size(), 1u);
  const RouteConfig& rt = l.routes[0];
  EXPECT_EQ(rt.name, "app");
  EXPECT_EQ(rt.host, "*");
  EXPECT_EQ(rt.path_prefix, "/");
  EXPECT_EQ(rt.source, "legacy");
  EXPECT_EQ(rt.target, "cloud");
  EXPECT_EQ(rt.read_weight_bp, 0u);
  EXPECT_EQ(rt.write_weight_bp, 0u);

  EXPECT_EQ(c.mirror_log.path, (dir / "cutover-mirror.jsonl").string());
  EXPECT_EQ(c.mirror_log.max_size, 10u * 1024 * 1024);
  EXPECT_EQ(c.mirror_log.max_files, 3u);
  EXPECT_TRUE(rt.mirror.enabled);
  EXPECT_EQ(rt.mirror.percent_bp, 1000u);
  EXPECT_EQ(rt.mirror.methods, (std::vector<std::string>{"GET", "HEAD"}));
  EXPECT_EQ(rt.mirror.compare.ignore_headers, (std::vector<std::string>{"date", "server"}));
  EXPECT_EQ(rt.mirror.compare.ignore_json_fields, (std::vector<std::string>{"timestamp", "request_id"}));
  EXPECT_EQ(rt.mirror.compare.noise_sample_bp, 0u);
}

TEST(GoodConfig, DefaultsWhenKeysAreAbsent) {
  Config c = must_load(config_with(""));
  EXPECT_EQ(c.workers, 0u);
  EXPECT_EQ(c.drain_timeout, Millis(30000));
  EXPECT_EQ(c.admin.listen.text, "127.0.0.1:9901");
  EXPECT_TRUE(c.state_file.empty());
  EXPECT_EQ(c.clusters[0].connect_timeout, Millis(5000));
  EXPECT_EQ(c.clusters[0].response_timeout, Millis(30000));
  const RouteConfig& r = c.listeners[0].routes[0];
  EXPECT_EQ(r.host, "*");
  EXPECT_EQ(r.path_prefix, "/");
  EXPECT_EQ(r.read_weight_bp, 0u);
  EXPECT_EQ(r.write_weight_bp, 0u);
}

TEST(GoodConfig, WeightSetsBothSides) {
  const RouteConfig r = must_load(config_with("        weight: 12.5\n")).listeners[0].routes[0];
  EXPECT_EQ(r.read_weight_bp, 1250u);
  EXPECT_EQ(r.write_weight_bp, 1250u);
}

TEST(GoodConfig, ReadAndWriteWeightsOverrideWeightWhereverTheyAppear) {
  // As in SPEC's example: all three given, the specific ones win.
  RouteConfig r = must_load(config_with("        weight: 10\n        read_weight: 25\n        write_weight: 0\n"))
                      .listeners[0].routes[0];
  EXPECT_EQ(r.read_weight_bp, 2500u);
  EXPECT_EQ(r.write_weight_bp, 0u);

  // Order does not matter, and the one not overridden keeps `weight`.
  r = must_load(config_with("        read_weight: 10.25\n        weight: 5\n")).listeners[0].routes[0];
  EXPECT_EQ(r.read_weight_bp, 1025u);
  EXPECT_EQ(r.write_weight_bp, 500u);

  r = must_load(config_with("        write_weight: 100\n")).listeners[0].routes[0];
  EXPECT_EQ(r.read_weight_bp, 0u);
  EXPECT_EQ(r.write_weight_bp, 10000u);
}

TEST(GoodConfig, WeightBoundsAndSteps) {
  for (auto [text, bp] : std::vector<std::pair<std::string, std::uint32_t>>{
           {"0", 0}, {"100", 10000}, {"0.01", 1}, {"99.99", 9999}, {"10.25", 1025}, {"1.50", 150}}) {
    EXPECT_EQ(must_load(config_with("        weight: " + text + "\n")).listeners[0].routes[0].read_weight_bp, bp)
        << text;
  }
  for (const char* bad : {"101", "-1", "10.255", "100.01", "ten", "1e1", "50%", "[10]", "true", "\"\""}) {
    LoadResult r = load_string(config_with(std::string("        weight: ") + bad + "\n"), "w.yaml");
    ASSERT_EQ(r.errors.size(), 1u) << bad << dump(r.errors);
    EXPECT_EQ(pos(r.errors[0]), "11:17") << bad;
  }
}

TEST(GoodConfig, DurationsAndWorkersParse) {
  Config c = must_load(
      "workers: 4\n"
      "drain_timeout: 0s\n"
      "clusters:\n"
      "  legacy:\n"
      "    endpoints: [\"127.0.0.1:9001\", \"[::1]:9001\", \"legacy.internal:443\"]\n"
      "    connect_timeout: 250ms\n"
      "    response_timeout: 2m\n"
      "  cloud: {endpoints: [\"127.0.0.1:9002\"], connect_timeout: 3s}\n"
      "listeners:\n"
      "  - {name: public, address: \"[::1]:0\", protocol: http,\n"
      "     routes: [{name: app, source: legacy, target: cloud}]}\n");
  EXPECT_EQ(c.workers, 4u);
  EXPECT_EQ(c.drain_timeout, Millis(0));
  EXPECT_EQ(c.clusters[0].connect_timeout, Millis(250));
  EXPECT_EQ(c.clusters[0].response_timeout, Millis(120000));
  EXPECT_EQ(c.clusters[1].connect_timeout, Millis(3000));
  EXPECT_EQ(c.clusters[1].response_timeout, Millis(30000));
  ASSERT_EQ(c.clusters[0].endpoints.size(), 3u);
  EXPECT_EQ(c.clusters[0].endpoints[1].host, "::1");
  EXPECT_EQ(c.clusters[0].endpoints[1].port, 9001);
  EXPECT_EQ(c.clusters[0].endpoints[2].host, "legacy.internal");
  EXPECT_EQ(c.clusters[0].endpoints[0].mark.line, 5);
  EXPECT_EQ(c.listeners[0].address.host, "::1");
  EXPECT_EQ(c.listeners[0].address.port, 0);
}

TEST(GoodConfig, ZeroTimeoutsAreRejectedButZeroDrainIsNot) {
  LoadResult r = load_string(
      "clusters:\n"
      "  legacy: {endpoints: [\"127.0.0.1:9001\"], connect_timeout: 0s}\n"
      "  cloud: {endpoints: [\"127.0.0.1:9002\"]}\n"
      "listeners: [{name: l, address: \"127.0.0.1:0\", routes: [{name: a, source: legacy, target: cloud}]}]\n",
      "t.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_EQ(pos(r.errors[0]), "2:60");
  EXPECT_NE(r.errors[0].message.find("connect_timeout: must be greater than 0"), std::string::npos);
}

TEST(GoodConfig, MatchHostIsLowerCased) {
  const RouteConfig r =
      must_load(config_with("        match: {host: API.Example.COM, path_prefix: /v1/}\n")).listeners[0].routes[0];
  EXPECT_EQ(r.host, "api.example.com");
  EXPECT_EQ(r.path_prefix, "/v1/");
}

TEST(GoodConfig, MatchHostWithPortIsRejected) {
  LoadResult r = load_string(config_with("        match: {host: \"example.com:80\"}\n"), "t.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_NE(r.errors[0].message.find("match.host"), std::string::npos);
}

TEST(GoodConfig, RelativePathsResolveAgainstTheConfigName) {
  const std::string paths =
      "admin: {listen: \"0.0.0.0:9901\", tokens_file: tokens.txt}\n"
      "state_file: state/cutover-state.json\n"
      "audit_log: /var/log/cutover-audit.jsonl\n";
  Config c = must_load(config_with("", paths), "/etc/cutover/cutover.yaml");
  EXPECT_EQ(c.admin.tokens_file, "/etc/cutover/tokens.txt");
  EXPECT_EQ(c.state_file, "/etc/cutover/state/cutover-state.json");
  EXPECT_EQ(c.audit_log, "/var/log/cutover-audit.jsonl");

  c = must_load(config_with("", paths), "conf/sub/../cutover.yaml");
  EXPECT_EQ(c.admin.tokens_file, "conf/tokens.txt");

  // A bare file name has no directory to resolve against: the path stays as written.
  c = must_load(config_with("", paths), "cutover.yaml");
  EXPECT_EQ(c.admin.tokens_file, "tokens.txt");
}

TEST(GoodConfig, AdminMayListenAnywhereWithTokens) {
  Config c = must_load(config_with("", "admin: {listen: \"0.0.0.0:9901\", tokens_file: /etc/t}\n"));
  EXPECT_EQ(c.admin.listen.host, "0.0.0.0");
  for (const char* loopback : {"127.0.0.1:9901", "127.9.9.9:1", "\"[::1]:9901\"", "localhost:9901", "127.0.0.1:0"})
    must_load(config_with("", std::string("admin: {listen: ") + loopback + "}\n"));
  for (const char* open : {"0.0.0.0:9901", "10.1.2.3:9901", "\"[::]:9901\"", "admin.example.com:9901"}) {
    LoadResult r = load_string(config_with("", std::string("admin: {listen: ") + open + "}\n"), "t.yaml");
    ASSERT_EQ(r.errors.size(), 1u) << open << dump(r.errors);
    EXPECT_EQ(pos(r.errors[0]), "1:17") << open;
    EXPECT_EQ(r.errors[0].message, "admin.listen must be loopback when no tokens_file is set");
  }
}

TEST(GoodConfig, PortZeroListenersMayShareAnAddress) {
  must_load(
      "clusters: {a: {endpoints: [\"127.0.0.1:1\"]}, b: {endpoints: [\"127.0.0.1:2\"]}}\n"
      "listeners:\n"
      "  - {name: one, address: \"127.0.0.1:0\", routes: [{name: r1, source: a, target: b}]}\n"
      "  - {name: two, address: \"127.0.0.1:0\", routes: [{name: r2, source: b, target: a}]}\n");
}

TEST(BadConfigInline, WildcardListenerCollidesWithSpecificAddressAndAdmin) {
  LoadResult r = load_string(
      "clusters: {a: {endpoints: [\"127.0.0.1:1\"]}, b: {endpoints: [\"127.0.0.1:2\"]}}\n"
      "listeners:\n"
      "  - {name: one, address: \"127.0.0.1:8080\", routes: [{name: r1, source: a, target: b}]}\n"
      "  - {name: two, address: \"0.0.0.0:8080\", routes: [{name: r2, source: a, target: b}]}\n"
      "  - {name: three, address: \"127.0.0.1:9901\", routes: [{name: r3, source: a, target: b}]}\n",
      "t.yaml");
  ASSERT_EQ(r.errors.size(), 2u) << dump(r.errors);
  EXPECT_EQ(pos(r.errors[0]), "4:26");
  EXPECT_NE(r.errors[0].message.find("already used by listener 'one'"), std::string::npos);
  EXPECT_EQ(pos(r.errors[1]), "5:28");
  EXPECT_NE(r.errors[1].message.find("already used by the admin API"), std::string::npos);
}

// ---- sticky, force, writes ------------------------------------------------------------------------

// The first error's "LINE:COL message" for one route extra, or "" when it loads.
std::string first_error_of(const std::string& route_extra) {
  LoadResult r = load_string(config_with(route_extra), "t.yaml");
  if (r.errors.empty()) return "";
  EXPECT_EQ(r.errors.size(), 1u) << route_extra << dump(r.errors);
  return pos(r.errors[0]) + " " + r.errors[0].message;
}

TEST(GoodConfig, StickySourcesKeepTheOrderTheyAreWrittenIn) {
  using K = StickySource::Kind;
  RouteConfig r = must_load(config_with(
                                "        sticky: {header: X-User-Id, cookie: uid, client_ip: true,\n"
                                "                 pin_cookie: cutover_bucket, pin_max_age: 30d}\n"))
                      .listeners[0].routes[0];
  ASSERT_EQ(r.sticky.sources.size(), 3u);
  EXPECT_EQ(r.sticky.sources[0].kind, K::header);
  EXPECT_EQ(r.sticky.sources[0].name, "X-User-Id");  // kept as written
  EXPECT_EQ(r.sticky.sources[1].kind, K::cookie);
  EXPECT_EQ(r.sticky.sources[1].name, "uid");
  EXPECT_EQ(r.sticky.sources[2].kind, K::client_ip);
  EXPECT_EQ(r.sticky.sources[2].name, "");
  EXPECT_TRUE(r.sticky.enabled());
  EXPECT_EQ(r.sticky.pin_cookie, "cutover_bucket");
  EXPECT_EQ(r.sticky.pin_max_age, Millis(30LL * 24 * 3600 * 1000));

  // The same keys the other way round give the sources the other way round.
  r = must_load(config_with("        sticky:\n"
                            "          client_ip: true\n"
                            "          pin_cookie: b\n"
                            "          cookie: session\n"
                            "          header: X-Account\n"))
          .listeners[0].routes[0];
  ASSERT_EQ(r.sticky.sources.size(), 3u);
  EXPECT_EQ(r.sticky.sources[0].kind, K::client_ip);
  EXPECT_EQ(r.sticky.sources[1].kind, K::cookie);
  EXPECT_EQ(r.sticky.sources[1].name, "session");
  EXPECT_EQ(r.sticky.sources[2].kind, K::header);
  EXPECT_EQ(r.sticky.sources[2].name, "X-Account");
  EXPECT_EQ(r.sticky.pin_cookie, "b");
  EXPECT_EQ(r.sticky.pin_max_age, Millis(30LL * 24 * 3600 * 1000));  // the default

  r = must_load(config_with("        sticky: {cookie: uid, header: X-User-Id}\n")).listeners[0].routes[0];
  ASSERT_EQ(r.sticky.sources.size(), 2u);
  EXPECT_EQ(r.sticky.sources[0].kind, K::cookie);
  EXPECT_EQ(r.sticky.sources[1].kind, K::header);
}

TEST(GoodConfig, SpecStickyExamplesLoad) {
  // SPEC's route example and its tcp route's `sticky: {client_ip: true}`.
  RouteConfig r = must_load(config_with("        sticky: {header: X-User-Id, cookie: cutover_side}\n"))
                      .listeners[0].routes[0];
  ASSERT_EQ(r.sticky.sources.size(), 2u);
  EXPECT_TRUE(r.sticky.pin_cookie.empty());

  r = must_load(config_with("        sticky: {client_ip: true}\n")).listeners[0].routes[0];
  ASSERT_EQ(r.sticky.sources.size(), 1u);
  EXPECT_EQ(r.sticky.sources[0].kind, StickySource::Kind::client_ip);

  // client_ip: false is allowed and adds nothing.
  r = must_load(config_with("        sticky: {client_ip: false, header: X-User-Id}\n")).listeners[0].routes[0];
  ASSERT_EQ(r.sticky.sources.size(), 1u);
  EXPECT_EQ(r.sticky.sources[0].kind, StickySource::Kind::header);

  // Any RFC 9110 token is a header name.
  r = must_load(config_with("        sticky: {header: \"x-a!#$%&'*+.^_`|~9\"}\n")).listeners[0].routes[0];
  EXPECT_EQ(r.sticky.sources[0].name, "x-a!#$%&'*+.^_`|~9");
}

TEST(GoodConfig, StickyForceAndWritesAreOffByDefault) {
  const RouteConfig r = must_load(config_with("")).listeners[0].routes[0];
  EXPECT_FALSE(r.sticky.enabled());
  EXPECT_TRUE(r.sticky.pin_cookie.empty());
  EXPECT_FALSE(r.force.enabled());
  EXPECT_TRUE(r.force.allow_cidrs.empty());
  EXPECT_EQ(r.writes.hold_timeout, Millis(5000));
  EXPECT_EQ(r.writes.hold_max, Millis(60000));
  EXPECT_EQ(r.writes.max_held, 10000u);
}

TEST(GoodConfig, PinMaxAgeTakesHoursAndDays) {
  for (auto [text, ms] : std::vector<std::pair<std::string, long long>>{
           {"30d", 30LL * 86400000}, {"12h", 12LL * 3600000}, {"90m", 90LL * 60000}, {"3600s", 3600000}, {"1s", 1000}}) {
    const RouteConfig r =
        must_load(config_with("        sticky: {header: X-User-Id, pin_cookie: b, pin_max_age: " + text + "}\n"))
            .listeners[0].routes[0];
    EXPECT_EQ(r.sticky.pin_max_age, Millis(ms)) << text;
  }
}

TEST(GoodConfig, ForceReadsHeaderCookieAndCanonicalCidrs) {
  LoadResult res = load_string(
      config_with("        force:\n"
                  "          header: X-Cutover-Side\n"
                  "          cookie: cutover_force\n"
                  "          allow_cidrs: [127.0.0.0/8, \"::1/128\", 10.1.2.3, \"2001:DB8:0:0::/32\",\n"
                  "                        0.0.0.0/32, \"::ffff:10.0.0.0/104\", 192.168.0.0/16]\n"),
      "t.yaml");
  ASSERT_TRUE(res.errors.empty()) << dump(res.errors);
  EXPECT_TRUE(res.warnings.empty()) << dump(res.warnings);
  const RouteConfig& r = res.config->listeners[0].routes[0];
  EXPECT_TRUE(r.force.enabled());
  EXPECT_EQ(r.force.header, "X-Cutover-Side");
  EXPECT_EQ(r.force.cookie, "cutover_force");
  // Always ADDR/PREFIX: a bare address is one host (/32, /128).
  EXPECT_EQ(r.force.allow_cidrs,
            (std::vector<std::string>{"127.0.0.0/8", "::1/128", "10.1.2.3/32", "2001:db8::/32", "0.0.0.0/32",
                                      "::ffff:10.0.0.0/104", "192.168.0.0/16"}));

  // Header only, or cookie only, is enough.
  EXPECT_EQ(first_error_of("        force: {header: X-Cutover-Side, allow_cidrs: [127.0.0.0/8]}\n"), "");
  EXPECT_EQ(first_error_of("        force: {cookie: side, allow_cidrs: [\"::1\"]}\n"), "");
  const RouteConfig c =
      must_load(config_with("        force: {cookie: side, allow_cidrs: [\"::1\"]}\n")).listeners[0].routes[0];
  EXPECT_TRUE(c.force.enabled());
  EXPECT_TRUE(c.force.header.empty());
  EXPECT_EQ(c.force.allow_cidrs, std::vector<std::string>{"::1/128"});
}

TEST(Warnings, ForceWithoutAllowCidrsIsNeverHonoured) {
  for (const auto& [extra, position] : std::vector<std::pair<std::string, std::string>>{
           {"        force: {header: X-Cutover-Side}\n", "11:16"},
           {"        force: {header: X-Cutover-Side, allow_cidrs: []}\n", "11:54"},
           {"        force:\n          header: X-Cutover-Side\n          allow_cidrs:\n", "13:11"}}) {
    LoadResult r = load_string(config_with(extra), "t.yaml");
    ASSERT_TRUE(r.errors.empty()) << extra << dump(r.errors);
    ASSERT_TRUE(r.config);
    EXPECT_TRUE(r.config->listeners[0].routes[0].force.enabled());
    ASSERT_EQ(r.warnings.size(), 1u) << extra << dump(r.warnings);
    EXPECT_EQ(pos(r.warnings[0]), position) << extra;
    EXPECT_EQ(r.warnings[0].message, "force is never honoured: allow_cidrs is empty");
  }
}

TEST(Warnings, SuspiciousStickyAndForceSettings) {
  auto warnings_of = [](const std::string& extra) {
    LoadResult r = load_string(config_with(extra), "t.yaml");
    EXPECT_TRUE(r.errors.empty()) << extra << dump(r.errors);
    std::vector<std::string> out;
    for (const auto& w : r.warnings) out.push_back(pos(w) + " " + w.message);
    return out;
  };
  EXPECT_EQ(warnings_of("        sticky: {header: X-User-Id, pin_max_age: 1d}\n"),
            std::vector<std::string>{"11:50 sticky.pin_max_age has no effect without sticky.pin_cookie"});
  EXPECT_EQ(warnings_of("        sticky: {header: X-User-Id, pin_cookie: b, pin_max_age: 401d}\n"),
            std::vector<std::string>{"11:65 sticky.pin_max_age: browsers cap cookie lifetimes at 400d"});
  EXPECT_EQ(warnings_of("        force: {header: X, allow_cidrs: [10.0.0.0/8, 10.0.0.0/8]}\n"),
            std::vector<std::string>{"11:54 force.allow_cidrs: '10.0.0.0/8' is listed twice"});
  EXPECT_EQ(warnings_of("        force: {header: X, allow_cidrs: [0.0.0.0/0]}\n"),
            std::vector<std::string>{"11:42 force.allow_cidrs: '0.0.0.0/0' allows every IPv4 client to force a side"});
}

TEST(BadConfigInline, AllowCidrsRejectsWhatIsNotACidr) {
  for (const char* bad : {"10.0.0.0/33", "\"::/129\"", "10.0.0.0/", "10.0.0/8", "10.0.0.0/8/8", "010.0.0.0/8",
                          "10.0.0.0/08", "\"[::1]/128\"", "\"fe80::1%eth0/64\"", "localhost/32", "\"10.0.0.0 /8\"",
                          "\"\"", "10.0.0.0/-1", "10.0.0.0/+8", "/8", "10.0.0.0/1000", "\"::1/\"", "1.2.3.4.5"}) {
    // Each bad item is reported at its own position, after a good one.
    const std::string extra =
        std::string("        force: {header: X, allow_cidrs: [127.0.0.0/8, ") + bad + "]}\n";
    std::string unquoted = bad;
    if (unquoted.size() >= 2 && unquoted.front() == '"') unquoted = unquoted.substr(1, unquoted.size() - 2);
    EXPECT_EQ(first_error_of(extra), "11:55 force.allow_cidrs: '" + unquoted +
                                         "' is not a valid CIDR (an IPv4 or IPv6 address, optionally /PREFIX)")
        << bad;
  }
  EXPECT_EQ(first_error_of("        force: {header: X, allow_cidrs: 127.0.0.0/8}\n"),
            "11:41 force.allow_cidrs: expected a list of CIDRs like [127.0.0.0/8, \"::1/128\"]");
  EXPECT_EQ(first_error_of("        force: {header: X, allow_cidrs: [{a: b}]}\n"),
            "11:42 force.allow_cidrs: expected a CIDR such as 10.0.0.0/8 or \"::1/128\"");
  EXPECT_EQ(first_error_of("        force: {header: X, allow_cidrs: [\"2001:db8::1/32\"]}\n"),
            "11:42 force.allow_cidrs: '2001:db8::1/32' has bits set after the /32 prefix (did you mean "
            "'2001:db8::/32'?)");
}

TEST(BadConfigInline, StickyAndForceValues) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"        sticky: {header: \"\"}\n", "11:26 sticky.header: '' is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"},
      {"        sticky: {header: \"X-User:Id\"}\n", "11:26 sticky.header: 'X-User:Id' is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"},
      {"        sticky: {cookie: \"a;b\"}\n", "11:26 sticky.cookie: 'a;b' is not a valid cookie name (letters, digits and !#$%&'*+-.^_`|~ only)"},
      {"        sticky: {cookie: [uid]}\n", "11:26 sticky.cookie: expected cookie name"},
      {"        sticky: {client_ip: yes}\n", "11:29 sticky.client_ip: expected true or false, got 'yes'"},
      {"        sticky: {client_ip: 1}\n", "11:29 sticky.client_ip: expected true or false, got '1'"},
      {"        sticky: {header: X, pin_cookie: \"a b\"}\n", "11:41 sticky.pin_cookie: 'a b' is not a valid cookie name (letters, digits and !#$%&'*+-.^_`|~ only)"},
      {"        sticky: {header: X, pin_max_age: 30}\n", "11:42 sticky.pin_max_age: expected a duration like 12h, 30d or 3600s"},
      {"        sticky: {header: X, pin_max_age: 1.5d}\n", "11:42 sticky.pin_max_age: expected a duration like 12h, 30d or 3600s"},
      {"        sticky: {header: X, pin_max_age: 0s}\n", "11:42 sticky.pin_max_age: must be at least 1s"},
      {"        sticky: {header: X, pin_max_age: 999ms}\n", "11:42 sticky.pin_max_age: must be at least 1s"},
      {"        sticky: X-User-Id\n", "11:17 sticky: expected a mapping with 'header', 'cookie' and/or 'client_ip: true'"},
      {"        sticky:\n", "11:9 sticky: expected a mapping with 'header', 'cookie' and/or 'client_ip: true'"},
      {"        sticky: {}\n", "11:17 sticky: needs at least one key source: 'header', 'cookie' or 'client_ip: true'"},
      {"        sticky: {pin_cookie: b}\n", "11:17 sticky: needs at least one key source: 'header', 'cookie' or 'client_ip: true'"},
      {"        sticky: {header: X, header: Y}\n", "11:29 duplicate key 'header' in sticky of route 'app' (first at 11:18)"},
      {"        sticky: {header: X, ip: true}\n", "11:29 unknown key 'ip' in sticky of route 'app'"},
      {"        force: {header: \"X Side\", allow_cidrs: [127.0.0.0/8]}\n", "11:25 force.header: 'X Side' is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"},
      {"        force: {allow_cidrs: []}\n", "11:16 force: needs 'header' and/or 'cookie' to read the side from"},
      {"        force: []\n", "11:16 force: expected a mapping with 'header' and/or 'cookie', and 'allow_cidrs'"},
      {"        force: {header: X, allow_cidr: [127.0.0.0/8]}\n", "11:28 unknown key 'allow_cidr' in force of route 'app' (did you mean 'allow_cidrs'?)"},
  };
  for (const auto& [extra, expected] : cases) EXPECT_EQ(first_error_of(extra), expected) << extra;
}

TEST(GoodConfig, WritesParse) {
  RouteConfig r = must_load(config_with("        writes: {hold_timeout: 250ms, hold_max: 2m, max_held: 1}\n"))
                      .listeners[0].routes[0];
  EXPECT_EQ(r.writes.hold_timeout, Millis(250));
  EXPECT_EQ(r.writes.hold_max, Millis(120000));
  EXPECT_EQ(r.writes.max_held, 1u);

  // SPEC's example; equal timeout and max are fine; one key leaves the others at their defaults.
  r = must_load(config_with("        writes: {hold_timeout: 5s, hold_max: 60s, max_held: 10000}\n")).listeners[0].routes[0];
  EXPECT_EQ(r.writes.hold_timeout, Millis(5000));
  EXPECT_EQ(r.writes.hold_max, Millis(60000));
  EXPECT_EQ(r.writes.max_held, 10000u);
  r = must_load(config_with("        writes: {hold_timeout: 1m, hold_max: 60s}\n")).listeners[0].routes[0];
  EXPECT_EQ(r.writes.hold_timeout, r.writes.hold_max);
  r = must_load(config_with("        writes: {max_held: 1000000}\n")).listeners[0].routes[0];
  EXPECT_EQ(r.writes.max_held, 1000000u);
  EXPECT_EQ(r.writes.hold_timeout, Millis(5000));
  EXPECT_EQ(r.writes.hold_max, Millis(60000));
  r = must_load(config_with("        writes: {hold_max: 10m}\n")).listeners[0].routes[0];
  EXPECT_EQ(r.writes.hold_max, Millis(600000));
}

TEST(BadConfigInline, WritesValues) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"        writes: {hold_timeout: 0s}\n", "11:32 writes.hold_timeout: must be greater than 0"},
      {"        writes: {hold_max: 0ms}\n", "11:28 writes.hold_max: must be greater than 0"},
      {"        writes: {hold_max: 1h}\n", "11:28 writes.hold_max: expected a duration like 500ms, 5s or 1m"},
      {"        writes: {max_held: 1000001}\n", "11:28 writes.max_held: expected an integer from 1 to 1000000, got '1000001'"},
      {"        writes: {max_held: -1}\n", "11:28 writes.max_held: expected an integer from 1 to 1000000, got '-1'"},
      {"        writes: {max_held: 1.5}\n", "11:28 writes.max_held: expected an integer from 1 to 1000000, got '1.5'"},
      {"        writes: {max_held: 99999999999}\n",
       "11:28 writes.max_held: expected an integer from 1 to 1000000, got '99999999999'"},
      {"        writes: {max_held: [1]}\n", "11:28 writes.max_held: expected an integer from 1 to 1000000"},
      // Against the default of the key not written.
      {"        writes: {hold_timeout: 90s}\n",
       "11:32 writes.hold_timeout (90s) must not exceed writes.hold_max (1m, the default)"},
      {"        writes: {hold_max: 1s}\n",
       "11:28 writes.hold_timeout (5s, the default) must not exceed writes.hold_max (1s)"},
      {"        writes: {hold_timeout: 1001ms, hold_max: 1s}\n",
       "11:32 writes.hold_timeout (1001ms) must not exceed writes.hold_max (1s)"},
      {"        writes: 5s\n", "11:17 writes: expected a mapping with 'hold_timeout', 'hold_max' and/or 'max_held'"},
      {"        writes: {hold: 5s}\n", "11:18 unknown key 'hold' in writes of route 'app'"},
  };
  for (const auto& [extra, expected] : cases) EXPECT_EQ(first_error_of(extra), expected) << extra;
}

// ---- mirror and mirror_log ------------------------------------------------------------------------

// "LINE:COL message" of every warning for one route extra (and top-level extra); no errors allowed.
std::vector<std::string> warnings_with(const std::string& route_extra, const std::string& top_extra = "") {
  LoadResult r = load_string(config_with(route_extra, top_extra), "t.yaml");
  EXPECT_TRUE(r.errors.empty()) << route_extra << dump(r.errors);
  std::vector<std::string> out;
  for (const auto& w : r.warnings) out.push_back(pos(w) + " " + w.message);
  return out;
}

TEST(GoodConfig, MirrorFullBlockParses) {
  LoadResult res = load_string(
      config_with("        mirror:\n"
                  "          percent: 12.34\n"
                  "          methods: [GET, OPTIONS, TRACE]\n"
                  "          max_body: 64KiB\n"
                  "          max_in_flight: 50\n"
                  "          timeout: 750ms\n"
                  "          compare:\n"
                  "            ignore_headers: [date, server]\n"
                  "            ignore_json_fields: [timestamp, requestId]\n"
                  "            noise_sample: 2.5\n"),
      "t.yaml");
  ASSERT_TRUE(res.errors.empty()) << dump(res.errors);
  // noise_sample with the one-endpoint source cluster of config_with() warns (tested below).
  ASSERT_EQ(res.warnings.size(), 1u) << dump(res.warnings);
  const MirrorConfig& m = res.config->listeners[0].routes[0].mirror;
  EXPECT_TRUE(m.enabled);
  EXPECT_EQ(m.mark.line, 11);
  EXPECT_EQ(m.mark.col, 9);
  EXPECT_EQ(m.percent_bp, 1234u);
  EXPECT_EQ(m.methods, (std::vector<std::string>{"GET", "OPTIONS", "TRACE"}));
  EXPECT_EQ(m.max_body, 64u * 1024);
  EXPECT_EQ(m.max_in_flight, 50u);
  EXPECT_EQ(m.timeout, Millis(750));
  EXPECT_EQ(m.compare.ignore_headers, (std::vector<std::string>{"date", "server"}));
  EXPECT_EQ(m.compare.ignore_json_fields, (std::vector<std::string>{"timestamp", "requestId"}));  // as written
  EXPECT_EQ(m.compare.noise_sample_bp, 250u);

  // SPEC's example block loads without a warning.
  res = load_string(config_with("        mirror:\n"
                                "          percent: 100\n"
                                "          methods: [GET, HEAD]\n"
                                "          max_body: 1MiB\n"
                                "          max_in_flight: 1000\n"
                                "          timeout: 5s\n"
                                "          compare: {ignore_headers: [date, server], ignore_json_fields: [timestamp, request_id]}\n"),
                    "t.yaml");
  ASSERT_TRUE(res.errors.empty()) << dump(res.errors);
  EXPECT_TRUE(res.warnings.empty()) << dump(res.warnings);
  EXPECT_EQ(res.config->listeners[0].routes[0].mirror.percent_bp, 10000u);
}

TEST(GoodConfig, MirrorDefaults) {
  // No block: off, with the model's defaults.
  RouteConfig r = must_load(config_with("")).listeners[0].routes[0];
  EXPECT_FALSE(r.mirror.enabled);
  EXPECT_EQ(r.mirror.percent_bp, 0u);

  LoadResult res = load_string(config_with("        mirror: {percent: 5}\n"), "t.yaml");
  ASSERT_TRUE(res.errors.empty()) << dump(res.errors);
  EXPECT_TRUE(res.warnings.empty()) << dump(res.warnings);
  const MirrorConfig& m = res.config->listeners[0].routes[0].mirror;
  EXPECT_TRUE(m.enabled);
  EXPECT_EQ(m.percent_bp, 500u);
  EXPECT_EQ(m.methods, (std::vector<std::string>{"GET", "HEAD"}));
  EXPECT_EQ(m.max_body, 1024u * 1024);
  EXPECT_EQ(m.max_in_flight, 1000u);
  EXPECT_EQ(m.timeout, Millis(5000));
  EXPECT_EQ(m.compare.ignore_headers, std::vector<std::string>{"date"});
  EXPECT_TRUE(m.compare.ignore_json_fields.empty());
  EXPECT_EQ(m.compare.noise_sample_bp, 0u);

  // An empty compare keeps its defaults too; no mirror_log is configured.
  const Config c = must_load(config_with("        mirror: {percent: 5, compare: {}}\n"));
  EXPECT_EQ(c.listeners[0].routes[0].mirror.compare.ignore_headers, std::vector<std::string>{"date"});
  EXPECT_TRUE(c.mirror_log.path.empty());
}

TEST(GoodConfig, MirrorValueBounds) {
  auto mirror_of = [](const std::string& block) {
    return must_load(config_with("        mirror: " + block + "\n")).listeners[0].routes[0].mirror;
  };
  for (auto [text, bp] : std::vector<std::pair<std::string, std::uint32_t>>{
           {"0", 0}, {"100", 10000}, {"0.01", 1}, {"99.99", 9999}, {"1.50", 150}}) {
    EXPECT_EQ(mirror_of("{percent: " + text + "}").percent_bp, bp) << text;
    EXPECT_EQ(mirror_of("{percent: 1, compare: {noise_sample: " + text + "}}").compare.noise_sample_bp, bp) << text;
  }
  EXPECT_EQ(mirror_of("{percent: 1, max_body: 0}").max_body, 0u);  // bodiless requests only
  EXPECT_EQ(mirror_of("{percent: 1, max_body: 1GiB}").max_body, 1024u * 1024 * 1024);
  EXPECT_EQ(mirror_of("{percent: 1, max_body: 512}").max_body, 512u);
  EXPECT_EQ(mirror_of("{percent: 1, max_in_flight: 1}").max_in_flight, 1u);
  EXPECT_EQ(mirror_of("{percent: 1, max_in_flight: 1000000}").max_in_flight, 1000000u);
  EXPECT_EQ(mirror_of("{percent: 1, timeout: 1ms}").timeout, Millis(1));
  EXPECT_EQ(mirror_of("{percent: 1, timeout: 10m}").timeout, Millis(600000));
  // Any upper-case token is a method, extension methods included.
  EXPECT_EQ(mirror_of("{percent: 1, methods: [HEAD]}").methods, std::vector<std::string>{"HEAD"});
  // Giving a list replaces the default, and an empty one ignores no header at all.
  EXPECT_TRUE(mirror_of("{percent: 1, compare: {ignore_headers: []}}").compare.ignore_headers.empty());
}

TEST(GoodConfig, MirrorIgnoreHeadersAreLowerCased) {
  const MirrorConfig m =
      must_load(config_with("        mirror: {percent: 1, compare: {ignore_headers: [Date, X-Request-ID, ETAG],\n"
                            "                                       ignore_json_fields: [Trace-ID, \"a b\"]}}\n"))
          .listeners[0].routes[0].mirror;
  EXPECT_EQ(m.compare.ignore_headers, (std::vector<std::string>{"date", "x-request-id", "etag"}));
  // JSON object keys are exact: kept as written.
  EXPECT_EQ(m.compare.ignore_json_fields, (std::vector<std::string>{"Trace-ID", "a b"}));
}

TEST(Warnings, MirroredNonSafeMethodsRunTwice) {
  EXPECT_EQ(warnings_with("        mirror: {percent: 1, methods: [GET, POST, DELETE]}\n"),
            (std::vector<std::string>{
                "11:45 mirror.methods: POST is not safe (RFC 9110 §9.2.1): every mirrored POST is executed a "
                "second time on the other side",
                "11:51 mirror.methods: DELETE is not safe (RFC 9110 §9.2.1): every mirrored DELETE is executed a "
                "second time on the other side"}));
  LoadResult r = load_string(config_with("        mirror: {percent: 1, methods: [GET, POST, DELETE]}\n"), "t.yaml");
  ASSERT_TRUE(r.config);
  // Listed, so mirrored: the warning does not drop them.
  EXPECT_EQ(r.config->listeners[0].routes[0].mirror.methods, (std::vector<std::string>{"GET", "POST", "DELETE"}));

  // Block style: the warning is at the element.
  EXPECT_EQ(warnings_with("        mirror:\n"
                          "          percent: 1\n"
                          "          methods:\n"
                          "            - GET\n"
                          "            - PATCH\n"),
            std::vector<std::string>{"15:15 mirror.methods: PATCH is not safe (RFC 9110 §9.2.1): every mirrored "
                                     "PATCH is executed a second time on the other side"});
  EXPECT_TRUE(warnings_with("        mirror: {percent: 1, methods: [GET, HEAD, OPTIONS, TRACE]}\n").empty());
}

TEST(Warnings, MirrorNamesListedTwice) {
  EXPECT_EQ(warnings_with("        mirror: {percent: 1, methods: [GET, HEAD, GET]}\n"),
            std::vector<std::string>{"11:51 mirror.methods: GET is listed twice"});
  EXPECT_EQ(must_load(config_with("        mirror: {percent: 1, methods: [GET, HEAD, GET]}\n"))
                .listeners[0].routes[0].mirror.methods,
            (std::vector<std::string>{"GET", "HEAD"}));
  // Header names twice in different case are the same header.
  EXPECT_EQ(warnings_with("        mirror: {percent: 1, compare: {ignore_headers: [date, Date]}}\n"),
            std::vector<std::string>{"11:63 mirror.compare.ignore_headers: 'Date' is listed twice"});
}

TEST(Warnings, NoiseSampleNeedsTwoSourceEndpoints) {
  // config_with(): the source cluster 'legacy' has one endpoint.
  EXPECT_EQ(warnings_with("        mirror: {percent: 1, compare: {noise_sample: 5}}\n"),
            std::vector<std::string>{
                "11:54 mirror.compare.noise_sample needs two or more source endpoints; cluster 'legacy' has 1"});
  // 0 is off: nothing to warn about.
  EXPECT_TRUE(warnings_with("        mirror: {percent: 1, compare: {noise_sample: 0}}\n").empty());

  const std::string two_sources =
      "clusters:\n"
      "  legacy: {endpoints: [\"127.0.0.1:9001\", \"127.0.0.1:9003\"]}\n"
      "  cloud: {endpoints: [\"127.0.0.1:9002\"]}\n"
      "listeners:\n"
      "  - name: public\n"
      "    address: 127.0.0.1:8080\n"
      "    routes:\n"
      "      - {name: app, source: legacy, target: cloud, mirror: {percent: 1, compare: {noise_sample: 5}}}\n";
  LoadResult r = load_string(two_sources, "t.yaml");
  ASSERT_TRUE(r.errors.empty()) << dump(r.errors);
  EXPECT_TRUE(r.warnings.empty()) << dump(r.warnings);
  EXPECT_EQ(r.config->listeners[0].routes[0].mirror.compare.noise_sample_bp, 500u);

  // Only the source counts: a target with two endpoints does not help.
  r = load_string(
      "clusters:\n"
      "  legacy: {endpoints: [\"127.0.0.1:9001\"]}\n"
      "  cloud: {endpoints: [\"127.0.0.1:9002\", \"127.0.0.1:9003\"]}\n"
      "listeners:\n"
      "  - name: public\n"
      "    address: 127.0.0.1:8080\n"
      "    routes:\n"
      "      - {name: app, source: legacy, target: cloud, mirror: {percent: 1, compare: {noise_sample: 5}}}\n",
      "t.yaml");
  ASSERT_TRUE(r.errors.empty()) << dump(r.errors);
  ASSERT_EQ(r.warnings.size(), 1u) << dump(r.warnings);
  EXPECT_EQ(pos(r.warnings[0]), "8:97");
  EXPECT_NE(r.warnings[0].message.find("cluster 'legacy' has 1"), std::string::npos) << r.warnings[0].str();

  // The same endpoint twice is still one server (and warned about on its own).
  r = load_string(
      "clusters:\n"
      "  legacy: {endpoints: [\"127.0.0.1:9001\", \"127.0.0.1:9001\"]}\n"
      "  cloud: {endpoints: [\"127.0.0.1:9002\"]}\n"
      "listeners:\n"
      "  - name: public\n"
      "    address: 127.0.0.1:8080\n"
      "    routes:\n"
      "      - {name: app, source: legacy, target: cloud, mirror: {percent: 1, compare: {noise_sample: 5}}}\n",
      "t.yaml");
  ASSERT_EQ(r.warnings.size(), 2u) << dump(r.warnings);
  EXPECT_NE(r.warnings[1].message.find("cluster 'legacy' has 1"), std::string::npos) << r.warnings[1].str();

  // An unknown source is an error of its own, without a noise warning on top.
  r = load_string(config_with("        mirror: {percent: 1, compare: {noise_sample: 5}}\n").replace(
                      config_with("").find("source: legacy") + 8, 6, "nosuch"),
                  "t.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_NE(r.errors[0].message.find("unknown cluster 'nosuch'"), std::string::npos);
  for (const auto& w : r.warnings) EXPECT_EQ(w.message.find("noise_sample"), std::string::npos) << w.str();
}

TEST(BadConfigInline, MirrorValues) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"        mirror: {}\n", "11:9 mirror.percent is required (the share of requests mirrored, 0 to 100)"},
      {"        mirror: {max_body: 1KiB}\n", "11:9 mirror.percent is required (the share of requests mirrored, 0 to 100)"},
      {"        mirror:\n", "11:9 mirror: expected a mapping with 'percent' and optionally 'methods', 'max_body', "
                            "'max_in_flight', 'timeout' and 'compare'"},
      {"        mirror: 10\n", "11:17 mirror: expected a mapping with 'percent' and optionally 'methods', "
                               "'max_body', 'max_in_flight', 'timeout' and 'compare'"},
      {"        mirror: {percent: 101}\n", "11:27 mirror.percent: expected a percentage from 0 to 100, got '101'"},
      {"        mirror: {percent: -1}\n", "11:27 mirror.percent: expected a percentage from 0 to 100, got '-1'"},
      {"        mirror: {percent: 10%}\n", "11:27 mirror.percent: expected a percentage from 0 to 100, got '10%'"},
      {"        mirror: {percent: [5]}\n", "11:27 mirror.percent: expected a percentage from 0 to 100"},
      {"        mirror: {percent: 0.005}\n", "11:27 mirror.percent: '0.005' is finer than the 0.01 step percentages allow"},
      {"        mirror: {percent: 1, methods: GET}\n", "11:39 mirror.methods: expected a list of methods like [GET, HEAD]"},
      {"        mirror: {percent: 1, methods: []}\n",
       "11:39 mirror.methods: must list at least one method (remove 'mirror' to mirror nothing)"},
      {"        mirror: {percent: 1, methods: [get]}\n",
       "11:40 mirror.methods: 'get': methods are case-sensitive (RFC 9110 §9.1); write GET, not get"},
      {"        mirror: {percent: 1, methods: [Get]}\n",
       "11:40 mirror.methods: 'Get': methods are case-sensitive (RFC 9110 §9.1); write GET, not Get"},
      {"        mirror: {percent: 1, methods: [\"GE T\"]}\n",
       "11:40 mirror.methods: 'GE T' is not a valid method name (letters, digits and !#$%&'*+-.^_`|~ only)"},
      {"        mirror: {percent: 1, methods: [\"\"]}\n",
       "11:40 mirror.methods: '' is not a valid method name (letters, digits and !#$%&'*+-.^_`|~ only)"},
      {"        mirror: {percent: 1, methods: [[GET]]}\n", "11:40 mirror.methods: expected a method name such as GET"},
      {"        mirror: {percent: 1, max_body: 2GiB}\n", "11:40 mirror.max_body: must be at most 1GiB, got '2GiB'"},
      {"        mirror: {percent: 1, max_body: 1073741825}\n",
       "11:40 mirror.max_body: must be at most 1GiB, got '1073741825'"},
      {"        mirror: {percent: 1, max_body: 1MB}\n",
       "11:40 mirror.max_body: expected a size like 512, 64KiB or 1MiB, got '1MB'"},
      {"        mirror: {percent: 1, max_body: -1}\n",
       "11:40 mirror.max_body: expected a size like 512, 64KiB or 1MiB, got '-1'"},
      {"        mirror: {percent: 1, max_in_flight: 1000001}\n",
       "11:45 mirror.max_in_flight: expected an integer from 1 to 1000000, got '1000001'"},
      {"        mirror: {percent: 1, max_in_flight: 1.5}\n",
       "11:45 mirror.max_in_flight: expected an integer from 1 to 1000000, got '1.5'"},
      {"        mirror: {percent: 1, timeout: 0s}\n", "11:39 mirror.timeout: must be greater than 0"},
      {"        mirror: {percent: 1, timeout: 11m}\n", "11:39 mirror.timeout: must be at most 10m, got 11m"},
      {"        mirror: {percent: 1, timeout: 600001ms}\n", "11:39 mirror.timeout: must be at most 10m, got 600001ms"},
      {"        mirror: {percent: 1, timeout: 5}\n", "11:39 mirror.timeout: expected a duration like 500ms, 5s or 1m"},
      {"        mirror: {percent: 1, percent: 2}\n", "11:30 duplicate key 'percent' in mirror of route 'app' (first at 11:18)"},
      {"        mirror: {percent: 1, shadow_header: X}\n", "11:30 unknown key 'shadow_header' in mirror of route 'app'"},
      {"        mirror: {percent: 1, compare: [date]}\n",
       "11:39 mirror.compare: expected a mapping with 'ignore_headers', 'ignore_json_fields' and/or 'noise_sample'"},
      {"        mirror: {percent: 1, compare: {ignore_headers: date}}\n",
       "11:56 mirror.compare.ignore_headers: expected a list of header names like [date, server]"},
      {"        mirror: {percent: 1, compare: {ignore_headers: [\"x y\"]}}\n",
       "11:57 mirror.compare.ignore_headers: 'x y' is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"},
      {"        mirror: {percent: 1, compare: {ignore_headers: [{a: b}]}}\n",
       "11:57 mirror.compare.ignore_headers: expected a header name"},
      {"        mirror: {percent: 1, compare: {ignore_json_fields: [ts, \"\"]}}\n",
       "11:65 mirror.compare.ignore_json_fields: expected a field name, got an empty string"},
      {"        mirror: {percent: 1, compare: {ignore_json_fields: ts}}\n",
       "11:60 mirror.compare.ignore_json_fields: expected a list of field names like [timestamp, request_id]"},
      {"        mirror: {percent: 1, compare: {noise_sample: 100.5}}\n",
       "11:54 mirror.compare.noise_sample: expected a percentage from 0 to 100, got '100.5'"},
      {"        mirror: {percent: 1, compare: {noise: 1}}\n",
       "11:40 unknown key 'noise' in mirror.compare of route 'app'"},
  };
  for (const auto& [extra, expected] : cases) EXPECT_EQ(first_error_of(extra), expected) << extra;
}

TEST(GoodConfig, MirrorLogPathResolvesAgainstTheConfigDir) {
  const std::string route = "        mirror: {percent: 1}\n";
  Config c = must_load(config_with(route, "mirror_log: {path: logs/mirror.jsonl}\n"), "/etc/cutover/cutover.yaml");
  EXPECT_EQ(c.mirror_log.path, "/etc/cutover/logs/mirror.jsonl");
  EXPECT_EQ(c.mirror_log.max_size, 10u * 1024 * 1024);  // defaults
  EXPECT_EQ(c.mirror_log.max_files, 3u);

  c = must_load(config_with(route, "mirror_log: {path: /var/log/m.jsonl, max_size: 4KiB, max_files: 100}\n"),
                "/etc/cutover/cutover.yaml");
  EXPECT_EQ(c.mirror_log.path, "/var/log/m.jsonl");
  EXPECT_EQ(c.mirror_log.max_size, 4096u);
  EXPECT_EQ(c.mirror_log.max_files, 100u);

  c = must_load(config_with(route, "mirror_log:\n  path: m.jsonl\n  max_size: 1GiB\n  max_files: 1\n"),
                "conf/sub/../cutover.yaml");
  EXPECT_EQ(c.mirror_log.path, "conf/m.jsonl");
  EXPECT_EQ(c.mirror_log.max_size, 1024u * 1024 * 1024);
  EXPECT_EQ(c.mirror_log.max_files, 1u);

  // As for state_file: a bare file name has no directory to resolve against.
  c = must_load(config_with(route, "mirror_log: {path: m.jsonl}\n"), "cutover.yaml");
  EXPECT_EQ(c.mirror_log.path, "m.jsonl");
}

TEST(BadConfigInline, MirrorLogValues) {
  const std::string route = "        mirror: {percent: 1}\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"mirror_log: {}\n", "1:1 mirror_log.path is required (the file mismatches are written to)"},
      {"mirror_log: m.jsonl\n", "1:13 mirror_log: expected a mapping with 'path' and optionally 'max_size' and 'max_files'"},
      {"mirror_log: {path: \"\"}\n", "1:20 mirror_log.path: expected a file path, got an empty string"},
      {"mirror_log: {path: [a]}\n", "1:20 mirror_log.path: expected a file path"},
      {"mirror_log: {path: m, max_size: 4095}\n", "1:33 mirror_log.max_size: must be at least 4KiB, got '4095'"},
      {"mirror_log: {path: m, max_size: 0}\n", "1:33 mirror_log.max_size: must be at least 4KiB, got '0'"},
      {"mirror_log: {path: m, max_size: 10 MiB}\n",
       "1:33 mirror_log.max_size: expected a size like 512, 64KiB or 1MiB, got '10 MiB'"},
      {"mirror_log: {path: m, max_files: 0}\n", "1:34 mirror_log.max_files: expected an integer from 1 to 100, got '0'"},
      {"mirror_log: {path: m, max_files: 101}\n", "1:34 mirror_log.max_files: expected an integer from 1 to 100, got '101'"},
      {"mirror_log: {path: m, rotate: 3}\n", "1:23 unknown key 'rotate' in mirror_log"},
      {"mirror_log: {path: m, max_file: 3}\n", "1:23 unknown key 'max_file' in mirror_log (did you mean 'max_files'?)"},
      {"mirorr_log: {path: m}\n", "1:1 unknown key 'mirorr_log' in the top level (did you mean 'mirror_log'?)"},
  };
  for (const auto& [top, expected] : cases) {
    LoadResult r = load_string(config_with(route, top), "t.yaml");
    ASSERT_EQ(r.errors.size(), 1u) << top << dump(r.errors);
    EXPECT_EQ(pos(r.errors[0]) + " " + r.errors[0].message, expected) << top;
  }
}

TEST(Warnings, MirrorLogWithoutAnyMirrorHasNoEffect) {
  EXPECT_EQ(warnings_with("", "mirror_log: {path: m.jsonl}\n"),
            std::vector<std::string>{"1:1 mirror_log has no effect: no route has a 'mirror' block"});
  EXPECT_TRUE(warnings_with("        mirror: {percent: 0}\n", "mirror_log: {path: m.jsonl}\n").empty());
}

// ---- TLS ----------------------------------------------------------------------------------------

const std::string kTlsDir = kTestData + "/config/tls";

// config_with() plus a `tls` block on the listener (`listener_tls`, one line at listener level)
// and/or on cluster legacy (`cluster_tls`, a flow mapping).
std::string tls_config(const std::string& listener_tls, const std::string& cluster_tls = "") {
  std::string y = config_with("");
  if (!cluster_tls.empty()) {
    const std::string from = "  legacy: {endpoints: [\"127.0.0.1:9001\"]}";
    y.replace(y.find(from), from.size(), "  legacy: {endpoints: [\"127.0.0.1:9001\"], tls: " + cluster_tls + "}");
  }
  if (!listener_tls.empty()) {
    const std::string at = "    address: 127.0.0.1:8080\n";
    y.insert(y.find(at) + at.size(), "    tls: " + listener_tls + "\n");
  }
  return y;
}

TEST(Tls, SingleCertificateFormOfTheSpec) {
  // Relative paths are resolved against the config file's directory.
  Config c = must_load(tls_config("{cert_file: a.pem, key_file: a.key}"), kTlsDir + "/cutover.yaml");
  ASSERT_TRUE(c.listeners[0].tls.enabled);
  ASSERT_EQ(c.listeners[0].tls.certificates.size(), 1u);
  EXPECT_EQ(c.listeners[0].tls.certificates[0].cert_file, kTlsDir + "/a.pem");
  EXPECT_EQ(c.listeners[0].tls.certificates[0].key_file, kTlsDir + "/a.key");
  EXPECT_FALSE(c.clusters[0].tls.enabled);
}

TEST(Tls, TcpListenersTerminateTlsButTcpRoutesGetNoUpstreamTls) {
  auto tcp = [](std::string y) {
    y.insert(y.find("    routes:\n"), "    protocol: tcp\n");
    return y;
  };
  Config c = must_load(tcp(tls_config("{cert_file: a.pem, key_file: a.key}")), kTlsDir + "/cutover.yaml");
  EXPECT_TRUE(c.listeners[0].tcp());
  EXPECT_TRUE(c.listeners[0].tls.enabled);
  LoadResult r = load_string(tcp(tls_config("", "{ca_file: a.pem}")), kTlsDir + "/cutover.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_EQ(pos(r.errors[0]), "2:43");  // the cluster's tls key
  EXPECT_NE(r.errors[0].message.find("upstream tls is for http routes only"), std::string::npos);
}

TEST(Tls, SeveralCertificatesKeepTheirOrder) {
  Config c = must_load(tls_config("{certificates: [{cert_file: b.pem, key_file: b.key}, "
                                  "{cert_file: a.pem, key_file: a.key}]}"),
                       kTlsDir + "/cutover.yaml");
  ASSERT_EQ(c.listeners[0].tls.certificates.size(), 2u);
  EXPECT_EQ(c.listeners[0].tls.certificates[0].cert_file, kTlsDir + "/b.pem");
  EXPECT_EQ(c.listeners[0].tls.certificates[1].cert_file, kTlsDir + "/a.pem");
}

TEST(Tls, ClusterTlsDefaultsToVerification) {
  Config c = must_load(tls_config("", "{sni: App.Internal, ca_file: a.pem}"), kTlsDir + "/cutover.yaml");
  const auto& t = c.clusters[0].tls;
  EXPECT_TRUE(t.enabled);
  EXPECT_TRUE(t.verify);
  EXPECT_EQ(t.sni, "app.internal");
  EXPECT_EQ(t.ca_file, kTlsDir + "/a.pem");
  Config empty = must_load(tls_config("", "{}"), kTlsDir + "/cutover.yaml");
  EXPECT_TRUE(empty.clusters[0].tls.enabled);
  EXPECT_TRUE(empty.clusters[0].tls.ca_file.empty());  // the system's CAs
}

TEST(Tls, VerifyFalseIsAllowedWithAWarning) {
  LoadResult r = load_string(tls_config("", "{verify: false}"), kTlsDir + "/cutover.yaml");
  ASSERT_TRUE(r.errors.empty()) << dump(r.errors);
  EXPECT_FALSE(r.config->clusters[0].tls.verify);
  ASSERT_EQ(r.warnings.size(), 1u) << dump(r.warnings);
  EXPECT_EQ(pos(r.warnings[0]), "2:57");
  EXPECT_NE(r.warnings[0].message.find("tls.verify is false for cluster 'legacy'"), std::string::npos);
}

struct TlsBadCase {
  std::string listener_tls;
  std::string cluster_tls;
  std::string position;  // LINE:COL
  std::string message;   // a substring
};

TEST(Tls, BadTlsSettingsAreErrorsAtTheirPosition) {
  const std::vector<TlsBadCase> cases = {
      // The listener's tls line is line 7; its flow mapping starts at column 10.
      {"{cert_file: missing.pem, key_file: a.key}", "", "7:22",
       "tls: cannot read cert_file '" + kTlsDir + "/missing.pem': No such file or directory"},
      {"{cert_file: a.pem, key_file: missing.key}", "", "7:39",
       "tls: cannot read key_file '" + kTlsDir + "/missing.key': No such file or directory"},
      {"{cert_file: a.pem, key_file: b.key}", "", "7:39",
       "tls: key_file '" + kTlsDir + "/b.key' does not match the certificate in cert_file '" + kTlsDir + "/a.pem'"},
      {"{cert_file: junk.pem, key_file: a.key}", "", "7:22", "holds no usable PEM certificate"},
      {"{cert_file: a.pem, key_file: junk.pem}", "", "7:39", "holds no usable PEM private key"},
      {"{cert_file: a.pem}", "", "7:10", "tls: both cert_file and key_file are required"},
      {"{}", "", "7:5", "tls needs cert_file and key_file (or a certificates list)"},
      {"{cert_file: a.pem, key_file: a.key, certificates: [{cert_file: b.pem, key_file: b.key}]}", "", "7:11",
       "give either cert_file and key_file, or certificates, not both"},
      {"{certificates: []}", "", "7:25", "tls.certificates: expected a non-empty list"},
      {"{certificates: [{cert_file: a.pem, key_file: a.key}, {cert_file: b.pem, key_file: a.key}]}", "", "7:92",
       "tls.certificates: key_file '" + kTlsDir + "/a.key' does not match"},
      {"{cert_file: a.pem, key_file: a.key, ciphers: x}", "", "7:46", "unknown key 'ciphers' in tls of listener 'public'"},
      {"", "{ca_file: missing.pem}", "2:58", "tls.ca_file: cannot read ca_file '" + kTlsDir + "/missing.pem'"},
      {"", "{ca_file: junk.pem}", "2:58", "tls.ca_file: ca_file '" + kTlsDir + "/junk.pem' holds no usable PEM certificate"},
      {"", "{sni: 10.0.0.1}", "2:54", "tls.sni: '10.0.0.1' is an IP address"},
      {"", "{sni: \"a b\"}", "2:54", "tls.sni: 'a b' is not a valid host name"},
      {"", "{verify: maybe}", "2:57", "tls.verify: expected true or false"},
      {"", "{snl: x}", "2:49", "unknown key 'snl' in tls of cluster 'legacy' (did you mean 'sni'?)"},
  };
  for (const auto& c : cases) {
    LoadResult r = load_string(tls_config(c.listener_tls, c.cluster_tls), kTlsDir + "/cutover.yaml");
    ASSERT_EQ(r.errors.size(), 1u) << c.listener_tls << c.cluster_tls << dump(r.errors);
    EXPECT_EQ(pos(r.errors[0]), c.position) << c.listener_tls << c.cluster_tls << dump(r.errors);
    EXPECT_NE(r.errors[0].message.find(c.message), std::string::npos)
        << c.listener_tls << c.cluster_tls << dump(r.errors);
  }
}

TEST(BadConfigInline, UnknownKeysNameTheirContext) {
  auto first_error = [](const std::string& yaml) {
    LoadResult r = load_string(yaml, "t.yaml");
    return r.errors.empty() ? std::string() : r.errors[0].message;
  };
  EXPECT_EQ(first_error(config_with("        wieght: 10\n")),
            "unknown key 'wieght' in route 'app' (did you mean 'weight'?)");
  EXPECT_EQ(first_error(config_with("        match: {path: /x}\n")), "unknown key 'path' in match of route 'app'");
  EXPECT_EQ(first_error(config_with("", "admin: {listen: \"127.0.0.1:1\", token_file: t}\n")),
            "unknown key 'token_file' in admin (did you mean 'tokens_file'?)");
  EXPECT_EQ(first_error("clusters:\n  legacy: {endpoints: [\"127.0.0.1:1\"], weight: 3}\n" + config_with("").substr(10)),
            "unknown key 'weight' in cluster 'legacy'");
  EXPECT_EQ(first_error(config_with("") + "    bind: x\n"), "unknown key 'bind' in listener 'public'");
}

TEST(BadConfigInline, DuplicateClusterNameIsADuplicateKey) {
  LoadResult r = load_string(
      "clusters:\n"
      "  a: {endpoints: [\"127.0.0.1:1\"]}\n"
      "  a: {endpoints: [\"127.0.0.1:2\"]}\n"
      "  b: {endpoints: [\"127.0.0.1:3\"]}\n"
      "listeners: [{name: l, address: \"127.0.0.1:0\", routes: [{name: r, source: a, target: b}]}]\n",
      "t.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_EQ(pos(r.errors[0]), "3:3");
  EXPECT_EQ(r.errors[0].message, "duplicate key 'a' in clusters (first at 2:3)");
}

TEST(BadConfigInline, EmptyValuesAreReportedAtTheirKey) {
  // yaml-cpp places an empty value at the next token; the error belongs on the key's line.
  LoadResult r = load_string(config_with("", "drain_timeout:\nworkers:\n"), "t.yaml");
  ASSERT_EQ(r.errors.size(), 2u) << dump(r.errors);
  EXPECT_EQ(pos(r.errors[0]), "1:1");
  EXPECT_NE(r.errors[0].message.find("drain_timeout: expected a duration"), std::string::npos);
  EXPECT_EQ(pos(r.errors[1]), "2:1");
}

TEST(Warnings, SuspiciousButLegal) {
  LoadResult r = load_string(
      "clusters:\n"
      "  a: {endpoints: [\"127.0.0.1:1\", \"127.0.0.1:1\"]}\n"
      "  b: {endpoints: [\"127.0.0.1:2\"]}\n"
      "  spare: {endpoints: [\"127.0.0.1:3\"]}\n"
      "listeners:\n"
      "  - name: l\n"
      "    address: 127.0.0.1:0\n"
      "    routes:\n"
      "      - {name: r1, source: a, target: b, match: {path_prefix: /api}}\n"
      "      - {name: r2, source: a, target: b, match: {path_prefix: /api}}\n",
      "t.yaml");
  ASSERT_TRUE(r.errors.empty()) << dump(r.errors);
  ASSERT_TRUE(r.config);
  ASSERT_EQ(r.warnings.size(), 3u) << dump(r.warnings);
  EXPECT_EQ(pos(r.warnings[0]), "2:34");
  EXPECT_NE(r.warnings[0].message.find("listed twice"), std::string::npos);
  EXPECT_EQ(pos(r.warnings[1]), "4:3");
  EXPECT_NE(r.warnings[1].message.find("'spare' is not used"), std::string::npos);
  EXPECT_EQ(pos(r.warnings[2]), "10:9");
  EXPECT_NE(r.warnings[2].message.find("'r2' can never match"), std::string::npos);
}

// Whatever the input, the loader answers with a result, never an exception, and every error
// position lies inside the text.
TEST(Robustness, EveryPrefixOfTheExampleLoadsWithoutThrowing) {
  std::ifstream in(kExample);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  ASSERT_FALSE(text.empty());
  const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
  for (std::size_t n = 0; n <= text.size(); ++n) {
    LoadResult r;
    ASSERT_NO_THROW(r = load_string(std::string_view(text).substr(0, n), "prefix.yaml")) << n;
    EXPECT_EQ(r.config.has_value(), r.errors.empty()) << n;
    for (const auto& d : r.errors) EXPECT_LE(d.mark.line, lines) << n << " " << d.str();
  }
}

TEST(Robustness, GarbageInputsGiveErrorsNotExceptions) {
  for (const char* yaml : {"{", "[", "]", "\"", "'", "&a [*a]", "*x", "!!binary ~", "key: [a, {b: }",
                           "\t- x", "? [a]: b", "clusters: 3\nlisteners: x\n", "<<: {a: 1}\n",
                           "\xff\xfe\x00", "a: &x\n  b: *x\n"}) {
    LoadResult r;
    ASSERT_NO_THROW(r = load_string(yaml, "g.yaml")) << yaml;
    EXPECT_FALSE(r.errors.empty()) << yaml;
    EXPECT_FALSE(r.config.has_value()) << yaml;
  }
}

TEST(Robustness, DeepNestingIsAnErrorNotACrash) {
  const std::string yaml = "a: " + std::string(100000, '[');
  LoadResult r;
  ASSERT_NO_THROW(r = load_string(yaml, "deep.yaml"));
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_NE(r.errors[0].message.find("nesting is too deep"), std::string::npos) << r.errors[0].str();
}

}  // namespace
}  // namespace cutover::config

namespace cutover::config {
namespace {

// ---- limits -------------------------------------------------------------------------------------

TEST(Limits, DefaultsAndValues) {
  Config d = must_load(config_with(""));
  EXPECT_EQ(d.limits.max_request_line, 8u * 1024);
  EXPECT_EQ(d.limits.max_header_bytes, 64u * 1024);
  EXPECT_EQ(d.limits.max_request_body, 0u);
  Config c = must_load(config_with("", "limits: {max_request_line: 4KiB, max_header_bytes: 32KiB, max_request_body: 10MiB}\n"));
  EXPECT_EQ(c.limits.max_request_line, 4u * 1024);
  EXPECT_EQ(c.limits.max_header_bytes, 32u * 1024);
  EXPECT_EQ(c.limits.max_request_body, 10u * 1024 * 1024);
}

TEST(Clusters, Http2TlsHealthCheckAndPings) {
  // An http2 cluster takes tls (ALPN h2) and a health check (spoken in HTTP/2), and its PING
  // settings: 30s and 5s unless given, 0s turning the PINGs off.
  const std::string clusters =
      "clusters:\n"
      "  legacy: {endpoints: [\"127.0.0.1:9001\"], protocol: http2, tls: {verify: false},\n"
      "           health_check: {path: /healthz}}\n"
      "  cloud: {endpoints: [\"127.0.0.1:9002\"], protocol: http2, http2_ping_interval: 0s,\n"
      "          http2_ping_timeout: 250ms}\n";
  std::string yaml = config_with("");
  yaml.replace(0, yaml.find("listeners:"), clusters);
  LoadResult r = load_string(yaml, "c.yaml");
  ASSERT_EQ(r.errors.size(), 0u) << dump(r.errors);
  const Config& c = *r.config;
  const auto* legacy = c.find_cluster("legacy");
  ASSERT_NE(legacy, nullptr);
  EXPECT_TRUE(legacy->http2 && legacy->tls.enabled && legacy->health_check.enabled);
  EXPECT_EQ(legacy->http2_ping_interval, std::chrono::seconds(30));
  EXPECT_EQ(legacy->http2_ping_timeout, std::chrono::seconds(5));
  const auto* cloud = c.find_cluster("cloud");
  ASSERT_NE(cloud, nullptr);
  EXPECT_EQ(cloud->http2_ping_interval.count(), 0);
  EXPECT_EQ(cloud->http2_ping_timeout, std::chrono::milliseconds(250));
}

TEST(Limits, Http2DefaultsAndValues) {
  Config d = must_load(config_with(""));
  EXPECT_EQ(d.limits.http2_max_concurrent_streams, 100u);
  EXPECT_EQ(d.limits.http2_stream_buffer, 256u * 1024);
  EXPECT_EQ(d.limits.http2_connection_buffer, 1024u * 1024);
  EXPECT_EQ(d.limits.http2_max_resets_per_second, 100u);
  EXPECT_TRUE(d.listeners.at(0).http2);
  Config c = must_load(config_with("", "limits: {http2_max_concurrent_streams: 10, http2_stream_buffer: 64KiB, "
                                       "http2_connection_buffer: 4MiB, http2_max_resets_per_second: 5}\n"));
  EXPECT_EQ(c.limits.http2_max_concurrent_streams, 10u);
  EXPECT_EQ(c.limits.http2_stream_buffer, 64u * 1024);
  EXPECT_EQ(c.limits.http2_connection_buffer, 4u * 1024 * 1024);
  EXPECT_EQ(c.limits.http2_max_resets_per_second, 5u);
  // A window under the protocol's 65535 bytes, or over its 2^31-1, is refused where it is written.
  LoadResult r = load_string(config_with("", "limits: {http2_stream_buffer: 1KiB}\n"), "l.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_NE(r.errors[0].message.find("http2_stream_buffer"), std::string::npos) << r.errors[0].message;
  r = load_string(config_with("", "limits: {http2_connection_buffer: 4GiB}\n"), "l.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  // Counts are plain integers: a size suffix is a mistake, not 1024 streams.
  for (const char* text : {"limits: {http2_max_concurrent_streams: 1KiB}\n", "limits: {http2_max_resets_per_second: 2k}\n"}) {
    r = load_string(config_with("", text), "l.yaml");
    ASSERT_EQ(r.errors.size(), 1u) << text << dump(r.errors);
    EXPECT_GT(r.errors[0].mark.line, 0);
  }
}

TEST(Routes, GrpcMatchAndErrorCodes) {
  Config d = must_load(config_with(""));
  const RouteConfig& plain = d.listeners.at(0).routes.at(0);
  EXPECT_FALSE(plain.grpc);
  EXPECT_EQ(plain.grpc_error_codes, kDefaultGrpcErrorCodes);
  Config c = must_load(config_with("        grpc_error_codes: [5, 14]\n"));
  EXPECT_EQ(c.listeners.at(0).routes.at(0).grpc_error_codes, (1u << 5) | (1u << 14));
  // An empty list: no status counts as an error (the HTTP status still does).
  Config none = must_load(config_with("        grpc_error_codes: []\n"));
  EXPECT_EQ(none.listeners.at(0).routes.at(0).grpc_error_codes, 0u);
  LoadResult r = load_string(config_with("        grpc_error_codes: 14\n"), "g.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_NE(r.errors[0].message.find("expected a list of gRPC status codes"), std::string::npos);
}

TEST(Limits, ErrorsHavePositions) {
  LoadResult r = load_string(config_with("", "limits: {max_request_line: 64KiB, max_header_bytes: 16KiB}\n"), "l.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_NE(r.errors[0].message.find("max_request_line must not be larger"), std::string::npos);
  r = load_string(config_with("", "limits: {max_body: 1KiB}\n"), "l.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_NE(r.errors[0].message.find("max_body"), std::string::npos);
  EXPECT_GT(r.errors[0].mark.line, 0);
  r = load_string(config_with("", "limits: {max_header_bytes: 100}\n"), "l.yaml");
  EXPECT_EQ(r.errors.size(), 1u) << dump(r.errors);
}

TEST(Timeouts, DefaultsAndValues) {
  Config d = must_load(config_with(""));
  EXPECT_EQ(d.timeouts.idle.count(), 60000);
  EXPECT_EQ(d.timeouts.request_header.count(), 30000);
  EXPECT_EQ(d.timeouts.body_idle.count(), 60000);
  EXPECT_EQ(d.timeouts.request.count(), 0);
  Config c = must_load(config_with("", "timeouts: {idle: 5s, request_header: 2s, body_idle: 1m, request: 1500ms}\n"));
  EXPECT_EQ(c.timeouts.idle.count(), 5000);
  EXPECT_EQ(c.timeouts.request_header.count(), 2000);
  EXPECT_EQ(c.timeouts.body_idle.count(), 60000);
  EXPECT_EQ(c.timeouts.request.count(), 1500);
}

TEST(Timeouts, ErrorsHavePositions) {
  LoadResult r = load_string(config_with("", "timeouts: {request_header: 0s}\n"), "t.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_NE(r.errors[0].message.find("timeouts.request_header: must be greater than 0"), std::string::npos);
  r = load_string(config_with("", "timeouts: {header: 2s}\n"), "t.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_NE(r.errors[0].message.find("header"), std::string::npos);
  EXPECT_GT(r.errors[0].mark.line, 0);
  r = load_string(config_with("", "timeouts: {idle: soon}\n"), "t.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_NE(r.errors[0].message.find("timeouts.idle: expected a duration"), std::string::npos);
}

}  // namespace
}  // namespace cutover::config

namespace cutover::config {
namespace {

// ---- health checks and outlier detection ---------------------------------------------------------

TEST(Health, BlocksParseWithDefaults) {
  Config c = must_load(
      "clusters:\n  legacy:\n    endpoints: [\"127.0.0.1:1\"]\n"
      "    health_check: {path: /ready, interval: 500ms, timeout: 200ms, healthy_threshold: 1, unhealthy_threshold: 2}\n"
      "    outlier_detection: {consecutive_5xx: 3, ejection_time: 2s}\n" +
      config_with("").substr(std::string("clusters:\n  legacy: {endpoints: [\"127.0.0.1:9001\"]}\n").size()));
  const auto& l = *c.find_cluster("legacy");
  EXPECT_TRUE(l.health_check.enabled);
  EXPECT_EQ(l.health_check.path, "/ready");
  EXPECT_EQ(l.health_check.interval.count(), 500);
  EXPECT_EQ(l.health_check.timeout.count(), 200);
  EXPECT_EQ(l.health_check.healthy_threshold, 1u);
  EXPECT_EQ(l.health_check.unhealthy_threshold, 2u);
  EXPECT_TRUE(l.outlier_detection.enabled);
  EXPECT_EQ(l.outlier_detection.consecutive_5xx, 3u);
  EXPECT_EQ(l.outlier_detection.consecutive_connect_failures, 3u);
  EXPECT_EQ(l.outlier_detection.ejection_time.count(), 2000);
  EXPECT_EQ(l.outlier_detection.max_ejection_time.count(), 300000);
  EXPECT_FALSE(c.find_cluster("cloud")->health_check.enabled);
}

TEST(Health, TimeoutLongerThanIntervalIsAnError) {
  LoadResult r = load_string(
      "clusters:\n  legacy: {endpoints: [\"127.0.0.1:1\"], health_check: {interval: 1s, timeout: 2s}}\n" +
          config_with("").substr(std::string("clusters:\n  legacy: {endpoints: [\"127.0.0.1:9001\"]}\n").size()),
      "h.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_NE(r.errors[0].message.find("timeout must not be longer"), std::string::npos);
}

}  // namespace
}  // namespace cutover::config

namespace cutover::config {
namespace {

// ---- tcp listeners -------------------------------------------------------------------------------

std::string tcp_config(const std::string& listener_extra, const std::string& route_extra,
                       const std::string& cloud_extra = "") {
  return "clusters:\n"
         "  legacy: {endpoints: [\"127.0.0.1:9001\"]}\n"
         "  cloud: {endpoints: [\"127.0.0.1:9002\"]" + cloud_extra + "}\n"
         "listeners:\n"
         "  - name: db\n"
         "    address: 127.0.0.1:5433\n"
         "    protocol: tcp\n" + listener_extra +
         "    routes:\n"
         "      - name: pg\n"
         "        source: legacy\n"
         "        target: cloud\n" + route_extra;
}

TEST(TcpConfig, SpecExampleLoadsWithDefaults) {
  Config c = must_load(tcp_config("", "        weight: 25\n        sticky: {client_ip: true}\n"));
  const ListenerConfig& l = c.listeners[0];
  EXPECT_TRUE(l.tcp());
  EXPECT_EQ(l.idle_timeout, kDefaultTcpIdleTimeout);
  ASSERT_EQ(l.routes.size(), 1u);
  EXPECT_EQ(l.routes[0].read_weight_bp, 2500u);
  EXPECT_EQ(l.routes[0].write_weight_bp, 2500u);
  ASSERT_EQ(l.routes[0].sticky.sources.size(), 1u);
  EXPECT_EQ(l.routes[0].sticky.sources[0].kind, StickySource::Kind::client_ip);
  EXPECT_EQ(c.find_cluster("cloud")->send_proxy_protocol, ProxyProtocol::none);
}

TEST(TcpConfig, IdleTimeoutAndProxyProtocolParse) {
  Config c = must_load(tcp_config("    idle_timeout: 2h\n", "", ", send_proxy_protocol: v2"));
  EXPECT_EQ(c.listeners[0].idle_timeout, Millis(2 * 3600 * 1000));
  EXPECT_EQ(c.find_cluster("cloud")->send_proxy_protocol, ProxyProtocol::v2);
  c = must_load(tcp_config("    idle_timeout: 1500ms\n", "", ", send_proxy_protocol: v1"));
  EXPECT_EQ(c.listeners[0].idle_timeout, Millis(1500));
  EXPECT_EQ(c.find_cluster("cloud")->send_proxy_protocol, ProxyProtocol::v1);
}

TEST(TcpConfig, EveryHttpOnlyRouteKeyIsAnErrorAtItsKey) {
  const std::string extra =
      "        match: {host: \"*\"}\n"          // line 12
      "        write_weight: 5\n"                 // 13
      "        force: {header: X-Side}\n"         // 14
      "        writes: {max_held: 5}\n"           // 15
      "        sticky: {pin_cookie: c, client_ip: true}\n";  // 16
  LoadResult r = load_string(tcp_config("", extra), "t.yaml");
  ASSERT_FALSE(r.config.has_value());
  std::vector<std::string> got;
  for (const auto& d : r.errors)
    if (d.message.find("HTTP-only") != std::string::npos) got.push_back(pos(d) + " " + d.message.substr(0, d.message.find(' ')));
  EXPECT_EQ(got, (std::vector<std::string>{"12:9 'match'", "13:9 'write_weight'", "14:9 'force'", "15:9 'writes'",
                                           "16:18 'sticky.pin_cookie'"}))
      << dump(r.errors);
}

TEST(TcpConfig, TheSameRouteKeysAreFineOnHttpListeners) {
  must_load(config_with("        read_weight: 5\n        sticky: {header: X-User, client_ip: true}\n"));
}

TEST(TcpConfig, ProtocolChangeOfAClusterUserIsCheckedPerRoute) {
  // A PROXY protocol cluster shared by a tcp route and an http route: the http route is the error.
  const std::string yaml =
      "clusters:\n"
      "  legacy: {endpoints: [\"127.0.0.1:9001\"]}\n"
      "  cloud: {endpoints: [\"127.0.0.1:9002\"], send_proxy_protocol: v1}\n"
      "listeners:\n"
      "  - {name: db, address: 127.0.0.1:5433, protocol: tcp, routes: [{name: pg, source: legacy, target: cloud}]}\n"
      "  - {name: web, address: 127.0.0.1:8080, routes: [{name: app, source: legacy, target: cloud}]}\n";
  LoadResult r = load_string(yaml, "t.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_NE(r.errors[0].message.find("serves http route 'app'"), std::string::npos) << dump(r.errors);
}

TEST(TcpConfig, UnknownProtocolIsAnError) {
  LoadResult r = load_string(config_with("", "") + "", "t.yaml");
  EXPECT_TRUE(r.errors.empty());
  const std::string yaml =
      "clusters:\n"
      "  legacy: {endpoints: [\"127.0.0.1:9001\"]}\n"
      "  cloud: {endpoints: [\"127.0.0.1:9002\"]}\n"
      "listeners:\n"
      "  - {name: db, address: 127.0.0.1:5433, protocol: udp, routes: [{name: pg, source: legacy, target: cloud}]}\n";
  r = load_string(yaml, "t.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_NE(r.errors[0].message.find("protocol: expected http or tcp, got 'udp'"), std::string::npos);
}

}  // namespace
}  // namespace cutover::config

namespace cutover::config {
namespace {

// ---- upgrade tunnels: route upgrade and timeouts.tunnel_idle --------------------------------------

TEST(Upgrade, DefaultIsWebsocketOnly) {
  const RouteConfig r = must_load(config_with("")).listeners[0].routes[0];
  EXPECT_EQ(r.upgrade, std::vector<std::string>{"websocket"});
}

TEST(Upgrade, ListedTokensAreStoredLowerCaseAndReplaceTheDefault) {
  auto upgrade_of = [](const std::string& value) {
    return must_load(config_with("        upgrade: " + value + "\n")).listeners[0].routes[0].upgrade;
  };
  EXPECT_EQ(upgrade_of("[websocket]"), std::vector<std::string>{"websocket"});
  EXPECT_EQ(upgrade_of("[WebSocket]"), std::vector<std::string>{"websocket"});
  // Any RFC 9110 token is a protocol name; the list keeps its order.
  EXPECT_EQ(upgrade_of("[My-Proto.v2, websocket]"), (std::vector<std::string>{"my-proto.v2", "websocket"}));
  // An empty list refuses every tunnel.
  EXPECT_TRUE(upgrade_of("[]").empty());
  // Block style.
  EXPECT_EQ(must_load(config_with("        upgrade:\n          - websocket\n")).listeners[0].routes[0].upgrade,
            std::vector<std::string>{"websocket"});
}

TEST(Upgrade, ATokenListedTwiceIsAWarningAndKeptOnce) {
  // Protocol names compare case-insensitively, so WebSocket is websocket again.
  EXPECT_EQ(warnings_with("        upgrade: [websocket, WebSocket]\n"),
            std::vector<std::string>{"11:30 upgrade: 'WebSocket' is listed twice"});
  EXPECT_EQ(must_load(config_with("        upgrade: [websocket, WebSocket]\n")).listeners[0].routes[0].upgrade,
            std::vector<std::string>{"websocket"});
}

TEST(Upgrade, BadValuesAreErrorsAtTheirPosition) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"        upgrade: websocket\n", "11:18 upgrade: expected a list of protocol names like [websocket]"},
      {"        upgrade:\n", "11:9 upgrade: expected a list of protocol names like [websocket]"},
      {"        upgrade: {websocket: true}\n", "11:18 upgrade: expected a list of protocol names like [websocket]"},
      {"        upgrade: [h2c]\n", "11:19 upgrade: h2c is not supported as an upgrade (RFC 9113 deprecates it)"},
      {"        upgrade: [websocket, H2c]\n",
       "11:30 upgrade: h2c is not supported as an upgrade (RFC 9113 deprecates it)"},
      {"        upgrade: [\"web socket\"]\n",
       "11:19 upgrade: 'web socket' is not a valid protocol name (letters, digits and !#$%&'*+-.^_`|~ only)"},
      {"        upgrade: [websocket/13]\n",
       "11:19 upgrade: 'websocket/13' is not a valid protocol name (letters, digits and !#$%&'*+-.^_`|~ only)"},
      {"        upgrade: [\"\"]\n",
       "11:19 upgrade: '' is not a valid protocol name (letters, digits and !#$%&'*+-.^_`|~ only)"},
      {"        upgrade: [[websocket]]\n", "11:19 upgrade: expected a protocol name"},
      {"        upgrades: [websocket]\n", "11:9 unknown key 'upgrades' in route 'app' (did you mean 'upgrade'?)"},
  };
  for (const auto& [extra, expected] : cases) EXPECT_EQ(first_error_of(extra), expected) << extra;
}

TEST(Upgrade, IsHttpOnlyOnATcpRoute) {
  LoadResult r = load_string(tcp_config("", "        upgrade: []\n"), "t.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << dump(r.errors);
  EXPECT_EQ(pos(r.errors[0]), "12:9");
  EXPECT_EQ(r.errors[0].message,
            "'upgrade' is HTTP-only and not allowed in route 'pg' of tcp listener 'db'; a tcp route takes name, "
            "source, target, weight and sticky: {client_ip: true}");
}

TEST(Upgrade, TheExampleFileWritesOutTheDefaults) {
  LoadResult r = load_file(kExample);
  ASSERT_TRUE(r.config) << dump(r.errors);
  EXPECT_EQ(r.config->listeners[0].routes[0].upgrade, std::vector<std::string>{"websocket"});
  EXPECT_EQ(r.config->timeouts.tunnel_idle, Millis(3600 * 1000));
}

TEST(Timeouts, TunnelIdleDefaultsToAnHourAndTakesHours) {
  EXPECT_EQ(must_load(config_with("")).timeouts.tunnel_idle, Millis(3600 * 1000));
  for (auto [text, ms] : std::vector<std::pair<std::string, long long>>{
           {"1h", 3600000}, {"60m", 3600000}, {"90s", 90000}, {"1500ms", 1500}, {"12h", 12LL * 3600000}, {"1d", 86400000}}) {
    const Config c = must_load(config_with("", "timeouts: {tunnel_idle: " + text + "}\n"));
    EXPECT_EQ(c.timeouts.tunnel_idle, Millis(ms)) << text;
    EXPECT_EQ(c.timeouts.idle, Millis(60000)) << text;  // the others keep their defaults
  }
}

TEST(Timeouts, TunnelIdleErrorsHavePositions) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"timeouts: {tunnel_idle: 0s}\n", "1:25 timeouts.tunnel_idle: must be greater than 0"},
      {"timeouts: {tunnel_idle: 0h}\n", "1:25 timeouts.tunnel_idle: must be greater than 0"},
      {"timeouts: {tunnel_idle: soon}\n", "1:25 timeouts.tunnel_idle: expected a duration like 30s, 10m or 1h"},
      {"timeouts: {tunnel_idle: 3600}\n", "1:25 timeouts.tunnel_idle: expected a duration like 30s, 10m or 1h"},
      {"timeouts: {tunnel_idle: 1.5h}\n", "1:25 timeouts.tunnel_idle: expected a duration like 30s, 10m or 1h"},
      {"timeouts: {tunnel_idle: [1h]}\n", "1:25 timeouts.tunnel_idle: expected a duration like 30s, 10m or 1h"},
      {"timeouts:\n  tunnel_idle:\n", "2:3 timeouts.tunnel_idle: expected a duration like 30s, 10m or 1h"},
      {"timeouts: {tunel_idle: 1h}\n", "1:12 unknown key 'tunel_idle' in timeouts (did you mean 'tunnel_idle'?)"},
      // Hours stay a typo for the request timeouts.
      {"timeouts: {idle: 1h}\n", "1:18 timeouts.idle: expected a duration like 500ms, 5s or 1m"},
      {"timeouts: 1h\n", "1:11 timeouts: expected a mapping with 'idle', 'request_header', 'body_idle', 'request' or "
                          "'tunnel_idle'"},
  };
  for (const auto& [top, expected] : cases) {
    LoadResult r = load_string(config_with("", top), "t.yaml");
    ASSERT_EQ(r.errors.size(), 1u) << top << dump(r.errors);
    EXPECT_EQ(pos(r.errors[0]) + " " + r.errors[0].message, expected) << top;
  }
}

}  // namespace
}  // namespace cutover::config

namespace cutover::config {
namespace {

// ---- access_log, request_id, tracing --------------------------------------------------------------

// config_with() plus `access_log: BLOCK` on listener 'public', on the line after its address (line
// 7, the block at column 17, without `top_extra`).
std::string access_log_config(const std::string& block, const std::string& top_extra = "") {
  std::string y = config_with("", top_extra);
  const std::string at = "    address: 127.0.0.1:8080\n";
  y.insert(y.find(at) + at.size(), "    access_log: " + block + "\n");
  return y;
}

// "LINE:COL message" of the one error of a whole config text, or "" when it loads.
std::string only_error_of(const std::string& yaml) {
  LoadResult r = load_string(yaml, "t.yaml");
  if (r.errors.empty()) return "";
  EXPECT_EQ(r.errors.size(), 1u) << yaml << dump(r.errors);
  EXPECT_FALSE(r.config.has_value());
  return pos(r.errors[0]) + " " + r.errors[0].message;
}

TEST(AccessLog, FullBlockLoadsWithThePathResolvedAgainstTheConfigDir) {
  Config c = must_load(access_log_config("\n"
                                         "      path: logs/access.jsonl\n"
                                         "      format: json\n"
                                         "      fields: [time, request_id, status, side, duration_ms]\n"
                                         "      log_query: true\n"
                                         "      sample: 12.5\n"
                                         "      buffer: 64KiB"),
                       "/etc/cutover/cutover.yaml");
  const AccessLogConfig& log = c.listeners[0].access_log;
  EXPECT_TRUE(log.enabled);
  EXPECT_EQ(log.path, "/etc/cutover/logs/access.jsonl");
  EXPECT_EQ(log.fields, (std::vector<std::string>{"time", "request_id", "status", "side", "duration_ms"}));
  EXPECT_TRUE(log.log_query);
  EXPECT_EQ(log.sample_bp, 1250u);
  EXPECT_EQ(log.buffer, 64u * 1024);
  EXPECT_EQ(pos(Diagnostic{"", log.mark, ""}), "7:5");  // the `access_log` key

  // Every field name is accepted, in any order.
  std::string all;
  for (auto f : kAccessLogFields) all += (all.empty() ? "" : ", ") + std::string(f);
  EXPECT_EQ(must_load(access_log_config("{path: a.log, fields: [" + all + "]}")).listeners[0].access_log.fields.size(),
            kAccessLogFields.size());
  EXPECT_EQ(must_load(access_log_config("{path: a.log, fields: [mirror, time]}")).listeners[0].access_log.fields,
            (std::vector<std::string>{"mirror", "time"}));
}

TEST(AccessLog, StdoutIsKeptAsIsAndOtherPathsAsFilePaths) {
  EXPECT_EQ(must_load(access_log_config("{path: stdout}"), "/etc/cutover/cutover.yaml").listeners[0].access_log.path,
            "stdout");
  EXPECT_EQ(must_load(access_log_config("{path: \"stdout\"}"), "/etc/cutover/cutover.yaml").listeners[0].access_log.path,
            "stdout");
  EXPECT_EQ(must_load(access_log_config("{path: /var/log/a.jsonl}"), "/etc/cutover/cutover.yaml").listeners[0].access_log.path,
            "/var/log/a.jsonl");
  EXPECT_EQ(must_load(access_log_config("{path: ./stdout}"), "/etc/cutover/cutover.yaml").listeners[0].access_log.path,
            "/etc/cutover/stdout");  // a file that happens to be called stdout
  EXPECT_EQ(must_load(access_log_config("{path: ../log/a.jsonl}"), "/etc/cutover/cutover.yaml").listeners[0].access_log.path,
            "/etc/log/a.jsonl");
}

TEST(AccessLog, DefaultsWithOnlyAPathAndOffWithoutTheBlock) {
  const AccessLogConfig log = must_load(access_log_config("{path: a.log}")).listeners[0].access_log;
  EXPECT_TRUE(log.enabled);
  EXPECT_TRUE(log.fields.empty());  // every field
  EXPECT_FALSE(log.log_query);
  EXPECT_EQ(log.sample_bp, 10000u);
  EXPECT_EQ(log.buffer, 4u * 1024 * 1024);

  const AccessLogConfig off = must_load(config_with("")).listeners[0].access_log;
  EXPECT_FALSE(off.enabled);
  EXPECT_TRUE(off.path.empty());
}

TEST(AccessLog, SampleTakesPercentagesInHundredths) {
  for (auto [text, bp] : std::vector<std::pair<std::string, std::uint32_t>>{
           {"0", 0}, {"0.01", 1}, {"1", 100}, {"12.5", 1250}, {"99.99", 9999}, {"100", 10000}})
    EXPECT_EQ(must_load(access_log_config("{path: a.log, sample: " + text + "}")).listeners[0].access_log.sample_bp, bp)
        << text;
}

TEST(AccessLog, AllowedOnTcpListenersToo) {
  const Config c = must_load(
      "clusters:\n"
      "  a: {endpoints: [\"127.0.0.1:5432\"]}\n"
      "  b: {endpoints: [\"127.0.0.1:5433\"]}\n"
      "listeners:\n"
      "  - name: db\n"
      "    address: 127.0.0.1:6432\n"
      "    protocol: tcp\n"
      "    access_log: {path: stdout, fields: [time, client_ip, bytes_in, bytes_out]}\n"
      "    routes: [{name: pg, source: a, target: b}]\n");
  EXPECT_TRUE(c.listeners[0].access_log.enabled);
  EXPECT_EQ(c.listeners[0].access_log.fields.size(), 4u);
}

TEST(AccessLog, BadValuesAreErrorsAtTheirPosition) {
  const std::string kFieldList =
      "(one of: time request_id trace_id client_ip client_port listener route method path protocol status side "
      "side_reason endpoint held_ms connect_ms upstream_ms duration_ms bytes_in bytes_out retries result mirror)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{format: json}", "7:5 access_log.path is required (a file, or stdout)"},
      {"{}", "7:5 access_log.path is required (a file, or stdout)"},
      {"{path: a.log, fields: [time, stauts]}", "7:46 access_log.fields: not an access log field " + kFieldList},
      {"{path: a.log, fields: [time, Status]}", "7:46 access_log.fields: not an access log field " + kFieldList},
      {"{path: a.log, format: text}", "7:39 access_log.format: only json is supported, got 'text'"},
      {"{path: a.log, sample: 150}", "7:39 access_log.sample: expected a percentage from 0 to 100, got '150'"},
      {"{path: a.log, sample: -1}", "7:39 access_log.sample: expected a percentage from 0 to 100, got '-1'"},
      {"{path: a.log, sample: 50%}", "7:39 access_log.sample: expected a percentage from 0 to 100, got '50%'"},
      {"{path: a.log, sample: 0.005}", "7:39 access_log.sample: '0.005' is finer than the 0.01 step samples allow"},
      {"{path: a.log, log_query: maybe}", "7:42 access_log.log_query: expected true or false, got 'maybe'"},
      {"{path: a.log, log_query: yes}", "7:42 access_log.log_query: expected true or false, got 'yes'"},
      {"{path: a.log, fields: []}",
       "7:39 access_log.fields: list at least one field (leave 'fields' out for all of them)"},
      {"{path: a.log, fields: time}",
       "7:39 access_log.fields: expected a list of field names like [time, request_id, status, side]"},
      {"{path: a.log, fields: [time, [x]]}", "7:46 access_log.fields: expected a field name"},
      {"{path: \"\"}", "7:24 access_log.path: expected a file path, got an empty string"},
      {"{path: [a]}", "7:24 access_log.path: expected a file path"},
      {"{path: a.log, buffer: 1KiB}", "7:39 access_log.buffer: must be at least 4KiB, got '1KiB'"},
      {"{path: a.log, colour: red}", "7:31 unknown key 'colour' in access_log"},
      {"stdout",
       "7:17 access_log: expected a mapping with 'path' and optionally 'format', 'fields', 'log_query', 'sample' "
       "and 'buffer'"},
  };
  for (const auto& [block, expected] : cases) EXPECT_EQ(only_error_of(access_log_config(block)), expected) << block;
}

TEST(AccessLog, AFieldListedTwiceIsAWarningAndKeptOnce) {
  LoadResult r = load_string(access_log_config("{path: a.log, fields: [time, time, status]}"), "t.yaml");
  ASSERT_TRUE(r.config) << dump(r.errors);
  EXPECT_EQ(r.config->listeners[0].access_log.fields, (std::vector<std::string>{"time", "status"}));
  ASSERT_EQ(r.warnings.size(), 1u) << dump(r.warnings);
  EXPECT_EQ(pos(r.warnings[0]) + " " + r.warnings[0].message, "7:46 access_log.fields: 'time' is listed twice");
}

TEST(RequestIdAndTracing, DefaultsWhenAbsent) {
  const Config c = must_load(config_with(""));
  EXPECT_EQ(c.request_id.header, "X-Request-Id");
  EXPECT_TRUE(c.request_id.trust_cidrs.empty());
  EXPECT_FALSE(c.tracing.generate);
}

TEST(RequestIdAndTracing, FullBlocksLoadWithCanonicalCidrs) {
  LoadResult r = load_string(config_with("",
                                         "request_id:\n"
                                         "  header: X-Correlation-Id\n"
                                         "  trust_cidrs: [10.0.0.0/8, \"::1\", 192.168.1.7, \"2001:DB8::/32\"]\n"
                                         "tracing: {generate: true}\n"),
                             "t.yaml");
  ASSERT_TRUE(r.config) << dump(r.errors);
  EXPECT_TRUE(r.warnings.empty()) << dump(r.warnings);
  EXPECT_EQ(r.config->request_id.header, "X-Correlation-Id");
  EXPECT_EQ(r.config->request_id.trust_cidrs,
            (std::vector<std::string>{"10.0.0.0/8", "::1/128", "192.168.1.7/32", "2001:db8::/32"}));
  EXPECT_TRUE(r.config->tracing.generate);

  // An empty list (or none) trusts nobody; generate: false is the default written out.
  const Config c = must_load(config_with("", "request_id: {trust_cidrs: []}\ntracing: {generate: false}\n"));
  EXPECT_TRUE(c.request_id.trust_cidrs.empty());
  EXPECT_FALSE(c.tracing.generate);
  EXPECT_TRUE(must_load(config_with("", "request_id:\n  trust_cidrs:\n")).request_id.trust_cidrs.empty());
}

TEST(RequestIdAndTracing, BadValuesAreErrorsAtTheirPosition) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"request_id: {trust_cidrs: [10.0.0.0/33]}\n",
       "1:28 request_id.trust_cidrs: '10.0.0.0/33' is not a valid CIDR (an IPv4 or IPv6 address, optionally /PREFIX)"},
      {"request_id: {trust_cidrs: [example.com]}\n",
       "1:28 request_id.trust_cidrs: 'example.com' is not a valid CIDR (an IPv4 or IPv6 address, optionally /PREFIX)"},
      {"request_id: {trust_cidrs: [10.1.2.3/8]}\n",
       "1:28 request_id.trust_cidrs: '10.1.2.3/8' has bits set after the /8 prefix (did you mean '10.0.0.0/8'?)"},
      {"request_id: {trust_cidrs: [\"2001:db8::1/32\"]}\n",
       "1:28 request_id.trust_cidrs: '2001:db8::1/32' has bits set after the /32 prefix (did you mean '2001:db8::/32'?)"},
      {"request_id: {trust_cidrs: 10.0.0.0/8}\n",
       "1:27 request_id.trust_cidrs: expected a list of CIDRs like [127.0.0.0/8, \"::1/128\"]"},
      {"request_id: {header: \"X Request\"}\n",
       "1:22 request_id.header: 'X Request' is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"},
      {"request_id: {trust_cidr: []}\n", "1:14 unknown key 'trust_cidr' in request_id (did you mean 'trust_cidrs'?)"},
      {"request_id: X-Request-Id\n", "1:13 request_id: expected a mapping with 'header' and/or 'trust_cidrs'"},
      {"tracing: {generate: 1}\n", "1:21 tracing.generate: expected true or false, got '1'"},
      {"tracing: {generate: yes}\n", "1:21 tracing.generate: expected true or false, got 'yes'"},
      {"tracing: true\n", "1:10 tracing: expected a mapping with 'generate'"},
      {"tracing: {generat: true}\n", "1:11 unknown key 'generat' in tracing (did you mean 'generate'?)"},
  };
  for (const auto& [top, expected] : cases) EXPECT_EQ(only_error_of(config_with("", top)), expected) << top;
}

TEST(RequestIdAndTracing, SuspiciousTrustCidrsAreWarnings) {
  EXPECT_EQ(warnings_with("", "request_id: {trust_cidrs: [0.0.0.0/0]}\n"),
            std::vector<std::string>{
                "1:28 request_id.trust_cidrs: '0.0.0.0/0' allows every IPv4 client to choose its request id"});
  EXPECT_EQ(warnings_with("", "request_id: {trust_cidrs: [\"::/0\"]}\n"),
            std::vector<std::string>{
                "1:28 request_id.trust_cidrs: '::/0' allows every IPv6 client to choose its request id"});
  EXPECT_EQ(warnings_with("", "request_id: {trust_cidrs: [10.0.0.0/8, 10.0.0.0/8]}\n"),
            std::vector<std::string>{"1:40 request_id.trust_cidrs: '10.0.0.0/8' is listed twice"});
}

}  // namespace
}  // namespace cutover::config

// ---- fleet ---------------------------------------------------------------------------------------

namespace cutover::config {
namespace {

TEST(FleetSection, LoadsWithDefaults) {
  auto c = must_load(config_with("", "fleet:\n  node: edge-1\n  etcd: {endpoints: [\"http://127.0.0.1:2379\"]}\n"));
  EXPECT_TRUE(c.fleet.enabled());
  EXPECT_EQ(c.fleet.node, "edge-1");
  EXPECT_EQ(c.fleet.endpoints, std::vector<std::string>{"http://127.0.0.1:2379"});
  EXPECT_EQ(c.fleet.prefix, "/cutover/");
  EXPECT_EQ(c.fleet.lease_ttl, Millis{5000});
  EXPECT_EQ(c.fleet.apply_timeout, Millis{2000});
  EXPECT_FALSE(must_load(config_with("")).fleet.enabled());
}

TEST(FleetSection, ErrorsAtTheirValue) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"fleet:\n  node: a\n  etcd: {endpoints: [\"127.0.0.1:2379\"]}\n", "3:22", "http:// or https:// URL"},
      {"fleet:\n  node: a\n  etcd: {endpoints: [\"http://x:1\"], prefix: /c}\n", "3:45", "must end with '/'"},
      {"fleet:\n  node: a\n  etcd: {endpoints: [\"http://x:1\"], lease_ttl: 500ms}\n", "3:48", "from 1s to 60s"},
      {"fleet:\n  node: a\n  etcd: {endpoints: [\"http://x:1\"], colour: red}\n", "3:37", "unknown key 'colour'"},
      {"fleet:\n  etcd: {endpoints: [\"http://x:1\"]}\n", "2:3", "missing 'node'"},
  };
  for (const auto& [top, position, message] : cases) {
    LoadResult r = load_string(config_with("", top), "f.yaml");
    ASSERT_EQ(r.errors.size(), 1u) << top << dump(r.errors);
    EXPECT_EQ(pos(r.errors[0]), position) << r.errors[0].str();
    EXPECT_NE(r.errors[0].message.find(message), std::string::npos) << r.errors[0].str();
  }
}

TEST(RouteSafety, SegmentsAndReadYourWritesLoadAndErrorsPointAtTheField) {
  const std::string extra =
      "        read_your_writes: {window: 3s}\n"
      "        segments:\n"
      "          - {header: X-Tenant, values: [acme, 42], side: target}\n";
  Config c = must_load(config_with(extra));
  const auto& route = c.listeners[0].routes[0];
  ASSERT_EQ(route.segments.size(), 1u);
  EXPECT_EQ(route.segments[0].values, (std::vector<std::string>{"acme", "42"}));
  EXPECT_TRUE(route.read_your_writes.enabled);
  EXPECT_EQ(route.read_your_writes.window, Millis{3000});
  EXPECT_EQ(route.read_your_writes.cookie, "cutover_ryw");

  // The segment's problem is reported at the item inside the list (line 14, "nope").
  auto bad = load_string(config_with(extra + "          - {client_cidrs: [10.0.0.0/8, nope], side: source}\n"), "t.yaml");
  ASSERT_EQ(bad.errors.size(), 1u) << dump(bad.errors);
  EXPECT_EQ(pos(bad.errors[0]), "14:41") << dump(bad.errors);
  EXPECT_NE(bad.errors[0].message.find("segments[1].client_cidrs[1]"), std::string::npos) << dump(bad.errors);
  auto zero = load_string(config_with("        read_your_writes: {window: 0s}\n"), "t.yaml");
  ASSERT_EQ(zero.errors.size(), 1u) << dump(zero.errors);
  EXPECT_NE(zero.errors[0].message.find("read_your_writes.window"), std::string::npos) << dump(zero.errors);
}

}  // namespace
}  // namespace cutover::config
