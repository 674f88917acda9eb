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

#include "proxy/http/session.hpp"
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

// Starts serving `socket` on `worker` (its thread) as listener `listener_index`.
void serve(Worker& worker, tcp::socket socket, const tcp::endpoint& peer, std::size_t listener_index) {
  // The protocol of a listener never changes in a reload (admin/reload.cpp refuses it).
  const auto pinned = worker.current();
  const auto& listeners = pinned->snapshot->listeners;
  if (listener_index < listeners.size() && listeners[listener_index].is_tcp)
    asio::co_spawn(worker.io(), l4::serve_tcp(std::move(socket), worker, listener_index), asio::detached);
  else
    asio::co_spawn(worker.io(), http::serve_downstream(std::move(socket), peer, worker, listener_index), asio::detached);
}

}  // namespace

Worker::Worker(std::size_t id, runtime::SnapshotSource& source)
    : id_(id), source_(source), pool_(io_.get_executor()), rng_(std::random_device{}() ^ (id * 0x9e3779b97f4a7c15ULL)) {}

std::shared_ptr<const PinnedSnapshot> Worker::current() {
  auto v = source_.version();
  if (v != pinned_version_) {
    pinned_ = std::make_shared<const PinnedSnapshot>(PinnedSnapshot{source_.load()});
    pinned_version_ = v;
  }
  return pinned_;
}

void Worker::add_acceptor(tcp::acceptor acceptor, std::size_t listener_index) {
  auto a = std::make_shared<tcp::acceptor>(std::move(acceptor));
  acceptors_.push_back(a);
  asio::co_spawn(io_, accept_loop(*this, a, listener_index), asio::detached);
}

void Worker::dispatch(tcp::socket socket, const tcp::endpoint& peer, std::size_t listener_index) {
  if (peers_.size() > 1 && !draining_) {
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
        if (to_worker.draining_) return;  // it stopped accepting: `owned` closes the connection
        tcp::socket adopted(to_worker.io_);
        boost::system::error_code aec;
        adopted.assign(peer.protocol(), owned.fd, aec);
        if (aec) return;
        owned.fd = -1;  // the socket owns it now
        serve(to_worker, std::move(adopted), peer, listener_index);
      });
      return;
    }
  }
  serve(*this, std::move(socket), peer, listener_index);
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

std::unique_ptr<char[]> Worker::take_scratch() {
  if (spare_scratch_.empty()) return std::make_unique<char[]>(kScratchBytes);
  auto b = std::move(spare_scratch_.back());
  spare_scratch_.pop_back();
  return b;
}

void Worker::give_back_scratch(std::unique_ptr<char[]> buffer) {
  if (buffer && spare_scratch_.size() < kSpareScratch) spare_scratch_.push_back(std::move(buffer));
}

std::string Worker::take_head_buffer() {
  if (spare_head_buffers_.empty()) return {};
  auto b = std::move(spare_head_buffers_.back());
  spare_head_buffers_.pop_back();
  return b;
}

void Worker::give_back_head_buffer(std::string buffer) {
  if (buffer.capacity() > kHeadBufferKeep || spare_head_buffers_.size() >= kSpareScratch) return;
  buffer.clear();
  spare_head_buffers_.push_back(std::move(buffer));
}

void Worker::release_held_write(std::uint64_t id, std::shared_ptr<runtime::RouteRuntime::ReleaseChain> chain) {
  asio::post(io_, [this, id, chain = std::move(chain)] {
    auto it = held_writes_.find(id);
    if (it == held_writes_.end()) {  // it stopped waiting (hold_timeout, client gone)
      chain->advance();
      return;
    }
    it->second->released = true;
    it->second->chain = chain;
    it->second->timer->cancel();
    held_writes_.erase(it);
  });
}

void Worker::add_target_connection(const runtime::RouteRuntime* route, TargetConnection* c) {
  targets_[route][c] = next_target_seq_++;
}

void Worker::remove_target_connection(const runtime::RouteRuntime* route, TargetConnection* c) {
  auto it = targets_.find(route);
  if (it == targets_.end()) return;
  it->second.erase(c);
  if (it->second.empty()) targets_.erase(it);
}

void Worker::close_target_connections(const runtime::RouteRuntime* route, std::chrono::milliseconds grace) {
  asio::post(io_, [this, route, grace] {
    const std::uint64_t cutoff = next_target_seq_;  // connections registered from now on stay open
    auto close = [this, route, cutoff] {
      auto it = targets_.find(route);
      if (it == targets_.end()) return;
      // Copy: closing does not deregister at once, but a session may end meanwhile.
      std::vector<TargetConnection*> doomed;
      for (const auto& [c, seq] : it->second)
        if (seq < cutoff) doomed.push_back(c);
      for (auto* c : doomed) c->close_target();
    };
    if (grace.count() <= 0) {
      close();
      return;
    }
    auto timer = close_timers_.emplace(close_timers_.end(), io_, grace);
    timer->async_wait([this, timer, close](const boost::system::error_code& ec) {
      if (!ec) close();
      close_timers_.erase(timer);
    });
  });
}

void Worker::add_session(Drainable* session) {
  sessions_.insert(session);
  active_.fetch_add(1, std::memory_order_acq_rel);
  if (connections_gauge_) connections_gauge_->Increment();
}

void Worker::remove_session(Drainable* session) {
  sessions_.erase(session);
  active_.fetch_sub(1, std::memory_order_acq_rel);
  if (connections_gauge_) connections_gauge_->Decrement();
}

void Worker::drain() {
  asio::post(io_, [this] {
    draining_ = true;
    for (auto& a : acceptors_) {
      boost::system::error_code ignored;
      a->close(ignored);
    }
    // Copy: closing a session may end it, which erases it from the set.
    std::vector<Drainable*> sessions(sessions_.begin(), sessions_.end());
    for (auto* s : sessions)
      if (sessions_.contains(s)) s->close_if_idle();
  });
}

void Worker::stop() { io_.stop(); }

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace cutover::server
