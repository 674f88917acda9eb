// Unit tests for a request's identity on its head (proxy/exchange/request_identity.hpp): the
// request id kept only from a client inside request_id.trust_cidrs and only when its one value is
// valid, else made here; traceparent kept unchanged when valid, else removed with tracestate, and
// a new one made with tracing.generate; the shadow copy's traceparent.
#include "proxy/exchange/request_identity.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "proxy/observe/trace_context.hpp"
#include "proxy/runtime/snapshot.hpp"

namespace cutover::exchange {
namespace {

namespace bhttp = boost::beast::http;
using boost::asio::ip::make_address;

const std::string kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const std::string kTracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

bool lower_hex32(const std::string& s) {
  return s.size() == 32 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

class RequestIdentityTest : public ::testing::Test {
 protected:
  // A snapshot of a minimal config with `top_extra` (request_id, tracing) at the top level.
  void load(const std::string& top_extra = "") {
    const std::string text = "admin: {listen: 127.0.0.1:0}\n" + top_extra +
                             "clusters:\n"
                             "  legacy: {endpoints: [\"127.0.0.1:9001\"]}\n"
                             "  cloud: {endpoints: [\"127.0.0.1:9100\"]}\n"
                             "listeners:\n"
                             "  - name: public\n"
                             "    address: 127.0.0.1:0\n"
                             "    routes:\n"
                             "      - {name: app, source: legacy, target: cloud}\n";
    auto loaded = config::load_string(text, "test.yaml");
    ASSERT_TRUE(loaded.config) << loaded.errors.front().str();
    snap = runtime::compile(*loaded.config, registry, metrics);
  }

  // A GET with `fields` (name, value) in this order.
  static bhttp::request_header<> request(const std::vector<std::pair<std::string, std::string>>& fields = {}) {
    bhttp::request_header<> h;
    h.method(bhttp::verb::get);
    h.target("/orders");
    h.version(11);
    h.set(bhttp::field::host, "app.example");
    for (const auto& [name, value] : fields) h.insert(name, value);
    return h;
  }

  RequestIdentity identify(bhttp::request_header<>& head, const std::string& client = "192.0.2.1") {
    return identify_request(head, *snap, make_address(client), rng);
  }

  // Every value of field `name`, in order.
  static std::vector<std::string> values(const bhttp::request_header<>& head, std::string_view name) {
    std::vector<std::string> out;
    auto [it, end] = head.equal_range(name);
    for (; it != end; ++it) out.emplace_back(it->value());
    return out;
  }

  static constexpr const char* kTrusted = "request_id: {trust_cidrs: [10.0.0.0/8, \"2001:db8::/32\"]}\n";

  stats::Metrics metrics;
  runtime::RuntimeRegistry registry{1};
  std::shared_ptr<const runtime::Snapshot> snap;
  std::mt19937_64 rng{7};
};

// ---- request id -------------------------------------------------------------------------------

TEST_F(RequestIdentityTest, WithoutARequestIdOneIsMadeAndSetOnTheHead) {
  load();
  auto head = request();
  const RequestIdentity id = identify(head);
  EXPECT_TRUE(lower_hex32(id.request_id)) << id.request_id;
  EXPECT_EQ(values(head, "X-Request-Id"), std::vector<std::string>{id.request_id});
  // Each request its own.
  std::set<std::string> ids{id.request_id};
  for (int i = 0; i < 100; ++i) {
    auto h = request();
    ids.insert(identify(h).request_id);
  }
  EXPECT_EQ(ids.size(), 101u);
  // Nothing else on the head changed.
  EXPECT_EQ(values(head, "Host"), std::vector<std::string>{"app.example"});
  EXPECT_EQ(head.target(), "/orders");
}

TEST_F(RequestIdentityTest, WithoutTrustCidrsNoClientsIdIsKept) {
  load();
  auto head = request({{"X-Request-Id", "abc-123"}});
  const RequestIdentity id = identify(head, "127.0.0.1");
  EXPECT_NE(id.request_id, "abc-123");
  EXPECT_TRUE(lower_hex32(id.request_id));
  EXPECT_EQ(values(head, "X-Request-Id"), std::vector<std::string>{id.request_id});
}

TEST_F(RequestIdentityTest, AValidIdFromAClientOutsideTrustCidrsIsReplaced) {
  load(kTrusted);
  for (const char* client : {"192.168.1.1", "11.0.0.1", "9.255.255.255", "2001:db9::1", "::1", "::ffff:192.168.1.1"}) {
    auto head = request({{"X-Request-Id", "abc-123"}});
    const RequestIdentity id = identify(head, client);
    EXPECT_NE(id.request_id, "abc-123") << client;
    EXPECT_TRUE(lower_hex32(id.request_id)) << client;
    EXPECT_EQ(values(head, "X-Request-Id"), std::vector<std::string>{id.request_id}) << client;
  }
}

TEST_F(RequestIdentityTest, AValidIdFromATrustedClientIsKept) {
  load(kTrusted);
  // IPv4, IPv6, and an IPv4 client on a dual-stack socket (::ffff:a.b.c.d).
  for (const char* client : {"10.1.2.3", "10.255.255.255", "2001:db8::42", "::ffff:10.9.8.7"}) {
    for (const std::string& kept : std::vector<std::string>{"abc-123", "f47ac10b-58cc-4372-a567-0e02b2c3d479", "req:a/b+c=@x",
                                   std::string(observe::kMaxRequestIdBytes, 'z')}) {
      auto head = request({{"X-Request-Id", kept}});
      const RequestIdentity id = identify(head, client);
      EXPECT_EQ(id.request_id, kept) << client;
      EXPECT_EQ(values(head, "X-Request-Id"), std::vector<std::string>{kept}) << client;
    }
  }
  // The field name is matched whatever its case.
  auto head = request({{"x-request-id", "lower-case-name"}});
  EXPECT_EQ(identify(head, "10.0.0.1").request_id, "lower-case-name");
  EXPECT_EQ(values(head, "X-Request-Id"), std::vector<std::string>{"lower-case-name"});
}

TEST_F(RequestIdentityTest, AnInvalidIdFromATrustedClientIsReplaced) {
  load(kTrusted);
  const std::vector<std::vector<std::pair<std::string, std::string>>> cases = {
      {{"X-Request-Id", std::string(observe::kMaxRequestIdBytes + 1, 'a')}},  // too long
      {{"X-Request-Id", "abc 123"}},                                         // a space
      {{"X-Request-Id", "abc\"123"}},
      {{"X-Request-Id", "caf\xc3\xa9"}},
      {{"X-Request-Id", ""}},
      {{"X-Request-Id", "first"}, {"X-Request-Id", "second"}},  // two fields, each valid alone
      {{"X-Request-Id", "same"}, {"x-request-id", "same"}},
  };
  for (const auto& fields : cases) {
    auto head = request(fields);
    const RequestIdentity id = identify(head, "10.0.0.1");
    EXPECT_TRUE(lower_hex32(id.request_id)) << fields[0].second;
    // One field line, the new id: none of the client's values is left.
    EXPECT_EQ(values(head, "X-Request-Id"), std::vector<std::string>{id.request_id}) << fields[0].second;
  }
}

TEST_F(RequestIdentityTest, TheConfiguredHeaderNameIsUsedInsteadOfXRequestId) {
  load("request_id: {header: X-Correlation-Id, trust_cidrs: [10.0.0.0/8]}\n");
  auto head = request({{"X-Request-Id", "not-ours"}, {"x-correlation-id", "corr-1"}});
  RequestIdentity id = identify(head, "10.0.0.1");
  EXPECT_EQ(id.request_id, "corr-1");
  EXPECT_EQ(values(head, "X-Correlation-Id"), std::vector<std::string>{"corr-1"});
  EXPECT_EQ(values(head, "X-Request-Id"), std::vector<std::string>{"not-ours"});  // another field: untouched

  head = request({{"X-Request-Id", "not-ours"}});
  id = identify(head, "10.0.0.1");
  EXPECT_TRUE(lower_hex32(id.request_id));
  EXPECT_EQ(values(head, "X-Correlation-Id"), std::vector<std::string>{id.request_id});
  EXPECT_EQ(values(head, "X-Request-Id"), std::vector<std::string>{"not-ours"});

  head = request({{"X-Correlation-Id", "corr-2"}});
  id = identify(head, "192.0.2.1");  // untrusted
  EXPECT_NE(id.request_id, "corr-2");
  EXPECT_EQ(values(head, "X-Correlation-Id"), std::vector<std::string>{id.request_id});
}

// ---- trace context ------------------------------------------------------------------------------

TEST_F(RequestIdentityTest, AValidTraceparentIsKeptUnchangedWithItsTracestate) {
  for (const char* tracing : {"", "tracing: {generate: true}\n"}) {
    load(tracing);
    auto head = request({{"traceparent", kTraceparent}, {"tracestate", kTracestate}});
    const RequestIdentity id = identify(head);
    EXPECT_EQ(id.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736") << tracing;
    EXPECT_EQ(id.trace_flags, "01") << tracing;
    EXPECT_EQ(values(head, "traceparent"), std::vector<std::string>{kTraceparent}) << tracing;
    EXPECT_EQ(values(head, "tracestate"), std::vector<std::string>{kTracestate}) << tracing;
  }
  // A later version with more after the flags is forwarded as it came.
  load();
  const std::string future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more";
  auto head = request({{"Traceparent", future}});
  const RequestIdentity id = identify(head);
  EXPECT_EQ(id.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(id.trace_flags, "00");
  EXPECT_EQ(values(head, "traceparent"), std::vector<std::string>{future});
}

TEST_F(RequestIdentityTest, AMalformedTraceparentIsRemovedWithTracestate) {
  load();
  const std::vector<std::vector<std::pair<std::string, std::string>>> cases = {
      {{"traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"}},  // upper-case hex
      {{"traceparent", kTraceparent.substr(0, 54)}},                                 // wrong length
      {{"traceparent", kTraceparent + "-x"}},                                         // version 00 with more
      {{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}},  // all-zero trace id
      {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"}},  // all-zero parent id
      {{"traceparent", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},  // version ff
      {{"traceparent", kTraceparent}, {"traceparent", kTraceparent}},               // two fields
      {{"traceparent", ""}},
      {},  // a tracestate alone means nothing either
  };
  for (auto fields : cases) {
    fields.emplace_back("tracestate", kTracestate);
    auto head = request(fields);
    const RequestIdentity id = identify(head);
    const std::string label = fields.size() > 1 ? fields[0].second : "tracestate alone";
    EXPECT_TRUE(id.trace_id.empty()) << label;
    EXPECT_TRUE(id.trace_flags.empty()) << label;
    EXPECT_TRUE(values(head, "traceparent").empty()) << label;
    EXPECT_TRUE(values(head, "tracestate").empty()) << label;
    EXPECT_EQ(values(head, "Host"), std::vector<std::string>{"app.example"}) << label;
  }
}

TEST_F(RequestIdentityTest, GenerateGivesARequestWithoutAValidTraceparentANewOne) {
  load("tracing: {generate: true}\n");
  std::set<std::string> traces;
  for (const auto& fields : std::vector<std::vector<std::pair<std::string, std::string>>>{
           {},
           {{"tracestate", kTracestate}},
           {{"traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"}, {"tracestate", kTracestate}},
           {{"traceparent", kTraceparent}, {"traceparent", kTraceparent}}}) {
    auto head = request(fields);
    const RequestIdentity id = identify(head);
    const auto tp = values(head, "traceparent");
    ASSERT_EQ(tp.size(), 1u);
    auto parsed = observe::parse_traceparent(tp[0]);
    ASSERT_TRUE(parsed) << tp[0];
    EXPECT_EQ(parsed->version, "00");
    EXPECT_EQ(parsed->flags, "01");
    EXPECT_EQ(id.trace_id, parsed->trace_id);
    EXPECT_EQ(id.trace_flags, "01");
    EXPECT_NE(id.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");  // not the rejected one's
    EXPECT_TRUE(values(head, "tracestate").empty());  // the old trace's state does not go with a new trace
    traces.insert(id.trace_id);
  }
  EXPECT_EQ(traces.size(), 4u);

  // Without generate a request without one is left without one.
  load();
  auto head = request();
  const RequestIdentity id = identify(head);
  EXPECT_TRUE(id.trace_id.empty());
  EXPECT_TRUE(values(head, "traceparent").empty());
}

TEST_F(RequestIdentityTest, ShadowTraceparentIsTheSameTraceWithAnotherSpan) {
  load();
  for (const std::string& incoming : std::vector<std::string>{kTraceparent, std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"),
                                      std::string("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more")}) {
    auto head = request({{"traceparent", incoming}});
    const RequestIdentity id = identify(head);
    const std::string shadow = shadow_traceparent(id, 0x1234);
    auto original = observe::parse_traceparent(incoming);
    auto copy = observe::parse_traceparent(shadow);
    ASSERT_TRUE(original);
    ASSERT_TRUE(copy) << shadow;
    EXPECT_EQ(copy->version, "00");
    EXPECT_EQ(copy->trace_id, original->trace_id);
    EXPECT_EQ(copy->flags, original->flags);
    EXPECT_NE(copy->parent_id, original->parent_id);
    EXPECT_EQ(copy->parent_id, "0000000000001234");
    EXPECT_EQ(values(head, "traceparent"), std::vector<std::string>{incoming});  // the original's is untouched
  }

  // A generated trace is shadowed the same way.
  load("tracing: {generate: true}\n");
  auto head = request();
  const RequestIdentity id = identify(head);
  const std::string shadow = shadow_traceparent(id, 99);
  const std::string generated = values(head, "traceparent").at(0);
  auto copy = observe::parse_traceparent(shadow);  // views into `shadow`
  auto original = observe::parse_traceparent(generated);
  ASSERT_TRUE(copy) << shadow;
  ASSERT_TRUE(original) << generated;
  EXPECT_EQ(copy->trace_id, id.trace_id);
  EXPECT_EQ(copy->flags, "01");
  EXPECT_NE(copy->parent_id, original->parent_id);
}

TEST_F(RequestIdentityTest, ShadowTraceparentIsEmptyWithoutATrace) {
  load();
  auto head = request({{"traceparent", "garbage"}});
  const RequestIdentity id = identify(head);
  EXPECT_EQ(shadow_traceparent(id, 0x1234), "");
  EXPECT_EQ(shadow_traceparent(RequestIdentity{}, 1), "");
}

}  // namespace
}  // namespace cutover::exchange
