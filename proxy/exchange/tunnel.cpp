// Upgrade tunnels: see tunnel.hpp.
#include "proxy/exchange/tunnel.hpp"

#include <memory>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "proxy/runtime/snapshot.hpp"

namespace cutover::exchange {

namespace {

namespace asio = boost::asio;

// Registered while the tunnel is open: counts it, and lets a rollback or release close it.
class OpenTunnel final : public runtime::Closable {
 public:
  OpenTunnel(WorkerContext& worker, const TunnelSpec& spec, net::Stream& down, net::Stream& up)
      : worker_(worker), route_(*spec.route), side_(spec.side), down_(down), up_(up) {
    const int s = static_cast<int>(side_);
    route_.runtime->tunnels_open[s].fetch_add(1, std::memory_order_relaxed);
    if (route_.tunnel_metrics) {
      route_.tunnel_metrics->active[s]->Increment();
      route_.tunnel_metrics->total[s]->Increment();
    }
    worker_.connections.add_closable(route_.runtime.get(), side_, this);
  }
  ~OpenTunnel() {
    worker_.connections.remove_closable(route_.runtime.get(), side_, this);
    const int s = static_cast<int>(side_);
    if (route_.tunnel_metrics) route_.tunnel_metrics->active[s]->Decrement();
    route_.runtime->tunnels_open[s].fetch_sub(1, std::memory_order_relaxed);
  }
  OpenTunnel(const OpenTunnel&) = delete;
  OpenTunnel& operator=(const OpenTunnel&) = delete;

  void close_now() override {
    net::close_stream(down_);
    net::close_stream(up_);
  }

  // The tunnel's byte counters: [0] towards upstream, [1] towards downstream.
  prometheus::Counter* bytes(bool towards_upstream) const {
    if (!route_.tunnel_metrics) return nullptr;
    return route_.tunnel_metrics->bytes[static_cast<int>(side_)][towards_upstream ? 0 : 1];
  }

 private:
  WorkerContext& worker_;
  const runtime::Route& route_;
  router::Side side_;
  net::Stream& down_;
  net::Stream& up_;
};

// Writes what `from` holds to `to` within `timeout`; false when that failed.
asio::awaitable<bool> flush(boost::beast::flat_buffer& from, net::Stream& to, std::chrono::milliseconds timeout,
                            prometheus::Counter* counter, std::uint64_t& moved) {
  if (from.size() == 0) co_return true;
  to.expires_after(timeout);
  auto [ec, n] = co_await asio::async_write(to, from.data(), asio::as_tuple(asio::use_awaitable));
  to.expires_never();
  from.consume(n);
  moved += n;
  if (counter && n) counter->Increment(static_cast<double>(n));
  co_return !ec;
}

}  // namespace

asio::awaitable<TunnelResult> run_tunnel(WorkerContext& worker, const TunnelSpec& spec, net::Stream& down,
                                          boost::beast::flat_buffer& down_buffered, net::Stream& up,
                                          boost::beast::flat_buffer& up_buffered) {
  down.expires_never();
  up.expires_never();
  OpenTunnel open(worker, spec, down, up);
  auto* to_upstream = open.bytes(true);
  auto* to_downstream = open.bytes(false);
  TunnelResult result;
  if (co_await flush(down_buffered, up, spec.idle, to_upstream, result.bytes.to_upstream) &&
      co_await flush(up_buffered, down, spec.idle, to_downstream, result.bytes.to_downstream)) {
    auto down_scratch = worker.buffers.take_scratch();
    auto up_scratch = worker.buffers.take_scratch();
    net::RelayBytes bytes;
    const std::span<char> down_buffer{down_scratch.get(), runtime::BufferLender::kScratchBytes};
    const std::span<char> up_buffer{up_scratch.get(), runtime::BufferLender::kScratchBytes};
    auto count = [to_upstream, to_downstream](bool towards_upstream, std::size_t n) {
      if (auto* c = towards_upstream ? to_upstream : to_downstream) c->Increment(static_cast<double>(n));
    };
    // The relay keeps its own idle deadline, so plain connections relay on their sockets directly:
    // the streams' deadline bookkeeping would only cost time per message.
    if (!down.is_tls() && !up.is_tls())
      result.end = co_await net::relay(down.socket(), up.socket(), down_buffer, up_buffer, spec.idle, bytes, count);
    else
      result.end = co_await net::relay(down, up, down_buffer, up_buffer, spec.idle, bytes, count);
    result.bytes.to_upstream += bytes.to_upstream;
    result.bytes.to_downstream += bytes.to_downstream;
    worker.buffers.give_back_scratch(std::move(down_scratch));
    worker.buffers.give_back_scratch(std::move(up_scratch));
  }
  open.close_now();
  co_return result;
}

}  // namespace cutover::exchange
