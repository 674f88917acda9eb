// Binary upgrade over the upgrade socket: see upgrade.hpp.
#include "app/upgrade.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/seq_packet_protocol.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace cutover::app {

namespace asio = boost::asio;
namespace json = boost::json;
// Asio 1.81 has no local::seq_packet_protocol: the generic one, opened as AF_UNIX.
using seqpacket = asio::generic::seq_packet_protocol;
const seqpacket kUnixSeqPacket(AF_UNIX, 0);

namespace {

// How long a record may wait for room in the socket buffer: records are small, the peer reads.
constexpr std::chrono::milliseconds kSendTimeout{2000};

std::optional<json::object> parse_object(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.as_object());
}

std::string string_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::int64_t int_field(const json::object& o, std::string_view key, std::int64_t fallback = -1) {
  auto* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : fallback;
}

}  // namespace

// The server's state, shared with its pending handlers (they may outlive a close()).
struct UpgradeServer::State {
  asio::io_context& io;
  asio::basic_socket_acceptor<seqpacket> acceptor;
  std::unique_ptr<seqpacket::socket> peer;  // the new process, one at a time
  Handlers handlers;
  bool serving = false;  // the current peer said "serving"

  State(asio::io_context& i, Handlers h) : io(i), acceptor(i), handlers(std::move(h)) {}

  void accept(std::shared_ptr<State> self) {
    acceptor.async_accept([self](const boost::system::error_code& ec, seqpacket::socket s) {
      if (ec == asio::error::operation_aborted || !self->acceptor.is_open()) return;
      if (!ec) {
        if (self->peer) {
          // One upgrade at a time: the second is told so and closed.
          server::send_message(s.native_handle(),
                               R"({"op":"refused","error":"another upgrade is in progress"})", {}, kSendTimeout);
        } else {
          s.non_blocking(true);
          self->peer = std::make_unique<seqpacket::socket>(std::move(s));
          self->serving = false;
          self->read(self);
        }
      }
      self->accept(self);
    });
  }

  void read(std::shared_ptr<State> self) {
    peer->async_wait(seqpacket::socket::wait_read, [self](const boost::system::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      server::PassedMessage m;
      auto rec = ec ? std::make_error_code(std::errc::connection_aborted)
                    : server::receive_message(self->peer->native_handle(), std::chrono::milliseconds(-1), m);
      if (rec == std::errc::resource_unavailable_try_again) return self->read(self);
      if (rec) return self->gone(rec.message());
      auto msg = parse_object(m.text);
      if (!msg) return self->gone("it sent a record that is not a JSON object");
      self->on_message(*msg);
      if (self->peer) self->read(self);
    });
  }

  void gone(const std::string& why) {
    const bool was_serving = serving;
    peer.reset();
    serving = false;
    if (!was_serving) handlers.aborted(why);
  }

  void on_message(const json::object& msg) {
    const auto op = string_field(msg, "op");
    if (op == "take") {
      auto offer = handlers.offer();
      if (auto* refused = std::get_if<std::string>(&offer)) {
        json::object r{{"op", "refused"}, {"error", *refused}};
        server::send_message(peer->native_handle(), json::serialize(r), {}, kSendTimeout);
        peer.reset();
        return;
      }
      auto& o = std::get<Offer>(offer);
      if (auto ec = server::send_message(peer->native_handle(), o.text, o.fds, kSendTimeout)) {
        peer.reset();
        handlers.aborted("the sockets could not be sent: " + ec.message());
      }
    } else if (op == "serving") {
      serving = true;
      auto* kept = msg.if_contains("kept_upgrade_socket");
      handlers.handed_over(kept && kept->is_bool() && kept->as_bool());
    } else if (op == "route") {  // from "take" on: a release may come before "serving"
      const auto read_bp = int_field(msg, "read_bp"), write_bp = int_field(msg, "write_bp");
      auto* held = msg.if_contains("held");
      if (read_bp < 0 || read_bp > 10000 || write_bp < 0 || write_bp > 10000 || !held || !held->is_bool()) {
        spdlog::error("upgrade: a malformed route change from the new process is ignored");
        return;
      }
      handlers.relayed(string_field(msg, "route"),
                       router::Weights{static_cast<std::uint16_t>(read_bp), static_cast<std::uint16_t>(write_bp)},
                       held->as_bool());
    }
  }
};

UpgradeServer::UpgradeServer(asio::io_context& io, server::UniqueFd listening, std::string path, Handlers handlers)
    : state_(std::make_shared<State>(io, std::move(handlers))), path_(std::move(path)) {
  boost::system::error_code ec;
  state_->acceptor.assign(kUnixSeqPacket, listening.get(), ec);
  if (ec) throw std::runtime_error(fmt::format("upgrade_socket {}: {}", path_, ec.message()));
  listening.release();
}

UpgradeServer::~UpgradeServer() {
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
}

void UpgradeServer::start() { state_->accept(state_); }

void UpgradeServer::close() {
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
}

int UpgradeServer::native_handle() const {
  return const_cast<asio::basic_socket_acceptor<seqpacket>&>(state_->acceptor).native_handle();
}

server::UniqueFd listen_upgrade_socket(const std::string& path) {
  if (server::seqpacket_in_use(path))
    throw std::runtime_error(fmt::format(
        "upgrade_socket {}: a running cutover accepts on it; start with --upgrade to take over from it", path));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    throw std::runtime_error(fmt::format("upgrade_socket {}: longer than {} bytes", path, sizeof addr.sun_path - 1));
  std::memcpy(addr.sun_path, path.data(), path.size());
  ::unlink(path.c_str());  // left by a process that is gone (nobody accepts on it, checked above)
  server::UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd || ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd.get(), 4) != 0)
    throw std::runtime_error(fmt::format("upgrade_socket {}: cannot listen: {}", path, std::strerror(errno)));
  return fd;
}

void notify_service_manager(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::size_t len = std::strlen(path);
  if (len >= sizeof addr.sun_path || (path[0] != '/' && path[0] != '@')) {
    spdlog::warn("NOTIFY_SOCKET {}: not a socket path; the service manager is not told", path);
    return;
  }
  std::memcpy(addr.sun_path, path, len);
  if (path[0] == '@') addr.sun_path[0] = '\0';  // the abstract namespace (unix(7))
  server::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
  if (!fd || ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr),
                      addr_len) < 0)
    spdlog::warn("NOTIFY_SOCKET {}: {}", path, std::strerror(errno));
}

std::unique_ptr<Predecessor> Predecessor::take(const std::string& path, std::chrono::milliseconds timeout,
                                               TakenSockets& out) {
  server::UniqueFd sock;
  if (auto ec = server::connect_seqpacket(path, sock))
    throw std::runtime_error(fmt::format(
        "--upgrade: no running cutover answers on upgrade_socket {} ({}); start without --upgrade", path,
        ec.message()));
  std::unique_ptr<Predecessor> p(new Predecessor(std::move(sock)));
  p->send({{"op", "take"}, {"pid", static_cast<std::int64_t>(::getpid())}});
  server::PassedMessage m;
  if (auto ec = server::receive_message(p->sock_.get(), timeout, m))
    throw std::runtime_error(fmt::format("--upgrade: the running cutover did not pass its sockets: {}", ec.message()));
  auto msg = parse_object(m.text);
  if (!msg) throw std::runtime_error("--upgrade: the running cutover answered something that is not a JSON object");
  if (string_field(*msg, "op") == "refused")
    throw std::runtime_error("--upgrade: the running cutover refused: " + string_field(*msg, "error"));
  if (string_field(*msg, "op") != "sockets")
    throw std::runtime_error("--upgrade: unexpected answer: " + m.text);
  // The descriptors in order: admin, upgrade, then each listener's.
  std::size_t next = 0;
  auto take_fd = [&]() {
    if (next >= m.fds.size()) throw std::runtime_error("--upgrade: fewer sockets arrived than announced");
    return std::move(m.fds[next++]);
  };
  out.pid = int_field(*msg, "pid", 0);
  out.admin_address = string_field(*msg, "admin");
  out.admin = take_fd();
  out.upgrade_path = string_field(*msg, "upgrade");
  out.upgrade = take_fd();
  auto* listeners = msg->if_contains("listeners");
  if (listeners && listeners->is_array()) {
    for (const auto& v : listeners->as_array()) {
      if (!v.is_object()) continue;
      server::ListenerSet::Inherited in{string_field(v.as_object(), "name"), string_field(v.as_object(), "address"), {}};
      for (std::int64_t i = 0, n = int_field(v.as_object(), "fds", 0); i < n; ++i) in.fds.push_back(take_fd());
      out.listeners.push_back(std::move(in));
    }
  }
  return p;
}

void Predecessor::send(const json::object& message) {
  if (!sock_) return;
  if (auto ec = server::send_message(sock_.get(), json::serialize(message), {}, kSendTimeout)) {
    if (ec != std::errc::broken_pipe && ec != std::errc::connection_reset)
      spdlog::warn("upgrade: the previous process cannot be told any more: {}", ec.message());
    sock_.reset();  // it is gone (drained and exited): nothing more to relay
  }
}

void Predecessor::serving(bool kept_upgrade_socket) {
  send({{"op", "serving"}, {"kept_upgrade_socket", kept_upgrade_socket}});
}

void Predecessor::relay(const std::string& route, router::Weights weights, bool held) {
  send({{"op", "route"},
        {"route", route},
        {"read_bp", static_cast<std::int64_t>(weights.read_bp)},
        {"write_bp", static_cast<std::int64_t>(weights.write_bp)},
        {"held", held}});
}

}  // namespace cutover::app
