// Segments and maintenance through the admin API: 422 naming the field for each bad input, the
// generation and if_generation, what the data plane reads, audit entries and the state file.
#include "admin/api.hpp"

#include <unistd.h>

#include <filesystem>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "admin/safety_api.hpp"
#include "admin/state_file.hpp"
#include "config/loader.hpp"
#include "config/segments.hpp"

namespace cutover::admin {
namespace {

namespace bhttp = boost::beast::http;
namespace json = boost::json;

constexpr const char* kSafetyConfig = R"(
admin: {listen: 127.0.0.1:0}
clusters:
  legacy: {endpoints: ["127.0.0.1:9001"]}
  cloud: {endpoints: ["127.0.0.1:9002"]}
listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - name: app
        source: legacy
        target: cloud
        segments: [{header: X-Tenant, values: [internal], side: target}]
      - {name: api, source: legacy, target: cloud, match: {path_prefix: /api/}}
)";

class SafetyApi : public ::testing::Test {
 protected:
  void SetUp() override {
    state_file = (std::filesystem::temp_directory_path() / ("cutover-safety-" + std::to_string(::getpid()) + ".json")).string();
    std::filesystem::remove(state_file);
    auto loaded = config::load_string(kSafetyConfig, "test.yaml");
    ASSERT_TRUE(loaded.config) << (loaded.errors.empty() ? "" : loaded.errors.front().str());
    snapshots.publish(runtime::compile(*loaded.config, registry, metrics));
    control = std::make_unique<Control>(io, snapshots, metrics, Tokens{}, std::make_unique<AuditLog>(""), state_file);
  }
  void TearDown() override { std::filesystem::remove(state_file); }

  AdminResponse call(bhttp::verb method, std::string target, std::string body = "") {
    AdminRequest req{method, target, 11};
    req.body() = std::move(body);
    req.prepare_payload();
    return handle_admin_request(req, *control);
  }
  static json::object body_of(const AdminResponse& res) { return json::parse(res.body()).as_object(); }
  runtime::RouteSafety& safety(const char* route) { return registry.find_route(route)->safety; }

  std::string state_file;
  boost::asio::io_context io;
  stats::Metrics metrics;
  runtime::RuntimeRegistry registry;
  runtime::SnapshotSource snapshots;
  std::unique_ptr<Control> control;
};

TEST_F(SafetyApi, ConfigSegmentsAreTheStartingList) {
  auto res = call(bhttp::verb::get, "/v1/routes/app/segments");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(json::serialize(body_of(res)["segments"]),
            R"([{"header":"X-Tenant","values":["internal"],"side":"target"}])");
  EXPECT_EQ(safety("app").flags(), runtime::RouteSafety::kHasSegments);
  EXPECT_EQ(safety("api").flags(), 0u);
}

TEST_F(SafetyApi, PutSegmentsPublishesBumpsTheGenerationAndPersists) {
  auto res = call(bhttp::verb::put, "/v1/routes/app/segments",
                  R"({"segments": [{"cookie": "tenant", "values": ["acme", "globex"], "side": "target"}],
                      "if_generation": 0, "reason": "first tenants"})");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(body_of(res)["generation"].as_int64(), 1);
  auto compiled = safety("app").segments();
  ASSERT_EQ(compiled->list.size(), 1u);
  EXPECT_TRUE(compiled->list[0].values.contains("globex"));
  // A stale generation changes nothing.
  res = call(bhttp::verb::put, "/v1/routes/app/segments", R"({"segments": [], "if_generation": 0})");
  EXPECT_EQ(res.result_int(), 409);
  EXPECT_EQ(safety("app").segments()->list.size(), 1u);
  // The state file holds the list; restoring it gives the same list.
  auto saved = read_state_file(state_file);
  ASSERT_TRUE(saved.count("app"));
  runtime::RouteRuntime fresh({0, 0}, 1);
  EXPECT_FALSE(restore_safety(fresh, saved["app"]));
  EXPECT_EQ(json::serialize(config::segments_json(fresh.safety.segment_configs())),
            json::serialize(config::segments_json(safety("app").segment_configs())));
  // Audited.
  auto audit = body_of(call(bhttp::verb::get, "/v1/audit"))["entries"].as_array();
  ASSERT_FALSE(audit.empty());
  EXPECT_EQ(audit.back().as_object().at("action"), "set_segments");
  EXPECT_EQ(audit.back().as_object().at("reason"), "first tenants");
}

TEST_F(SafetyApi, BadSegmentsAre422NamingTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"segments": [{"header": "X-Tenant", "values": ["a"], "side": "sideways"}]})", "segments[0].side"},
      {R"({"segments": [{"header": "X-Tenant", "values": [], "side": "target"}]})", "segments[0].values"},
      {R"({"segments": [{"client_cidrs": ["10.0.0.0/33"], "side": "target"}]})", "segments[0].client_cidrs[0]"},
      {R"({"segments": [{"header": "X-Tenant", "values": ["a", "a"], "side": "target"}]})", "segments[0].values[1]"},
      {R"({"segments": {"header": "X-Tenant"}})", "segments"},
      {R"({})", "segments"},
      {R"({"segment": []})", "segment"},
  };
  for (auto [body, field] : cases) {
    auto res = call(bhttp::verb::put, "/v1/routes/app/segments", body);
    EXPECT_EQ(res.result_int(), 422) << body;
    EXPECT_NE(body_of(res)["error"].as_string().find(field), json::string::npos) << res.body();
  }
  EXPECT_EQ(safety("app").segments()->list.size(), 1u) << "unchanged";
  EXPECT_EQ(registry.find_route("app")->generation, 0u);
}

TEST_F(SafetyApi, MaintenanceOnAndOffPerRoute) {
  auto res = call(bhttp::verb::put, "/v1/routes/app/maintenance", R"({"retry_after": "5m", "reason": "flip"})");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  auto m = safety("app").maintenance();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 503u);
  EXPECT_EQ(m->retry_after_s, 300);
  EXPECT_EQ(m->body, runtime::kDefaultMaintenancePage);
  EXPECT_EQ(body_of(res)["maintenance"].as_object().at("retry_after_s").as_int64(), 300);
  EXPECT_EQ(body_of(call(bhttp::verb::get, "/v1/routes/app"))["maintenance"].as_object().at("status").as_int64(), 503);
  EXPECT_FALSE(safety("api").maintenance());
  // Kept in the state file, body and all.
  auto saved = read_state_file(state_file);
  runtime::RouteRuntime fresh({0, 0}, 1);
  EXPECT_FALSE(restore_safety(fresh, saved["app"]));
  ASSERT_TRUE(fresh.safety.maintenance());
  EXPECT_EQ(fresh.safety.maintenance()->retry_after_s, 300);

  res = call(bhttp::verb::delete_, "/v1/routes/app/maintenance");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_FALSE(safety("app").maintenance());
  EXPECT_TRUE(body_of(res)["maintenance"].is_null());
  EXPECT_EQ(call(bhttp::verb::delete_, "/v1/routes/app/maintenance").result_int(), 409) << "not in maintenance";
}

TEST_F(SafetyApi, MaintenanceForEveryRoute) {
  auto res = call(bhttp::verb::put, "/v1/maintenance", R"({"status": 502, "body": "back soon", "content_type": "text/plain"})");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_EQ(body_of(res)["routes"].as_array().size(), 2u);
  EXPECT_EQ(safety("app").maintenance()->body, "back soon");
  EXPECT_EQ(safety("api").maintenance()->status, 502u);
  res = call(bhttp::verb::delete_, "/v1/maintenance");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_FALSE(safety("app").maintenance());
  EXPECT_FALSE(safety("api").maintenance());
}

TEST_F(SafetyApi, RouteListingsSummarizeSegments) {
  auto res = call(bhttp::verb::put, "/v1/routes/app/segments",
                  R"({"segments": [{"header": "X-Tenant", "values": ["a", "b", "c"], "side": "target"},
                                   {"cookie": "tenant", "prefix": "beta-", "side": "source"},
                                   {"client_cidrs": ["10.0.0.0/8", "192.0.2.0/24"], "side": "target"}]})");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  const char* want =
      R"([{"side":"target","header":"X-Tenant","values_count":3},)"
      R"({"side":"source","cookie":"tenant","prefix":"beta-"},)"
      R"({"side":"target","client_cidrs_count":2}])";
  EXPECT_EQ(json::serialize(body_of(call(bhttp::verb::get, "/v1/routes/app"))["segments"]), want);
  auto routes = body_of(call(bhttp::verb::get, "/v1/routes"))["routes"].as_array();
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(json::serialize(routes[0].as_object().at("segments")), want);
  EXPECT_EQ(json::serialize(routes[1].as_object().at("segments")), "[]");
}

// The fleet's form of the settings (etcd values): what one node writes, another applies to the
// same state; the same value again changes nothing; a value that does not parse changes nothing.
TEST_F(SafetyApi, SettingTextsApplyOnAnotherNode) {
  ASSERT_EQ(call(bhttp::verb::put, "/v1/routes/app/segments",
                 R"({"segments": [{"header": "X-Tenant", "values": ["acme"], "side": "target"},
                                  {"client_cidrs": ["10.0.0.0/8"], "side": "source"}]})").result_int(), 200);
  ASSERT_EQ(call(bhttp::verb::put, "/v1/routes/app/maintenance",
                 R"({"status": 502, "retry_after": 9, "body": "later", "content_type": "text/plain"})").result_int(),
            200);
  const auto segments = setting_text(safety("app").segment_configs());
  const auto maintenance = setting_text(safety("app").maintenance().get());
  runtime::RouteRuntime other({0, 0}, 1);
  std::string problem;
  EXPECT_TRUE(apply_setting(other, true, segments, problem)) << problem;
  EXPECT_TRUE(apply_setting(other, false, maintenance, problem)) << problem;
  EXPECT_EQ(setting_text(other.safety.segment_configs()), segments);
  ASSERT_TRUE(other.safety.maintenance());
  EXPECT_EQ(other.safety.maintenance()->body, "later");
  EXPECT_EQ(other.safety.maintenance()->since, safety("app").maintenance()->since);
  EXPECT_TRUE(other.safety.segments()->list[0].values.contains("acme"));
  EXPECT_FALSE(apply_setting(other, true, segments, problem)) << "the same list again";
  EXPECT_FALSE(apply_setting(other, false, maintenance, problem)) << "the same maintenance again";
  EXPECT_TRUE(problem.empty()) << problem;
  EXPECT_FALSE(apply_setting(other, true, R"([{"header": "X-Tenant", "side": "target"}])", problem));
  EXPECT_FALSE(problem.empty());
  problem.clear();
  EXPECT_FALSE(apply_setting(other, false, "{not json", problem));
  EXPECT_FALSE(problem.empty());
  ASSERT_TRUE(other.safety.maintenance()) << "a bad value changes nothing";
  problem.clear();
  EXPECT_TRUE(apply_setting(other, false, setting_text(nullptr), problem)) << problem;
  EXPECT_FALSE(other.safety.maintenance());
  EXPECT_TRUE(apply_setting(other, true, "[]", problem)) << problem;
  EXPECT_EQ(other.safety.flags(), 0u);
}

TEST_F(SafetyApi, BadMaintenanceIs422NamingTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"status": 99})", "status"},
      {R"({"status": "503"})", "status"},
      {R"({"retry_after": "soon"})", "retry_after"},
      {R"({"retry_after": "2d"})", "retry_after"},
      {R"({"body": "a", "body_file": "/etc/hostname"})", "body_file"},
      {R"({"body_file": "/nonexistent/page.html"})", "body_file"},
      {R"({"content_type": "text/html\r\nX-Evil: 1"})", "content_type"},
      {R"({"retry": 5})", "retry"},
  };
  for (auto [body, field] : cases) {
    auto res = call(bhttp::verb::put, "/v1/routes/app/maintenance", body);
    EXPECT_EQ(res.result_int(), 422) << body;
    EXPECT_NE(body_of(res)["error"].as_string().find(field), json::string::npos) << res.body();
  }
  EXPECT_FALSE(safety("app").maintenance());
}

}  // namespace
}  // namespace cutover::admin
