// The etcd gateway's JSON as fleet/etcd builds and reads it: request bodies, answers, error
// answers and the watch stream split at awkward places.
#include "fleet/etcd/client.hpp"
#include "fleet/etcd/codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <string>

namespace cutover::fleet::etcd {
namespace {

namespace json = boost::json;

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

TEST(EtcdBase64, RoundTripsEveryLengthAndBinaryBytes) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("/cutover/routes/api"), "L2N1dG92ZXIvcm91dGVzL2FwaQ==");
  const std::string binary("\0\xff\x10 a", 5);
  for (std::size_t n = 0; n <= binary.size(); ++n) {
    auto back = base64_decode(base64_encode(binary.substr(0, n)));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, binary.substr(0, n));
  }
}

TEST(EtcdBase64, RejectsBadText) {
  EXPECT_FALSE(base64_decode("Zg=").has_value());    // not a multiple of 4
  EXPECT_FALSE(base64_decode("Z!==").has_value());   // outside the alphabet
}

TEST(EtcdPrefix, RangeEndIncrementsTheLastByteBelowFF) {
  EXPECT_EQ(prefix_range_end("/a/"), "/a0");
  EXPECT_EQ(prefix_range_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_range_end(""), std::string(1, '\0'));
  EXPECT_EQ(prefix_range_end(std::string("\xff\xff", 2)), std::string(1, '\0'));
}

TEST(EtcdRequests, RangeAndPutCarryBase64AndInt64AsStrings) {
  RangeOptions o;
  o.limit = 1;
  o.revision = 7;
  o.newest_mod_first = true;
  EXPECT_EQ(json::parse(range_request("k", "l", o)),
            json::parse(R"({"key":"aw==","range_end":"bA==","limit":"1","revision":"7",
                            "sort_order":"DESCEND","sort_target":"MOD"})"));
  EXPECT_EQ(json::parse(range_request("k", "", {})), json::parse(R"({"key":"aw=="})"));
  EXPECT_EQ(json::parse(put_request("k", "v", 42, true)),
            json::parse(R"({"key":"aw==","value":"dg==","lease":"42","prev_kv":true})"));
  EXPECT_EQ(json::parse(put_request("k", "", 0, false)), json::parse(R"({"key":"aw==","value":""})"));
  EXPECT_EQ(json::parse(lease_grant_request(10)), json::parse(R"({"TTL":"10"})"));
  EXPECT_EQ(json::parse(lease_id_request(7587)), json::parse(R"({"ID":"7587"})"));
  EXPECT_EQ(json::parse(watch_create_request("/p/", "/p0", 12, true)),
            json::parse(R"({"create_request":{"key":"L3Av","range_end":"L3Aw","start_revision":"12",
                            "progress_notify":true}})"));
  EXPECT_EQ(json::parse(watch_create_request("k", "", 0, false)), json::parse(R"({"create_request":{"key":"aw=="}})"));
}

TEST(EtcdRequests, TxnHasGuardsAndBothBranches) {
  TxnRequest t;
  t.compares.push_back(Compare::mod_revision("k", Compare::Relation::equal, 5));
  t.compares.push_back(Compare::value_is("k", Compare::Relation::not_equal, "x"));
  t.compares.push_back(Compare::version("k", Compare::Relation::greater, 0));
  t.success.push_back(Op::put("k", "v", 3));
  t.success.push_back(Op::del("a", "b"));
  t.failure.push_back(Op::get("k"));
  EXPECT_EQ(json::parse(txn_request(t)), json::parse(R"({
    "compare":[{"key":"aw==","target":"MOD","result":"EQUAL","mod_revision":"5"},
               {"key":"aw==","target":"VALUE","result":"NOT_EQUAL","value":"eA=="},
               {"key":"aw==","target":"VERSION","result":"GREATER","version":"0"}],
    "success":[{"request_put":{"key":"aw==","value":"dg==","lease":"3"}},
               {"request_delete_range":{"key":"YQ==","range_end":"Yg=="}}],
    "failure":[{"request_range":{"key":"aw=="}}]})"));
}

TEST(EtcdAnswers, RangeReadsKvsAndLeavesZeroFieldsAtZero) {
  auto r = parse_range(obj(R"({"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437",
      "revision":"9","raft_term":"2"},
      "kvs":[{"key":"aw==","create_revision":"4","mod_revision":"9","version":"3","value":"dg==","lease":"77"},
             {"key":"bA==","create_revision":"5","mod_revision":"5","version":"1"}],"count":"2"})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->header.revision, 9);
  EXPECT_EQ(r->header.cluster_id, 14841639068965178418ull);
  EXPECT_EQ(r->count, 2);
  EXPECT_FALSE(r->more);
  ASSERT_EQ(r->kvs.size(), 2u);
  EXPECT_EQ(r->kvs[0].key, "k");
  EXPECT_EQ(r->kvs[0].value, "v");
  EXPECT_EQ(r->kvs[0].create_revision, 4);
  EXPECT_EQ(r->kvs[0].mod_revision, 9);
  EXPECT_EQ(r->kvs[0].version, 3);
  EXPECT_EQ(r->kvs[0].lease, 77);
  EXPECT_EQ(r->kvs[1].value, "");
  EXPECT_EQ(r->kvs[1].lease, 0);

  auto empty = parse_range(obj(R"({"header":{"revision":"3"}})"));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->kvs.empty());
  EXPECT_EQ(empty->count, 0);
}

TEST(EtcdAnswers, WrongShapesAreMalformed) {
  EXPECT_EQ(parse_range(obj(R"({"header":{"revision":"x9"}})")).error().kind, ErrorKind::malformed);
  EXPECT_EQ(parse_range(obj(R"({"header":{"revision":"9"},"kvs":{}})")).error().kind, ErrorKind::malformed);
  EXPECT_EQ(parse_range(obj(R"({"kvs":[{"key":"a"}]})")).error().kind, ErrorKind::malformed);  // not base64
  EXPECT_EQ(parse_range(obj(R"({"header":[]})")).error().kind, ErrorKind::malformed);
  EXPECT_EQ(parse_object("{\"a\":", 100).error().kind, ErrorKind::malformed);
  EXPECT_EQ(parse_object("[1]", 100).error().kind, ErrorKind::malformed);
  EXPECT_EQ(parse_object(std::string(101, ' '), 100).error().kind, ErrorKind::too_large);
}

TEST(EtcdAnswers, TxnSucceededIsLeftOutWhenFalse) {
  auto lost = parse_txn(obj(R"({"header":{"revision":"12"},
      "responses":[{"response_range":{"header":{"revision":"12"},"kvs":[{"key":"aw==","mod_revision":"11"}],"count":"1"}}]})"));
  ASSERT_TRUE(lost.ok()) << lost.error().message;
  EXPECT_FALSE(lost->succeeded);
  ASSERT_EQ(lost->results.size(), 1u);
  EXPECT_EQ(lost->results[0].type, Op::Type::range);
  EXPECT_EQ(lost->results[0].range.kvs.at(0).mod_revision, 11);

  auto won = parse_txn(obj(R"({"header":{"revision":"13"},"succeeded":true,
      "responses":[{"response_put":{"header":{"revision":"13"}}},{"response_delete_range":{"header":{},"deleted":"2"}}]})"));
  ASSERT_TRUE(won.ok());
  EXPECT_TRUE(won->succeeded);
  EXPECT_EQ(won->header.revision, 13);
  ASSERT_EQ(won->results.size(), 2u);
  EXPECT_EQ(won->results[0].type, Op::Type::put);
  EXPECT_EQ(won->results[1].deleted, 2);
  EXPECT_EQ(parse_txn(obj(R"({"responses":[{"response_other":{}}]})")).error().kind, ErrorKind::malformed);
}

TEST(EtcdAnswers, LeasesInBothEnvelopes) {
  auto grant = parse_lease_grant(obj(R"({"header":{"revision":"2"},"ID":"7587862072907270405","TTL":"5"})"));
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(grant->id, 7587862072907270405);
  EXPECT_EQ(grant->ttl_s, 5);
  auto beat = parse_lease_ttl(obj(R"({"result":{"header":{"revision":"2"},"ID":"12","TTL":"5"}})"));
  ASSERT_TRUE(beat.ok());
  EXPECT_EQ(beat->ttl_s, 5);
  auto gone = parse_lease_ttl(obj(R"({"result":{"header":{"revision":"2"},"ID":"12"}})"));
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->ttl_s, 0);
  auto ttl = parse_lease_ttl(obj(R"({"header":{"revision":"2"},"ID":"12","TTL":"-1"})"));
  ASSERT_TRUE(ttl.ok());
  EXPECT_EQ(ttl->ttl_s, -1);
}

TEST(EtcdAnswers, ErrorAnswersNameTheGrpcCode) {
  Error e = parse_error_answer(401, R"({"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16})");
  EXPECT_EQ(e.kind, ErrorKind::server);
  EXPECT_EQ(e.http_status, 401u);
  EXPECT_EQ(e.grpc_code, 16);
  EXPECT_NE(e.message.find("invalid auth token"), std::string::npos);
  Error plain = parse_error_answer(502, "Bad Gateway");
  EXPECT_EQ(plain.grpc_code, 0);
  EXPECT_EQ(plain.message, "HTTP 502: Bad Gateway");
  Error only_message = parse_error_answer(404, R"({"code":5,"message":"Not Found"})");
  EXPECT_EQ(only_message.grpc_code, 5);
  EXPECT_EQ(only_message.message, "HTTP 404: Not Found");
}

TEST(EtcdWatch, MessagesCreatedEventsCompactedAndErrors) {
  auto created = parse_watch_message(obj(R"({"result":{"header":{"revision":"20"},"created":true}})"));
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(created->created);
  EXPECT_EQ(created->header.revision, 20);

  auto events = parse_watch_message(obj(R"({"result":{"header":{"revision":"22"},"events":[
      {"kv":{"key":"aw==","create_revision":"21","mod_revision":"21","version":"1","value":"dg=="}},
      {"type":"DELETE","kv":{"key":"aw==","mod_revision":"22"}}]}})"));
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->events.size(), 2u);
  EXPECT_EQ(events->events[0].type, WatchEvent::Type::put);
  EXPECT_EQ(events->events[0].kv.value, "v");
  EXPECT_EQ(events->events[1].type, WatchEvent::Type::del);
  EXPECT_EQ(events->events[1].kv.mod_revision, 22);

  auto compacted = parse_watch_message(
      obj(R"({"result":{"header":{"revision":"30"},"canceled":true,"compact_revision":"25","cancel_reason":""}})"));
  ASSERT_TRUE(compacted.ok());
  EXPECT_TRUE(compacted->canceled);
  EXPECT_EQ(compacted->compact_revision, 25);

  auto broken = parse_watch_message(
      obj(R"({"error":{"grpc_code":14,"http_code":503,"message":"transport is closing","http_status":"Service Unavailable"}})"));
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.error().kind, ErrorKind::server);
  EXPECT_EQ(broken.error().grpc_code, 14);
  EXPECT_EQ(broken.error().http_status, 503u);

  EXPECT_EQ(parse_watch_message(obj(R"({"other":1})")).error().kind, ErrorKind::malformed);
  EXPECT_EQ(parse_watch_message(obj(R"({"result":{"events":[{"type":"PATCH","kv":{}}]}})")).error().kind,
            ErrorKind::malformed);
}

const std::string kStream =
    "{\"result\":{\"header\":{\"revision\":\"5\"},\"created\":true}}\n"
    "{\"result\":{\"header\":{\"revision\":\"6\"},\"events\":[{\"kv\":{\"key\":\"aw==\",\"mod_revision\":\"6\","
    "\"value\":\"e30=\"}}]}}\n"
    "{\"result\":{\"header\":{\"revision\":\"7\"},\"events\":[{\"type\":\"DELETE\",\"kv\":{\"key\":\"aw==\","
    "\"mod_revision\":\"7\"}}]}}\n";

TEST(EtcdStreamDecoder, EverySplitPointGivesTheSameThreeMessages) {
  for (std::size_t a = 0; a <= kStream.size(); ++a) {
    for (std::size_t b = a; b <= kStream.size(); b += 7) {
      StreamDecoder d(1024);
      std::vector<json::object> out;
      ASSERT_FALSE(d.feed(std::string_view(kStream).substr(0, a), out));
      ASSERT_FALSE(d.feed(std::string_view(kStream).substr(a, b - a), out));
      ASSERT_FALSE(d.feed(std::string_view(kStream).substr(b), out));
      ASSERT_EQ(out.size(), 3u) << "split at " << a << " and " << b;
      EXPECT_TRUE(d.idle());
      auto last = parse_watch_message(out[2]);
      ASSERT_TRUE(last.ok());
      EXPECT_EQ(last->events.at(0).kv.mod_revision, 7);
    }
  }
}

TEST(EtcdStreamDecoder, ByteAtATimeAndPartialState) {
  StreamDecoder d(1024);
  std::vector<json::object> out;
  for (char c : kStream) ASSERT_FALSE(d.feed(std::string_view(&c, 1), out));
  EXPECT_EQ(out.size(), 3u);
  ASSERT_FALSE(d.feed("{\"result\":", out));
  EXPECT_FALSE(d.idle());
  EXPECT_EQ(out.size(), 3u);
}

TEST(EtcdStreamDecoder, OversizedMessageIsAnErrorThatSticks) {
  StreamDecoder d(64);
  std::vector<json::object> out;
  ASSERT_FALSE(d.feed("{\"result\":{}}\n", out));
  const std::string big = "{\"result\":{\"pad\":\"" + std::string(100, 'x') + "\"}}";
  // Fed in pieces: the bound applies to the message, not to one read.
  auto error = d.feed(big.substr(0, 40), out);
  if (!error) error = d.feed(big.substr(40), out);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ErrorKind::too_large);
  EXPECT_EQ(out.size(), 1u);
  auto again = d.feed("{}", out);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->kind, ErrorKind::too_large);
}

TEST(EtcdStreamDecoder, MalformedJsonAndNonObjects) {
  StreamDecoder d(1024);
  std::vector<json::object> out;
  auto error = d.feed("{\"result\":{}}\n{\"result\" 5}", out);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->kind, ErrorKind::malformed);
  EXPECT_EQ(out.size(), 1u);  // the good message before the broken one
  StreamDecoder arrays(1024);
  auto not_object = arrays.feed("[1,2]\n", out);
  ASSERT_TRUE(not_object.has_value());
  EXPECT_EQ(not_object->kind, ErrorKind::malformed);
}

TEST(EtcdClientConfig, EndpointsAreHttpOrHttpsWithHostAndPort) {
  auto plain = parse_endpoint("http://127.0.0.1:23790");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host, "127.0.0.1");
  EXPECT_EQ(plain->port, "23790");
  EXPECT_FALSE(plain->tls);
  auto tls = parse_endpoint("https://etcd-1/");
  ASSERT_TRUE(tls.ok());
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->port, "2379");
  auto v6 = parse_endpoint("http://[::1]:2379");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(parse_endpoint("127.0.0.1:2379").error().kind, ErrorKind::config);
  EXPECT_EQ(parse_endpoint("ftp://h:1").error().kind, ErrorKind::config);
  EXPECT_EQ(parse_endpoint("http://h:1/v3").error().kind, ErrorKind::config);
}

TEST(EtcdWatchResume, EventsAlreadyDeliveredAreDroppedAndTheResumeRevisionFollowsTheRest) {
  auto at = [](std::int64_t rev) { return WatchEvent{WatchEvent::Type::put, KeyValue{"k", "v", 1, rev, 1, 0}}; };
  std::vector<WatchEvent> replayed{at(7), at(8), at(8), at(9)};  // revision 8: a txn of two puts
  EXPECT_EQ(drop_seen_events(replayed, 8), 10);
  ASSERT_EQ(replayed.size(), 3u);
  EXPECT_EQ(replayed.front().kv.mod_revision, 8);
  std::vector<WatchEvent> old{at(3), at(4)};
  EXPECT_EQ(drop_seen_events(old, 5), 5);
  EXPECT_TRUE(old.empty());
  std::vector<WatchEvent> first{at(12)};
  EXPECT_EQ(drop_seen_events(first, 0), 13);  // watching "from now on": everything is new
  EXPECT_EQ(first.size(), 1u);
}

TEST(EtcdClientConfig, BackoffDoublesToItsCapWithJitterInTheUpperHalf) {
  using std::chrono::milliseconds;
  EXPECT_EQ(backoff_delay(0, milliseconds(100), milliseconds(5000), 0.0), milliseconds(50));
  EXPECT_EQ(backoff_delay(0, milliseconds(100), milliseconds(5000), 0.999), milliseconds(99));
  EXPECT_EQ(backoff_delay(3, milliseconds(100), milliseconds(5000), 0.0), milliseconds(400));
  EXPECT_EQ(backoff_delay(10, milliseconds(100), milliseconds(5000), 0.0), milliseconds(2500));
  EXPECT_EQ(backoff_delay(1000, milliseconds(100), milliseconds(5000), 1.0), milliseconds(5000));
}

}  // namespace
}  // namespace cutover::fleet::etcd
