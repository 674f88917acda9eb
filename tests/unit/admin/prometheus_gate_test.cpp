// Prometheus ramp gates: the entry's validation (422 texts name the field), the query URL, and
// every shape of answer an instant query can give.
#include "admin/prometheus_gate.hpp"

#include <cmath>

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

namespace cutover::admin {
namespace {

std::optional<PrometheusGate> parse_entry(std::string_view text, std::string& error) {
  return parse_prometheus_gate(boost::json::parse(text), 2, error);
}

TEST(PrometheusGate, ParsesAnEntryAndShowsItBack) {
  std::string error;
  auto g = parse_entry(R"J({"url": "http://127.0.0.1:9090", "query": "sum(up)", "min": 3, "timeout": "2s"})J", error);
  ASSERT_TRUE(g) << error;
  EXPECT_EQ(g->min, 3.0);
  EXPECT_FALSE(g->max);
  EXPECT_EQ(g->timeout.count(), 2000);
  auto again = parse_prometheus_gate(prometheus_gate_json(*g), 0, error);
  ASSERT_TRUE(again) << error;
  EXPECT_EQ(again->query, "sum(up)");
  EXPECT_EQ(again->min, 3.0);
  EXPECT_EQ(again->timeout, g->timeout);
}

TEST(PrometheusGate, BadEntriesNameTheirField) {
  struct Case {
    const char* body;
    const char* names;
  };
  for (const auto& c : {Case{R"J([1])J", "gates.prometheus[2] must be an object"},
                        Case{R"J({"query": "up", "max": 1})J", "gates.prometheus[2].url"},
                        Case{R"J({"url": "https://p:9090", "query": "up", "max": 1})J", "gates.prometheus[2].url"},
                        Case{R"J({"url": "http://p:9090/?x=1", "query": "up", "max": 1})J", "gates.prometheus[2].url"},
                        Case{R"J({"url": "http://p:9090", "query": "", "max": 1})J", "gates.prometheus[2].query"},
                        Case{R"J({"url": "http://p:9090", "query": "up"})J", "exactly one of \"max\" and \"min\""},
                        Case{R"J({"url": "http://p:9090", "query": "up", "max": 1, "min": 0})J", "exactly one"},
                        Case{R"J({"url": "http://p:9090", "query": "up", "max": "high"})J", "gates.prometheus[2].max"},
                        Case{R"J({"url": "http://p:9090", "query": "up", "max": 1, "timeout": "2m"})J",
                             "gates.prometheus[2].timeout"},
                        Case{R"J({"url": "http://p:9090", "query": "up", "max": 1, "step": 1})J",
                             "unknown field 'step' in gates.prometheus[2]"}}) {
    std::string error;
    EXPECT_FALSE(parse_entry(c.body, error)) << c.body;
    EXPECT_NE(error.find(c.names), std::string::npos) << c.body << " -> " << error;
  }
}

TEST(PrometheusGate, QueryUrlKeepsAPathPrefixAndEncodesTheQuery) {
  PrometheusGate g;
  g.url = "http://prom.internal:9090/prometheus/";
  g.query = R"J(sum(rate(x{code=~"5.."}[1m])) / 2 & more)J";
  const std::string u = prometheus_query_url(g);
  EXPECT_EQ(u.rfind("http://prom.internal:9090/prometheus/api/v1/query?query=", 0), 0u) << u;
  EXPECT_EQ(u.find(' '), std::string::npos) << u;
  EXPECT_EQ(u.find("& more"), std::string::npos) << u;  // '&' inside the value is encoded
  g.url = "http://127.0.0.1:9090";
  EXPECT_EQ(prometheus_query_url(g).rfind("http://127.0.0.1:9090/api/v1/query?query=sum", 0), 0u);
}

TEST(PrometheusGate, ScalarAndOneSampleVectorAreNumbers) {
  auto s = parse_prometheus_answer(200, R"J({"status":"success","data":{"resultType":"scalar","result":[1700000000.1,"0.25"]}})J");
  ASSERT_TRUE(s.value) << s.error;
  EXPECT_DOUBLE_EQ(*s.value, 0.25);
  auto v = parse_prometheus_answer(
      200, R"J({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"42"]}]}})J");
  ASSERT_TRUE(v.value) << v.error;
  EXPECT_DOUBLE_EQ(*v.value, 42);
  auto inf = parse_prometheus_answer(200, R"J({"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}})J");
  ASSERT_TRUE(inf.value) << inf.error;
  EXPECT_TRUE(std::isinf(*inf.value));
}

TEST(PrometheusGate, AnythingElseIsAnErrorWithTheReason) {
  struct Case {
    unsigned status;
    const char* body;
    const char* reason;
  };
  for (const auto& c : {
           Case{200, R"J({"status":"success","data":{"resultType":"vector","result":[]}})J", "no sample"},
           Case{200,
                R"J({"status":"success","data":{"resultType":"vector","result":[{"value":[1,"1"]},{"value":[1,"2"]}]}})J",
                "2 samples, expected one"},
           Case{200, R"J({"status":"success","data":{"resultType":"matrix","result":[]}})J", "a matrix result"},
           Case{200, R"J({"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}})J", "NaN"},
           Case{200, R"J({"status":"success","data":{"resultType":"scalar","result":[1,"lots"]}})J", "is not a number"},
           Case{400, R"J({"status":"error","errorType":"bad_data","error":"parse error at char 5"})J",
                "HTTP 400: bad_data: parse error at char 5"},
           Case{502, "<html>bad gateway</html>", "HTTP 502: <html>bad gateway"},
           Case{200, "not json", "not a JSON object"},
       }) {
    auto r = parse_prometheus_answer(c.status, c.body);
    EXPECT_FALSE(r.value) << c.body;
    EXPECT_NE(r.error.find(c.reason), std::string::npos) << c.body << " -> " << r.error;
  }
}

}  // namespace
}  // namespace cutover::admin
