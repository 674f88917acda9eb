// The access log's background writer: see log_writer.hpp.
#include "proxy/observe/log_writer.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

namespace cutover::observe {

namespace {

using namespace std::chrono_literals;

// How long a blocked write (a pipe nobody reads) waits between looks at reopen and stop.
constexpr auto kBlockedPoll = 100ms;
// How long the destructor lets a stalled reader take before the queued lines are given up.
constexpr auto kStopWait = 2s;
// Write errors are logged at most this often (each is counted).
constexpr auto kErrorLogInterval = 60s;

bool is_fifo(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode);
}

}  // namespace

LogWriter::LogWriter(std::string path, prometheus::Counter* write_errors)
    : path_(std::move(path)), stdout_(path_ == "stdout"), write_errors_(write_errors) {
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
  wake_.notify_one();
  thread_.join();
  close_file();
}

bool LogWriter::push(std::string&& line) {
  bool was_empty = false;
  {
    std::lock_guard lock(mutex_);
    if (queued_bytes_ + line.size() > kQueueBytes) return false;
    queued_bytes_ += line.size();
    was_empty = queue_.empty();
    queue_.push_back(std::move(line));
  }
  if (was_empty) wake_.notify_one();
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
      wake_.wait_for(lock, 1s, [&] { return stop_ || !queue_.empty() || reopen_.load(std::memory_order_relaxed); });
      if (stop_) stopping_.store(true, std::memory_order_relaxed);
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
  while (done < batch.size()) {
    const bool stopping = stopping_.load(std::memory_order_relaxed);
    if (stopping && std::chrono::steady_clock::now() - started > kStopWait) return;
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
    }
    const ssize_t n = ::write(fd_, batch.data() + done, batch.size() - done);
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
    std::size_t left = 0;
    for (std::size_t i = batch.find('\n', done); i != std::string::npos; i = batch.find('\n', i + 1)) ++left;
    note_error("write failed", n < 0 ? errno : EIO, left);
    if (n < 0 && (errno == EPIPE || errno == EBADF)) close_file();  // a FIFO's reader left: open again
    return;
  }
}

}  // namespace cutover::observe
