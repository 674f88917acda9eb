// The exchange driven without sockets: a scripted upstream channel gives one outcome per attempt
// (connect failure, response timeout, a pooled connection reset before its first byte, a 5xx),
// a recording downstream takes the answer. Each case checks the status the client got, the
// route's metrics and window statistics, the cluster's counters and the attempts (the retry rule).
#include "proxy/exchange/exchange.hpp"

#include <deque>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "config/loader.hpp"
#include "proxy/runtime/snapshot.hpp"

namespace cutover::exchange {
namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

// One attempt as the channel plays it.
struct Step {
  bool connects = true;
  bool reused = false;
  bool send_fails = false;
  Outcome head = Outcome::response;  // response or the head's failure
  unsigned status = 200;
};

class ScriptedChannel final : public UpstreamChannel {
 public:
  ScriptedChannel(asio::io_context& io, std::deque<Step> script) : stream_(io.get_executor()), script_(std::move(script)) {}

  // Every attempt is a new connection unless the step says reused (then take() hands it out).
  ConnectResult take(const runtime::Cluster& cluster, bool fresh, bool) override {
    ++connects;
    fresh_flags.push_back(fresh);
    step_ = script_.front();
    script_.pop_front();
    cluster_ = &cluster;
    ConnectResult r;
    r.endpoint = &cluster.endpoints[(connects - 1) % cluster.endpoints.size()];
    r.ok = step_.reused && step_.connects;
    r.reused = r.ok;
    return r;
  }
  asio::awaitable<ConnectResult> connect(const runtime::Endpoint& endpoint) override {
    ConnectResult r;
    r.endpoint = &endpoint;
    r.ok = step_.connects;
    if (!r.ok) r.reason = "Connection refused";
    co_return r;
  }
  asio::awaitable<codec::WriteOutcome> send(const bhttp::request_header<>& head, bool, codec::BodySource*,
                                            codec::HeadSentListener* on_head_sent) override {
    sent_heads.push_back(std::string(head.method_string()) + " " + std::string(head.target()));
    if (step_.send_fails)
      co_return codec::WriteOutcome{codec::WriteOutcome::Failed::write, asio::error::broken_pipe, false};
    if (on_head_sent) on_head_sent->head_sent();
    co_return codec::WriteOutcome{codec::WriteOutcome::Failed::none, {}, true};
  }
  asio::awaitable<HeadResult> read_head(bool, InterimSink&) override {
    HeadResult r;
    r.outcome = step_.head;
    if (step_.head == Outcome::upstream_closed) r.ec = asio::error::connection_reset;
    if (step_.head == Outcome::response_timeout) r.ec = boost::beast::error::timeout;
    if (step_.head == Outcome::response) {
      response_ = {};
      response_.version(11);
      response_.result(step_.status);
      response_.set(bhttp::field::content_length, "0");
    }
    co_return r;
  }
  bhttp::response_header<>& response() override { return response_; }
  ResponseFraming framing() const override { return {false, true, true}; }
  codec::BodySource* response_body() override { return nullptr; }
  net::Stream& stream() override { return stream_; }
  boost::beast::flat_buffer& buffered() override { return buffered_; }
  void finish(bool clean) override {
    if (clean) ++clean_finishes;
  }

  int connects = 0;
  int clean_finishes = 0;
  std::vector<bool> fresh_flags;
  std::vector<std::string> sent_heads;

 private:
  net::Stream stream_;
  boost::beast::flat_buffer buffered_;
  std::deque<Step> script_;
  Step step_;
  const runtime::Cluster* cluster_ = nullptr;
  bhttp::response_header<> response_;
};

class RecordingDownstream final : public Downstream {
 public:
  const ClientInfo& client() const override { return client_; }
  asio::awaitable<bool> reply(const Reply& r) override {
    replies.push_back(r.status);
    reasons.emplace_back(r.reason);
    co_return r.keep_alive;
  }
  asio::awaitable<bool> send_continue() override { co_return true; }
  asio::awaitable<bool> send_interim(bhttp::response_header<>&) override { co_return true; }
  asio::awaitable<codec::WriteOutcome> send_response(Response& r) override {
    responses.push_back(r.head.result_int());
    co_return codec::WriteOutcome{codec::WriteOutcome::Failed::none, {}, true};
  }
  asio::awaitable<net::RelayBytes> tunnel(bhttp::response_header<>&, net::Stream&, boost::beast::flat_buffer&,
                                          const TunnelSpec&) override {
    co_return net::RelayBytes{};
  }
  std::uint64_t last_reply_bytes() const override { return 0; }
  bool closed() override { return false; }
  void arm_deadline(std::chrono::milliseconds) override {}
  void disarm_deadline() override {}
  bool deadline_passed() const override { return false; }
  void watch_upstream(net::Stream*) override {}

  std::vector<unsigned> replies;    // cutover's own answers
  std::vector<std::string> reasons;
  std::vector<unsigned> responses;  // the upstream's responses relayed

 private:
  ClientInfo client_{asio::ip::make_address("127.0.0.1"), "127.0.0.1", 40000, false};
};

// A snapshot with one route `app` (weight 0: every request to source) over a source cluster of
// `source_endpoints` endpoints, and the worker parts an exchange needs.
class ExchangeTest : public ::testing::Test {
 protected:
  // A snapshot from the config: `legacy_extra` is appended to the source cluster's settings and
  // `route_extra` to the route's.
  void load(int source_endpoints, const std::string& legacy_extra = "", const std::string& route_extra = "") {
    std::string endpoints = "\"127.0.0.1:9001\"";
    for (int i = 1; i < source_endpoints; ++i) endpoints += ", \"127.0.0.1:" + std::to_string(9001 + i) + "\"";
    const std::string text = "admin: {listen: 127.0.0.1:0}\n"
                             "clusters:\n"
                             "  legacy: {endpoints: [" + endpoints + "]" + legacy_extra + "}\n"
                             "  cloud: {endpoints: [\"127.0.0.1:9100\"]}\n"
                             "listeners:\n"
                             "  - name: public\n"
                             "    address: 127.0.0.1:0\n"
                             "    routes:\n"
                             "      - {name: app, source: legacy, target: cloud, weight: 0" + route_extra + "}\n";
    auto loaded = config::load_string(text, "test.yaml");
    ASSERT_TRUE(loaded.config) << loaded.errors.front().str();
    source.publish(runtime::compile(*loaded.config, registry, metrics));
  }

  // Runs one request through the exchange and returns whether the connection stays open.
  bool run(std::deque<Step> script, bhttp::verb method = bhttp::verb::get) {
    channel.emplace(io, std::move(script));
    head = {};
    head.method(method);
    head.target("/orders");
    head.version(11);
    head.set(bhttp::field::host, "app.example");
    Request req{head, nullptr, false, std::nullopt, true, false};
    Exchange ex(context, snapshots.current(), 0, down, *channel);
    std::optional<bool> keep;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { keep = co_await ex.run(req); }, asio::detached);
    io.run();
    io.restart();
    outcome = ex.outcome();
    attempts = ex.attempts();
    EXPECT_TRUE(keep.has_value());
    return keep.value_or(false);
  }

  const runtime::Route& route() { return *source.load()->find_route("app"); }
  const runtime::Cluster& legacy() { return route().cluster(router::Side::source); }
  double requests(unsigned code_class, router::Kind kind = router::Kind::read) {
    return static_cast<double>(route().metrics.count(router::Side::source, kind, code_class));
  }
  stats::WindowSummary window() { return route().runtime->windows.summarize(router::Side::source, stats::steady_seconds_now(), 60); }

  stats::Metrics metrics;
  runtime::RuntimeRegistry registry{1};
  runtime::SnapshotSource source;
  asio::io_context io;
  runtime::SnapshotCache snapshots{source};
  runtime::BufferLender buffers;
  runtime::ConnectionSet connections{io};
  runtime::HeldWrites held{io};
  upstream::ConnectionPool pool{io.get_executor()};
  std::mt19937_64 rng{42};
  WorkerContext context{0, io.get_executor(), snapshots, buffers, connections, held, pool, rng};
  RecordingDownstream down;
  std::optional<ScriptedChannel> channel;
  bhttp::request_header<> head;
  Outcome outcome = Outcome::client_gone;
  int attempts = 0;
};

TEST_F(ExchangeTest, AConnectFailureWithOneEndpointIs502AndCountedAsAConnectError) {
  load(1);
  EXPECT_TRUE(run({Step{.connects = false}}));  // nothing was read of the client: keep-alive stays
  EXPECT_EQ(down.replies, std::vector<unsigned>{502});
  EXPECT_NE(down.reasons.front().find("upstream connect failed (cluster legacy, endpoint 127.0.0.1:9001)"),
            std::string::npos);
  EXPECT_EQ(outcome, Outcome::connect_failed);
  EXPECT_EQ(attempts, 1) << "a single endpoint: no other to try";
  EXPECT_EQ(legacy().connect_errors->Value(), 1);
  EXPECT_EQ(legacy().retries->Value(), 0);
  EXPECT_EQ(requests(5), 1);
  const auto w = window();
  EXPECT_EQ(w.requests, 1u);
  EXPECT_EQ(w.connect_errors, 1u);
  EXPECT_EQ(w.errors_5xx, 1u);
}

TEST_F(ExchangeTest, AConnectFailureIsTriedOnceMoreOnTheNextEndpoint) {
  load(3);
  EXPECT_TRUE(run({Step{.connects = false}, Step{.status = 200}}));
  EXPECT_EQ(down.replies, std::vector<unsigned>{});
  EXPECT_EQ(down.responses, std::vector<unsigned>{200});
  EXPECT_EQ(outcome, Outcome::response);
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(channel->fresh_flags, (std::vector<bool>{false, true}));
  EXPECT_EQ(legacy().connect_errors->Value(), 1);
  EXPECT_EQ(legacy().retries->Value(), 1);
  EXPECT_EQ(requests(2), 1);
  EXPECT_EQ(requests(5), 0);
  EXPECT_EQ(window().connect_errors, 0u) << "the exchange succeeded: one entry, a response";
  EXPECT_EQ(channel->clean_finishes, 1) << "the connection goes back to the pool";
}

TEST_F(ExchangeTest, TwoConnectFailuresEndIn502AfterOneRetry) {
  load(3);
  run({Step{.connects = false}, Step{.connects = false}});
  EXPECT_EQ(down.replies, std::vector<unsigned>{502});
  EXPECT_EQ(attempts, 2) << "HTTP tries one more endpoint, not every one";
  EXPECT_EQ(legacy().connect_errors->Value(), 2);
  EXPECT_EQ(legacy().retries->Value(), 1);
}

TEST_F(ExchangeTest, AResponseTimeoutIs504AndCountedAsATimeout) {
  load(2);
  EXPECT_TRUE(run({Step{.head = Outcome::response_timeout}}));
  EXPECT_EQ(down.replies, std::vector<unsigned>{504});
  EXPECT_NE(down.reasons.front().find("upstream response timeout after"), std::string::npos);
  EXPECT_EQ(outcome, Outcome::response_timeout);
  EXPECT_EQ(attempts, 1) << "the request went out: never sent twice";
  EXPECT_EQ(legacy().timeouts->Value(), 1);
  EXPECT_EQ(legacy().connect_errors->Value(), 0);
  EXPECT_EQ(requests(5), 1);
  EXPECT_EQ(window().timeouts, 1u);
}

TEST_F(ExchangeTest, APooledConnectionResetBeforeItsFirstByteIsRetriedForAGet) {
  load(1);
  EXPECT_TRUE(run({Step{.reused = true, .head = Outcome::upstream_closed}, Step{.status = 200}}));
  EXPECT_EQ(down.responses, std::vector<unsigned>{200});
  EXPECT_EQ(down.replies, std::vector<unsigned>{});
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(channel->fresh_flags, (std::vector<bool>{false, true})) << "again on a new connection";
  EXPECT_EQ(channel->sent_heads, (std::vector<std::string>{"GET /orders", "GET /orders"}));
  EXPECT_EQ(legacy().stale_resends->Value(), 1);
  EXPECT_EQ(legacy().retries->Value(), 0);
  EXPECT_EQ(requests(2), 1);
  EXPECT_EQ(window().requests, 1u);
}

TEST_F(ExchangeTest, APooledConnectionFailingTheWriteIsRetriedForAGet) {
  load(1);
  run({Step{.reused = true, .send_fails = true}, Step{.status = 204}});
  EXPECT_EQ(down.responses, std::vector<unsigned>{204});
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(legacy().stale_resends->Value(), 1);
}

TEST_F(ExchangeTest, APostIsNeverSentTwice) {
  load(1);
  run({Step{.reused = true, .head = Outcome::upstream_closed}, Step{.status = 200}}, bhttp::verb::post);
  EXPECT_EQ(down.replies, std::vector<unsigned>{502});
  EXPECT_EQ(outcome, Outcome::upstream_closed);
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(channel->sent_heads.size(), 1u);
  EXPECT_EQ(legacy().stale_resends->Value(), 0);
  EXPECT_EQ(requests(5, router::Kind::write), 1);
}

TEST_F(ExchangeTest, AFreshConnectionResetBeforeItsFirstByteIsNotRetried) {
  load(1);
  run({Step{.reused = false, .head = Outcome::upstream_closed}, Step{.status = 200}});
  EXPECT_EQ(down.replies, std::vector<unsigned>{502});
  EXPECT_NE(down.reasons.front().find("invalid or no response from upstream (cluster legacy)"), std::string::npos);
  EXPECT_EQ(attempts, 1) << "not a stale pooled connection: the upstream itself failed";
}

TEST_F(ExchangeTest, A5xxIsRelayedAndCountsForOutlierDetection) {
  load(1);
  EXPECT_TRUE(run({Step{.status = 503}}));
  EXPECT_EQ(down.replies, std::vector<unsigned>{}) << "the upstream's own answer, not cutover's";
  EXPECT_EQ(down.responses, std::vector<unsigned>{503});
  EXPECT_EQ(outcome, Outcome::response);
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(requests(5), 1);
  const auto w = window();
  EXPECT_EQ(w.errors_5xx, 1u);
  EXPECT_EQ(w.connect_errors + w.timeouts, 0u);
  EXPECT_EQ(legacy().retries->Value() + legacy().stale_resends->Value(), 0) << "a 5xx is an answer: never retried";
}

TEST_F(ExchangeTest, ConsecutiveFailuresEjectTheEndpointWhenOutlierDetectionIsOn) {
  // The outlier record of each attempt goes to the endpoint's health: 5 consecutive 5xx (the
  // default) eject it once outlier detection is configured.
  load(1, ", outlier_detection: {consecutive_5xx: 2, ejection_time: 30s}");
  run({Step{.status = 500}});
  EXPECT_TRUE(legacy().endpoints[0].health->available(runtime::steady_ms()));
  run({Step{.status = 502}});
  EXPECT_FALSE(legacy().endpoints[0].health->available(runtime::steady_ms()));
  EXPECT_EQ(legacy().ejections->Value(), 1);
}

TEST_F(ExchangeTest, ARequestOnAListenerAReloadRemovedIs503WithoutUpstreamContact) {
  load(1);
  channel.emplace(io, std::deque<Step>{});
  head = {};
  head.method(bhttp::verb::get);
  head.target("/x");
  head.version(11);
  head.set(bhttp::field::host, "a");
  // A listener index past the snapshot's: as after a reload that removed the listener.
  Request req{head, nullptr, false, std::nullopt, true, false};
  Exchange ex(context, snapshots.current(), 7, down, *channel);
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { co_await ex.run(req); }, asio::detached);
  io.run();
  EXPECT_EQ(down.replies, std::vector<unsigned>{503});
  EXPECT_EQ(ex.outcome(), Outcome::listener_gone);
  EXPECT_EQ(channel->connects, 0);
  EXPECT_EQ(window().requests, 0u);
}

TEST_F(ExchangeTest, NoRouteIs404AndNotCountedOnAnyRoute) {
  load(1, "", ", match: {path_prefix: /api}");
  EXPECT_TRUE(run({}));
  EXPECT_EQ(down.replies, std::vector<unsigned>{404});
  EXPECT_EQ(outcome, Outcome::no_route);
  EXPECT_EQ(channel->connects, 0);
  EXPECT_EQ(window().requests, 0u);
}

}  // namespace
}  // namespace cutover::exchange
