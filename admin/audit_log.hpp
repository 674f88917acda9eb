// The audit log: one JSON object per admin change, appended to a JSONL file (when configured)
// and kept in memory (newest 1,000) for GET /v1/audit.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <string>

#include <boost/json/object.hpp>
#include <boost/json/array.hpp>

namespace cutover::admin {

class AuditLog {
 public:
  // `path` empty: memory only. Entries already in the file are read back, so GET /v1/audit
  // survives a restart. Throws std::runtime_error when the file cannot be opened for append.
  explicit AuditLog(std::string path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Adds "time" (UTC, RFC 3339 with ms) to `entry`, appends it as one line and fdatasyncs the
  // file before returning, so an acknowledged admin change is on disk. A failed write is logged
  // and reported (false); the change it records has already happened.
  bool append(boost::json::object entry);

  // Fleet mode: every later entry gets "node" (after "time") and goes to `forward` as well (the
  // fleet-wide log in etcd), after it is on disk.
  void set_fleet(std::string node, std::function<void(const boost::json::object&)> forward) {
    node_ = std::move(node);
    forward_ = std::move(forward);
  }

  // The newest `limit` entries, oldest first.
  boost::json::array newest(std::size_t limit) const;

 private:
  bool write_line(const std::string& line);

  static constexpr std::size_t kKept = 1000;
  std::string path_;
  int fd_ = -1;  // O_APPEND; -1 when memory only
  std::deque<boost::json::object> recent_;
  std::string node_;
  std::function<void(const boost::json::object&)> forward_;
};

}  // namespace cutover::admin
