// A data-plane worker thread: see worker.hpp.
#include "proxy/server/worker.hpp"

#include "proxy/server/cpu_affinity.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

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

// Backing off after accept(2) failed for want of descriptors or memory: from the first step,
// doubling up to the last, back to the first after an accept succeeds.
constexpr std::chrono::milliseconds kAcceptBackoffFirst{10};
constexpr std::chrono::milliseconds kAcceptBackoffMax{1000};
// How often a listener at max_connections looks for a freed slot. Slots are freed on any worker,
// so a poll is simpler than a wake-up across threads; it runs only while the listener is full.
constexpr std::chrono::milliseconds kFullListenerPoll{10};

bool out_of_resources(int e) { return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM; }

// Accepts with accept4(2) on the non-blocking listening socket, so that every errno is seen (Asio
// would retry some in place) and a connection is taken only with a slot of the listener's gate in
// hand: at max_connections the loop stops taking connections, which wait in this worker's kernel
// backlog (not accepted and closed) until a slot frees up.
asio::awaitable<void> accept_loop(Worker& worker, std::shared_ptr<tcp::acceptor> acceptor, std::size_t listener_index,
                                  std::shared_ptr<ListenerGate> gate) {
  asio::steady_timer timer(worker.io());
  std::chrono::milliseconds backoff = kAcceptBackoffFirst;
  bool failing = false;  // since the last success: logged once per episode, not per retry
  for (;;) {
    if (!acceptor->is_open()) co_return;
    ConnectionSlot slot;
    if (gate) {
      if (!gate->try_acquire()) {
        timer.expires_after(kFullListenerPoll);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      slot = ConnectionSlot(gate);
    }
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int fd = ::accept4(acceptor->native_handle(), reinterpret_cast<sockaddr*>(&addr), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      backoff = kAcceptBackoffFirst;
      failing = false;
      tcp::endpoint peer;  // from accept() itself: no getpeername(2) per connection
      if (len <= peer.capacity()) {
        std::memcpy(peer.data(), &addr, len);
        peer.resize(len);
      }
      tcp::socket socket(worker.io());
      boost::system::error_code ec;
      socket.assign(peer.protocol(), fd, ec);
      if (ec) {
        ::close(fd);
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      worker.dispatch(std::move(socket), peer, listener_index, std::move(slot));
      continue;
    }
    const int e = errno;
    slot.reset();
    if (e == EAGAIN || e == EWOULDBLOCK) {
      // The backlog is empty: wait for the next connection. Edge-triggered readiness is safe here,
      // as the wait starts only after accept4 found nothing.
      auto [ec] = co_await acceptor->async_wait(tcp::acceptor::wait_read, asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
      continue;
    }
    if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;  // that one connection is gone, not the listener
    if (!acceptor->is_open() || e == EBADF || e == EINVAL) co_return;  // closed under us (a drain)
    if (gate) gate->count_error(e);
    if (!failing)
      spdlog::warn("worker {}: listener {}: accept failed: {}; backing off (up to {} ms) until it succeeds",
                   worker.id(), gate ? gate->name() : std::string("?"), std::strerror(e), kAcceptBackoffMax.count());
    failing = true;
    if (!out_of_resources(e)) spdlog::debug("worker {}: unexpected accept error {}", worker.id(), e);
    // Out of descriptors or memory, the same connection fails again at once: wait for some to be freed.
    timer.expires_after(backoff);
    backoff = std::min(backoff * 2, kAcceptBackoffMax);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
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
      idle_sweep_(io_, http::kParkAfter),
      context_{id, io_.get_executor(), snapshots_, buffers_, connections_, held_writes_, pool_, rng_} {}

// Starts serving `socket` on this worker (its thread) as listener `listener_index`.
void Worker::serve(tcp::socket socket, const tcp::endpoint& peer, std::size_t listener_index, ConnectionSlot slot) {
  // The protocol of a listener never changes in a reload (admin/reload.cpp refuses it).
  const auto pinned = snapshots_.current();
  const auto& listeners = pinned->snapshot->listeners;
  // Counted in load() from here until its coroutine has registered it in connections_ (the
  // posted decrement runs after the coroutine's first step: this io_context runs handlers in
  // order), so that a drain never sees zero while an accepted connection is about to start.
  incoming_.fetch_add(1, std::memory_order_relaxed);
  if (listener_index < listeners.size() && listeners[listener_index].is_tcp) {
    // The slot goes back when the connection's coroutine has ended (or is destroyed with the worker).
    auto release = [slot = std::move(slot)](const std::exception_ptr&) {};
    asio::co_spawn(io_, l4::serve_tcp(std::move(socket), context_, listener_index), std::move(release));
  } else {
    // The connection holds its slot itself: it outlives its session coroutine while parked.
    http::serve_http1(std::move(socket), peer, context_, listener_index, std::move(slot), &idle_sweep_);
  }
  asio::post(io_, [this] { incoming_.fetch_sub(1, std::memory_order_relaxed); });
}

void Worker::add_acceptor(tcp::acceptor acceptor, std::size_t listener_index, std::shared_ptr<ListenerGate> gate) {
  auto a = std::make_shared<tcp::acceptor>(std::move(acceptor));
  boost::system::error_code ec;
  a->non_blocking(true, ec);  // accept_loop's accept4 must not block the worker
  acceptors_.push_back({listener_index, a});
  asio::co_spawn(io_, accept_loop(*this, a, listener_index, std::move(gate)), asio::detached);
}

void Worker::adopt_acceptor(int fd, tcp protocol, std::size_t listener_index, std::shared_ptr<ListenerGate> gate) {
  // The socket is assigned to this io_context on its own thread: the reactor's per-socket state is
  // unlocked (io_).
  asio::post(io_, [this, owned = HandedFd(fd), protocol, listener_index, gate = std::move(gate)]() mutable {
    if (connections_.draining()) return;  // stopping: `owned` closes the socket
    tcp::acceptor a(io_);
    boost::system::error_code ec;
    a.assign(protocol, owned.fd, ec);
    if (ec) {
      spdlog::error("worker {}: listener {}: cannot adopt its socket: {}", id_, listener_index, ec.message());
      return;
    }
    owned.fd = -1;  // the acceptor owns it now
    add_acceptor(std::move(a), listener_index, std::move(gate));
  });
}

void Worker::close_acceptors(std::size_t listener_index) {
  asio::post(io_, [this, listener_index] {
    std::erase_if(acceptors_, [&](const Acceptor& a) {
      if (a.listener_index != listener_index) return false;
      boost::system::error_code ignored;
      a.acceptor->close(ignored);  // its accept loop ends at its next step
      return true;
    });
  });
}

void Worker::dispatch(tcp::socket socket, const tcp::endpoint& peer, std::size_t listener_index, ConnectionSlot slot) {
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
      asio::post(to_worker.io_, [&to_worker, owned = HandedFd(fd), peer, listener_index, slot = std::move(slot)]() mutable {
        to_worker.incoming_.fetch_sub(1, std::memory_order_relaxed);
        // Served even when that worker started draining meanwhile: the connection was accepted,
        // its client waits for an answer (a drain answers it with Connection: close).
        tcp::socket adopted(to_worker.io_);
        boost::system::error_code aec;
        adopted.assign(peer.protocol(), owned.fd, aec);
        if (aec) return;
        owned.fd = -1;  // the socket owns it now
        to_worker.serve(std::move(adopted), peer, listener_index, std::move(slot));
      });
      return;
    }
  }
  serve(std::move(socket), peer, listener_index, std::move(slot));
}

void Worker::start(int cpu) {
  thread_ = std::thread([this, cpu] {
    if (cpu >= 0) {
      if (auto problem = bind_this_thread(cpu); problem.empty())
        spdlog::debug("worker {}: bound to CPU {}", id_, cpu);
      else
        spdlog::warn("worker {}: cannot bind to CPU {} ({}); it runs where the kernel puts it", id_, cpu, problem);
    }
    try {
      io_.run();
    } catch (const std::exception& e) {
      spdlog::critical("worker {}: stopped by exception: {}", id_, e.what());
    }
  });
}

void Worker::drain(std::chrono::milliseconds idle_grace) {
  asio::post(io_, [this, idle_grace] {
    for (auto& a : acceptors_) {
      boost::system::error_code ignored;
      a.acceptor->close(ignored);
    }
    drain_ran_.store(true, std::memory_order_release);
    if (idle_grace.count() <= 0) {
      connections_.drain();
      return;
    }
    connections_.stop_keep_alive();
    idle_close_timer_.expires_after(idle_grace);
    idle_close_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) connections_.drain();
    });
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
