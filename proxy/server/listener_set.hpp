// The listeners the workers accept on, by name, and what a reload changes of them: a listener the
// new config adds is bound on every worker before the config is published (a bind failure fails
// the reload, naming it), one it removes stops accepting once it is published (its connections
// drain: see runtime::Listener::removed), one at another address is both. Control thread only.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config/model.hpp"
#include "proxy/runtime/snapshot.hpp"
#include "proxy/server/fd_passing.hpp"
#include "proxy/server/listener.hpp"
#include "proxy/server/worker.hpp"
#include "proxy/stats/metrics.hpp"

namespace cutover::server {

class ListenerSet {
 public:
  // `workers`: every data-plane worker, each listener gets an acceptor on each.
  ListenerSet(std::vector<Worker*> workers, stats::Metrics& metrics) : workers_(std::move(workers)), metrics_(metrics) {}

  // A listener that could not be bound: its name (as in the config) and why.
  struct BindError {
    std::string listener;
    std::string message;  // "cannot listen on 127.0.0.1:8080: Address already in use"
  };

  // A listener's listening sockets as a binary upgrade passes them from the running process to
  // the new one: its name and configured address ("127.0.0.1:0": as written, resolved, not the
  // port the kernel chose), one socket per worker of the process that bound them.
  struct Inherited {
    std::string name;
    std::string address;
    std::vector<UniqueFd> fds;
  };

  // Start-up: binds every listener of `snap` on every worker (they accept once started). Throws
  // std::runtime_error naming the listener that cannot be bound. With `inherited` (a binary
  // upgrade), a listener whose name and configured address match an entry takes its sockets
  // instead of binding (spread over the workers in turn: the kernel's SO_REUSEPORT group and its
  // accept queues stay as they are, so no connection waiting in them is lost); the entries taken
  // are emptied, the rest are the caller's to close.
  void bind_all(const runtime::Snapshot& snap, std::vector<Inherited>* inherited = nullptr);

  // What a binary upgrade hands over: every listener's name, configured address and listening
  // sockets (descriptors owned by this set, valid until close_exported() or a reload that removes
  // the listener).
  struct Exported {
    std::string name;
    std::string address;
    std::vector<int> fds;
  };
  std::vector<Exported> exported() const;
  // Drain (SIGTERM, or after a hand-over): closes this set's own duplicates of the listening
  // sockets, so that once the workers closed their acceptors nothing of this process keeps a
  // listening socket open (a socket still held by the new process stays open there).
  void close_exported();

  // Reload, before publishing `next`: binds the listeners it adds or moves to another address.
  // Errors name each listener that failed; nothing it bound stays bound then (finish() is not
  // needed). Every other call must be followed by finish().
  std::vector<BindError> prepare(const config::Config& next);
  // Reload, after prepare(): with `published` (the snapshot just published) the workers start
  // accepting on what prepare() bound, close the acceptors of listeners it lacks or moved, and
  // max_connections takes its new values; with null (the reload failed after all) what prepare()
  // bound is closed and nothing changes.
  void finish(const runtime::Snapshot* published);

 private:
  struct Bound {
    boost::asio::ip::tcp::endpoint address;  // as configured (port 0 stays 0): what a reload compares
    std::size_t index;                       // slot in the snapshots' listeners
    std::shared_ptr<ListenerGate> gate;
    // Duplicates of the listening sockets, kept for exported(): the workers own the originals
    // on their threads, where a reload may close them at any time.
    std::vector<UniqueFd> exported;
  };
  struct Pending {
    std::string name;
    boost::asio::ip::tcp::endpoint address;  // as configured
    std::vector<boost::asio::ip::tcp::acceptor> acceptors;  // one per worker, on bind_io_
  };

  // Binds `address` once per worker on bind_io_ (pending adoption by the workers).
  std::vector<boost::asio::ip::tcp::acceptor> bind(const boost::asio::ip::tcp::endpoint& address,
                                                   boost::system::error_code& ec);
  // Hands the listening sockets `fds` to the workers (in turn) as listener `name` at `index`, and
  // logs where it listens.
  void start(const std::string& name, const boost::asio::ip::tcp::endpoint& address, std::size_t index,
             std::uint64_t max_connections, std::vector<UniqueFd> fds);
  // Releases the sockets of `acceptors` from bind_io_.
  static std::vector<UniqueFd> release(std::vector<boost::asio::ip::tcp::acceptor> acceptors);

  std::vector<Worker*> workers_;
  stats::Metrics& metrics_;
  // Sockets are bound here, then released to the worker that adopts them: a worker's io_context is
  // touched by its own thread only. Never run.
  boost::asio::io_context bind_io_{1};
  std::map<std::string, Bound> bound_;  // by listener name
  std::vector<Pending> pending_;
};

}  // namespace cutover::server
