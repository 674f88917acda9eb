// A data-plane worker thread: see worker.hpp.
#include "proxy/server/worker.hpp"

#include <unistd.h>

#include <chrono>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "proxy/http/connection.hpp"
#include "proxy/l4/tcp_session.hpp"
#include "proxy/server/balance.hpp"

namespace cutover::server {

using asio::ip::tcp;

namespace {

asio::awaitable<void> accept_loop(Worker& worker, std::shared_ptr<tcp::acceptor> acceptor,
                                  std::size_t listener_index) {
  asio::steady_timer backoff(worker.io());
  tcp::endpoint peer;  // from accept() itself: no getpeername(2) per connection
  for (;;) {
    peer = tcp::endpoint();
    auto [ec, socket] = co_await acceptor->async_accept(peer, asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning on a listener that keeps failing.
      spdlog::warn("worker {}: accept failed: {}; retrying in 100 ms", worker.id(), ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    worker.dispatch(std::move(socket), peer, listener_index);
  }
}

// A connection's descriptor on its way to another worker: closed unless adopted, also when the
// posted handler is destroyed without running (the worker stopped).
struct HandedFd {
  int fd;
  explicit HandedFd(int f) : fd(f) {}
  HandedFd(HandedFd&& other) noexcept : fd(std::exchange(other.fd, -1)) {}
  HandedFd& operator=(HandedFd&&) = delete;
  ~HandedFd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Worker::Worker(std::size_t id, runtime::SnapshotSource& source)
    : id_(id),
      snapshots_(source),
      connections_(io_),
      held_writes_(io_),
      pool_(io_.get_executor()),
      rng_(std::random_device{}() ^ (id * 0x9e3779b97f4a7c15ULL)),
      context_{id, io_.get_executor(), snapshots_, buffers_, connections_, held_writes_, pool_, rng_} {}

// Starts serving `socket` on this worker (its thread) as listener `listener_index`.
void Worker::serve(tcp::socket socket, const tcp::endpoint& peer, std::size_t listener_index) {
  // The protocol of a listener never changes in a reload (admin/reload.cpp refuses it).
  const auto pinned = snapshots_.current();
  const auto& listeners = pinned->snapshot->listeners;
  if (listener_index < listeners.size() && listeners[listener_index].is_tcp)
    asio::co_spawn(io_, l4::serve_tcp(std::move(socket), context_, listener_index), asio::detached);
  else
    asio::co_spawn(io_, http::serve_http1(std::move(socket), peer, context_, listener_index), asio::detached);
}

void Worker::add_acceptor(tcp::acceptor acceptor, std::size_t listener_index) {
  auto a = std::make_shared<tcp::acceptor>(std::move(acceptor));
  acceptors_.push_back(a);
  asio::co_spawn(io_, accept_loop(*this, a, listener_index), asio::detached);
}

void Worker::dispatch(tcp::socket socket, const tcp::endpoint& peer, std::size_t listener_index) {
  if (peers_.size() > 1 && !connections_.draining()) {
    for (std::size_t i = 0; i < peers_.size(); ++i) peer_loads_[i] = peers_[i]->load();
    const std::size_t to = pick_worker(peer_loads_, id_);
    boost::system::error_code ec;
    // Out of this io_context's reactor and into the peer's: the descriptor moves before a byte
    // was read. (Should release() fail, the socket is still ours and is served here.)
    const int fd = to != id_ ? socket.release(ec) : -1;
    if (to != id_ && !ec) {
      Worker& to_worker = *peers_[to];
      to_worker.incoming_.fetch_add(1, std::memory_order_relaxed);
      asio::post(to_worker.io_, [&to_worker, owned = HandedFd(fd), peer, listener_index]() mutable {
        to_worker.incoming_.fetch_sub(1, std::memory_order_relaxed);
        if (to_worker.connections_.draining()) return;  // it stopped accepting: `owned` closes the connection
        tcp::socket adopted(to_worker.io_);
        boost::system::error_code aec;
        adopted.assign(peer.protocol(), owned.fd, aec);
        if (aec) return;
        owned.fd = -1;  // the socket owns it now
        to_worker.serve(std::move(adopted), peer, listener_index);
      });
      return;
    }
  }
  serve(std::move(socket), peer, listener_index);
}

void Worker::start() {
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      spdlog::critical("worker {}: stopped by exception: {}", id_, e.what());
    }
  });
}

void Worker::drain() {
  asio::post(io_, [this] {
    for (auto& a : acceptors_) {
      boost::system::error_code ignored;
      a->close(ignored);
    }
    connections_.drain();
  });
}

void Worker::reloaded() {
  asio::post(io_, [this] { connections_.reloaded(); });
}

void Worker::stop() { io_.stop(); }

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace cutover::server
