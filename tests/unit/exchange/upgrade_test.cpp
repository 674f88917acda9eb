// Which requests become tunnels (RFC 9110 §7.8) and which 101s are accepted.
#include "proxy/exchange/upgrade.hpp"

#include <gtest/gtest.h>

namespace cutover::exchange {
namespace {

namespace bhttp = boost::beast::http;

bhttp::request_header<> upgrade_request(std::string_view upgrade, std::string_view connection = "Upgrade",
                                        unsigned version = 11) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::get);
  h.target("/chat");
  h.version(version);
  h.set(bhttp::field::host, "a");
  if (!upgrade.empty()) h.set(bhttp::field::upgrade, upgrade);
  if (!connection.empty()) h.set(bhttp::field::connection, connection);
  return h;
}

const std::vector<std::string> kWebsocket{"websocket"};

TEST(Upgrade, AListedProtocolIsForwardedAsWritten) {
  EXPECT_EQ(requested_upgrade(upgrade_request("websocket"), kWebsocket, false), "websocket");
  EXPECT_EQ(requested_upgrade(upgrade_request("WebSocket"), kWebsocket, false), "WebSocket");
  EXPECT_EQ(requested_upgrade(upgrade_request("websocket/13, foo"), kWebsocket, false), "websocket/13");
  EXPECT_EQ(requested_upgrade(upgrade_request("websocket", "keep-alive, Upgrade"), kWebsocket, false), "websocket");
}

TEST(Upgrade, AnythingElseIsPlainHttp) {
  EXPECT_FALSE(requested_upgrade(upgrade_request("h2c", "Upgrade, HTTP2-Settings"), kWebsocket, false));
  EXPECT_FALSE(requested_upgrade(upgrade_request("websocket"), {}, false)) << "upgrade: []";
  EXPECT_FALSE(requested_upgrade(upgrade_request("websocket", "keep-alive"), kWebsocket, false))
      << "Connection does not list upgrade";
  EXPECT_FALSE(requested_upgrade(upgrade_request("websocket", ""), kWebsocket, false));
  EXPECT_FALSE(requested_upgrade(upgrade_request("", "Upgrade"), kWebsocket, false));
  EXPECT_FALSE(requested_upgrade(upgrade_request("websocket", "Upgrade", 10), kWebsocket, false))
      << "HTTP/1.0: Upgrade is ignored";
  EXPECT_FALSE(requested_upgrade(upgrade_request("websocket"), kWebsocket, true)) << "a body to read first";
  EXPECT_FALSE(requested_upgrade(upgrade_request("foo, websocket"), kWebsocket, false))
      << "the first protocol is the one asked for";
  EXPECT_FALSE(requested_upgrade(upgrade_request("web socket"), kWebsocket, false));
}

TEST(Upgrade, A101MustSwitchToTheProtocolAskedFor) {
  bhttp::response_header<> res;
  res.result(101);
  EXPECT_FALSE(switches_to(res, "websocket")) << "no Upgrade field";
  res.set(bhttp::field::upgrade, "WebSocket");
  EXPECT_TRUE(switches_to(res, "websocket"));
  EXPECT_TRUE(switches_to(res, "websocket/13"));
  res.set(bhttp::field::upgrade, "h2c");
  EXPECT_FALSE(switches_to(res, "websocket"));
}

TEST(Upgrade, ForwardedWithUpgradeAndConnectionOnly) {
  auto h = upgrade_request("websocket", "keep-alive, Upgrade, X-Secret");
  h.erase(bhttp::field::connection);
  h.erase(bhttp::field::upgrade);
  forward_upgrade(h, "websocket");
  EXPECT_EQ(h[bhttp::field::upgrade], "websocket");
  EXPECT_EQ(h[bhttp::field::connection], "upgrade");
}

}  // namespace
}  // namespace cutover::exchange
