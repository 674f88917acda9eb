// Config reload through the admin API (POST /v1/config/reload) and its rules: what it keeps, what
// it refuses, what it reports.
#include "admin/reload.hpp"

#include <filesystem>
#include <fstream>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "admin/api.hpp"

namespace cutover::admin {
namespace {

namespace bhttp = boost::beast::http;
namespace json = boost::json;
namespace fs = std::filesystem;

struct Spec {
  std::string routes = "      - {name: app, source: legacy, target: cloud, read_weight: 25, write_weight: 0}\n";
  std::string listener_address = "127.0.0.1:0";
  std::string cloud_endpoint = "127.0.0.1:9002";
  std::string top;
  std::string admin = "admin: {listen: 127.0.0.1:0}\n";
};

std::string config_text(const Spec& s) {
  return s.top + s.admin +
         "clusters:\n"
         "  legacy: {endpoints: [\"127.0.0.1:9001\"]}\n"
         "  cloud: {endpoints: [\"" + s.cloud_endpoint + "\"]}\n"
         "listeners:\n"
         "  - name: public\n"
         "    address: " + s.listener_address + "\n"
         "    routes:\n" + s.routes;
}

class Reload : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::path(::testing::TempDir()) /
          ("reload_test_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    path = (dir / "cutover.yaml").string();
    write(Spec{});
  }

  void start(Tokens tokens = {}) {
    auto loaded = config::load_file(path);
    ASSERT_TRUE(loaded.config) << (loaded.errors.empty() ? "" : loaded.errors.front().str());
    snapshots.publish(runtime::compile(*loaded.config, registry, metrics));
    control = std::make_unique<Control>(io, snapshots, metrics, std::move(tokens), std::make_unique<AuditLog>(""), "");
    control->enable_reload(path, registry);
  }

  void write(const Spec& s) { std::ofstream(path, std::ios::trunc) << config_text(s); }

  AdminResponse call(bhttp::verb method, std::string target, std::string body = "", std::string auth = "") {
    AdminRequest req{method, target, 11};
    req.body() = std::move(body);
    if (!auth.empty()) req.set(bhttp::field::authorization, auth);
    req.prepare_payload();
    return handle_admin_request(req, *control);
  }
  AdminResponse reload(std::string auth = "") { return call(bhttp::verb::post, "/v1/config/reload", "", auth); }

  json::object body_of(const AdminResponse& res) { return json::parse(res.body()).as_object(); }

  double reloads(const char* result) { return metrics.config_reloads.Add({{"result", result}}).Value(); }

  fs::path dir;
  std::string path;
  boost::asio::io_context io;
  stats::Metrics metrics;
  runtime::RuntimeRegistry registry;
  runtime::SnapshotSource snapshots;
  std::unique_ptr<Control> control;
};

TEST_F(Reload, KeepsRuntimeWeightsAddsAndRemovesRoutes) {
  Spec s;
  s.routes += "      - {name: old, source: legacy, target: cloud, match: {path_prefix: /old}}\n";
  write(s);
  start();
  ASSERT_EQ(call(bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 42})").result_int(), 200);
  const auto app = registry.find_route("app");

  Spec next;
  next.routes += "      - {name: fresh, source: cloud, target: legacy, weight: 30, match: {path_prefix: /fresh}}\n";
  write(next);
  auto res = reload();
  ASSERT_EQ(res.result_int(), 200) << res.body();
  auto b = body_of(res);
  EXPECT_EQ(b["result"].as_string(), "success");
  EXPECT_EQ(b["routes"].as_int64(), 2);
  EXPECT_EQ(b["routes_added"].as_array(), json::array{"fresh"});
  EXPECT_EQ(b["routes_removed"].as_array(), json::array{"old"});

  auto snap = snapshots.load();
  EXPECT_EQ(snap->find_route("app")->runtime, app);
  EXPECT_EQ(app->weights(), (router::Weights{4200, 4200})) << "the runtime weight, not the config's 25";
  EXPECT_EQ(app->generation, 1u);
  EXPECT_EQ(snap->find_route("fresh")->runtime->weights(), (router::Weights{3000, 3000}));
  EXPECT_EQ(snap->find_route("old"), nullptr);
  EXPECT_EQ(registry.find_route("old"), nullptr);
  EXPECT_EQ(call(bhttp::verb::get, "/v1/routes/old").result_int(), 404);
  EXPECT_EQ(reloads("success"), 1);
  EXPECT_EQ(reloads("failure"), 0);

  auto audit = body_of(call(bhttp::verb::get, "/v1/audit?limit=1"))["entries"].as_array();
  ASSERT_EQ(audit.size(), 1u);
  auto entry = audit[0].as_object();
  EXPECT_EQ(entry["action"].as_string(), "config_reload");
  EXPECT_EQ(entry["actor"].as_string(), "anonymous");
  EXPECT_EQ(entry["routes_added"].as_array(), json::array{"fresh"});
  EXPECT_EQ(entry["routes_removed"].as_array(), json::array{"old"});
}

TEST_F(Reload, AnInvalidFileChangesNothingAndListsEveryErrorWithItsPlace) {
  start();
  const auto before = snapshots.load();
  std::ofstream(path, std::ios::trunc) << config_text(Spec{}) << "bogus_key: 1\nworkers: many\n";
  auto res = reload();
  ASSERT_EQ(res.result_int(), 422) << res.body();
  auto b = body_of(res);
  EXPECT_EQ(b["result"].as_string(), "failure");
  ASSERT_EQ(b["errors"].as_array().size(), 2u) << res.body();
  for (const auto& e : b["errors"].as_array())
    EXPECT_TRUE(std::string(e.as_string()).starts_with(path + ":1")) << e;  // lines 10 and 11
  EXPECT_NE(std::string(b["error"].as_string()).find("bogus_key"), std::string::npos) << res.body();
  EXPECT_EQ(snapshots.load(), before);
  EXPECT_EQ(reloads("failure"), 1);

  std::ofstream(path, std::ios::trunc) << "listeners: [\n";  // a YAML syntax error
  res = reload();
  ASSERT_EQ(res.result_int(), 422);
  EXPECT_EQ(snapshots.load(), before);
  EXPECT_EQ(reloads("failure"), 2);
  auto audit = body_of(call(bhttp::verb::get, "/v1/audit?limit=1"))["entries"].as_array();
  EXPECT_EQ(audit[0].as_object().at("result").as_string(), "failure");
}

TEST_F(Reload, AnEndpointThatDoesNotResolveIsAFailureAtItsPlace) {
  start();
  Spec s;
  s.cloud_endpoint = "no-such-host.invalid:9002";
  s.routes += "      - {name: fresh, source: legacy, target: cloud, weight: 70, match: {path_prefix: /f}}\n";
  write(s);
  auto res = reload();
  ASSERT_EQ(res.result_int(), 422) << res.body();
  auto errors = body_of(res)["errors"].as_array();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(std::string(errors[0].as_string()).starts_with(path + ":4:")) << errors[0];
  EXPECT_NE(std::string(errors[0].as_string()).find("no-such-host.invalid"), std::string::npos);
  EXPECT_EQ(registry.find_route("fresh"), nullptr);

  Spec fixed;
  fixed.routes += "      - {name: fresh, source: legacy, target: cloud, weight: 15, match: {path_prefix: /f}}\n";
  write(fixed);
  ASSERT_EQ(reload().result_int(), 200);
  EXPECT_EQ(registry.find_route("fresh")->weights(), (router::Weights{1500, 1500}));
}

TEST_F(Reload, RefusesWhatOnlyARestartCanChange) {
  start();
  Spec s;
  s.listener_address = "127.0.0.1:18080";
  s.top = "workers: 3\nstate_file: state.json\nworker_cpu_affinity: auto\n";
  write(s);
  auto res = reload();
  ASSERT_EQ(res.result_int(), 422) << res.body();
  auto errors = body_of(res)["errors"].as_array();
  // The listener's new address is no such change (a reload binds it); workers, state_file and
  // worker_cpu_affinity are.
  ASSERT_EQ(errors.size(), 3u) << res.body();
  std::string all;
  for (const auto& e : errors) all += std::string(e.as_string()) + "\n";
  EXPECT_NE(all.find(path + ":1:1: workers: changes from 0 to 3"), std::string::npos) << all;
  EXPECT_NE(all.find(path + ":2:1: state_file: changes from (none) to '"), std::string::npos) << all;
  EXPECT_NE(all.find(path + ":3:1: worker_cpu_affinity: changes"), std::string::npos) << all;
  EXPECT_NE(all.find("restart cutover to apply it"), std::string::npos);
}

TEST_F(Reload, RefusesToRemoveARouteWhoseWritesAreHeld) {
  Spec s;
  s.routes += "      - {name: old, source: legacy, target: cloud, match: {path_prefix: /old}}\n";
  write(s);
  start();
  ASSERT_EQ(call(bhttp::verb::post, "/v1/routes/old/writes/hold", R"({"drain": 0})").result_int(), 200);
  write(Spec{});
  auto res = reload();
  ASSERT_EQ(res.result_int(), 422) << res.body();
  EXPECT_NE(res.body().find("route 'old' is removed but its writes are held"), std::string::npos) << res.body();
  EXPECT_NE(snapshots.load()->find_route("old"), nullptr);
  ASSERT_EQ(call(bhttp::verb::post, "/v1/routes/old/writes/release").result_int(), 200);
  EXPECT_EQ(reload().result_int(), 200);
}

TEST_F(Reload, AbortsTheRampOfARemovedRouteAndKeepsTheOthers) {
  Spec s;
  s.routes += "      - {name: old, source: legacy, target: cloud, match: {path_prefix: /old}}\n";
  write(s);
  start();
  const std::string ramp = R"({"steps": [10, 50], "interval": "60s", "gates": {"max_error_rate": 0.01}})";
  ASSERT_EQ(call(bhttp::verb::post, "/v1/routes/old/ramp", ramp).result_int(), 200);
  ASSERT_EQ(call(bhttp::verb::post, "/v1/routes/app/ramp", ramp).result_int(), 200);
  write(Spec{});
  auto res = reload();
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(body_of(res)["ramps_aborted"].as_array(), json::array{"old"});
  EXPECT_TRUE(control->ramps().running("app")) << "a kept route keeps its ramp";
  EXPECT_FALSE(control->ramps().running("old"));
  EXPECT_EQ(metrics.ramp_step.Add({{"route", "old"}}).Value(), 0);
  EXPECT_EQ(registry.find_route("app")->weights().read_bp, 1000) << "the ramp's step weight, not the config's";
}

TEST_F(Reload, NeedsATokenWhenTokensAreConfiguredAndReReadsTheFile) {
  const auto tokens = (dir / "tokens.txt").string();
  std::ofstream(tokens) << "ops:first\n";
  Spec s;
  s.admin = "admin: {listen: 127.0.0.1:0, tokens_file: " + tokens + "}\n";
  write(s);
  start(Tokens::load(tokens));
  EXPECT_EQ(reload().result_int(), 401);
  EXPECT_EQ(reloads("success"), 0);
  std::ofstream(tokens, std::ios::trunc) << "ops:second\n";
  ASSERT_EQ(reload("Bearer first").result_int(), 200);
  EXPECT_EQ(reload("Bearer first").result_int(), 401) << "the reload re-read the tokens file";
  EXPECT_EQ(reload("Bearer second").result_int(), 200);
  auto audit = body_of(call(bhttp::verb::get, "/v1/audit?limit=1"))["entries"].as_array();
  EXPECT_EQ(audit[0].as_object().at("actor").as_string(), "ops");
}

TEST_F(Reload, TakesNoParameters) {
  start();
  EXPECT_EQ(call(bhttp::verb::post, "/v1/config/reload", R"({"path": "/etc/passwd"})").result_int(), 422);
  EXPECT_EQ(call(bhttp::verb::get, "/v1/config/reload").result_int(), 405);
  EXPECT_EQ(call(bhttp::verb::post, "/v1/config/reload", "{}").result_int(), 200);
}

TEST(ReloadRules, ListenersComeAndGoButKeepTheirProtocol) {
  auto load = [](const std::string& listeners) {
    auto loaded = config::load_string("clusters:\n  a: {endpoints: [\"127.0.0.1:1\"]}\n  b: {endpoints: [\"127.0.0.1:2\"]}\n"
                                      "listeners:\n" + listeners,
                                      "c.yaml");
    EXPECT_TRUE(loaded.config) << (loaded.errors.empty() ? "" : loaded.errors.front().str());
    return *loaded.config;
  };
  const std::string one = "  - {name: one, address: \"127.0.0.1:0\", routes: [{name: r1, source: a, target: b}]}\n";
  const std::string two = "  - {name: two, address: \"127.0.0.1:1\", routes: [{name: r2, source: a, target: b}]}\n";
  const std::string one_more_routes =
      "  - {name: one, address: \"127.0.0.1:0\", routes: [{name: r1, source: b, target: a}, "
      "{name: r3, source: a, target: b, match: {path_prefix: /x}}]}\n";
  EXPECT_TRUE(restart_only_changes(load(one + two), load(one_more_routes + two)).empty()) << "routes may change";

  auto msgs = [](const std::vector<config::Diagnostic>& d) {
    std::vector<std::string> out;
    for (const auto& x : d) out.push_back(x.message);
    return out;
  };
  EXPECT_TRUE(restart_only_changes(load(one), load(one + two)).empty()) << "a listener may be added";
  EXPECT_TRUE(restart_only_changes(load(one + two), load(one)).empty()) << "a listener may be removed";
  EXPECT_TRUE(restart_only_changes(load(one + two), load(two + one)).empty()) << "the order does not matter";
  const std::string two_elsewhere = "  - {name: two, address: \"127.0.0.1:3\", routes: [{name: r2, source: a, target: b}]}\n";
  EXPECT_TRUE(restart_only_changes(load(one + two), load(one + two_elsewhere)).empty()) << "nor the address";
  const std::string two_tcp =
      "  - {name: two, address: \"127.0.0.1:1\", protocol: tcp, routes: [{name: r2, source: a, target: b}]}\n";
  auto retyped = msgs(restart_only_changes(load(one + two), load(one + two_tcp)));
  ASSERT_EQ(retyped.size(), 1u);
  EXPECT_EQ(retyped[0], "listener 'two': protocol changes from http to tcp; restart cutover to apply it");

  auto changes = route_changes(load(one + two), load(one_more_routes));
  EXPECT_EQ(changes.added, std::vector<std::string>{"r3"});
  EXPECT_EQ(changes.removed, std::vector<std::string>{"r2"});
}

TEST(ReloadRules, ClustersWhoseConnectionSettingsChangeAreNamed) {
  auto load = [](const std::string& clusters) {
    auto loaded = config::load_string("clusters:\n" + clusters +
                                          "listeners:\n  - {name: l, address: \"127.0.0.1:0\", routes: "
                                          "[{name: r, source: a, target: b}]}\n",
                                      "c.yaml");
    EXPECT_TRUE(loaded.config) << (loaded.errors.empty() ? "" : loaded.errors.front().str());
    return *loaded.config;
  };
  const std::string b = "  b: {endpoints: [\"127.0.0.1:2\"]}\n";
  const auto plain = load("  a: {endpoints: [\"127.0.0.1:1\"], connect_timeout: 1s}\n" + b);
  EXPECT_EQ(clusters_with_new_connection_settings(plain, load("  a: {endpoints: [\"127.0.0.1:1\"]}\n" + b)),
            std::vector<std::string>{})
      << "a timeout is read per request: pooled connections stay";
  EXPECT_EQ(clusters_with_new_connection_settings(plain, load("  a: {endpoints: [\"127.0.0.1:1\"], tls: {}}\n" + b)),
            std::vector<std::string>{"a"});
  const auto tls = load("  a: {endpoints: [\"127.0.0.1:1\"], tls: {sni: x.test}}\n" + b);
  EXPECT_EQ(clusters_with_new_connection_settings(tls, load("  a: {endpoints: [\"127.0.0.1:1\"], tls: {sni: y.test}}\n" + b)),
            std::vector<std::string>{"a"});
  EXPECT_EQ(clusters_with_new_connection_settings(plain, load("  a: {endpoints: [\"127.0.0.1:1\"], protocol: http2}\n" + b)),
            std::vector<std::string>{"a"});
  EXPECT_EQ(clusters_with_new_connection_settings(
                plain, load("  a: {endpoints: [\"127.0.0.1:1\"], connect_timeout: 1s}\n"
                            "  c: {endpoints: [\"127.0.0.1:3\"], tls: {}}\n" + b)),
            std::vector<std::string>{})
      << "a new cluster has no pooled connections to close";
}

}  // namespace
}  // namespace cutover::admin
