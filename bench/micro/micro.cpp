// Micro-benchmarks of the pure functions every request runs through in the data plane: the split and
// sticky bucket, request-head parsing, header rewriting, head serialization, the window statistics
// and the Prometheus updates of one exchange. Each reports ns per operation and, through the
// counting operator new below, heap allocations per operation ("allocs/op").
//   build/cutover_micro [--benchmark_filter=REGEX]     (bench/run.sh micro runs it)
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "proxy/exchange/assign.hpp"
#include "proxy/codec/head_reader.hpp"
#include "proxy/codec/head_writer.hpp"
#include "proxy/codec/headers.hpp"
#include "proxy/router/route_match.hpp"
#include "proxy/router/split.hpp"
#include "proxy/router/sticky.hpp"
#include "proxy/runtime/snapshot.hpp"
#include "proxy/stats/metrics.hpp"
#include "proxy/stats/window.hpp"

// ---- allocation counter: every operator new in this binary bumps it (relaxed: one thread runs) --
// The replacements allocate with malloc and free with free; GCC cannot see they pair.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<std::uint64_t> g_allocs{0};
}  // namespace

void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  const auto al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

namespace bhttp = boost::beast::http;
using namespace cutover;

// Counts the allocations of the timed loop and reports them per iteration.
class AllocScope {
 public:
  explicit AllocScope(benchmark::State& s) : state_(s), start_(g_allocs.load(std::memory_order_relaxed)) {}
  ~AllocScope() {
    const auto n = g_allocs.load(std::memory_order_relaxed) - start_;
    state_.counters["allocs/op"] =
        benchmark::Counter(static_cast<double>(n), benchmark::Counter::kAvgIterations);
  }

 private:
  benchmark::State& state_;
  std::uint64_t start_;
};

// What wrk sends (the bench's load) and a browser-like request with cookies.
constexpr std::string_view kWrkRequest = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
constexpr std::string_view kBrowserRequest =
    "GET /api/v1/orders?page=2 HTTP/1.1\r\n"
    "Host: shop.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://shop.example.com/orders\r\n"
    "X-Request-Id: 5b3c2e4a-8d9f-4c1b-a2e3-7f6d5c4b3a21\r\n"
    "Cookie: session=abcdef0123456789; cutover_pin=4242; theme=dark\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";
// What the nginx backends of bench/run.sh answer.
constexpr std::string_view kNginxResponse =
    "HTTP/1.1 200 OK\r\n"
    "Server: nginx/1.22.1\r\n"
    "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 7\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

template <bool isRequest>
bhttp::header<isRequest> parse_head(std::string_view raw) {
  bhttp::parser<isRequest, bhttp::empty_body> p;
  boost::system::error_code ec;
  p.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  if (ec || !p.is_header_done()) std::abort();
  return p.release().base();
}

// ---- split and sticky ---------------------------------------------------------------------------
void BM_split_random(benchmark::State& state) {
  std::uint64_t x = 0x9e3779b97f4a7c15ULL;
  AllocScope a(state);
  for (auto _ : state) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    benchmark::DoNotOptimize(router::choose_side(1000, router::bucket_of(x)));
  }
}
BENCHMARK(BM_split_random);

void BM_sticky_bucket(benchmark::State& state) {
  const std::string key = "5b3c2e4a-8d9f-4c1b-a2e3-7f6d5c4b3a21";
  AllocScope a(state);
  for (auto _ : state) benchmark::DoNotOptimize(router::sticky_bucket(key));
}
BENCHMARK(BM_sticky_bucket);

void BM_cookie_value(benchmark::State& state) {
  const std::string header = "session=abcdef0123456789; cutover_pin=4242; theme=dark";
  AllocScope a(state);
  for (auto _ : state) benchmark::DoNotOptimize(router::cookie_value(header, "theme"));
}
BENCHMARK(BM_cookie_value);

// assign_side as the session calls it, for three route shapes: plain random split (the bench's),
// sticky on a header, sticky on the pin cookie.
void assign_bench(benchmark::State& state, const runtime::Route& route, std::string_view raw) {
  const auto req = parse_head<true>(raw);
  const auto client = boost::asio::ip::make_address("127.0.0.1");
  std::uint64_t x = 1;
  AllocScope a(state);
  for (auto _ : state) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    auto r = exchange::assign_side(route, router::Kind::read, router::Weights{1000, 1000}, req, "127.0.0.1", client, x);
    benchmark::DoNotOptimize(r);
  }
}
void BM_assign_random(benchmark::State& state) {
  runtime::Route route;
  assign_bench(state, route, kWrkRequest);
}
BENCHMARK(BM_assign_random);
void BM_assign_sticky_header(benchmark::State& state) {
  runtime::Route route;
  route.sticky.sources.push_back({config::StickySource::Kind::header, "X-Request-Id"});
  assign_bench(state, route, kBrowserRequest);
}
BENCHMARK(BM_assign_sticky_header);
void BM_assign_pin_cookie(benchmark::State& state) {
  runtime::Route route;
  route.sticky.pin_cookie = "cutover_pin";
  route.force.header = "X-Cutover-Force";
  assign_bench(state, route, kBrowserRequest);
}
BENCHMARK(BM_assign_pin_cookie);

void BM_match_route(benchmark::State& state) {
  std::vector<router::RouteMatch> routes{{"*", "/"}, {"shop.example.com", "/api/"}, {"*", "/static/"}};
  AllocScope a(state);
  for (auto _ : state) {
    auto host = router::host_without_port("shop.example.com:443");
    benchmark::DoNotOptimize(router::match_route(routes, host, router::path_of_target("/api/v1/orders?page=2")));
  }
}
BENCHMARK(BM_match_route);

// ---- request-head parsing: a fresh parser per request, as the session does ---------------------
void parse_bench(benchmark::State& state, std::string_view raw) {
  boost::beast::flat_buffer buffer;
  const codec::HeadLimits limits;
  AllocScope a(state);
  for (auto _ : state) {
    auto mb = buffer.prepare(raw.size());
    std::memcpy(mb.data(), raw.data(), raw.size());
    buffer.commit(raw.size());
    bhttp::request_parser<bhttp::buffer_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes));
    codec::HeadScanner scan;
    auto step = codec::parse_buffered_head(buffer, parser, limits, scan);
    if (step.need_more || !step.result.ok()) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(parser);
  }
}
void BM_parse_head_wrk(benchmark::State& state) { parse_bench(state, kWrkRequest); }
BENCHMARK(BM_parse_head_wrk);
void BM_parse_head_browser(benchmark::State& state) { parse_bench(state, kBrowserRequest); }
BENCHMARK(BM_parse_head_browser);

// ---- header rewriting: each iteration copies the parsed head first (the copy is measured alone
// in BM_copy_*_head, subtract it) ---------------------------------------------------------------
void BM_copy_request_head(benchmark::State& state) {
  const auto orig = parse_head<true>(kBrowserRequest);
  AllocScope a(state);
  for (auto _ : state) {
    auto req = orig;
    benchmark::DoNotOptimize(req);
  }
}
BENCHMARK(BM_copy_request_head);

void upstream_bench(benchmark::State& state, std::string_view raw) {
  const auto orig = parse_head<true>(raw);
  AllocScope a(state);
  for (auto _ : state) {
    auto req = orig;
    codec::prepare_upstream_request(req, false, false, "127.0.0.1", "http");
    benchmark::DoNotOptimize(req);
  }
}
void BM_prepare_upstream_wrk(benchmark::State& state) { upstream_bench(state, kWrkRequest); }
BENCHMARK(BM_prepare_upstream_wrk);
void BM_prepare_upstream_browser(benchmark::State& state) { upstream_bench(state, kBrowserRequest); }
BENCHMARK(BM_prepare_upstream_browser);

void BM_copy_response_head(benchmark::State& state) {
  const auto orig = parse_head<false>(kNginxResponse);
  AllocScope a(state);
  for (auto _ : state) {
    auto res = orig;
    benchmark::DoNotOptimize(res);
  }
}
BENCHMARK(BM_copy_response_head);

void BM_prepare_downstream(benchmark::State& state) {
  const auto orig = parse_head<false>(kNginxResponse);
  AllocScope a(state);
  for (auto _ : state) {
    auto res = orig;
    benchmark::DoNotOptimize(codec::prepare_downstream_response(res, false, true, false, 11, true));
    benchmark::DoNotOptimize(res);
  }
}
BENCHMARK(BM_prepare_downstream);

// ---- head serialization into a reused buffer (the relay keeps its string between messages) ----
void BM_append_head_request(benchmark::State& state) {
  auto req = parse_head<true>(kBrowserRequest);
  codec::prepare_upstream_request(req, false, false, "127.0.0.1", "http");
  std::string out;
  AllocScope a(state);
  for (auto _ : state) {
    out.clear();
    codec::append_head(req, out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_append_head_request);

void BM_append_head_response(benchmark::State& state) {
  auto res = parse_head<false>(kNginxResponse);
  codec::prepare_downstream_response(res, false, true, false, 11, true);
  std::string out;
  AllocScope a(state);
  for (auto _ : state) {
    out.clear();
    codec::append_head(res, out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_append_head_response);

// ---- statistics of one exchange ----------------------------------------------------------------
void BM_window_record(benchmark::State& state) {
  auto w = std::make_unique<stats::SideWindow>();
  const auto now = stats::steady_seconds_now();
  std::uint64_t lat = 100;
  AllocScope a(state);
  for (auto _ : state) {
    w->record(now, 200, lat, stats::Outcome::response);
    lat = lat * 3 % 100'000 + 50;
  }
}
BENCHMARK(BM_window_record);

// summarize over a window of range(0) seconds, every second populated, 1 worker.
void BM_window_summarize(benchmark::State& state) {
  stats::RouteWindows windows(1);
  const auto now = stats::steady_seconds_now();
  for (std::int64_t s = now - stats::SideWindow::kSeconds + 1; s <= now; ++s)
    for (int i = 0; i < 10; ++i) windows.at(0, router::Side::target).record(s, 200, 100 + 37 * i, stats::Outcome::response);
  AllocScope a(state);
  for (auto _ : state) benchmark::DoNotOptimize(windows.summarize(router::Side::target, now, state.range(0)));
}
BENCHMARK(BM_window_summarize)->Arg(60)->Arg(900);

// The Prometheus side of one exchange (RouteMetrics::record): the worker's shard of the route's
// request counter and duration histogram.
void BM_route_metrics_record(benchmark::State& state) {
  stats::Metrics metrics;
  runtime::RouteMetrics rm;
  rm.series = &metrics.request_series("app", 1);
  double secs = 0.0003;
  AllocScope a(state);
  for (auto _ : state) {
    rm.record(0, router::Side::source, router::Kind::read, 200, secs);
    secs = secs < 1 ? secs * 1.7 : 0.0003;
  }
}
BENCHMARK(BM_route_metrics_record);

}  // namespace

BENCHMARK_MAIN();
