// Binary upgrade: the running cutover hands its listening sockets to a new one over the Unix
// socket named by `upgrade_socket` (the approach of HAProxy's `expose-fd listeners` / `-x` and
// Pingora's `--upgrade`), so that no connection is refused while the binary changes.
//
// The conversation, one SOCK_SEQPACKET record each (JSON text; descriptors by SCM_RIGHTS):
//   new -> old  {"op":"take","pid":N}
//   old         freezes (admin changes 503, ramps and etcd apply stop), writes the state file once
//               more (durable: fsync and rename), then
//   old -> new  {"op":"sockets","pid":N,"admin":ADDR,"upgrade":PATH,"listeners":[{"name","address","fds":K}]}
//               + descriptors: the admin socket, the upgrade socket, then each listener's K
//               or {"op":"refused","error":TEXT}
//   new         reads the state file (the old one's last word), takes the sockets whose name and
//               configured address match its config, binds the rest, starts serving, then
//   new -> old  {"op":"serving","kept_upgrade_socket":BOOL}
//   old         stops accepting and drains (idle keep-alive connections after a grace, exchanges
//               in flight answered with Connection: close / GOAWAY), exits when drained.
//   new -> old  {"op":"route","route":NAME,"read_bp":R,"write_bp":W,"held":BOOL} after every
//               change of a route's weights or hold, for as long as the old one lives: writes held
//               in the old process are released there, by it, when the new one lifts the hold
//               (each exactly once: a held request stays in the process that accepted it).
// The connection closing before "serving" (the new process failed) unfreezes the old one, which
// serves on as if nothing happened.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>

#include "proxy/runtime/snapshot.hpp"  // router::Weights
#include "proxy/server/fd_passing.hpp"
#include "proxy/server/listener_set.hpp"

namespace cutover::app {

// The running process's side: accepts on the upgrade socket, one new process at a time.
class UpgradeServer {
 public:
  // What the running process passes: the record's text and the descriptors (owned by the caller,
  // duplicated into the receiver).
  struct Offer {
    std::string text;
    std::vector<int> fds;
  };
  struct Handlers {
    // A new process asks: freeze and return what to pass, or the reason to refuse (an error text).
    std::function<std::variant<Offer, std::string>()> offer;
    // The new process serves: stop accepting and drain.
    std::function<void(bool kept_upgrade_socket)> handed_over;
    // The new process went away before serving: unfreeze.
    std::function<void(const std::string& why)> aborted;
    // A route change relayed by the new process.
    std::function<void(const std::string& route, router::Weights weights, bool held)> relayed;
  };

  // `listening`: the bound, listening SOCK_SEQPACKET socket of `path`.
  UpgradeServer(boost::asio::io_context& io, server::UniqueFd listening, std::string path, Handlers handlers);
  ~UpgradeServer();
  void start();
  // Stops taking new upgrade connections (the socket file stays: the new process listens on it).
  void close();
  int native_handle() const;
  const std::string& path() const { return path_; }

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::string path_;
};

// Binds and listens on the Unix socket `path` for a process started without --upgrade. A file
// left there by a process that died is replaced; one a running process accepts on is an error
// (std::runtime_error naming it: start the new process with --upgrade).
server::UniqueFd listen_upgrade_socket(const std::string& path);

// Tells the service manager (systemd, sd_notify(3)) `state`, e.g. "READY=1\nMAINPID=123", when
// it asked for it (the NOTIFY_SOCKET variable of a Type=notify unit); otherwise does nothing.
// MAINPID lets a unit follow a binary upgrade to the new process. Errors are logged, not fatal.
void notify_service_manager(const std::string& state);

// What the new process took from the running one.
struct TakenSockets {
  long pid = 0;  // the running process
  std::vector<server::ListenerSet::Inherited> listeners;
  std::string admin_address;  // configured ("127.0.0.1:9901")
  server::UniqueFd admin;
  std::string upgrade_path;
  server::UniqueFd upgrade;
};

// The new process's side of the conversation, kept for the relays.
class Predecessor {
 public:
  // Connects to `path` and takes the sockets (waiting up to `timeout` for them). Throws
  // std::runtime_error with what went wrong: nobody listens on `path` ("no running cutover..."),
  // the running process refused, or it did not answer in time.
  static std::unique_ptr<Predecessor> take(const std::string& path, std::chrono::milliseconds timeout,
                                           TakenSockets& out);
  // This process serves: the old one stops accepting and drains.
  void serving(bool kept_upgrade_socket);
  // Relays a route's weights and hold; once the old process is gone this does nothing.
  void relay(const std::string& route, router::Weights weights, bool held);

 private:
  explicit Predecessor(server::UniqueFd sock) : sock_(std::move(sock)) {}
  void send(const boost::json::object& message);
  server::UniqueFd sock_;
};

}  // namespace cutover::app
