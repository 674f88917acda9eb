// cutoverctl's views as pure functions: tables, the progress bar, the ramp and watch views, the
// stats and shadow views, and what they do with nulls and missing fields.
#include "ctl/render.hpp"

#include <boost/json/parse.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cutover::ctl {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kRoutes = R"({"routes":[
  {"name":"app","listener":"public","match":{"host":"*","path_prefix":"/"},"source":"legacy","target":"cloud",
   "read_weight":12.5,"write_weight":0,"generation":7,
   "writes":{"held":false,"held_requests":0,"in_flight":0},"ramp":null,"mirror":null},
  {"name":"api","listener":"public","match":{"host":"*","path_prefix":"/api"},"source":"legacy","target":"cloud",
   "read_weight":100,"write_weight":25.25,"generation":12,
   "writes":{"held":true,"held_requests":3,"in_flight":1},"tunnels":{"source":3,"target":0},
   "ramp":{"route":"api","state":"running","steps":[1,5,25,50,100],"step":1,"step_weight":5},"mirror":{"percent":10,"in_flight":0}}
]})";

constexpr const char* kRamp = R"({"route":"app","state":"running","steps":[10,50,100],"step":1,"step_weight":50,
  "interval_s":60,"apply_to":"both",
  "gates":{"max_error_rate":0.01,"max_p99_ms":500,"max_p99_ratio":1.5,"min_requests":100},
  "max_wait_s":300,"webhook":null,"started":"2026-11-21T10:00:00Z","step_started":"2026-11-21T10:01:00Z",
  "step_elapsed_s":30,"ended":null,"reason":"","failed_gate":null,
  "last_evaluation":{"time":"2026-11-21T10:01:30Z","window_s":30,"target_requests":250,"source_requests":260,
    "passed":false,"waiting":false,"gates":[
      {"gate":"max_error_rate","value":0.0123,"threshold":0.01,"passed":false},
      {"gate":"max_p99_ms","value":412.5,"threshold":500,"passed":true},
      {"gate":"max_p99_ratio","value":null,"threshold":1.5,"passed":true},
      {"gate":"min_requests","value":250,"threshold":100,"passed":true}]}})";

constexpr const char* kStats = R"({"window_s":60,"routes":[
  {"route":"app","read_weight":50,"write_weight":50,
   "sides":{"source":{"requests":1000,"errors_5xx":2,"error_rate":0.002,"connect_errors":0,"timeouts":0,
                      "p50_ms":1.25,"p90_ms":3,"p99_ms":9.5},
            "target":{"requests":0,"errors_5xx":0,"error_rate":0,"connect_errors":0,"timeouts":0,
                      "p50_ms":null,"p90_ms":null,"p99_ms":null}},
   "mirror":{"match":40,"mismatch":2,"mismatch_rate":0.047619}}]})";

json::value parse(const char* text) { return json::parse(text); }

TEST(CtlRender, PlainNumbersAndDurations) {
  EXPECT_EQ(plain_number(12.5), "12.5");
  EXPECT_EQ(plain_number(10.0), "10");
  EXPECT_EQ(plain_number(25.25), "25.25");
  EXPECT_EQ(plain_number(0.0001, 2), "0");
  EXPECT_EQ(plain_number(-0.0001, 2), "0");
  EXPECT_EQ(duration_text(45), "45s");
  EXPECT_EQ(duration_text(1.5), "1.5s");
  EXPECT_EQ(duration_text(90), "1m30s");
  EXPECT_EQ(duration_text(300), "5m");
  EXPECT_EQ(duration_text(3600), "1h");
}

TEST(CtlRender, ProgressBar) {
  EXPECT_EQ(progress_bar(2, 5), "[####------] 2/5");
  EXPECT_EQ(progress_bar(0, 5), "[----------] 0/5");
  EXPECT_EQ(progress_bar(5, 5), "[##########] 5/5");
  EXPECT_EQ(progress_bar(1, 3, 6), "[##----] 1/3");
  EXPECT_EQ(progress_bar(7, 3, 6), "[######] 3/3") << "done is clamped to total";
  EXPECT_EQ(progress_bar(0, 0, 4), "[----] 0/0");
  EXPECT_EQ(fraction_bar(0.5, 4), "[##--]");
  EXPECT_EQ(fraction_bar(2.0, 4), "[####]");
  EXPECT_EQ(fraction_bar(-1, 4), "[----]");
}

TEST(CtlRender, TableAlignsColumnsWithoutTrailingSpaces) {
  auto t = format_table({"A", "NUM", "C"}, {{"long-name", "5", ""}, {"x", "100", "z"}}, {false, true, false});
  EXPECT_EQ(t,
            "A          NUM  C\n"
            "long-name    5\n"
            "x          100  z\n");
}

TEST(CtlRender, StatusTable) {
  auto out = status_view(parse(kRoutes));
  EXPECT_EQ(out,
            "ROUTE  SOURCE  TARGET  READ %  WRITE %  WRITES   TUNNELS  RAMP         GEN\n"
            "app    legacy  cloud     12.5        0  flowing        -  -              7\n"
            "api    legacy  cloud      100    25.25  held 3       3/0  running 2/5   12\n");
}

TEST(CtlRender, StatusToleratesMissingFieldsAndNoRoutes) {
  EXPECT_EQ(status_view(parse(R"({"routes":[]})")), "no routes\n");
  EXPECT_EQ(status_view(parse("null")), "no routes\n");
  auto out = status_view(parse(R"({"routes":[{"name":"x","read_weight":null}]})"));
  EXPECT_THAT(out, HasSubstr("x      -       -            -        -  -             -  -       -"));
}

TEST(CtlRender, RouteLineHoldAndRelease) {
  auto routes = parse(kRoutes).as_object()["routes"].as_array();
  EXPECT_EQ(route_line(routes[0]), "app: read 12.5 %, write 0 %, writes flowing, generation 7\n");
  EXPECT_EQ(route_line(routes[1]), "api: read 100 %, write 25.25 %, writes held (3 waiting), generation 12\n");

  auto held = routes[1].as_object();
  held["in_flight_at_hold"] = 4;
  held["in_flight_remaining"] = 0;
  held["drained"] = true;
  EXPECT_THAT(hold_view(held), HasSubstr("writes held; 4 in flight at the hold, all finished\n"));
  held["in_flight_remaining"] = 2;
  held["drained"] = false;
  EXPECT_THAT(hold_view(held), HasSubstr("2 still in flight when the drain ended"));
  EXPECT_THAT(hold_view(held), HasSubstr("tunnels open: 3 to source, 0 to target\n"));
  EXPECT_THAT(hold_view(routes[0]), Not(HasSubstr("tunnels"))) << "a route without tunnels (tcp)";

  auto released = routes[0].as_object();
  released["released"] = 50;
  EXPECT_EQ(release_view(released), "released 50 held writes\napp: read 12.5 %, write 0 %, writes flowing, generation 7\n");
  released["tunnels_closing"] = 2;
  EXPECT_THAT(release_view(released), HasSubstr("closing 2 tunnels of the side that lost the writes\n"));
}

TEST(CtlRender, FleetHoldShowsEachNodesDrain) {
  auto held = parse(kRoutes).as_object()["routes"].as_array()[1].as_object();
  held["in_flight_at_hold"] = 3;
  held["in_flight_remaining"] = 1;
  held["drained"] = false;
  held["fleet"] = parse(R"({"revision": 40, "applied": ["n1", "n2"], "laggards": [], "hold_revision": 40,
      "nodes": {"n1": {"reported": true, "in_flight_at_hold": 2, "in_flight_remaining": 0, "drained": true},
                "n2": {"reported": true, "in_flight_at_hold": 1, "in_flight_remaining": 1, "drained": false}}})");
  auto out = hold_view(held);
  EXPECT_THAT(out, HasSubstr("NODE  IN FLIGHT AT HOLD  REMAINING  DRAINED\n"));
  EXPECT_THAT(out, HasSubstr("n1                    2          0  yes\n"));
  EXPECT_THAT(out, HasSubstr("n2                    1          1  no\n"));
}

TEST(CtlRender, FleetView) {
  auto out = fleet_view(parse(R"({"node": "n1", "etcd": {"up": true}, "applied_revision": 42, "leader": "n2",
      "nodes": [{"node": "n1", "applied_revision": 42}, {"node": "n2", "applied_revision": 41}],
      "local_overrides": []})"));
  EXPECT_EQ(out, "node n1: etcd up, applied revision 42, leader n2\n"
                 "NODE  APPLIED REVISION\n"
                 "n1                  42\n"
                 "n2                  41\n"
                 "local overrides: none\n");
  out = fleet_view(parse(R"({"node": "n3", "etcd": {"up": false, "error": "connection refused"},
      "applied_revision": 7, "nodes": [], "local_overrides": [{"route": "app", "read_weight": 0, "write_weight": 0}]})"));
  EXPECT_THAT(out, HasSubstr("node n3: etcd unreachable (connection refused), applied revision 7, leader -\n"));
  EXPECT_THAT(out, HasSubstr("local overrides (not yet in etcd):\nROUTE  READ %  WRITE %\napp         0        0\n"));
}

TEST(CtlRender, RampViewShowsStepGatesAndVerdict) {
  auto out = ramp_view(parse(kRamp));
  EXPECT_THAT(out, HasSubstr("route app  ramp running  step 2/3 at 50 %  [#######---] 2/3\n"));
  EXPECT_THAT(out, HasSubstr("steps 10,50,100 % every 1m, apply to both, max wait 5m\n"));
  EXPECT_THAT(out, HasSubstr("started 2026-11-21T10:00:00Z, step started 2026-11-21T10:01:00Z\n"));
  EXPECT_THAT(out, HasSubstr("last evaluation 2026-11-21T10:01:30Z over 30s: failed, target 250 / source 260 requests"));
  EXPECT_THAT(out, HasSubstr("  max_error_rate     1.23%  <=         1%  FAIL\n"));
  EXPECT_THAT(out, HasSubstr("  max_p99_ms      412.5 ms  <=     500 ms  pass\n"));
  EXPECT_THAT(out, HasSubstr("  max_p99_ratio          -  <=       1.5x  pass\n")) << "a null value is shown as -";
  EXPECT_THAT(out, HasSubstr("  min_requests         250  >=        100  pass\n"));
  EXPECT_THAT(out, Not(HasSubstr("reason:")));
  EXPECT_THAT(out, Not(HasSubstr("ended")));
}

TEST(CtlRender, RampViewBeforeTheFirstEvaluationAndAfterARollback) {
  auto ramp = parse(kRamp).as_object();
  ramp["last_evaluation"] = nullptr;
  auto out = ramp_view(ramp);
  EXPECT_THAT(out, HasSubstr("last evaluation: none yet\n"));
  EXPECT_THAT(out, HasSubstr("  max_p99_ms          -  <=     500 ms  pending\n"));

  ramp["state"] = "rolled_back";
  ramp["ended"] = "2026-11-21T10:02:00Z";
  ramp["reason"] = "gate max_error_rate failed at step 2";
  ramp["failed_gate"] = json::object{{"gate", "max_error_rate"}, {"value", 0.05}, {"threshold", 0.01}};
  out = ramp_view(ramp);
  EXPECT_THAT(out, HasSubstr("ramp rolled_back  step 2/3"));
  EXPECT_THAT(out, HasSubstr(", ended 2026-11-21T10:02:00Z\n"));
  EXPECT_THAT(out, HasSubstr("reason: gate max_error_rate failed at step 2\n"));
  EXPECT_THAT(out, HasSubstr("failed gate: max_error_rate 5% > 1%\n"));

  ramp["failed_gate"] = json::object{{"gate", "webhook"}, {"value", nullptr}, {"threshold", 0}};
  ramp["webhook_last"] = "POST https://hooks.example/ramp: 503";
  out = ramp_view(ramp);
  EXPECT_THAT(out, HasSubstr("failed gate: webhook\n"));
  EXPECT_THAT(out, HasSubstr("webhook: POST https://hooks.example/ramp: 503\n"));

  ramp["state"] = "completed";
  EXPECT_THAT(ramp_view(ramp), HasSubstr("step 3/3 at 50 %  [##########] 3/3"));
}

TEST(CtlRender, RampViewWaitingForRequests) {
  auto ramp = parse(kRamp).as_object();
  auto& eval = ramp["last_evaluation"].as_object();
  eval["waiting"] = true;
  eval["gates"] = json::array{json::object{{"gate", "min_requests"}, {"value", 12}, {"threshold", 100}, {"passed", false}}};
  auto out = ramp_view(ramp);
  EXPECT_THAT(out, HasSubstr(": waiting for enough requests, target 250"));
  EXPECT_THAT(out, HasSubstr("  min_requests     12  >=        100  wait\n"));
}

TEST(CtlRender, WatchViewWithStats) {
  auto stats = parse(kStats);
  auto out = watch_view(parse(kRamp), stats);
  EXPECT_THAT(out, HasSubstr("route app  ramp running  step 2/3"));
  EXPECT_THAT(out, HasSubstr("time in step 30s / 1m  [#####-----]\n"));
  EXPECT_THAT(out, HasSubstr("  max_error_rate     1.23%  <=         1%  FAIL\n"));
  EXPECT_THAT(out, HasSubstr("traffic over the last 1m:\n"));
  EXPECT_THAT(out, HasSubstr("  SIDE     REQ  5XX  ERR %  P50 MS  P99 MS\n"
                             "  source  1000    2   0.2%    1.25     9.5\n"
                             "  target     0    0     0%       -       -\n"));
  EXPECT_THAT(out, HasSubstr("  mirror: 40 match, 2 mismatch (4.762%)\n"));
}

TEST(CtlRender, WatchViewWithoutStats) {
  auto out = watch_view(parse(kRamp), json::value(nullptr), "GET /v1/stats: 404 no such endpoint");
  EXPECT_THAT(out, HasSubstr("traffic: GET /v1/stats: 404 no such endpoint\n"));
  out = watch_view(parse(kRamp), parse(R"({"window_s":5,"routes":[]})"));
  EXPECT_THAT(out, HasSubstr("traffic: no stats for this route\n"));
  // A ramp object with almost nothing in it still renders.
  auto paused = parse(kRamp).as_object();
  paused["state"] = "paused";
  paused["step_elapsed_s"] = 0;
  EXPECT_THAT(watch_view(paused, json::value(nullptr)), Not(HasSubstr("time in step")));
  out = watch_view(parse(R"({"route":"app","state":"paused"})"), json::value(nullptr));
  EXPECT_THAT(out, HasSubstr("route app  ramp paused  step 0/0 at - %  [----------] 0/0\n"));
  EXPECT_THAT(out, HasSubstr("  no gates\n"));
}

TEST(CtlRender, StatsTable) {
  auto out = stats_view(parse(kStats));
  EXPECT_EQ(out,
            "window 1m\n"
            "ROUTE  SIDE     REQ  5XX  ERR %  P50 MS  P99 MS\n"
            "app    source  1000    2   0.2%    1.25     9.5\n"
            "app    target     0    0     0%       -       -\n"
            "\n"
            "ROUTE  MIRROR MATCH  MISMATCH  MISMATCH %\n"
            "app              40         2      4.762%\n");
  auto no_mirror = parse(kStats);
  no_mirror.as_object()["routes"].as_array()[0].as_object()["mirror"] = nullptr;
  EXPECT_THAT(stats_view(no_mirror), Not(HasSubstr("MIRROR")));
  no_mirror.as_object()["routes"].as_array()[0].as_object()["mirror"] =
      json::object{{"match", 0}, {"mismatch", 0}, {"mismatch_rate", 0}};
  EXPECT_THAT(stats_view(no_mirror), Not(HasSubstr("MIRROR"))) << "nothing compared in the window";
  EXPECT_THAT(watch_view(parse(kRamp), no_mirror), Not(HasSubstr("mirror:")));
  EXPECT_EQ(stats_view(parse(R"({"window_s":60,"routes":[]})")), "window 1m\nno routes\n");
}

TEST(CtlRender, ShadowView) {
  auto shadow = parse(R"({"routes":[
    {"route":"app","enabled":true,"percent":100,"methods":["GET","HEAD"],"mirrored":12,"compared":10,"matched":8,
     "mismatched":2,"errors":2,"dropped":0,"skipped_body":1,"in_flight":0,"mismatch_rate":0.2,
     "last_error":{"reason":"shadow timeout","time":"2026-11-21T10:00:00Z"},
     "noise":{"samples":3,"fields":[{"field":"$.ts","count":3}],"other":0},
     "samples":[
       {"time":"2026-11-21T10:00:01Z","route":"app","method":"GET","path":"/old","primary_side":"source",
        "primary_status":200,"shadow_status":200,"first_difference":"$.price","differences":["$.price"]},
       {"time":"2026-11-21T10:00:02Z","route":"app","method":"GET","path":"/new","primary_side":"source",
        "primary_status":200,"shadow_status":500,"first_difference":"status","differences":["status"]}]},
    {"route":"static","enabled":false}]})");
  auto out = shadow_view(shadow, 5);
  EXPECT_THAT(out, HasSubstr("route app: mirror 100 % of GET,HEAD\n"));
  EXPECT_THAT(out, HasSubstr("  mirrored 12  compared 10  matched 8  mismatched 2 (20%)  errors 2\n"));
  EXPECT_THAT(out, HasSubstr("  dropped 0  skipped_body 1  in flight 0\n"));
  EXPECT_THAT(out, HasSubstr("  last error: shadow timeout (2026-11-21T10:00:00Z)\n"));
  EXPECT_THAT(out, HasSubstr("  noise: 3 samples; fields $.ts (3); other 0\n"));
  EXPECT_THAT(out, HasSubstr("  newest 2 of 2 mismatches:\n"));
  auto newest = out.find("GET /new"), older = out.find("GET /old");
  ASSERT_NE(newest, std::string::npos);
  ASSERT_NE(older, std::string::npos);
  EXPECT_LT(newest, older) << "newest first";
  EXPECT_THAT(out, HasSubstr("GET /new  source 200 / target 500  status\n"));
  EXPECT_THAT(out, HasSubstr("route static: no mirror\n"));

  auto one = shadow_view(shadow, 1);
  EXPECT_THAT(one, HasSubstr("newest 1 of 2 mismatches"));
  EXPECT_THAT(one, Not(HasSubstr("GET /old")));
  EXPECT_EQ(shadow_view(parse(R"({"routes":[]})")), "no routes\n");
}

}  // namespace
}  // namespace cutover::ctl
