// What makes a file change survive a crash of the machine, not only of the process: after a
// rename or a create, the directory entry lives in the directory, which needs its own fsync
// (rename(2) and open(2) with O_CREAT change the directory, not the file).
#pragma once

#include <string>

namespace cutover::admin {

// fsync(2) of the directory that holds `path` ("." for a bare name). False with errno set when the
// directory cannot be opened or synced.
bool fsync_parent_directory(const std::string& path);

}  // namespace cutover::admin
