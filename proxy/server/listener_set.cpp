// Listeners by name across reloads: see listener_set.hpp.
#include "proxy/server/listener_set.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace cutover::server {

using boost::asio::ip::tcp;

namespace {

std::string endpoint_text(const tcp::endpoint& ep) {
  return ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                              : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

const config::ListenerConfig* find_config(const config::Config& c, const std::string& name) {
  for (const auto& l : c.listeners)
    if (l.name == name) return &l;
  return nullptr;
}

}  // namespace

std::vector<tcp::acceptor> ListenerSet::bind(const tcp::endpoint& address, boost::system::error_code& ec) {
  const std::vector<boost::asio::io_context*> contexts(workers_.size(), &bind_io_);
  return bind_reuseport(contexts, address, ec);
}

std::vector<UniqueFd> ListenerSet::release(std::vector<tcp::acceptor> acceptors) {
  std::vector<UniqueFd> out;
  for (auto& a : acceptors) {
    boost::system::error_code ec;
    const int fd = a.release(ec);
    if (!ec) out.emplace_back(fd);  // cannot fail for an open acceptor; that worker does without
  }
  return out;
}

void ListenerSet::start(const std::string& name, const tcp::endpoint& address, std::size_t index,
                        std::uint64_t max_connections, std::vector<UniqueFd> fds) {
  auto errors = [&](const char* reason) { return &metrics_.accept_errors.Add({{"listener", name}, {"reason", reason}}); };
  auto gate = std::make_shared<ListenerGate>(name, max_connections,
                                             AcceptErrorCounters{errors("emfile"), errors("enfile"), errors("other")});
  std::string local = endpoint_text(address);
  if (!fds.empty()) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    tcp::endpoint ep;
    if (::getsockname(fds.front().get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0 && len <= ep.capacity()) {
      std::memcpy(ep.data(), &addr, len);
      ep.resize(len);
      local = endpoint_text(ep);
    }
  }
  std::vector<UniqueFd> exported;
  for (std::size_t i = 0; i < fds.size(); ++i) {
    const int dup = ::fcntl(fds[i].get(), F_DUPFD_CLOEXEC, 0);
    if (dup >= 0) exported.emplace_back(dup);
    workers_[i % workers_.size()]->adopt_acceptor(fds[i].release(), address.protocol(), index, gate);
  }
  bound_[name] = Bound{address, index, std::move(gate), std::move(exported)};
  spdlog::info("listening listener={} address={} workers={}", name, local, workers_.size());
}

std::vector<ListenerSet::Exported> ListenerSet::exported() const {
  std::vector<Exported> out;
  for (const auto& [name, b] : bound_) {
    Exported e{name, endpoint_text(b.address), {}};
    for (const auto& fd : b.exported) e.fds.push_back(fd.get());
    out.push_back(std::move(e));
  }
  return out;
}

void ListenerSet::close_exported() {
  for (auto& [name, b] : bound_) b.exported.clear();
}

void ListenerSet::bind_all(const runtime::Snapshot& snap, std::vector<Inherited>* inherited) {
  for (std::size_t i = 0; i < snap.listeners.size(); ++i) {
    const auto& l = snap.listeners[i];
    if (l.removed) continue;
    const auto* lc = find_config(snap.config, l.name);
    if (inherited) {
      auto it = std::find_if(inherited->begin(), inherited->end(), [&](const Inherited& in) {
        return in.name == l.name && in.address == endpoint_text(l.address) && !in.fds.empty();
      });
      if (it != inherited->end()) {
        spdlog::info("listener {}: taking over the running process's {} socket(s)", l.name, it->fds.size());
        start(l.name, l.address, i, lc ? lc->max_connections : 0, std::move(it->fds));
        it->fds.clear();
        continue;
      }
    }
    boost::system::error_code ec;
    auto acceptors = bind(l.address, ec);
    if (ec)
      throw std::runtime_error(
          fmt::format("listener {}: cannot listen on {}: {}", l.name, endpoint_text(l.address), ec.message()));
    start(l.name, l.address, i, lc ? lc->max_connections : 0, release(std::move(acceptors)));
  }
}

std::vector<ListenerSet::BindError> ListenerSet::prepare(const config::Config& next) {
  std::vector<BindError> errors;
  pending_.clear();
  for (const auto& lc : next.listeners) {
    tcp::endpoint address;
    try {
      address = runtime::resolve(lc.address);
    } catch (const std::exception& e) {
      errors.push_back({lc.name, e.what()});
      continue;
    }
    if (auto it = bound_.find(lc.name); it != bound_.end() && it->second.address == address) continue;
    boost::system::error_code ec;
    auto acceptors = bind(address, ec);
    if (ec) {
      errors.push_back({lc.name, fmt::format("cannot listen on {}: {}", endpoint_text(address), ec.message())});
      continue;
    }
    pending_.push_back({lc.name, address, std::move(acceptors)});
  }
  if (!errors.empty()) pending_.clear();  // closes what was bound
  return errors;
}

void ListenerSet::finish(const runtime::Snapshot* published) {
  if (!published) {
    pending_.clear();
    return;
  }
  // Gone or moved: the old acceptors close (a moved listener's connections stay its own).
  for (auto it = bound_.begin(); it != bound_.end();) {
    const auto* lc = find_config(published->config, it->first);
    const bool moved = lc && std::any_of(pending_.begin(), pending_.end(), [&](const Pending& p) { return p.name == it->first; });
    if (lc && !moved) {
      it->second.gate->set_limit(lc->max_connections);
      ++it;
      continue;
    }
    for (auto* w : workers_) w->close_acceptors(it->second.index);
    spdlog::info("listener {}: {}; it stops accepting and its connections drain", it->first,
                 lc ? "moved to another address" : "removed by the reload");
    it = bound_.erase(it);
  }
  for (auto& p : pending_) {
    const auto index = published->listener_index(p.name);
    const auto* lc = find_config(published->config, p.name);
    if (!index || !lc) continue;  // not in the published config: cannot happen, the sockets close
    start(p.name, p.address, *index, lc->max_connections, release(std::move(p.acceptors)));
  }
  pending_.clear();
}

}  // namespace cutover::server
