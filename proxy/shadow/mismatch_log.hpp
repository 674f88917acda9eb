// The optional JSONL log of shadow mismatches (config `mirror_log`): one
// MismatchSample::to_json() object per line, rotated by size (spdlog's rotating file sink:
// FILE, FILE.1 .. FILE.<max_files>). Lines are written by a background thread from a bounded
// queue, so a worker never waits on the disk; when the queue is full the oldest line is dropped
// (counted in dropped()).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config/model.hpp"

namespace spdlog {
class async_logger;
namespace details {
class thread_pool;
}
}  // namespace spdlog

namespace cutover::shadow {

class MismatchLog {
 public:
  static constexpr std::size_t kQueueLines = 8192;

  // Opens (creates) config.path. Throws std::runtime_error naming the file when it cannot.
  explicit MismatchLog(const config::MirrorLogConfig& config);
  ~MismatchLog();
  MismatchLog(const MismatchLog&) = delete;
  MismatchLog& operator=(const MismatchLog&) = delete;

  // Any thread: queues one line (without its newline).
  void write(const std::string& line);
  std::uint64_t dropped() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::shared_ptr<spdlog::details::thread_pool> pool_;
  std::shared_ptr<spdlog::async_logger> logger_;
};

}  // namespace cutover::shadow
