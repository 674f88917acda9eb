// The audit log: see audit_log.hpp.
#include "admin/audit_log.hpp"

#include "admin/durable_file.hpp"
#include "admin/json_text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace cutover::admin {

namespace {

std::string now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(now)), ms);
}

}  // namespace

AuditLog::AuditLog(std::string path) : path_(std::move(path)) {
  if (path_.empty()) return;
  {
    std::ifstream in(path_);
    std::string line;
    while (in && std::getline(in, line)) {
      boost::system::error_code ec;
      auto v = boost::json::parse(line, ec);
      if (ec || !v.is_object()) continue;  // a torn last line from a crash is skipped, not fatal
      recent_.push_back(std::move(v.as_object()));
      if (recent_.size() > kKept) recent_.pop_front();
    }
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) throw std::runtime_error("audit_log " + path_ + ": cannot open for append: " + std::strerror(errno));
  // A line torn by a crash has no newline: end it, so the next entry starts a line of its own
  // instead of being glued to the fragment (and skipped with it when read back).
  struct stat st {};
  char last = '\n';
  if (::fstat(fd_, &st) == 0 && st.st_size > 0) {
    const int rfd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (rfd >= 0) {
      if (::pread(rfd, &last, 1, st.st_size - 1) != 1) last = '\n';
      ::close(rfd);
    }
  }
  if (last != '\n' && !write_line("\n"))
    throw std::runtime_error("audit_log " + path_ + ": cannot end a torn last line: " + std::strerror(errno));
  if (!fsync_parent_directory(path_))  // a file just created lives in its directory's entry
    throw std::runtime_error("audit_log " + path_ + ": cannot sync its directory: " + std::strerror(errno));
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

bool AuditLog::write_line(const std::string& line) {
  // One write(2) of the whole line with O_APPEND, so concurrent appenders (there are none in this
  // process; an operator's tail -f is fine) never interleave within a line; then fdatasync.
  std::size_t done = 0;
  while (done < line.size()) {
    const auto n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("audit_log {}: write failed: {}", path_, std::strerror(errno));
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd_) != 0) {
    spdlog::error("audit_log {}: fdatasync failed: {}", path_, std::strerror(errno));
    return false;
  }
  return true;
}

bool AuditLog::append(boost::json::object entry) {
  boost::json::object stamped{{"time", now_rfc3339()}};  // first, so the file reads chronologically
  if (!node_.empty()) stamped["node"] = node_;
  for (auto& kv : entry) stamped[kv.key()] = std::move(kv.value());
  entry = std::move(stamped);
  bool ok = true;
  if (fd_ >= 0) ok = write_line(to_json_text(entry) + '\n');
  if (forward_) forward_(entry);
  recent_.push_back(std::move(entry));
  if (recent_.size() > kKept) recent_.pop_front();
  return ok;
}

boost::json::array AuditLog::newest(std::size_t limit) const {
  boost::json::array out;
  std::size_t start = recent_.size() > limit ? recent_.size() - limit : 0;
  for (std::size_t i = start; i < recent_.size(); ++i) out.push_back(recent_[i]);
  return out;
}

}  // namespace cutover::admin
