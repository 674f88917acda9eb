// The write-hold gate: see write_hold.hpp.
#include "proxy/exchange/write_hold.hpp"

#include <algorithm>
#include <chrono>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/exchange/downstream.hpp"

namespace cutover::exchange {

namespace asio = boost::asio;

asio::awaitable<HoldOutcome> pass_write_hold(const runtime::Route& route, runtime::HeldWrites& held_writes,
                                             const asio::any_io_executor& executor, Downstream& down,
                                             std::optional<WriteInFlight>& in_flight, ReleaseBaton& baton) {
  auto& rt = *route.runtime;
  rt.writes_in_flight.fetch_add(1, std::memory_order_seq_cst);  // announce, then look (route_runtime.hpp)
  if (!rt.writes_held()) {
    in_flight.emplace(rt);
    co_return HoldOutcome::pass;
  }
  rt.writes_in_flight.fetch_sub(1, std::memory_order_seq_cst);
  if (rt.held_requests.fetch_add(1) >= route.writes.max_held) {
    rt.held_requests.fetch_sub(1);
    route.hold_metrics.rejected->Increment();
    co_return HoldOutcome::rejected;
  }
  route.hold_metrics.held->Increment();
  asio::steady_timer timer(executor);
  runtime::HeldWrite held{&timer, false, nullptr};
  const std::uint64_t id = runtime::RouteRuntime::next_held_write_id();
  held_writes.add(id, &held);
  rt.enqueue_held({id, rt.hold_seq.load(), [w = &held_writes, id](auto chain) { w->release(id, std::move(chain)); }});
  // The hold may have been lifted between the look above and the enqueue, after the release took
  // the queue: then nobody would wake this write. Take it back and go; if a release did take it,
  // its wake is on the way.
  if (!rt.writes_held() && rt.forget_held(id)) {
    held_writes.remove(id);
    held.released = true;
  }
  // Wait for the release, the hold_timeout, or the client leaving (checked every 200 ms: the
  // unread body keeps the socket readable, so only the peer's FIN/RST tells).
  const auto deadline = std::chrono::steady_clock::now() + route.writes.hold_timeout;
  bool client_left = false;
  while (!held.released && std::chrono::steady_clock::now() < deadline) {
    timer.expires_at(std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(200)));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!held.released && down.closed()) {
      client_left = true;
      break;
    }
  }
  // A client that left within the last poll period must not have its write forwarded now: look
  // once more after the release, before any upstream contact; the release's baton goes on to the
  // next held write at once.
  if (held.released && !client_left && down.closed()) {
    client_left = true;
    if (auto chain = std::move(held.chain)) chain->advance();
  }
  if (!held.released) {
    // If a release took this write just as it timed out (or its client left), the wake finds
    // it gone from the worker and passes the baton on.
    rt.forget_held(id);
    held_writes.remove(id);
  }
  rt.held_requests.fetch_sub(1);
  route.hold_metrics.held->Decrement();
  if (client_left) co_return HoldOutcome::client_left;
  if (!held.released) {
    route.hold_metrics.expired->Increment();
    co_return HoldOutcome::expired;
  }
  route.hold_metrics.released->Increment();
  baton.chain = std::move(held.chain);
  rt.writes_in_flight.fetch_add(1, std::memory_order_seq_cst);
  in_flight.emplace(rt);
  co_return HoldOutcome::pass;
}

}  // namespace cutover::exchange
