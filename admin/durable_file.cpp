// Directory fsync: see durable_file.hpp.
#include "admin/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

namespace cutover::admin {

bool fsync_parent_directory(const std::string& path) {
  auto dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace cutover::admin
