// SCM_RIGHTS over SOCK_SEQPACKET: see fd_passing.hpp.
#include "proxy/server/fd_passing.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace cutover::server {

namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

// Waits up to `timeout` for `events` on `fd`; ETIMEDOUT when none came.
std::error_code wait_for(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const int n = ::poll(&p, 1, static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0)));
    if (n > 0) return {};
    if (n == 0) return std::make_error_code(std::errc::timed_out);
    if (errno != EINTR) return last_error();
  }
}

bool fill_address(const std::string& path, sockaddr_un& addr) {
  addr = {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return true;
}

}  // namespace

void UniqueFd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::error_code send_message(int sock, std::string_view text, std::span<const int> fds,
                             std::chrono::milliseconds timeout) {
  if (text.size() > kMaxMessageBytes || fds.size() > kMaxPassedFds || text.empty())
    return std::make_error_code(std::errc::message_size);
  iovec iov{const_cast<char*>(text.data()), text.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.assign(CMSG_SPACE(sizeof(int) * fds.size()), 0);
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    const ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return {};
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return last_error();
    if (auto ec = wait_for(sock, POLLOUT, timeout)) return ec;
  }
}

std::error_code receive_message(int sock, std::chrono::milliseconds timeout, PassedMessage& out) {
  out = {};
  std::string buf(kMaxMessageBytes, '\0');
  std::vector<char> control(CMSG_SPACE(sizeof(int) * kMaxPassedFds), 0);
  for (;;) {
    iovec iov{buf.data(), buf.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && timeout.count() >= 0) {
        if (auto ec = wait_for(sock, POLLIN, timeout)) return ec;
        timeout = std::chrono::milliseconds(-1);  // one wait: what comes now is read at once
        continue;
      }
      return last_error();
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (std::size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        out.fds.emplace_back(fd);
      }
    }
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
      out = {};
      return std::make_error_code(std::errc::message_size);
    }
    if (n == 0) return std::make_error_code(std::errc::connection_aborted);
    buf.resize(static_cast<std::size_t>(n));
    out.text = std::move(buf);
    return {};
  }
}

std::error_code connect_seqpacket(const std::string& path, UniqueFd& out) {
  sockaddr_un addr;
  if (!fill_address(path, addr)) return std::make_error_code(std::errc::filename_too_long);
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) return last_error();
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return last_error();
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  out = std::move(fd);
  return {};
}

bool seqpacket_in_use(const std::string& path) {
  UniqueFd fd;
  return !connect_seqpacket(path, fd);
}

}  // namespace cutover::server
