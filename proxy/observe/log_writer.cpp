// The access log's background writer: see log_writer.hpp.
#include "proxy/observe/log_writer.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>

#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

namespace cutover::observe {

namespace {

using namespace std::chrono_literals;

// A line waits at most this long for the writer thread (nginx's access_log flush=, in short).
constexpr auto kFlushInterval = 100ms;
// Queued bytes that wake the writer before its interval is over.
constexpr std::size_t kWakeBytes = 64 * 1024;
// How long a blocked write (a pipe nobody reads) waits between looks at reopen and stop.
constexpr auto kBlockedPoll = 100ms;
// How long the destructor lets a stalled reader take before the queued lines are given up.
constexpr auto kStopWait = 2s;
// Write errors are logged at most this often (each is counted).
constexpr auto kErrorLogInterval = 60s;

// Whether `fd` is a pipe or FIFO (a log shipper's, or stdout under a supervisor).
bool is_pipe(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

// The bytes of `batch` from `done` that one write(2) to a pipe takes: whole lines, at most
// PIPE_BUF bytes together, which POSIX makes all or nothing (O_NONBLOCK: EAGAIN when they do not
// fit). A larger write may be taken in part, cutting a line; a reopen then (a stalled reader) would
// leave that part in the old pipe before the whole line is written again (to a new file, or to the
// same FIFO: one corrupt line). A single line longer than PIPE_BUF goes alone, and may still be cut.
std::size_t pipe_chunk(const std::string& batch, std::size_t done) {
  const std::size_t left = batch.size() - done;
  if (left <= PIPE_BUF && batch.back() == '\n') return left;
  const std::size_t last = batch.rfind('\n', done + std::min<std::size_t>(left, PIPE_BUF) - 1);
  if (last != std::string::npos && last >= done) return last + 1 - done;
  const std::size_t end = batch.find('\n', done);
  return end == std::string::npos ? left : end + 1 - done;
}

// Lines of `batch` not yet written in full from `done` on.
std::size_t lines_from(const std::string& batch, std::size_t done) {
  return static_cast<std::size_t>(std::count(batch.begin() + static_cast<std::ptrdiff_t>(done), batch.end(), '\n'));
}

bool is_fifo(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
}

}  // namespace

LogWriter::LogWriter(std::string path, std::size_t queue_bytes, prometheus::Counter* write_errors)
    : path_(std::move(path)),
      stdout_(path_ == "stdout"),
      queue_bytes_(queue_bytes),
      wake_bytes_(std::min(kWakeBytes, queue_bytes / 2)),
      write_errors_(write_errors) {
  if (stdout_) {
    fd_ = STDOUT_FILENO;
  } else if (!is_fifo(path_)) {
    bool wait = false;
    if (!open_file(wait))
      throw std::runtime_error("access_log: cannot open " + path_ + ": " + std::strerror(errno));
  }
  thread_ = std::thread([this] { run(); });
}

LogWriter::~LogWriter() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  // Also seen by a write already blocked (a FIFO without a reader, a stalled one): it gives up
  // after kStopWait rather than waiting for ever.
  stopping_.store(true, std::memory_order_relaxed);
  wake_.notify_one();
  thread_.join();
  close_file();
}

bool LogWriter::push(std::string&& line) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (queued_bytes_ + line.size() > queue_bytes_) return false;
    const std::size_t before = queued_bytes_;
    queued_bytes_ += line.size();
    queue_.push_back(std::move(line));
    // The writer is woken once per batch, not per line (that would cost a futex wake and a
    // write(2) per request): when the queue passes wake_bytes_, else by its kFlushInterval wait.
    wake = before < wake_bytes_ && queued_bytes_ >= wake_bytes_;
  }
  if (wake) wake_.notify_one();
  return true;
}

void LogWriter::reopen() {
  if (stdout_) return;
  reopen_.store(true, std::memory_order_relaxed);
  wake_.notify_one();
}

bool LogWriter::open_file(bool& wait) {
  wait = false;
  const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0640);
  if (fd < 0) {
    wait = errno == ENXIO;  // a FIFO without a reader
    return false;
  }
  fd_ = fd;
  return true;
}

void LogWriter::close_file() {
  if (fd_ >= 0 && !stdout_) ::close(fd_);
  if (!stdout_) fd_ = -1;
}

void LogWriter::note_error(const char* what, int err, std::size_t lines) {
  lost_.fetch_add(lines, std::memory_order_relaxed);
  if (write_errors_) write_errors_->Increment(static_cast<double>(lines));
  const auto now = std::chrono::steady_clock::now();
  if (last_error_log_ == std::chrono::steady_clock::time_point{} || now - last_error_log_ >= kErrorLogInterval) {
    last_error_log_ = now;
    spdlog::error("access_log {}: {}: {} ({} lines lost; logged at most once a minute)", path_, what,
                  std::strerror(err), lines);
  }
}

void LogWriter::run() {
  std::string batch;
  for (;;) {
    std::size_t lines = 0;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, kFlushInterval, [&] {
        return stop_ || queued_bytes_ >= wake_bytes_ || reopen_.load(std::memory_order_relaxed);
      });
      batch.clear();
      for (auto& line : queue_) batch += line;
      lines = queue_.size();
      queue_.clear();
      queued_bytes_ = 0;
      if (stop_ && lines == 0) break;
    }
    if (reopen_.exchange(false, std::memory_order_relaxed)) close_file();
    if (lines) write_batch(batch, lines);
    // An idle writer keeps no large buffer.
    if (batch.capacity() > 64 * 1024) std::string().swap(batch);
  }
}

void LogWriter::write_batch(std::string& batch, std::size_t lines) {
  std::size_t done = 0;
  const auto started = std::chrono::steady_clock::now();
  bool pipe = fd_ >= 0 && is_pipe(fd_);  // written in whole lines of at most PIPE_BUF bytes (pipe_chunk)
  while (done < batch.size()) {
    const bool stopping = stopping_.load(std::memory_order_relaxed);
    if (stopping && std::chrono::steady_clock::now() - started > kStopWait) {
      note_error("stopping with a reader that does not read", EAGAIN, lines_from(batch, done));
      return;
    }
    if (reopen_.exchange(false, std::memory_order_relaxed)) {
      close_file();
      // A line cut by the switch goes whole to the new file.
      const auto line_start = done == 0 ? std::string::npos : batch.rfind('\n', done - 1);
      done = line_start == std::string::npos ? 0 : line_start + 1;
    }
    if (fd_ < 0) {
      bool wait = false;
      if (!open_file(wait)) {
        if (wait) {  // a FIFO nobody reads yet: the queue fills meanwhile and refuses lines
          std::this_thread::sleep_for(kBlockedPoll);
          continue;
        }
        note_error("cannot open", errno, lines);
        return;
      }
      pipe = is_pipe(fd_);
    }
    const std::size_t size = pipe ? pipe_chunk(batch, done) : batch.size() - done;
    const ssize_t n = ::write(fd_, batch.data() + done, size);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kBlockedPoll).count()));
      continue;
    }
    // The lines not yet written (a cut one included) are lost.
    note_error("write failed", n < 0 ? errno : EIO, lines_from(batch, done));
    if (n < 0 && (errno == EPIPE || errno == EBADF)) close_file();  // a FIFO's reader left: open again
    return;
  }
}

}  // namespace cutover::observe
