// Header rewriting at the proxy hop (RFC 9110 §7.6): hop-by-hop removal and forwarding headers.
#include "proxy/codec/headers.hpp"

#include <gtest/gtest.h>

namespace cutover::codec {
namespace {

TEST(Headers, RemovesStandardHopByHopFields) {
  bhttp::fields f;
  f.set(bhttp::field::connection, "keep-alive");
  f.set(bhttp::field::keep_alive, "timeout=5");
  f.set(bhttp::field::proxy_connection, "keep-alive");
  f.set(bhttp::field::te, "trailers");
  f.set(bhttp::field::transfer_encoding, "chunked");
  f.set(bhttp::field::upgrade, "websocket");
  f.set(bhttp::field::trailer, "X-Checksum");
  f.set(bhttp::field::host, "example.com");
  f.set(bhttp::field::content_type, "text/plain");
  remove_hop_by_hop(f);
  EXPECT_EQ(std::distance(f.begin(), f.end()), 2);
  EXPECT_EQ(f[bhttp::field::host], "example.com");
  EXPECT_EQ(f[bhttp::field::content_type], "text/plain");
}

TEST(Headers, RemovesFieldsNamedInConnectionAcrossRepeatedConnectionFields) {
  bhttp::fields f;
  f.insert(bhttp::field::connection, "X-Secret, x-other");
  f.insert(bhttp::field::connection, "close");
  f.set("X-Secret", "1");
  f.set("X-Other", "2");
  f.set("X-Kept", "3");
  remove_hop_by_hop(f);
  EXPECT_EQ(f.count("X-Secret"), 0u);
  EXPECT_EQ(f.count("X-Other"), 0u);
  EXPECT_EQ(f.count(bhttp::field::connection), 0u);
  EXPECT_EQ(f["X-Kept"], "3");
}

TEST(Headers, ConnectionNeverDropsContentLengthOrHost) {
  // fuzz/crashes/request_head/connection_names_content_length: a request smuggling vector.
  bhttp::fields f;
  f.insert(bhttp::field::connection, "Content-Length, Host, X-Drop");
  f.insert(bhttp::field::content_length, "5");
  f.insert(bhttp::field::host, "a");
  f.insert("X-Drop", "1");
  remove_hop_by_hop(f);
  EXPECT_EQ(f[bhttp::field::content_length], "5");
  EXPECT_EQ(f[bhttp::field::host], "a");
  EXPECT_EQ(f.count("X-Drop"), 0u);
  EXPECT_EQ(f.count(bhttp::field::connection), 0u);
}

TEST(Headers, AppendsClientToXForwardedForAndJoinsRepeatedFields) {
  bhttp::fields f;
  f.insert("X-Forwarded-For", "203.0.113.7");
  f.insert("X-Forwarded-For", "198.51.100.2");
  add_forwarding_headers(f, "127.0.0.1", "http", 11);
  EXPECT_EQ(f.count("X-Forwarded-For"), 1u);
  EXPECT_EQ(f["X-Forwarded-For"], "203.0.113.7, 198.51.100.2, 127.0.0.1");
}

TEST(Headers, SetsForwardedProtoAndViaWithTheReceivedVersion) {
  bhttp::fields f;
  f.set("X-Forwarded-Proto", "https");  // a client's claim is replaced by what the edge saw
  f.set(bhttp::field::via, "1.1 edge-lb");
  add_forwarding_headers(f, "::1", "http", 10);
  EXPECT_EQ(f["X-Forwarded-Proto"], "http");
  EXPECT_EQ(f[bhttp::field::via], "1.1 edge-lb, 1.0 cutover");
  EXPECT_EQ(f["X-Forwarded-For"], "::1");

  bhttp::fields r;
  append_via(r, 11);
  EXPECT_EQ(r[bhttp::field::via], "1.1 cutover");
}

TEST(Headers, ABodyWithoutLengthIsRechunkedForHttp11ClientsOnly) {
  EXPECT_TRUE(rechunks_response(false, false, 11));
  EXPECT_FALSE(rechunks_response(false, true, 11));   // Content-Length kept
  EXPECT_FALSE(rechunks_response(true, false, 11));   // no body (HEAD, 204, 304)
  EXPECT_FALSE(rechunks_response(false, false, 10));  // 1.0: the close ends it
}

}  // namespace
}  // namespace cutover::codec

namespace cutover::codec {
namespace {

TEST(Headers, TransferCodingsBeforeChunkedAreKeptForReframing) {
  bhttp::fields f;
  f.insert(bhttp::field::transfer_encoding, "gzip");
  f.insert(bhttp::field::transfer_encoding, "deflate, Chunked");
  EXPECT_EQ(transfer_codings_before_chunked(f), "gzip, deflate");
  bhttp::fields plain;
  plain.insert(bhttp::field::transfer_encoding, "chunked");
  EXPECT_EQ(transfer_codings_before_chunked(plain), "");
}

}  // namespace
}  // namespace cutover::codec

namespace cutover::codec {
namespace {

TEST(Headers, UpstreamRequestHead) {
  bhttp::request_header<> req;
  req.method(bhttp::verb::post);
  req.target("/x");
  req.version(10);
  req.set(bhttp::field::host, "a");
  req.set(bhttp::field::connection, "X-Drop");
  req.set("X-Drop", "1");
  req.set(bhttp::field::expect, "100-continue");
  req.set(bhttp::field::transfer_encoding, "gzip, chunked");
  prepare_upstream_request(req, /*chunked_body=*/true, /*answers_continue=*/true, "10.0.0.1", "http");
  EXPECT_EQ(req.version(), 11u);
  EXPECT_EQ(req[bhttp::field::transfer_encoding], "gzip, chunked");
  EXPECT_EQ(req.count(bhttp::field::expect), 0u);
  EXPECT_EQ(req.count("X-Drop"), 0u);
  EXPECT_EQ(req["X-Forwarded-For"], "10.0.0.1");
  EXPECT_EQ(req["Via"], "1.0 cutover");  // the client's version
  EXPECT_EQ(req[bhttp::field::host], "a");
}

TEST(Headers, DownstreamResponseHead) {
  auto response = [](std::initializer_list<std::pair<bhttp::field, const char*>> fields) {
    bhttp::response_header<> res;
    res.version(11);
    res.result(200);
    for (auto [f, v] : fields) res.insert(f, v);
    return res;
  };
  auto chunked = response({{bhttp::field::transfer_encoding, "chunked"}, {bhttp::field::keep_alive, "timeout=5"}});
  EXPECT_TRUE(prepare_downstream_response(chunked, true, false, false, 11, true));
  EXPECT_EQ(chunked[bhttp::field::transfer_encoding], "chunked");
  EXPECT_EQ(chunked.count(bhttp::field::keep_alive), 0u);
  EXPECT_EQ(chunked[bhttp::field::via], "1.1 cutover");
  EXPECT_EQ(chunked.count(bhttp::field::connection), 0u);

  auto close_delimited = response({});
  EXPECT_FALSE(prepare_downstream_response(close_delimited, false, false, false, 10, true));  // 1.0: EOF ends it
  EXPECT_EQ(close_delimited[bhttp::field::connection], "close");
  EXPECT_EQ(close_delimited.count(bhttp::field::transfer_encoding), 0u);

  auto sized = response({{bhttp::field::content_length, "2"}});
  EXPECT_TRUE(prepare_downstream_response(sized, false, true, false, 10, true));
  EXPECT_EQ(sized[bhttp::field::connection], "keep-alive");
  EXPECT_EQ(sized[bhttp::field::content_length], "2");

  auto coded = response({{bhttp::field::transfer_encoding, "gzip, chunked"}});
  EXPECT_FALSE(prepare_downstream_response(coded, true, false, false, 11, false));
  EXPECT_EQ(coded[bhttp::field::transfer_encoding], "gzip, chunked");
  EXPECT_EQ(coded[bhttp::field::connection], "close");
}

}  // namespace
}  // namespace cutover::codec
