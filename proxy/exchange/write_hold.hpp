// The write-hold gate: while a route's writes are held (the database primary is being promoted),
// a write request waits here, before any upstream contact and before its side is chosen, so it
// takes the weights the release publishes; held writes leave in arrival order across workers
// (route_runtime.hpp, ReleaseChain). A write that passes counts in the route's writes_in_flight
// until it is done, so a hold call knows when the writes that passed before it have finished.
#pragma once

#include <memory>
#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "proxy/codec/message_writer.hpp"
#include "proxy/runtime/held_writes.hpp"
#include "proxy/runtime/snapshot.hpp"

namespace cutover::exchange {

class Downstream;

// Counts one write exchange in its route's writes_in_flight for as long as it lives.
class WriteInFlight {
 public:
  explicit WriteInFlight(runtime::RouteRuntime& rt) : rt_(&rt) {}
  ~WriteInFlight() { rt_->writes_in_flight.fetch_sub(1, std::memory_order_seq_cst); }
  WriteInFlight(const WriteInFlight&) = delete;
  WriteInFlight& operator=(const WriteInFlight&) = delete;

 private:
  runtime::RouteRuntime* rt_;
};

// The baton of a release chain: held once a released write has it, passed on when its request
// head was written upstream or, at the latest, when the exchange ends.
struct ReleaseBaton final : codec::HeadSentListener {
  std::shared_ptr<runtime::RouteRuntime::ReleaseChain> chain;
  void head_sent() override { pass(); }
  void pass() {
    if (auto c = std::move(chain)) c->advance();
  }
  ~ReleaseBaton() { pass(); }
};

enum class HoldOutcome { pass, expired, rejected, client_left };

// Passes a write request through the hold of `route`. On `pass` the write counts in
// writes_in_flight until `in_flight` is destroyed, and a released write holds the release's baton
// in `baton`. A held write waits at most writes.hold_timeout (expired), is refused at once beyond
// writes.max_held (rejected), and is dropped, never forwarded, when its client leaves
// (client_left: looked at every 200 ms through `down.closed()`, and once more after the release).
boost::asio::awaitable<HoldOutcome> pass_write_hold(const runtime::Route& route, runtime::HeldWrites& held_writes,
                                                    const boost::asio::any_io_executor& executor, Downstream& down,
                                                    std::optional<WriteInFlight>& in_flight, ReleaseBaton& baton);

}  // namespace cutover::exchange
