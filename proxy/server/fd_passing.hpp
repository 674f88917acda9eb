// Passing descriptors between processes over a Unix socket (SCM_RIGHTS ancillary data, unix(7),
// cmsg(3)): how a binary upgrade hands its listening sockets to the new process. Messages are
// SOCK_SEQPACKET records (one send, one receive, boundaries kept), so a short JSON text and its
// descriptors arrive together or not at all.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace cutover::server {

// An owned descriptor: closed when destroyed unless release()d.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  explicit operator bool() const { return fd_ >= 0; }
  void reset();

 private:
  int fd_ = -1;
};

// The most descriptors one message carries: the kernel's SCM_MAX_FD (253, include/net/scm.h).
constexpr std::size_t kMaxPassedFds = 253;
// The largest message text; longer ones are refused by send_message().
constexpr std::size_t kMaxMessageBytes = 64 * 1024;

// One record received: its text and the descriptors that came with it (owned by the caller).
struct PassedMessage {
  std::string text;
  std::vector<UniqueFd> fds;
};

// Sends `text` (at most kMaxMessageBytes) with `fds` (at most kMaxPassedFds; each is duplicated
// into the receiver, the sender keeps its own) as one record on the SOCK_SEQPACKET socket `sock`.
// Waits up to `timeout` for room to send. Errors: EMSGSIZE (too long, too many fds), ETIMEDOUT,
// and sendmsg(2)'s (EPIPE: the peer is gone).
std::error_code send_message(int sock, std::string_view text, std::span<const int> fds,
                             std::chrono::milliseconds timeout);

// Receives one record from `sock`, waiting up to `timeout` (negative: do not wait, EAGAIN when
// none is there). End of stream (the peer closed) is std::errc::connection_aborted. A truncated
// record (text or descriptors) is EMSGSIZE; its descriptors are closed.
std::error_code receive_message(int sock, std::chrono::milliseconds timeout, PassedMessage& out);

// A connected SOCK_SEQPACKET Unix socket to `path` (close-on-exec, non-blocking), or the error
// (ENOENT: no such socket file; ECONNREFUSED: nobody listens there).
std::error_code connect_seqpacket(const std::string& path, UniqueFd& out);

// Whether a process accepts connections on the Unix socket `path` now (connect(2) succeeds).
bool seqpacket_in_use(const std::string& path);

}  // namespace cutover::server
