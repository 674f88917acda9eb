// The admin API as a function: weights, generations, rollback, auth and the JSON errors.
#include "admin/api.hpp"

#include <fstream>

#include <boost/json/parse.hpp>
#include <boost/json/value_to.hpp>
#include <gtest/gtest.h>

#include "admin/json_text.hpp"
#include "config/loader.hpp"

namespace cutover::admin {
namespace {

namespace bhttp = boost::beast::http;
namespace json = boost::json;

constexpr const char* kConfig = R"(
admin: {listen: 127.0.0.1:0}
clusters:
  legacy: {endpoints: ["127.0.0.1:9001"]}
  cloud: {endpoints: ["127.0.0.1:9002"]}
listeners:
  - name: public
    address: 127.0.0.1:0
    routes:
      - {name: app, source: legacy, target: cloud, read_weight: 25, write_weight: 0}
)";

class AdminApi : public ::testing::Test {
 protected:
  void SetUp() override { build(Tokens{}); }

  void build(Tokens tokens) {
    auto loaded = config::load_string(kConfig, "test.yaml");
    ASSERT_TRUE(loaded.config) << (loaded.errors.empty() ? "" : loaded.errors.front().str());
    snapshots.publish(runtime::compile(*loaded.config, registry, metrics));
    control = std::make_unique<Control>(io, snapshots, metrics, std::move(tokens),
                                        std::make_unique<AuditLog>(""), "");
  }

  AdminResponse call(bhttp::verb method, std::string target, std::string body = "", std::string auth = "") {
    AdminRequest req{method, target, 11};
    req.body() = std::move(body);
    if (!auth.empty()) req.set(bhttp::field::authorization, auth);
    req.prepare_payload();
    return handle_admin_request(req, *control);
  }

  json::object body_of(const AdminResponse& res) { return json::parse(res.body()).as_object(); }

  boost::asio::io_context io;
  stats::Metrics metrics;
  runtime::RuntimeRegistry registry;
  runtime::SnapshotSource snapshots;
  std::unique_ptr<Control> control;
};

TEST_F(AdminApi, PutWeightsChangesWhatTheDataPlaneReadsAndBumpsTheGeneration) {
  auto res = call(bhttp::verb::put, "/v1/routes/app/weights", R"({"read_weight": 50.25, "write_weight": 10})");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  auto w = registry.find_route("app")->weights();
  EXPECT_EQ(w.read_bp, 5025);
  EXPECT_EQ(w.write_bp, 1000);
  auto b = body_of(res);
  EXPECT_EQ(b["generation"].as_int64(), 1);
  EXPECT_DOUBLE_EQ(b["read_weight"].as_double(), 50.25);
  EXPECT_NE(res.body().find("\"read_weight\":50.25"), std::string::npos) << res.body();  // plain numbers

  res = call(bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 100})");
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_EQ(registry.find_route("app")->weights(), (router::Weights{10000, 10000}));
  EXPECT_EQ(body_of(res)["generation"].as_int64(), 2);
}

TEST_F(AdminApi, IfGenerationMismatchIs409AndChangesNothing) {
  auto res = call(bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 10, "if_generation": 3})");
  EXPECT_EQ(res.result_int(), 409);
  EXPECT_EQ(body_of(res)["generation"].as_int64(), 0);
  EXPECT_EQ(registry.find_route("app")->weights().read_bp, 2500);
  res = call(bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 10, "if_generation": 0})");
  EXPECT_EQ(res.result_int(), 200);
}

TEST_F(AdminApi, InvalidInputGetsTheRightStatusAndAJsonError) {
  struct Case {
    bhttp::verb method;
    const char* target;
    const char* body;
    unsigned status;
  };
  for (const auto& c : {Case{bhttp::verb::put, "/v1/routes/app/weights", "{not json", 400},
                        Case{bhttp::verb::put, "/v1/routes/app/weights", "[1,2]", 400},
                        Case{bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 101})", 422},
                        Case{bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 10.005})", 422},
                        Case{bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": -1})", 422},
                        Case{bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": "10"})", 422},
                        Case{bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 1, "read_weight": 2})", 422},
                        Case{bhttp::verb::put, "/v1/routes/app/weights", R"({"wieght": 1})", 422},
                        Case{bhttp::verb::put, "/v1/routes/app/weights", "{}", 422},
                        Case{bhttp::verb::put, "/v1/routes/nope/weights", R"({"weight": 1})", 404},
                        Case{bhttp::verb::get, "/v1/nothing", "", 404},
                        Case{bhttp::verb::post, "/v1/routes/app/weights", R"({"weight": 1})", 405},
                        Case{bhttp::verb::post, "/v1/routes/app/rollback", R"({"close_target_connections": 1})", 422}}) {
    auto res = call(c.method, c.target, c.body);
    EXPECT_EQ(res.result_int(), c.status) << c.target << " " << c.body << " -> " << res.body();
    EXPECT_TRUE(body_of(res).contains("error")) << res.body();
  }
  EXPECT_EQ(registry.find_route("app")->weights().read_bp, 2500);
  EXPECT_EQ(registry.find_route("app")->generation, 0u);
}

TEST_F(AdminApi, UnknownPathsMethodsAndRoutesAreToldApart) {
  auto res = call(bhttp::verb::delete_, "/v1/routes/app/ramp");
  EXPECT_EQ(res.result_int(), 405);
  EXPECT_EQ(res[bhttp::field::allow], "GET, POST");
  EXPECT_EQ(body_of(res)["error"].as_string(), "use GET or POST");
  res = call(bhttp::verb::get, "/v1/routes/app/weights");
  EXPECT_EQ(res.result_int(), 405);
  EXPECT_EQ(res[bhttp::field::allow], "PUT");
  // The route name is checked before the rest of the path, whatever the method.
  EXPECT_EQ(body_of(call(bhttp::verb::get, "/v1/routes/nope/bogus"))["error"].as_string(), "no route named 'nope'");
  EXPECT_EQ(body_of(call(bhttp::verb::delete_, "/v1/routes/nope"))["error"].as_string(), "no route named 'nope'");
  res = call(bhttp::verb::get, "/v1/routes/app/bogus");
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_EQ(body_of(res)["error"].as_string(), "no such endpoint");
  EXPECT_EQ(body_of(call(bhttp::verb::get, "/v1"))["error"].as_string(), "no such endpoint");
}

TEST_F(AdminApi, ServesItsOpenApiDescription) {
  auto res = call(bhttp::verb::get, "/v1/openapi.yaml");
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[bhttp::field::content_type], "application/yaml");
  EXPECT_EQ(res.body().rfind("openapi: 3.1.0\n", 0), 0u) << res.body().substr(0, 40);
}

TEST_F(AdminApi, RollbackZeroesBothWeightsAndIsAudited) {
  call(bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 60})");
  auto res = call(bhttp::verb::post, "/v1/routes/app/rollback");
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_EQ(registry.find_route("app")->weights(), (router::Weights{0, 0}));
  auto audit = body_of(call(bhttp::verb::get, "/v1/audit?limit=1"))["entries"].as_array();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].as_object().at("action").as_string(), "rollback");
  EXPECT_EQ(audit[0].as_object().at("before").as_object().at("read_weight").as_int64(), 60);
}

TEST_F(AdminApi, TokensGuardMutatingCallsOnly) {
  std::string path = ::testing::TempDir() + "tokens.txt";
  std::ofstream(path) << "# operators\nops:s3cret\n";
  build(Tokens::load(path));
  EXPECT_EQ(call(bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 5})").result_int(), 401);
  EXPECT_EQ(call(bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 5})", "Bearer wrong").result_int(), 401);
  EXPECT_EQ(call(bhttp::verb::get, "/v1/routes/app").result_int(), 200);
  EXPECT_EQ(call(bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 5})", "Bearer s3cret").result_int(), 200);
  auto audit = body_of(call(bhttp::verb::get, "/v1/audit"))["entries"].as_array();
  EXPECT_EQ(audit.back().as_object().at("actor").as_string(), "ops");
}

TEST_F(AdminApi, AReadOnlyTokenIsKnownAndChangesNothing) {
  std::string path = ::testing::TempDir() + "tokens-roles.txt";
  std::ofstream(path) << "ops:s3cret:admin\nviewer:l00k:read\n";
  build(Tokens::load(path));
  auto res = call(bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 5})", "Bearer l00k");
  EXPECT_EQ(res.result_int(), 403);
  EXPECT_EQ(body_of(res)["error"].as_string(), "token 'viewer' is read-only");
  EXPECT_EQ(json::value_to<double>(body_of(call(bhttp::verb::get, "/v1/routes/app"))["read_weight"]), 25.0);
  auto viewer = body_of(call(bhttp::verb::get, "/v1/whoami", "", "Bearer l00k"));
  EXPECT_EQ(viewer["actor"].as_string(), "viewer");
  EXPECT_EQ(viewer["role"].as_string(), "read");
  EXPECT_FALSE(viewer["can_change"].as_bool());
  EXPECT_TRUE(viewer["tokens"].as_bool());
  EXPECT_FALSE(viewer["fleet"].as_bool());
  auto ops = body_of(call(bhttp::verb::get, "/v1/whoami", "", "Bearer s3cret"));
  EXPECT_EQ(ops["role"].as_string(), "admin");
  EXPECT_TRUE(ops["can_change"].as_bool());
  auto nobody = body_of(call(bhttp::verb::get, "/v1/whoami", "", "Bearer guess"));
  EXPECT_TRUE(nobody["actor"].is_null());
  EXPECT_FALSE(nobody["can_change"].as_bool());
  EXPECT_EQ(call(bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 5})", "Bearer s3cret").result_int(), 200);
}

TEST_F(AdminApi, WhoamiWithoutTokensIsAnonymousAndMayChange) {
  auto who = body_of(call(bhttp::verb::get, "/v1/whoami"));
  EXPECT_EQ(who["actor"].as_string(), "anonymous");
  EXPECT_TRUE(who["can_change"].as_bool());
  EXPECT_FALSE(who["tokens"].as_bool());
}

TEST(TokensFile, RolesAreReadOrAdminAndBadLinesNameTheirPlace) {
  const std::string path = ::testing::TempDir() + "tokens-bad.txt";
  for (const char* text : {"ops:s3cret:write\n", "ops::read\n", "ops\n", ":s3cret\n"}) {
    std::ofstream(path) << text;
    try {
      Tokens::load(path);
      ADD_FAILURE() << "accepted " << text;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(path + ":1:"), std::string::npos) << e.what();
    }
  }
}

TEST_F(AdminApi, StatsSeriesCutsTheWindowIntoStepsOldestFirst) {
  auto res = call(bhttp::verb::get, "/v1/stats/series?route=app&window=60s&step=10s");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  auto body = body_of(res);
  EXPECT_EQ(body["step_s"].as_int64(), 10);
  EXPECT_EQ(body["window_s"].as_int64(), 60);
  const auto& points = body["points"].as_array();
  ASSERT_EQ(points.size(), 6u);
  EXPECT_EQ(points[5].as_object().at("t").as_int64() - points[0].as_object().at("t").as_int64(), 50);
  EXPECT_TRUE(points[0].as_object().at("source").as_object().at("p99_ms").is_null());  // no traffic here
  // 15m is the default and the longest: 899 s, so that the oldest step is still in the ring.
  EXPECT_EQ(body_of(call(bhttp::verb::get, "/v1/stats/series?route=app"))["points"].as_array().size(), 179u);
  EXPECT_EQ(call(bhttp::verb::get, "/v1/stats/series").result_int(), 400);
  EXPECT_EQ(call(bhttp::verb::get, "/v1/stats/series?route=nope").result_int(), 404);
  EXPECT_EQ(call(bhttp::verb::get, "/v1/stats/series?route=app&step=0").result_int(), 400);
  EXPECT_EQ(call(bhttp::verb::get, "/v1/stats/series?route=app&window=20m").result_int(), 400);
  EXPECT_EQ(call(bhttp::verb::get, "/v1/stats/series?route=app&window=30s&step=1m").result_int(), 400);
}

TEST_F(AdminApi, TheConsoleIsServedWithItsSecurityHeaders) {
  AdminRequest req{bhttp::verb::get, "/ui/", 11};
  auto page = route_admin_request(req, *control).response;
  EXPECT_EQ(page.result_int(), 200);
  EXPECT_NE(page.body().find("<title>cutover console</title>"), std::string::npos);
  EXPECT_NE(std::string(page["Content-Security-Policy"]).find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(page["X-Frame-Options"], "DENY");
  req.target("/ui");
  auto redirect = route_admin_request(req, *control).response;
  EXPECT_EQ(redirect.result_int(), 308);
  EXPECT_EQ(redirect[bhttp::field::location], "/ui/");
  req.target("/ui/chart.js");
  EXPECT_NE(route_admin_request(req, *control).response.body().find("Chart.js v3.9.1"), std::string::npos);
  req.target("/ui/../v1/routes");
  EXPECT_EQ(route_admin_request(req, *control).response.result_int(), 404);
  req.method(bhttp::verb::post);
  req.target("/ui/");
  EXPECT_EQ(route_admin_request(req, *control).response.result_int(), 405);
}

TEST_F(AdminApi, HoldAndReleaseApplyTheWeightBeforeWakingHeldWrites) {
  auto rt = registry.find_route("app");
  std::vector<std::pair<int, std::uint16_t>> releases;  // held write, write weight it saw
  EXPECT_EQ(call(bhttp::verb::post, "/v1/routes/app/writes/release").result_int(), 409);

  auto res = call(bhttp::verb::post, "/v1/routes/app/writes/hold", R"({"drain": 2})");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  auto b = body_of(res);
  EXPECT_TRUE(b["writes"].as_object()["held"].as_bool());
  EXPECT_TRUE(b["drained"].as_bool());
  EXPECT_EQ(b["in_flight_at_hold"].as_int64(), 0);
  EXPECT_TRUE(rt->writes_held());
  EXPECT_EQ(rt->hold_seq.load(), 1u);
  EXPECT_EQ(call(bhttp::verb::post, "/v1/routes/app/writes/hold", R"({"drain": -1})").result_int(), 422);
  for (int i = 0; i < 3; ++i)  // what the data plane registers for held writes, in arrival order
    rt->enqueue_held({static_cast<std::uint64_t>(i + 1), rt->hold_seq.load(), [&, i](auto chain) {
                        EXPECT_FALSE(rt->writes_held());
                        releases.emplace_back(i, rt->weights().write_bp);
                        chain->advance();  // as a released write does once its head is upstream
                      }});

  res = call(bhttp::verb::post, "/v1/routes/app/writes/release", R"({"write_weight": 100})");
  ASSERT_EQ(res.result_int(), 200) << res.body();
  EXPECT_FALSE(rt->writes_held());
  EXPECT_EQ(rt->weights(), (router::Weights{2500, 10000}));
  EXPECT_EQ(releases, (std::vector<std::pair<int, std::uint16_t>>{{0, 10000}, {1, 10000}, {2, 10000}}));

  EXPECT_EQ(body_of(res)["released"].as_int64(), 0) << "none of them was counted as waiting in the data plane";
  EXPECT_EQ(rt->generation, 2u);

  // A write that does not pass the baton on stalls the rest: the chain is strictly sequential.
  call(bhttp::verb::post, "/v1/routes/app/writes/hold");
  std::vector<int> woken;
  for (int i = 0; i < 2; ++i)
    rt->enqueue_held({static_cast<std::uint64_t>(10 + i), rt->hold_seq.load(), [&, i](auto) { woken.push_back(i); }});
  call(bhttp::verb::post, "/v1/routes/app/writes/release");
  EXPECT_EQ(woken, std::vector<int>{0});
}

TEST_F(AdminApi, RollbackLiftsAHoldWithWeightsAtZero) {
  std::vector<std::uint16_t> seen;
  auto rt = registry.find_route("app");
  call(bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 100})");
  call(bhttp::verb::post, "/v1/routes/app/writes/hold");
  rt->enqueue_held({1, rt->hold_seq.load(), [&](auto chain) {
                      seen.push_back(rt->weights().write_bp);
                      chain->advance();
                    }});
  ASSERT_EQ(call(bhttp::verb::post, "/v1/routes/app/rollback").result_int(), 200);
  EXPECT_FALSE(registry.find_route("app")->writes_held());
  EXPECT_EQ(seen, (std::vector<std::uint16_t>{0}));
  auto entries = body_of(call(bhttp::verb::get, "/v1/audit"))["entries"].as_array();
  EXPECT_EQ(entries.back().as_object().at("action").as_string(), "rollback");
  EXPECT_FALSE(entries.back().as_object().at("writes_held").as_bool());
}

TEST_F(AdminApi, AuditEntriesNameTheClientAndTheOperatorsReason) {
  AdminRequest req{bhttp::verb::post, "/v1/routes/app/rollback", 11};
  req.body() = R"({"reason": "target p99 doubled"})";
  req.prepare_payload();
  ASSERT_EQ(handle_admin_request(req, *control, "127.0.0.1:40001").result_int(), 200);
  auto entry = body_of(call(bhttp::verb::get, "/v1/audit?limit=1"))["entries"].as_array().at(0).as_object();
  EXPECT_EQ(entry.at("actor").as_string(), "anonymous");
  EXPECT_EQ(entry.at("client").as_string(), "127.0.0.1:40001");
  EXPECT_EQ(entry.at("reason").as_string(), "target p99 doubled");

  // A reason that is not a short string is refused before anything changes.
  auto before = registry.find_route("app")->generation;
  EXPECT_EQ(call(bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 5, "reason": ["x"]})").result_int(), 422);
  const std::string long_reason(Actor::kMaxReasonBytes + 1, 'x');
  EXPECT_EQ(call(bhttp::verb::put, "/v1/routes/app/weights", R"({"weight": 5, "reason": ")" + long_reason + "\"}").result_int(),
            422);
  EXPECT_EQ(registry.find_route("app")->generation, before);
}

TEST(JsonText, PrintsDoublesPlainly) {
  json::value v = json::parse(R"({"a": 50.5, "b": [1, 0.01, "x\"y"], "c": null, "d": true})");
  EXPECT_EQ(to_json_text(v), R"({"a":50.5,"b":[1,0.01,"x\"y"],"c":null,"d":true})");
}

}  // namespace
}  // namespace cutover::admin
