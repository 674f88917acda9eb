// One downstream HTTP/1.1 connection (RFC 9112): reads requests in order (keep-alive and
// pipelining answered in order, idle and header timeouts, refusals of unreadable heads) and runs
// each through the protocol-independent exchange (proxy/exchange), acting as its Downstream.
//
// A plain (not TLS) keep-alive connection that waits for its next request for longer than
// kParkAfter (up to twice that) parks: its session coroutine ends, its read buffer goes, and the
// connection object alone waits for readability with a plain completion handler, under the same
// idle deadline; the next bytes start a new session coroutine on it. So an idle connection costs
// the object, its socket and two pending waits, not a coroutine frame, co_spawn's frame and a
// pending read with its buffer (bench/README.md, stage idle).
#pragma once

#include <chrono>
#include <cstddef>

#include <boost/asio/ip/tcp.hpp>

#include "proxy/exchange/worker_context.hpp"
#include "proxy/runtime/connection_slot.hpp"
#include "proxy/runtime/idle_sweep.hpp"

namespace cutover::http {

// How long a connection waits for its next request in its session before it parks (at most twice
// that): longer than the pause between the requests of a busy client, so parking (a coroutine
// start and an epoll_ctl when it wakes) is not paid per request; short, because the connections
// still waiting in their sessions set the peak of the memory they take, and the allocator keeps
// what it freed (bench/README.md, stage idle).
inline constexpr std::chrono::milliseconds kParkAfter{50};

// Starts serving `socket` on the worker's thread, until the client closes, a timeout, an error, a
// response that ends the connection, or the end of a tunnel. Never throws for network errors.
// `peer` is the client's address as accept() gave it; `listener_index` indexes the snapshot's
// listeners; `slot` (max_connections) is given back when the connection ends; `idle_sweep` is
// the worker's, which tells a lasting idle wait to park (null: the connection never parks). The
// connection is registered in worker.connections before this returns.
void serve_http1(boost::asio::ip::tcp::socket socket, boost::asio::ip::tcp::endpoint peer,
                 exchange::WorkerContext& worker, std::size_t listener_index, runtime::ConnectionSlot slot,
                 runtime::IdleSweep* idle_sweep);

}  // namespace cutover::http
