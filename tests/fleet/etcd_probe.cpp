// A test-only command line over fleet/etcd's Client, driven by tests/integration/test_etcd_client.py
// against a real etcd. Endpoints come from ETCD_ENDPOINTS (comma-separated URLs). Every result
// is a JSON line on stdout; the exit status is 0 when the command ran, 1 on a client error, 2 on
// bad usage.
//
//   etcd_probe put KEY VALUE            {"ok":true,"revision":N}
//   etcd_probe get KEY | prefix PREFIX  {"ok":true,"revision":N,"count":N,"kvs":[{key,value,...}]}
//   etcd_probe delete KEY               {"ok":true,"revision":N,"deleted":N}
//   etcd_probe race KEY                 two txns guarded on KEY's mod_revision, sent at once:
//                                       {"ok":true,"guard":R,"succeeded":[bool,bool],"value":V}
//   etcd_probe lease TTL BEATS KEY      grant, put KEY on the lease, BEATS keepalives 1 s apart:
//                                       {"ok":true,"lease":ID,"ttls":[...],"present":bool}
//   etcd_probe revoke TTL KEY           grant, put KEY on it, revoke: {"ok":true,"present":bool}
//   etcd_probe reauth KEY MS            put KEY, wait MS ms (a token may expire), put again:
//                                       {"ok":true,"revisions":[N,N]}
//   etcd_probe watch PREFIX START [N]   watch lines until N events, SIGTERM or the watch ends:
//                                       {"event":"put"|"delete","key","value","mod_revision"},
//                                       {"notice":"connected"|"disconnected","endpoint","error"},
//                                       {"end":"canceled"|"compacted"|"failed","compact_revision","next_revision"}
// Environment: ETCD_WATCH_IDLE_MS (watch probe after this much silence, default 2000),
// ETCD_WATCH_MAX_BYTES (the bound of one watch message, default the client's),
// ETCD_USER / ETCD_PASSWORD, ETCD_CA_FILE / ETCD_CERT_FILE / ETCD_KEY_FILE (https endpoints).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>

#include "fleet/etcd/client.hpp"

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace cutover::fleet::etcd;

void emit(const json::object& line) {
  std::cout << json::serialize(line) << '\n';
  std::cout.flush();
}

int fail(const Error& e) {
  emit({{"ok", false}, {"error", e.message}, {"kind", static_cast<int>(e.kind)}, {"grpc_code", e.grpc_code}});
  return 1;
}

json::object kv_json(const KeyValue& kv) {
  return {{"key", kv.key},         {"value", kv.value},     {"create_revision", kv.create_revision},
          {"mod_revision", kv.mod_revision}, {"version", kv.version}, {"lease", kv.lease}};
}

int print_range(const Result<RangeResult>& r) {
  if (!r) return fail(r.error());
  json::array kvs;
  for (const KeyValue& kv : r->kvs) kvs.push_back(kv_json(kv));
  emit({{"ok", true}, {"revision", r->header.revision}, {"count", r->count}, {"kvs", std::move(kvs)}});
  return 0;
}

asio::awaitable<void> sleep_ms(int ms) {
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<int> race(Client& client, std::string key) {
  auto current = co_await client.range(key);
  if (!current) co_return fail(current.error());
  const std::int64_t guard = current->kvs.empty() ? 0 : current->kvs.front().mod_revision;
  auto txn_for = [&](std::string writer) {
    return TxnRequest{{Compare::mod_revision(key, Compare::Relation::equal, guard)},
                      {Op::put(key, std::move(writer))},
                      {Op::get(key)}};
  };
  using namespace asio::experimental::awaitable_operators;
  auto [a, b] = co_await (client.txn(txn_for("writer-1")) && client.txn(txn_for("writer-2")));
  if (!a) co_return fail(a.error());
  if (!b) co_return fail(b.error());
  auto after = co_await client.range(key);
  if (!after) co_return fail(after.error());
  emit({{"ok", true},
        {"guard", guard},
        {"succeeded", json::array{a->succeeded, b->succeeded}},
        {"value", after->kvs.empty() ? std::string() : after->kvs.front().value}});
  co_return 0;
}

asio::awaitable<int> lease(Client& client, std::int64_t ttl_s, int beats, std::string key) {
  auto grant = co_await client.lease_grant(ttl_s);
  if (!grant) co_return fail(grant.error());
  auto put = co_await client.put(key, "alive", grant->id);
  if (!put) co_return fail(put.error());
  json::array ttls;
  for (int i = 0; i < beats; ++i) {
    co_await sleep_ms(1000);
    auto beat = co_await client.lease_keepalive(grant->id);
    if (!beat) co_return fail(beat.error());
    ttls.push_back(beat->ttl_s);
  }
  auto left = co_await client.lease_time_to_live(grant->id);
  if (!left) co_return fail(left.error());
  auto now = co_await client.range(key);
  if (!now) co_return fail(now.error());
  emit({{"ok", true},
        {"lease", grant->id},
        {"granted_ttl", grant->ttl_s},
        {"ttls", std::move(ttls)},
        {"time_to_live", left->ttl_s},
        {"present", !now->kvs.empty() && now->kvs.front().lease == grant->id}});
  co_return 0;
}

asio::awaitable<int> revoke(Client& client, std::int64_t ttl_s, std::string key) {
  auto grant = co_await client.lease_grant(ttl_s);
  if (!grant) co_return fail(grant.error());
  auto put = co_await client.put(key, "alive", grant->id);
  if (!put) co_return fail(put.error());
  auto revoked = co_await client.lease_revoke(grant->id);
  if (!revoked) co_return fail(revoked.error());
  auto now = co_await client.range(key);
  if (!now) co_return fail(now.error());
  auto beat = co_await client.lease_keepalive(grant->id);
  if (!beat) co_return fail(beat.error());
  emit({{"ok", true}, {"present", !now->kvs.empty()}, {"ttl_after_revoke", beat->ttl_s}});
  co_return 0;
}

asio::awaitable<int> watch(Client& client, std::string prefix, std::int64_t start, long max_events) {
  long seen = 0;
  std::shared_ptr<Watch> w;
  w = client.watch(
      WatchOptions::prefix(prefix, start),
      [&](const std::vector<WatchEvent>& events, std::int64_t) {
        for (const WatchEvent& ev : events) {
          emit({{"event", ev.type == WatchEvent::Type::put ? "put" : "delete"},
                {"key", ev.kv.key},
                {"value", ev.kv.value},
                {"mod_revision", ev.kv.mod_revision}});
          if (max_events > 0 && ++seen == max_events) w->cancel();
        }
      },
      [](const WatchNotice& n) {
        json::object line{{"notice", n.kind == WatchNotice::Kind::connected ? "connected" : "disconnected"},
                          {"endpoint", n.endpoint}};
        if (n.kind == WatchNotice::Kind::disconnected) {
          line["error"] = n.error.message;
          line["retry_in_ms"] = n.retry_in.count();
        }
        emit(line);
      });
  asio::signal_set signals(co_await asio::this_coro::executor, SIGTERM, SIGINT);
  signals.async_wait([w](const boost::system::error_code& ec, int) {
    if (!ec) w->cancel();
  });
  WatchEnd end = co_await w->run();
  signals.cancel();
  const char* reason = end.reason == WatchEnd::Reason::canceled    ? "canceled"
                       : end.reason == WatchEnd::Reason::compacted ? "compacted"
                                                                   : "failed";
  emit({{"end", reason},
        {"compact_revision", end.compact_revision},
        {"next_revision", end.next_revision},
        {"error", end.error.message}});
  w.reset();  // the handler captured it: break the cycle
  co_return end.reason == WatchEnd::Reason::failed ? 1 : 0;
}

asio::awaitable<int> run(Client& client, std::vector<std::string> args) {
  const std::string& cmd = args[0];
  auto need = [&](std::size_t n) { return args.size() >= n + 1; };
  if (cmd == "put" && need(2)) {
    auto r = co_await client.put(args[1], args[2]);
    if (!r) co_return fail(r.error());
    emit({{"ok", true}, {"revision", r->header.revision}});
    co_return 0;
  }
  if (cmd == "get" && need(1)) co_return print_range(co_await client.range(args[1]));
  if (cmd == "prefix" && need(1)) co_return print_range(co_await client.range_prefix(args[1]));
  if (cmd == "delete" && need(1)) {
    auto r = co_await client.delete_range(args[1]);
    if (!r) co_return fail(r.error());
    emit({{"ok", true}, {"revision", r->header.revision}, {"deleted", r->deleted}});
    co_return 0;
  }
  if (cmd == "reauth" && need(2)) {
    auto first = co_await client.put(args[1], "first");
    if (!first) co_return fail(first.error());
    co_await sleep_ms(std::stoi(args[2]));
    auto second = co_await client.put(args[1], "second");
    if (!second) co_return fail(second.error());
    emit({{"ok", true}, {"revisions", json::array{first->header.revision, second->header.revision}}});
    co_return 0;
  }
  if (cmd == "race" && need(1)) co_return co_await race(client, args[1]);
  if (cmd == "lease" && need(3)) co_return co_await lease(client, std::stoll(args[1]), std::stoi(args[2]), args[3]);
  if (cmd == "revoke" && need(2)) co_return co_await revoke(client, std::stoll(args[1]), args[2]);
  if (cmd == "watch" && need(2))
    co_return co_await watch(client, args[1], std::stoll(args[2]), need(3) ? std::stol(args[3]) : 0);
  std::cerr << "etcd_probe: unknown command or missing arguments: " << cmd << "\n";
  co_return 2;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at - start));
    if (at == std::string::npos) return out;
    start = at + 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* endpoints = std::getenv("ETCD_ENDPOINTS");
  if (argc < 2 || endpoints == nullptr) {
    std::cerr << "usage: ETCD_ENDPOINTS=http://127.0.0.1:2379[,...] etcd_probe COMMAND ARGS...\n";
    return 2;
  }
  ClientConfig config;
  config.endpoints = split(endpoints, ',');
  config.request_timeout = std::chrono::milliseconds(3000);
  config.connect_timeout = std::chrono::milliseconds(500);
  config.backoff_min = std::chrono::milliseconds(50);
  config.backoff_max = std::chrono::milliseconds(1000);
  const char* idle = std::getenv("ETCD_WATCH_IDLE_MS");
  config.watch_idle = std::chrono::milliseconds(idle != nullptr ? std::atoi(idle) : 2000);
  if (const char* max = std::getenv("ETCD_WATCH_MAX_BYTES")) config.max_watch_message_bytes = std::strtoul(max, nullptr, 10);
  if (const char* user = std::getenv("ETCD_USER")) config.username = user;
  if (const char* password = std::getenv("ETCD_PASSWORD")) config.password = password;
  if (const char* ca = std::getenv("ETCD_CA_FILE")) config.ca_file = ca;
  if (const char* cert = std::getenv("ETCD_CERT_FILE")) config.cert_file = cert;
  if (const char* key = std::getenv("ETCD_KEY_FILE")) config.key_file = key;

  asio::io_context io(1);
  auto client = Client::create(io, config);
  if (!client) return fail(client.error());
  int rc = 1;
  std::vector<std::string> args(argv + 1, argv + argc);
  asio::co_spawn(io, run(**client, std::move(args)), [&](std::exception_ptr e, int r) {
    if (e) {
      std::cerr << "etcd_probe: exception escaped\n";
      rc = 3;
      return;
    }
    rc = r;
  });
  io.run();
  return rc;
}
