// The writer behind an access log: workers hand it whole lines, a background thread writes them in
// batches (every 100 ms, or sooner once 64 KiB are queued), so a line costs no system call of its
// own. A worker never waits on the disk or a pipe: `queue_bytes` bounds the lines queued and not yet
// taken by the writer thread (which holds at most as much again, writing), and a line that does not
// fit is refused (the caller counts it as dropped). The file is opened non-blocking, so a reader
// that stops reading (a FIFO, a stalled log shipper) blocks only the writer thread, and a reopen
// (logrotate's postrotate: SIGUSR1 or POST /v1/logs/reopen) still takes effect then: the line being
// written when it came goes whole to the new file (a pipe is written whole lines of at most
// PIPE_BUF bytes at a time, which it takes all or nothing). Write errors (a full disk) lose the
// lines of that write; they are counted (write_errors) and logged at most once a minute.
//
// Why not spdlog's async logger (used for the mismatch log): a worker must learn that its line was
// refused, to count it per listener, and a write to a stalled pipe must give way to a reopen.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace prometheus {
class Counter;
}

namespace cutover::observe {

class LogWriter {
 public:
  // `path`: a file, created if missing and appended to, or "stdout". A regular file that cannot be
  // opened throws std::runtime_error naming it (startup and reload report it); a FIFO is opened by
  // the writer thread, which waits for a reader. `write_errors` (may be null) counts lines lost to
  // write errors.
  LogWriter(std::string path, std::size_t queue_bytes, prometheus::Counter* write_errors);
  // Writes what is queued (waiting at most 2 s per batch for a stalled reader; lines given up then
  // count in lost()) and stops the thread.
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Any thread. Queues `line` (a whole line, ending in '\n'); false when the queue is full.
  bool push(std::string&& line);
  // Any thread. The file is closed and opened again by its path before the next write (a no-op
  // for stdout).
  void reopen();

  const std::string& path() const { return path_; }
  // Lines lost to write errors since start.
  std::uint64_t lost() const { return lost_.load(std::memory_order_relaxed); }

 private:
  void run();
  // Writes `batch` whole unless stopped; returns when written, lost or stopped.
  void write_batch(std::string& batch, std::size_t lines);
  // Opens path_ (non-blocking). False when it cannot now; `wait` is set when it is a FIFO that has
  // no reader yet (worth waiting for).
  bool open_file(bool& wait);
  void close_file();
  void note_error(const char* what, int err, std::size_t lines);

  const std::string path_;
  const bool stdout_;
  const std::size_t queue_bytes_;
  const std::size_t wake_bytes_;  // queued bytes that wake the writer before its flush interval
  prometheus::Counter* write_errors_;
  int fd_ = -1;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;  // guarded by mutex_
  std::size_t queued_bytes_ = 0;   // guarded by mutex_
  bool stop_ = false;              // guarded by mutex_
  std::atomic<bool> reopen_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> lost_{0};
  std::chrono::steady_clock::time_point last_error_log_{};
  std::thread thread_;
};

}  // namespace cutover::observe
